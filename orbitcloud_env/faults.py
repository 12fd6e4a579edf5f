"""Random faults of nodes and links: satellites, compute payloads, data centres, ground links, fibre paths.

Pure numpy; no Gymnasium. Every element is an independent two-state (up/down) Markov chain on the **topology
clock** (one step per ``episode.topology_dt_s`` bucket), as :class:`orbitcloud_env.network.LinkFailures` does for
ISLs: per step an up element fails with probability ``p_fail = 1 - exp(-rate * dt)`` and a down one is repaired
with probability ``p_repair = 1 - exp(-dt / repair_time_s)`` (exponential times to failure and to repair).

Starting state: the episode's first bucket ``b0`` is drawn from the chain's **stationary distribution**, each
element down with probability ``p_fail / (p_fail + p_repair)`` (the discrete chain's exact stationary law; about
``rate * repair / (1 + rate * repair)``), so a reset costs one draw however far the episode starts from the epoch.

Determinism: step ``b`` draws from its own stream ``default_rng([seed, b])`` and the state is checkpointed every
``_CHECKPOINT_EVERY`` buckets, so the state of a bucket depends only on the seed and ``b0``, never on the order in
which buckets are asked for (the simulator asks ahead, for the bucket in which a job's compute ends).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.config import FaultsConfig
from orbitcloud_env.constants import SECONDS_PER_HOUR

__all__ = ["FAULT_KINDS", "NODE_DOWN_REASONS", "FaultState", "FaultProcess"]

#: The fault kinds, in the order of ``FaultsConfig.KINDS``.
FAULT_KINDS: tuple[str, ...] = tuple(k for k, _, _ in FaultsConfig.KINDS)
#: Why a node is down (``Simulator.node_down_reason`` codes; index = code, 0: not down by a fault).
NODE_DOWN_REASONS: tuple[str, ...] = ("up", "satellite failure", "payload failure", "data centre outage")


@dataclass(frozen=True)
class FaultState:
    """Which elements are down in one topology bucket (each a read-only bool array).

    Attributes:
        satellite: (N,) whole satellite down (no compute, no links).
        payload: (N,) compute payload down (the satellite still routes).
        datacentre: (D,) region down.
        ground_link: (S,) every ground-satellite link of the site down (weather).
        fibre: (S, D) terrestrial path from site to data centre cut.
    """

    satellite: NDArray[np.bool_]
    payload: NDArray[np.bool_]
    datacentre: NDArray[np.bool_]
    ground_link: NDArray[np.bool_]
    fibre: NDArray[np.bool_]

    def node_reason(self) -> NDArray[np.uint8]:
        """(N + D,) index into :data:`NODE_DOWN_REASONS` per global node (satellites, then data centres)."""
        n = self.satellite.shape[0]
        code = np.zeros(n + self.datacentre.shape[0], np.uint8)
        code[:n][self.payload] = 2
        code[:n][self.satellite] = 1
        code[n:][self.datacentre] = 3
        return code

    def node_down(self) -> NDArray[np.bool_]:
        """(N + D,) True for nodes that cannot compute (satellite or payload down, or data centre outage)."""
        return np.concatenate([self.satellite | self.payload, self.datacentre])


class FaultProcess:
    """The fault chains of one scenario's elements, stepped per topology bucket (see the module docstring).

    Args:
        config: the scenario's ``faults`` section.
        n_sat, n_dc, n_sites: [-] satellites, data centres and user sites.
        topology_dt_s: [s] topology bucket length (the chains' step).
        compute_sats: (N,) bool, satellites that carry a payload (others never have a payload failure).
    """

    _HISTORY = 256
    _CHECKPOINT_EVERY = 32

    def __init__(self, config: FaultsConfig, n_sat: int, n_dc: int, n_sites: int, topology_dt_s: float,
                 compute_sats: NDArray[np.bool_] | None = None) -> None:
        if not isinstance(config, FaultsConfig):
            raise ValueError(f"config: expected a FaultsConfig, got {type(config).__name__}")
        if not (math.isfinite(topology_dt_s) and topology_dt_s > 0):
            raise ValueError(f"topology_dt_s: must be finite and > 0 s, got {topology_dt_s}")
        self.config = config
        self.shape = {"satellite": (n_sat,), "payload": (n_sat,), "datacentre": (n_dc,),
                      "ground_link": (n_sites,), "fibre": (n_sites, n_dc)}
        sizes = [int(np.prod(self.shape[k])) for k in FAULT_KINDS]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_elements = int(self._offsets[-1])
        p_fail = np.zeros(self.n_elements)
        p_repair = np.ones(self.n_elements)
        for i, (kind, rate, repair) in enumerate(FaultsConfig.KINDS):
            sl = slice(self._offsets[i], self._offsets[i + 1])
            p_fail[sl] = -math.expm1(-getattr(config, rate) * topology_dt_s / SECONDS_PER_HOUR)
            p_repair[sl] = -math.expm1(-topology_dt_s / getattr(config, repair))
        if compute_sats is not None and n_sat:
            sl = slice(self._offsets[1], self._offsets[2])
            p_fail[sl] = np.where(np.asarray(compute_sats, bool), p_fail[sl], 0.0)
        self._p_fail, self._p_repair = p_fail, p_repair
        with np.errstate(invalid="ignore", divide="ignore"):
            self._p_down0 = np.where(p_fail > 0, p_fail / (p_fail + p_repair), 0.0)
        #: Only elements that can fail are drawn (the rest stay up).
        self._active = np.flatnonzero(p_fail > 0)
        self.topology_dt_s = float(topology_dt_s)
        self._seed = 0
        self._b0 = 0
        self._latest = 0
        self._history: OrderedDict[int, NDArray[np.bool_]] = OrderedDict()
        self._checkpoints: dict[int, NDArray[np.bool_]] = {}
        self._states: OrderedDict[int, FaultState] = OrderedDict()

    def reset(self, rng: np.random.Generator, start_time_s: float) -> None:
        """Start an episode at ``start_time_s`` [s since epoch]: one seed from ``rng``, stationary first bucket."""
        self._seed = int(rng.integers(2**63 - 1))
        self._b0 = int(math.floor(start_time_s / self.topology_dt_s))
        u = np.random.default_rng([self._seed, self._b0, 0]).random(self._active.shape[0])
        down = np.zeros(self.n_elements, bool)
        down[self._active] = u < self._p_down0[self._active]
        self._latest = self._b0
        self._history = OrderedDict({self._b0: down})
        self._checkpoints = {self._b0: down}
        self._states = OrderedDict()

    def _step(self, down: NDArray[np.bool_], b: int) -> NDArray[np.bool_]:
        """The state of bucket ``b`` from that of ``b - 1``."""
        act = self._active
        u = np.random.default_rng([self._seed, b]).random(act.shape[0])
        new = down.copy()
        was = down[act]
        new[act] = np.where(was, u >= self._p_repair[act], u < self._p_fail[act])
        return new

    def _down(self, b: int) -> NDArray[np.bool_]:
        """(E,) down flags of every element in bucket ``b`` (buckets before the episode's first read as it)."""
        b = max(int(b), self._b0)
        while self._latest < b:
            nb = self._latest + 1
            state = self._step(self._history[self._latest], nb)
            self._latest = nb
            self._history[nb] = state
            if len(self._history) > self._HISTORY:
                self._history.popitem(last=False)
            if (nb - self._b0) % self._CHECKPOINT_EVERY == 0:
                self._checkpoints[nb] = state
        got = self._history.get(b)
        if got is not None:
            return got
        start = self._b0 + ((b - self._b0) // self._CHECKPOINT_EVERY) * self._CHECKPOINT_EVERY
        state = self._checkpoints[start]
        for nb in range(start + 1, b + 1):
            state = self._step(state, nb)
        return state

    def state(self, b: int) -> FaultState:
        """The :class:`FaultState` of topology bucket ``b`` (cached for recent buckets)."""
        got = self._states.get(b)
        if got is None:
            down = self._down(b)
            parts = {}
            for i, kind in enumerate(FAULT_KINDS):
                a = down[self._offsets[i]:self._offsets[i + 1]].reshape(self.shape[kind])
                a.flags.writeable = False
                parts[kind] = a
            got = FaultState(**parts)
            self._states[b] = got
            if len(self._states) > 64:
                self._states.popitem(last=False)
        return got

    def node_down_during(self, node: int, b_from: int, b_to: int) -> bool:
        """True when global ``node`` (satellites then data centres) is down in any bucket of [b_from, b_to]."""
        n_sat = self.shape["satellite"][0]
        if node < n_sat:
            idx = (self._offsets[0] + node, self._offsets[1] + node)
        else:
            idx = (self._offsets[2] + node - n_sat,)
        if not any(self._p_fail[i] > 0 for i in idx):
            return False
        for b in range(b_from, b_to + 1):
            down = self._down(b)
            if any(down[i] for i in idx):
                return True
        return False
