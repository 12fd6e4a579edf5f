"""Action types of OrbitCloud: which node each action (and observation row) is, the action space, the mask.

Picked by name from :data:`ACTION_TYPES` (``episode.action_mode``). No Gymnasium logic beyond the space.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from orbitcloud_env.simulator import NodeView, Simulator
from orbitcloud_env.suggest import did_you_mean

__all__ = ["ActionType", "AllNodesAction", "CandidatesAction", "ACTION_TYPES", "action_type_names",
           "make_action_type"]




class ActionType:
    """Maps actions to nodes. ``rows`` are the global node indices shown in the observation (-1: padding)."""

    name = "base"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.rows: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        raise NotImplementedError

    def space(self) -> spaces.Discrete:
        """``Discrete(n_rows + 1)``; the last action rejects the job."""
        return spaces.Discrete(self.n_rows + 1)

    def select_rows(self, view: NodeView) -> tuple[NDArray[np.int64] | None, NodeView]:
        """The global node of each row (None: all nodes in order), and the view they were chosen on (a
        candidates list may need a complete view of the nodes)."""
        raise NotImplementedError

    def mask(self, view: NodeView) -> NDArray[np.bool_]:
        """Valid actions: rows whose node is valid, and reject (always)."""
        m = np.zeros(self.n_rows + 1, dtype=bool)
        real = self.rows >= 0
        m[:-1] = view.rows(self.rows).valid & real
        m[-1] = True
        return m

    def to_node(self, action: int) -> int | None:
        """The global node of ``action`` (None for reject or a padding row)."""
        if action == self.n_rows:
            return None
        node = int(self.rows[action])
        return None if node < 0 else node


class AllNodesAction(ActionType):
    """One action per node (satellites, then data centres), plus reject."""

    name = "all_nodes"

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.rows = np.arange(sim.n_nodes, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return self.sim.n_nodes

    def select_rows(self, view: NodeView) -> tuple[None, NodeView]:
        return None, view  # every node, in global order

    def mask(self, view: NodeView) -> NDArray[np.bool_]:
        m = np.empty(self.n_rows + 1, dtype=bool)
        m[:-1] = view.valid
        m[-1] = True
        return m


class CandidatesAction(ActionType):
    """One action per listed candidate (the K valid nodes of lowest estimated latency), plus reject.

    Rows are sorted by estimated network latency; the best valid data centre is always listed when one is valid,
    so ground placement stays possible at any constellation size. Rows past the valid ones are padding.
    """

    name = "candidates"

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.k = sim.config.episode.candidates_k
        self.min_dc = min(sim.config.episode.candidates_min_datacentres, self.k - 1)
        self.rows = np.full(self.k, -1, dtype=np.int64)
        self._dcs = np.arange(sim.n_sat, sim.n_nodes, dtype=np.int64)
        self._support: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None  # (pool, pool + data centres)

    @property
    def n_rows(self) -> int:
        return self.k

    def select_rows(self, view: NodeView) -> tuple[NDArray[np.int64], NodeView]:
        sim, k, n_sat = self.sim, self.k, self.sim.n_sat
        # Satellites: the first k valid ones of the site's 4k nearest by base latency (cached per topology
        # bucket; the transfer time added per job is the same for every satellite, so the order holds), or of
        # all satellites when fewer than k of those are valid. Data centres: every valid one. Then the k best.
        # The view is evaluated once, at these nodes only (the "support"); positions below are into it.
        pool = sim.satellite_order(sim.job.site)
        memo = self._support
        if memo is not None and memo[0] is pool:  # the pool is cached per bucket and site
            support = memo[1]
        else:
            support = np.concatenate([pool, self._dcs])
            self._support = (pool, support)
        at = view.at(support)
        n_pool = pool.shape[0]
        sats = at.valid[:n_pool].nonzero()[0][:k]
        if sats.shape[0] < k and n_pool < n_sat:  # too few valid near the site: search every satellite
            if not view.complete:
                view = sim.node_view(complete=True)
            key = np.where(view.valid[:n_sat], view.latency_ms[:n_sat], np.inf)
            part = np.argpartition(key, k - 1)[:k]
            pool = part[np.isfinite(key[part])]
            support = np.concatenate([pool, self._dcs])
            at = view.at(support)
            n_pool = pool.shape[0]
            sats = np.arange(n_pool)
        valid, latency = at.valid, at.latency_ms
        dcs = n_pool + valid[n_pool:].nonzero()[0]
        idx = np.concatenate([sats, dcs])
        keep = latency[idx].argsort(kind="stable")[:k]
        idx = idx[keep]
        need = min(self.min_dc, dcs.size)
        have = int(np.count_nonzero(idx >= n_pool))
        if have < need:  # always offer the best data centres
            best_dcs = dcs[np.argsort(latency[dcs], kind="stable")[:need]]
            if need == 1:  # (the v0 selection, kept bit for bit)
                idx = np.append(idx[: k - 1], best_dcs[0])
            else:
                sats_kept = idx[idx < n_pool][: k - need]
                idx = np.concatenate([sats_kept, best_dcs])
            idx = idx[np.argsort(latency[idx], kind="stable")]
        rows = np.full(k, -1, dtype=np.int64)
        rows[: idx.shape[0]] = support[idx]
        self.rows = rows
        padded = np.zeros(k, dtype=np.int64)  # padding rows read support position 0 (their values are masked)
        padded[: idx.shape[0]] = idx
        view.remember_rows(rows, at.at(padded))
        return rows, view


#: Action types by name (``episode.action_mode``).
ACTION_TYPES: dict[str, type[ActionType]] = {"all_nodes": AllNodesAction, "candidates": CandidatesAction}


def action_type_names() -> list[str]:
    """Names accepted by ``episode.action_mode``."""
    return list(ACTION_TYPES)


def make_action_type(name: str, sim: Simulator) -> ActionType:
    """The action type registered as ``name`` for ``sim``; an unknown name is a ValueError listing the valid ones."""
    try:
        return ACTION_TYPES[name](sim)
    except KeyError:
        raise ValueError(f"episode.action_mode: unknown action mode {name!r}{did_you_mean(name, ACTION_TYPES)} "
                         f"(valid: {', '.join(ACTION_TYPES)})") from None
