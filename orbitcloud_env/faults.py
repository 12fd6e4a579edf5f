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

Long gaps: a bucket more than :data:`MAX_STEP_GAP` buckets past the latest one computed (hours between arrivals,
or a job computing for a day) is reached with one exact draw of the k-step transition,
``P(down after k) = pi + (x - pi) (1 - p_fail - p_repair)^k`` (pi the stationary share, x the current state), from
the stream ``default_rng([seed, b, 1])``, instead of k steps; buckets inside such a gap read as the state before
it. Same seed and same queries give the same states; a query order that jumps where another steps differs.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.config import FaultsConfig
from orbitcloud_env.constants import SECONDS_PER_HOUR

__all__ = ["FAULT_KINDS", "NODE_DOWN_REASONS", "NodeDownReason", "MAX_STEP_GAP", "FaultState", "FaultProcess",
           "TwoStateChains", "jump_two_state"]

#: [buckets] Gaps longer than this are crossed with one exact k-step draw (see the module docstring).
MAX_STEP_GAP = 2_048


def jump_two_state(down: NDArray[np.bool_], p_fail: NDArray[np.float64], p_repair: NDArray[np.float64], k: int,
                   rng: np.random.Generator) -> NDArray[np.bool_]:
    """States of independent two-state chains ``k`` steps after ``down``, drawn exactly in one go.

    ``P(down_k) = pi + (down_0 - pi) * (1 - p_fail - p_repair)^k`` with ``pi = p_fail / (p_fail + p_repair)``.
    """
    total = p_fail + p_repair
    with np.errstate(invalid="ignore", divide="ignore"):
        pi = np.where(total > 0, p_fail / total, 0.0)
    p_down = pi + (down.astype(np.float64) - pi) * np.power(1.0 - total, k)
    return rng.random(down.shape[0]) < p_down

#: The fault kinds' names, in the order of ``FaultsConfig.KINDS`` (the records: rate and repair fields, elements).
FAULT_KINDS: tuple[str, ...] = tuple(kind.name for kind in FaultsConfig.KINDS)


class NodeDownReason(enum.IntEnum):
    """Why a node is down by a fault (:meth:`FaultState.node_reason` codes; text in :data:`NODE_DOWN_REASONS`)."""

    UP = 0
    SATELLITE_FAILURE = 1
    PAYLOAD_FAILURE = 2
    DATACENTRE_OUTAGE = 3

    @property
    def text(self) -> str:
        return NODE_DOWN_REASONS[self]


#: Why a node is down (``Simulator.node_down_reason`` texts; index = :class:`NodeDownReason` code).
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
        code[:n][self.payload] = NodeDownReason.PAYLOAD_FAILURE
        code[:n][self.satellite] = NodeDownReason.SATELLITE_FAILURE  # a whole satellite down outranks its payload
        code[n:][self.datacentre] = NodeDownReason.DATACENTRE_OUTAGE
        return code

    def node_down(self) -> NDArray[np.bool_]:
        """(N + D,) True for nodes that cannot compute (satellite or payload down, or data centre outage)."""
        return np.concatenate([self.satellite | self.payload, self.datacentre])


class TwoStateChains:
    """Independent two-state (up/down) Markov chains of E elements, one step per topology bucket: the one failure
    chain of the simulator, behind the node and link faults (:class:`FaultProcess`) and the ISL failures
    (``network.Network``). See the module docstring for the stepping, the stationary start, the long-gap jumps and
    why a bucket's state never depends on the order in which buckets are asked for.

    Args:
        p_fail: (E,) [-] per-step probability that an up element fails (0: it never fails and is never drawn).
        p_repair: (E,) [-] per-step probability that a down element is repaired.
        history: [buckets] recent states kept (older ones are replayed from a checkpoint).
        packed: keep the checkpoints bit-packed (long ISL lists).
    """

    CHECKPOINT_EVERY = 32

    def __init__(self, p_fail: NDArray[np.float64], p_repair: NDArray[np.float64], history: int = 256,
                 packed: bool = False) -> None:
        self.p_fail, self.p_repair = p_fail, p_repair
        self.n_elements = int(p_fail.shape[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            self.p_down0 = np.where(p_fail > 0, p_fail / (p_fail + p_repair), 0.0)
        #: Only elements that can fail are drawn (the rest stay up).
        self.active = np.flatnonzero(p_fail > 0)
        self.history_size, self.packed = int(history), bool(packed)
        self.seed = self.b0 = self.latest = 0
        self.stationary = True
        self._history: OrderedDict[int, NDArray[np.bool_]] = OrderedDict()
        self._checkpoints: dict[int, NDArray] = {}
        self._checkpoint_keys: list[int] = []
        self.gaps: list[tuple[int, int]] = []  # (last stepped bucket, bucket reached by a jump)

    def reset(self, seed: int, b0: int, stationary: bool = True) -> None:
        """Start at bucket ``b0`` with streams from ``seed``: drawn from the chains' stationary distribution, or
        (``stationary=False``) all up and stepped bucket by bucket however far a query goes (no jumps)."""
        self.seed, self.b0, self.stationary = int(seed), int(b0), bool(stationary)
        down = np.zeros(self.n_elements, bool)
        if stationary:
            u = np.random.default_rng([self.seed, self.b0, 0]).random(self.active.shape[0])
            down[self.active] = u < self.p_down0[self.active]
        self.latest = self.b0
        self._history = OrderedDict({self.b0: down})
        self._checkpoints = {}
        self._checkpoint_keys = []
        self._checkpoint(self.b0, down)
        self.gaps = []

    def _checkpoint(self, b: int, down: NDArray[np.bool_]) -> None:
        self._checkpoints[b] = np.packbits(down) if self.packed else down
        self._checkpoint_keys.append(b)

    def _step(self, down: NDArray[np.bool_], b: int) -> NDArray[np.bool_]:
        """The state of bucket ``b`` from that of ``b - 1`` (its own stream ``default_rng([seed, b])``)."""
        act = self.active
        u = np.random.default_rng([self.seed, b]).random(act.shape[0])
        new = down.copy()
        was = down[act]
        new[act] = np.where(was, u >= self.p_repair[act], u < self.p_fail[act])
        return new

    def down(self, b: int) -> NDArray[np.bool_]:
        """(E,) down flags in bucket ``b`` (buckets before the first read as it); do not modify."""
        b = max(int(b), self.b0)
        if self.stationary and b - self.latest > MAX_STEP_GAP:  # a long gap: one exact k-step draw
            act = self.active
            new = np.zeros(self.n_elements, bool)
            new[act] = jump_two_state(self._history[self.latest][act], self.p_fail[act], self.p_repair[act],
                                      b - self.latest, np.random.default_rng([self.seed, b, 1]))
            self.gaps.append((self.latest, b))
            self.latest = b
            self._history[b] = new
            self._checkpoint(b, new)
        while self.latest < b:
            nb = self.latest + 1
            state = self._step(self._history[self.latest], nb)
            self.latest = nb
            self._history[nb] = state
            if len(self._history) > self.history_size:
                self._history.popitem(last=False)
            if nb - self._checkpoint_keys[-1] >= self.CHECKPOINT_EVERY:
                self._checkpoint(nb, state)
        got = self._history.get(b)
        if got is not None:
            return got
        for before, after in self.gaps:
            if before < b < after:  # inside a skipped gap: the state before it
                return self.down(before)
        start = self._checkpoint_keys[bisect.bisect_right(self._checkpoint_keys, b) - 1]
        state = self._checkpoints[start]
        if self.packed:
            state = np.unpackbits(state, count=self.n_elements).astype(bool)
        for nb in range(start + 1, b + 1):
            state = self._step(state, nb)
        return state

    def get_state(self) -> tuple:
        """The computed buckets (history, checkpoints, jumps), for :meth:`set_state`: containers copied, the
        per-bucket arrays shared (never changed once computed)."""
        return (self.latest, OrderedDict(self._history), dict(self._checkpoints), list(self._checkpoint_keys),
                list(self.gaps))

    def set_state(self, state: tuple) -> None:
        """Return to a state from :meth:`get_state` of this episode (copied again: it can be restored many times)."""
        latest, history, checkpoints, keys, gaps = state
        self.latest = latest
        self._history, self._checkpoints = OrderedDict(history), dict(checkpoints)
        self._checkpoint_keys, self.gaps = list(keys), list(gaps)


class FaultProcess:
    """The fault chains of one scenario's elements, stepped per topology bucket (see the module docstring).

    Args:
        config: the scenario's ``faults`` section.
        n_sat, n_dc, n_sites: [-] satellites, data centres and user sites.
        topology_dt_s: [s] topology bucket length (the chains' step).
        compute_sats: (N,) bool, satellites that carry a payload (others never have a payload failure).
    """

    _HISTORY = 256

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
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        #: Each kind's elements in the flat state vector (satellites, payloads, data centres, sites, fibre paths).
        self._slice = {k: slice(int(offsets[i]), int(offsets[i + 1])) for i, k in enumerate(FAULT_KINDS)}
        self.n_elements = int(offsets[-1])
        p_fail = np.zeros(self.n_elements)
        p_repair = np.ones(self.n_elements)
        for kind in FaultsConfig.KINDS:
            sl = self._slice[kind.name]
            p_fail[sl] = -math.expm1(-getattr(config, kind.rate_field) * topology_dt_s / SECONDS_PER_HOUR)
            p_repair[sl] = -math.expm1(-topology_dt_s / getattr(config, kind.repair_field))
        if compute_sats is not None and n_sat:
            sl = self._slice["payload"]
            p_fail[sl] = np.where(np.asarray(compute_sats, bool), p_fail[sl], 0.0)
        self._p_fail = p_fail
        self._chains = TwoStateChains(p_fail, p_repair, history=self._HISTORY)
        self.topology_dt_s = float(topology_dt_s)
        self._states: OrderedDict[int, FaultState] = OrderedDict()

    @property
    def _b0(self) -> int:
        """The episode's first bucket."""
        return self._chains.b0

    @property
    def _latest(self) -> int:
        return self._chains.latest

    @property
    def _gaps(self) -> list[tuple[int, int]]:
        return self._chains.gaps

    def reset(self, rng: np.random.Generator, start_time_s: float) -> None:
        """Start an episode at ``start_time_s`` [s since epoch]: one seed from ``rng``, stationary first bucket."""
        seed = int(rng.integers(2**63 - 1))
        self._chains.reset(seed, int(math.floor(start_time_s / self.topology_dt_s)))
        self._states = OrderedDict()

    def _down(self, b: int) -> NDArray[np.bool_]:
        """(E,) down flags of every element in bucket ``b`` (buckets before the episode's first read as it)."""
        return self._chains.down(b)

    def get_state(self) -> tuple:
        """The chains' computed buckets and the cached states, for :meth:`set_state`.

        Restoring them means buckets a lookahead computed are computed again in the episode's own query order, so a
        jump taken only by the lookahead never shows in the episode."""
        return self._chains.get_state(), OrderedDict(self._states)

    def set_state(self, state: tuple) -> None:
        """Return to a state from :meth:`get_state` of this episode (copied again: it can be restored many times)."""
        chains, states = state
        self._chains.set_state(chains)
        self._states = OrderedDict(states)

    def state(self, b: int) -> FaultState:
        """The :class:`FaultState` of topology bucket ``b`` (cached for recent buckets)."""
        got = self._states.get(b)
        if got is None:
            down = self._down(b)
            parts = {}
            for kind in FAULT_KINDS:
                a = down[self._slice[kind]].reshape(self.shape[kind])
                a.flags.writeable = False
                parts[kind] = a
            got = FaultState(**parts)
            self._states[b] = got
            if len(self._states) > 64:
                self._states.popitem(last=False)
        return got

    def node_down_during(self, node: int, b_from: int, b_to: int) -> bool:
        """True when global ``node`` (satellites then data centres) is down in any bucket of [b_from, b_to]."""
        return self.first_down_bucket(node, b_from, b_to) is not None

    def first_down_bucket(self, node: int, b_from: int, b_to: int) -> int | None:
        """The first bucket of [b_from, b_to] in which global ``node`` is down (None: up throughout)."""
        n_sat = self.shape["satellite"][0]
        if node < n_sat:
            idx = (self._slice["satellite"].start + node, self._slice["payload"].start + node)
        else:
            idx = (self._slice["datacentre"].start + node - n_sat,)
        if not any(self._p_fail[i] > 0 for i in idx):
            return None
        # Bucket by bucket up to MAX_STEP_GAP ahead; a longer job is also checked at its last bucket (reached by
        # an exact jump), so a failure in the skipped stretch that is repaired before the end goes unseen.
        buckets = list(range(b_from, min(b_to, b_from + MAX_STEP_GAP) + 1))
        if b_to > buckets[-1]:
            buckets.append(b_to)
        for b in buckets:
            down = self._down(b)
            if any(down[i] for i in idx):
                return b
        return None


class LinkFailures:
    """Independent two-state (up/failed) Markov process per link, advanced in steps of ``dt_s``.

    Per step an up link fails with probability ``1 - exp(-rate * dt)`` and a failed link is repaired with
    probability ``1 - exp(-dt / repair_time_s)`` (exponential time to failure and to repair). One uniform
    draw per link per step from ``rng``; with ``failure_rate_per_hour == 0`` no link ever fails and no
    draws are made (``rng`` may then be None).

    Args:
        n_links: [-] number of links E.
        failure_rate_per_hour: [1/h] failure rate of an up link.
        repair_time_s: [s] mean time to repair.
        rng: numpy Generator (required when the rate is > 0).
    """

    def __init__(self, n_links: int, failure_rate_per_hour: float, repair_time_s: float,
                 rng: np.random.Generator | None):
        if isinstance(n_links, bool) or not isinstance(n_links, (int, np.integer)) or n_links < 0:
            raise ValueError(f"n_links: must be an int >= 0, got {n_links!r}")
        if not (math.isfinite(failure_rate_per_hour) and failure_rate_per_hour >= 0.0):
            raise ValueError(f"failure_rate_per_hour: must be finite and >= 0 per hour, got {failure_rate_per_hour}")
        if not (math.isfinite(repair_time_s) and repair_time_s > 0.0):
            raise ValueError(f"repair_time_s: must be finite and > 0 s, got {repair_time_s}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        if rng is None and failure_rate_per_hour > 0.0:
            raise ValueError("rng: a numpy.random.Generator is required when failure_rate_per_hour > 0")
        self.n_links = int(n_links)
        self.failure_rate_per_hour = float(failure_rate_per_hour)
        self.repair_time_s = float(repair_time_s)
        self.rng = rng
        self._failed = np.zeros(self.n_links, dtype=bool)

    @property
    def failed(self) -> NDArray[np.bool_]:
        """(E,) bool, True for currently failed links (a copy)."""
        return self._failed.copy()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """All links up; optionally replace the generator."""
        if rng is not None:
            if not isinstance(rng, np.random.Generator):
                raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
            self.rng = rng
        self._failed[:] = False

    def step_probabilities(self, dt_s: float) -> tuple[float, float]:
        """(P(fail | up), P(repair | failed)) of one step of ``dt_s`` [s]; the chain's stationary failed share is
        ``p_fail / (p_fail + p_repair)``."""
        return (-math.expm1(-self.failure_rate_per_hour * dt_s / SECONDS_PER_HOUR),
                -math.expm1(-dt_s / self.repair_time_s))

    def step(self, dt_s: float, rng: np.random.Generator | None = None) -> NDArray[np.bool_]:
        """Advance by ``dt_s`` [s] and return the (E,) failed mask (a copy).

        Args:
            dt_s: [s] step length.
            rng: generator for this step's draws; default the one given at construction.
        """
        if not (math.isfinite(dt_s) and dt_s >= 0.0):
            raise ValueError(f"dt_s: must be finite and >= 0 s, got {dt_s}")
        if self.failure_rate_per_hour == 0.0 and not self._failed.any():
            return self._failed.copy()
        p_fail, p_repair = self.step_probabilities(dt_s)
        u = (rng if rng is not None else self.rng).random(self.n_links)
        self._failed = np.where(self._failed, u >= p_repair, u < p_fail)
        return self._failed.copy()
