"""The view of the nodes a policy gets for the current job (:class:`NodeView`), computed at once or, on large
constellations in candidates mode, lazily where read (:class:`_ViewParts`). Made by
:meth:`orbitcloud_env.simulator.Simulator.node_view`; ``orbitcloud_env.simulator`` re-exports :class:`NodeView`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from orbitcloud_env.simulator import Simulator

__all__ = ["NodeView"]


class NodeView:
    """Everything a policy may know about the nodes for the current job; (M,) arrays, M = satellites + DCs.

    Times are in ms; ``np.inf`` marks an unreachable node.

    Attributes:
        inbound_ms: site -> node incl. input transfer; latency_ms: inbound + estimated return (current topology)
            incl. output transfer; wait_ms: queue wait on arrival; compute_ms: compute time (all [ms], (M,)).
        direct: (M,) bool, satellite visible from the site, or a data centre; valid: (M,) bool, may take the job.
        complete: False when satellites beyond the partial-route limit read as unreachable.

    Made by :meth:`Simulator.node_view` from the state of that moment (later placements do not change it); in
    candidates mode each (M,) array is computed on first access, and :meth:`at` and :meth:`inbound_at` give the
    same values at a few nodes without computing all M (the candidates mode reads about 80 of Giga's 20,726 nodes
    per job). Built from arrays, as ``NodeView(inbound_ms, latency_ms, wait_ms, compute_ms, direct, valid,
    complete)``, it holds them as given.
    """

    def __init__(self, inbound_ms: NDArray[np.float64], latency_ms: NDArray[np.float64], wait_ms: NDArray[np.float64],
                 compute_ms: NDArray[np.float64], direct: NDArray[np.bool_], valid: NDArray[np.bool_],
                 complete: bool = True) -> None:
        self._full = {"inbound_ms": inbound_ms, "latency_ms": latency_ms, "wait_ms": wait_ms,
                      "compute_ms": compute_ms, "valid": valid}
        self.direct = direct
        self.complete = complete
        self._parts: _ViewParts | None = None
        self._rows_memo: tuple[NDArray[np.int64], NodeView] | None = None

    @classmethod
    def _of(cls, parts: _ViewParts, direct: NDArray[np.bool_], complete: bool) -> NodeView:
        view = cls.__new__(cls)
        view._full, view.direct, view.complete, view._parts, view._rows_memo = {}, direct, complete, parts, None
        return view

    def _get(self, name: str) -> NDArray:
        a = self._full.get(name)
        if a is None:
            a = self._full[name] = self._parts.value(name, slice(None))
        return a

    inbound_ms = property(lambda self: self._get("inbound_ms"))
    latency_ms = property(lambda self: self._get("latency_ms"))
    wait_ms = property(lambda self: self._get("wait_ms"))
    compute_ms = property(lambda self: self._get("compute_ms"))
    valid = property(lambda self: self._get("valid"))

    def inbound_at(self, node: int) -> float:
        """[ms] ``inbound_ms[node]``, computed for that node only."""
        a = self._full.get("inbound_ms")
        return float(a[node] if a is not None else self._parts.value("inbound_ms", node))

    def at(self, idx: NDArray[np.int64] | slice) -> NodeView:
        """The view of nodes ``idx`` (index array or slice): every array taken at ``idx``, computed there only."""
        if self._parts is None:  # built from arrays: all five are there
            f = self._full
            return NodeView(f["inbound_ms"][idx], f["latency_ms"][idx], f["wait_ms"][idx], f["compute_ms"][idx],
                            self.direct[idx], f["valid"][idx], self.complete)
        if "valid" in self._full:
            return NodeView(*(self._get(name)[idx] for name in ("inbound_ms", "latency_ms", "wait_ms", "compute_ms")),
                            self.direct[idx], self._get("valid")[idx], self.complete)
        return self._parts.take(idx, self.direct, self.complete)

    def rows(self, rows: NDArray[np.int64]) -> NodeView:
        """The view at an action's listed ``rows`` (global nodes; -1 pads, and a padding row's values are
        unspecified): the one :meth:`remember_rows` kept for this ``rows`` array, else :meth:`at` its nodes."""
        memo = self._rows_memo
        if memo is not None and memo[0] is rows:
            return memo[1]
        return self.at(np.maximum(rows, 0))

    def remember_rows(self, rows: NDArray[np.int64], at: NodeView) -> None:
        """Keep ``at``, this view at ``rows`` (padding rows: any values), for :meth:`rows` (the action type computes
        it while choosing the rows; the observation and the mask read it)."""
        self._rows_memo = (rows, at)

    @property
    def finish_ms(self) -> NDArray[np.float64]:
        """[ms] estimated time from arrival to the result back at the site."""
        return self.latency_ms + self.wait_ms + self.compute_ms


class _Scaled:
    """``factor * array``, taken at indices on demand (``_Scaled(a, f)[idx] == (f * a)[idx]``, bit for bit)."""

    __slots__ = ("array", "factor")

    def __init__(self, array: NDArray[np.float64], factor: float) -> None:
        self.array, self.factor = array, factor

    def __getitem__(self, idx: NDArray[np.int64] | slice) -> NDArray[np.float64]:
        return self.factor * self.array[idx]


class _ViewParts:
    """The inputs of a lazy :class:`NodeView`, frozen when it is made, and its quantities at any nodes ``idx``
    with the same elementwise arithmetic as over all nodes (so a part of the whole equals the part computed)."""

    __slots__ = ("inbound_base", "latency_base", "in_ms_per_mb", "io_ms_per_mb", "free_at_s", "time_s",
                 "ms_per_gflop", "work_gflop", "reach", "power_ok", "held", "queue_limit", "energy", "sim")
    sim: Simulator  # the simulator whose battery rule (_energy_ok) the energy check applies

    def take(self, idx: NDArray[np.int64] | slice, direct: NDArray[np.bool_], complete: bool) -> NodeView:
        """The view at nodes ``idx``, every quantity computed there once."""
        inbound = self._inbound(idx)
        compute = self._compute(idx)
        return NodeView(inbound, self._latency(idx), self._wait(idx, inbound), compute, direct[idx],
                        self._valid(idx, compute), complete)

    def value(self, name: str, idx: NDArray[np.int64] | slice | int) -> NDArray:
        """One quantity of the view at nodes ``idx``."""
        if name == "inbound_ms":
            return self._inbound(idx)
        if name == "latency_ms":
            return self._latency(idx)
        if name == "wait_ms":
            return self._wait(idx, self._inbound(idx))
        if name == "compute_ms":
            return self._compute(idx)
        if name == "valid":
            return self._valid(idx, self._compute(idx))
        raise KeyError(name)  # pragma: no cover

    def _inbound(self, idx):
        return self.inbound_base[idx] + self.in_ms_per_mb[idx]

    def _latency(self, idx):
        return self.latency_base[idx] + self.io_ms_per_mb[idx]

    def _wait(self, idx, inbound):  # unreachable nodes have inbound = inf, so their wait is max(-inf, 0) = 0
        return np.maximum((self.free_at_s[idx] - self.time_s) * 1e3 - inbound, 0.0)

    def _compute(self, idx):
        return self.ms_per_gflop[idx] * self.work_gflop

    def _valid(self, idx, compute_ms):
        power_ok = self.power_ok[idx]
        if self.energy is not None:  # only where it can matter: other satellites are never valid
            compute_pos, energy_wh, sunlit = self.energy
            pos = compute_pos[idx]
            sel = (pos >= 0).nonzero()[0]
            if sel.size:
                if isinstance(idx, slice):
                    sats = sel if idx == slice(None) else np.arange(self.reach.shape[0])[idx][sel]
                    power_ok = power_ok.copy()  # (a slice's gather is a view)
                else:
                    sats = idx[sel]
                power_ok[sel] = self.sim._energy_ok(compute_ms[sel], sats, energy_wh[pos[sel]], sunlit)
        return self.reach[idx] & power_ok & (self.held[idx] < self.queue_limit[idx])
