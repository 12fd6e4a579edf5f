"""Shortest-delay routing of one topology bucket (scipy.sparse.csgraph): the directed routing graph of satellites
and ground sites (:func:`routing_graph`, assembled from a cached CSR layout when the pair list repeats), Dijkstra
from every site (:func:`shortest_delays`) or from a few, up to a delay limit (:func:`route_sites`, the lazy
snapshots' routing). Re-exported by :mod:`orbitcloud_env.network`.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from orbitcloud_env.links import _edge_ms

__all__ = ["routing_graph", "shortest_delays", "route_sites"]

def routing_graph(
    n_sats: int,
    pairs: NDArray[np.int64],
    isl_up: NDArray[np.bool_],
    isl_distance_km: NDArray[np.float64],
    gsl_visible: NDArray[np.bool_],
    gsl_slant_km: NDArray[np.float64],
) -> csr_matrix:
    """The directed routing graph of :func:`shortest_delays` (satellites 0..N-1, site s is node N + s)."""
    ss, nn = np.nonzero(gsl_visible)
    return _routing_graph(n_sats, gsl_visible.shape[0], pairs, isl_up, isl_distance_km, ss, nn, gsl_slant_km[ss, nn])


class _IslLayout:
    """Where each ISL of a pair list goes in a canonical CSR graph (rows sorted by column, no duplicates), both
    directions: built once per pair list, so that each bucket's graph is assembled by masking instead of sorting."""

    def __init__(self, n: int, pairs: NDArray[np.int64]) -> None:
        e = pairs.shape[0]
        rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
        cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
        #: (2E,) entry of the directed edge list (a->b for every pair, then b->a) at each CSR position.
        self.perm = np.lexsort((cols, rows))
        self.rows, self.cols = rows[self.perm], cols[self.perm].astype(np.int32)
        same = (self.rows[1:] == self.rows[:-1]) & (self.cols[1:] == self.cols[:-1])
        #: Duplicate pairs are summed by scipy's conversion: such lists keep taking that path.
        self.usable = not same.any() and e > 0
        self.n = n

    def graph(self, s_count: int, isl_up: NDArray[np.bool_], isl_w: NDArray[np.float64], gsl_site: NDArray[np.int64],
              gsl_sat: NDArray[np.int64], gsl_w: NDArray[np.float64]) -> csr_matrix:
        """The graph of :func:`_routing_graph` (``isl_w`` [ms] (E,) for every pair; only the up ones are used)."""
        n = self.n
        keep = np.concatenate([isl_up, isl_up])[self.perm]
        data = np.concatenate([np.concatenate([isl_w, isl_w])[self.perm][keep], gsl_w])
        indices = np.concatenate([self.cols[keep], gsl_sat.astype(np.int32)])
        counts = np.concatenate([np.bincount(self.rows[keep], minlength=n), np.bincount(gsl_site, minlength=s_count)])
        indptr = np.zeros(n + s_count + 1, dtype=np.int32)
        np.cumsum(counts, out=indptr[1:])
        return csr_matrix((data, indices, indptr), shape=(n + s_count, n + s_count))


#: Pair lists seen by _routing_graph: id -> (the list, its layout once seen twice). A pair list used bucket after
#: bucket (Walker shells, a catalogue between regrids) gets a layout; one made anew per bucket never does.
_LAYOUTS: OrderedDict[int, tuple[NDArray[np.int64], _IslLayout | None]] = OrderedDict()


def _layout_for(n: int, pairs: NDArray[np.int64]) -> _IslLayout | None:
    got = _LAYOUTS.get(id(pairs))
    if got is None or got[0] is not pairs:
        _LAYOUTS[id(pairs)] = (pairs, None)
        if len(_LAYOUTS) > 8:
            _LAYOUTS.popitem(last=False)
        return None
    layout = got[1]
    if layout is None or layout.n != n:
        layout = _IslLayout(n, pairs)
        _LAYOUTS[id(pairs)] = (pairs, layout)
    _LAYOUTS.move_to_end(id(pairs))
    return layout if layout.usable else None


def _routing_graph(n_sats: int, s_count: int, pairs: NDArray[np.int64], isl_up: NDArray[np.bool_],
                   isl_distance_km: NDArray[np.float64], gsl_site: NDArray[np.int64], gsl_sat: NDArray[np.int64],
                   gsl_slant_km: NDArray[np.float64]) -> csr_matrix:
    """:func:`routing_graph` from the visible ground links as (site, satellite, slant [km]) triples, in the order
    of ``np.nonzero`` over the (S, N) matrix (site, then satellite)."""
    n = int(n_sats)
    ss, nn = gsl_site, gsl_sat
    layout = _layout_for(n, pairs) if not pairs.flags.writeable else None
    if layout is not None:  # the same graph, assembled from the pair list's layout
        return layout.graph(s_count, isl_up, _edge_ms(isl_distance_km), ss, nn, _edge_ms(gsl_slant_km))
    isl_w = _edge_ms(isl_distance_km[isl_up])
    ia, ib = pairs[isl_up, 0], pairs[isl_up, 1]
    gsl_w = _edge_ms(gsl_slant_km)
    rows = np.concatenate([ia, ib, n + ss])
    cols = np.concatenate([ib, ia, nn])
    data = np.concatenate([isl_w, isl_w, gsl_w])
    return csr_matrix((data, (rows, cols)), shape=(n + s_count, n + s_count))


def shortest_delays(
    n_sats: int,
    pairs: NDArray[np.int64],
    isl_up: NDArray[np.bool_],
    isl_distance_km: NDArray[np.float64],
    gsl_visible: NDArray[np.bool_],
    gsl_slant_km: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """One-way shortest propagation delays from every site to every satellite.

    Routing graph: ``n_sats`` satellite nodes then S site nodes; each usable ISL is an edge both ways
    weighted by ``distance / c`` [ms], each visible GSL an edge from site to satellite weighted by
    ``slant / c`` [ms] (sites have no incoming edges, so routes never relay through another site).
    Weights are floored at 1e-9 ms so that csgraph never drops a zero-length edge. One
    ``scipy.sparse.csgraph.dijkstra`` call with ``indices`` = the site nodes.

    Args:
        n_sats: [-] N.
        pairs: (E, 2) ISL endpoints; isl_up: (E,) bool usable; isl_distance_km: (E,) [km].
        gsl_visible: (S, N) bool; gsl_slant_km: (S, N) [km].

    Returns:
        (delay_ms, predecessors): (S, N) [ms] delays (``np.inf`` if unreachable) and (S, N + S)
        csgraph predecessors (node ids; ``n_sats + s`` is site s; -9999 for none).
    """
    graph = routing_graph(n_sats, pairs, isl_up, isl_distance_km, gsl_visible, gsl_slant_km)
    return _route_every_site(graph, int(n_sats), gsl_visible.shape[0])


def _route_every_site(graph: csr_matrix, n: int, s_count: int) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """One Dijkstra call from every site node of ``graph``: (S, N) delays [ms] and (S, N + S) predecessors."""
    if s_count == 0:
        return np.zeros((0, n)), np.zeros((0, n), dtype=np.int32)
    d, pred = dijkstra(graph, directed=True, indices=np.arange(n, n + s_count), return_predecessors=True)
    return np.ascontiguousarray(d[:, :n]), pred


def route_sites(graph: csr_matrix, n: int, sites: NDArray[np.int64],
                limit_ms: float) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Dijkstra from the site nodes ``n + sites`` of ``graph``, exact up to ``limit_ms`` [ms]: (len(sites), N + S)
    delays [ms] and predecessors (satellites first; ``np.inf`` / -9999 beyond the limit)."""
    return dijkstra(graph, directed=True, indices=n + sites, return_predecessors=True, limit=limit_ms)
