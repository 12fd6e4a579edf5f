"""Inter-shell "bridge" ISLs (``links.inter_shell_isls``): the free laser terminals of satellites of different
catalogue shells, linked once per topology bucket (:func:`bridge_isls`). Re-exported by :mod:`orbitcloud_env.network`,
whose :class:`~orbitcloud_env.network.Network` appends them after the +Grid pairs of each snapshot.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM
from orbitcloud_env.geometry import segment_clears_earth

__all__ = ["bridge_isls"]

#: [-] Nearest free-terminal satellites (of any shell) each one asks the k-d tree for in :func:`bridge_isls`; those of
#: other shells are its bridge candidates. 6 on the shipped catalogue: 870 bridges at t = 0 (4: 824, 8: 892) for
#: 6-7 ms per bucket (4: 5 ms, 8: 10 ms; 2-core shared VM, docs/physics_network.md).
_BRIDGE_NEIGHBOURS: int = 6


def bridge_isls(
    pos_km: ArrayLike,
    shell: ArrayLike,
    free_terminals: ArrayLike,
    ok: ArrayLike,
    max_range_km: float,
    atmosphere_margin_km: float = 80.0,
    component: ArrayLike | None = None,
) -> NDArray[np.int64]:
    """Inter-shell "bridge" ISLs of one topology bucket: free laser terminals of different shells, linked.

    Only satellites with ``free_terminals > 0`` and ``ok`` take part. Candidates: each such satellite's
    ``_BRIDGE_NEIGHBOURS`` nearest such satellites (one k-d tree over them), kept when they belong to another
    shell, lie within ``max_range_km`` and the segment clears ``EARTH_RADIUS_EQ_KM + atmosphere_margin_km`` (the
    rule of :func:`isl_state`). Accepted in two passes, each shortest first (ties in k-d query order, so the
    result depends on the inputs only), while both ends have a free terminal left:

    1. spanning (Kruskal): a candidate is taken when its ends lie in pieces (``component`` labels, default the
       shells) that the bridges taken so far do not join yet, until every piece with a candidate is joined; so
       that no redundant bridge between two joined pieces uses up the terminals a bridge to a third one needs.
       The shortest candidate of each pair of pieces is tried first, then (only while pieces remain apart) all;
    2. greedy: every other candidate.

    A satellite gains at most ``free_terminals`` bridges: with ``free_terminals = 4 - its links``, it keeps at
    most four.

    Args:
        pos_km: [km] (N, 3) satellite positions (Earth-fixed).
        shell: (N,) int shell index of each satellite.
        free_terminals: (N,) int [-] laser terminals free on each satellite (0: it takes no bridge).
        ok: (N,) bool, satellites usable in this bucket.
        max_range_km: [km] longest usable laser link.
        atmosphere_margin_km: [km] the segment must pass this far above the equatorial radius.
        component: (N,) int labels of the pieces to join (e.g. the connected components of the shells' own
            ISLs); None: the shells.

    Returns:
        (B, 2) int64 satellite index pairs with i < j, in the order accepted (spanning pass first).
    """
    pos = np.asarray(pos_km, dtype=np.float64)
    free = np.asarray(free_terminals, dtype=np.int64)
    cand = np.flatnonzero((free > 0) & np.asarray(ok, dtype=bool))
    empty = np.zeros((0, 2), dtype=np.int64)
    sh = np.asarray(shell, dtype=np.int64)[cand]
    if np.unique(sh).size < 2:
        return empty
    lo, hi = _bridge_candidates(pos[cand], sh, max_range_km, atmosphere_margin_km)
    if lo.size == 0:
        return empty
    label = sh if component is None else np.asarray(component, dtype=np.int64)[cand]
    out = _accept_bridges(lo, hi, free[cand].tolist(), label)
    if not out:
        return empty
    return np.sort(cand[np.asarray(out, dtype=np.int64)], axis=1)


def _bridge_candidates(p: NDArray[np.float64], sh: NDArray[np.int64], max_range_km: float,
                       atmosphere_margin_km: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:func:`bridge_isls`' candidates among the free-terminal satellites at ``p`` [km] (shells ``sh``): pairs
    (lo, hi) of indices into ``p``, shortest first (ties in k-d query order), within range and clear of the Earth."""
    k = min(_BRIDGE_NEIGHBOURS, p.shape[0] - 1)
    d, b = cKDTree(p).query(p, k=list(range(1, k + 2)), distance_upper_bound=np.nextafter(max_range_km, np.inf))
    a = np.broadcast_to(np.arange(p.shape[0])[:, None], d.shape)
    rows = np.vstack([b, np.full((1, b.shape[1]), -1)])  # neighbours of each satellite; a miss is b = cand.size
    hit = (d <= max_range_km) & (sh[:, None] != np.append(sh, -1)[b])  # (a miss also has d = inf)
    hit &= (a < b) | ~(rows[b] == a[..., None]).any(axis=-1)  # a pair found from both ends: once
    a, b, d = a[hit], b[hit], d[hit]
    order = np.argsort(d, kind="stable")  # shortest first, ties in query order
    lo, hi = np.minimum(a, b)[order], np.maximum(a, b)[order]
    clear = segment_clears_earth(p[lo], p[hi], EARTH_RADIUS_EQ_KM + atmosphere_margin_km)
    return lo[clear], hi[clear]


class _Pieces:
    """Union-find over the piece labels of :func:`bridge_isls`' spanning pass (path halving)."""

    def __init__(self, labels: list[int]) -> None:
        self.group = {g: g for g in labels}
        self.joins_left = len(self.group) - 1

    def root(self, x: int) -> int:
        group = self.group
        while group[x] != x:
            group[x] = group[group[x]]
            x = group[x]
        return x


def _accept_bridges(lo: NDArray[np.int64], hi: NDArray[np.int64], left: list[int],
                    label: NDArray[np.int64]) -> list[tuple[int, int]]:
    """:func:`bridge_isls`' two passes over the candidates (lo, hi) (shortest first), ``left`` [-] the free terminals
    of each satellite (decremented in place) and ``label`` its piece: the accepted pairs, in order."""
    out: list[tuple[int, int]] = []
    taken = np.zeros(lo.size, dtype=bool)
    la, lb = label[lo], label[hi]
    cross = np.flatnonzero(la != lb)
    pieces = _Pieces(np.unique(np.concatenate([la[cross], lb[cross]])).tolist())

    def span(edges: NDArray[np.int64]) -> None:
        for e in edges.tolist():
            if pieces.joins_left == 0:
                return
            i, j, ri, rj = int(lo[e]), int(hi[e]), pieces.root(int(la[e])), pieces.root(int(lb[e]))
            if ri != rj and left[i] > 0 and left[j] > 0 and not taken[e]:
                pieces.group[ri] = rj
                pieces.joins_left -= 1
                left[i] -= 1
                left[j] -= 1
                taken[e] = True
                out.append((i, j))

    # The shortest candidate of each pair of pieces first; only if that leaves pieces apart, all of them.
    pair_key = np.minimum(la, lb)[cross] * (int(label.max()) + 1) + np.maximum(la, lb)[cross]
    span(np.sort(cross[np.unique(pair_key, return_index=True)[1]]))
    span(cross)
    for i, j in zip(lo[~taken].tolist(), hi[~taken].tolist()):
        if left[i] > 0 and left[j] > 0:
            left[i] -= 1
            left[j] -= 1
            out.append((i, j))
    return out
