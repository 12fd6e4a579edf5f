"""The network of one topology bucket: :class:`NetworkSnapshot` (links, ground links, shortest one-way delays, routed
eagerly or per site on first use) and :func:`build_snapshot`, which makes one from positions and candidate ISLs.
Re-exported by :mod:`orbitcloud_env.network`, whose :class:`~orbitcloud_env.network.Network` builds and caches one
per bucket.
"""

from __future__ import annotations

from functools import cached_property

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix

from orbitcloud_env.links import (
    DEFAULT_GSL_CAPACITY_GBPS,
    DEFAULT_ISL_CAPACITY_GBPS,
    DEFAULT_MIN_ELEVATION_DEG,
    _check_gsl_inputs,
    _edge_ms,
    _gsl_near,
    gsl_visibility,
)
from orbitcloud_env.routing import _route_every_site, _routing_graph, route_sites
from orbitcloud_env.sanity import FAULT_REASONS

__all__ = ["NetworkSnapshot", "build_snapshot"]

def _readonly(a: NDArray) -> NDArray:
    a.flags.writeable = False
    return a


class NetworkSnapshot:
    """Links and shortest one-way delays of one topology bucket (build with :func:`build_snapshot`).

    Node ids: satellites 0..N-1, sites 0..S-1 (in networkx, ``"site:<index>"``).

    Attributes:
        time_s: [s] start of the bucket, seconds since the constellation epoch.
        sat_ecef_km: (N, 3) [km] satellite positions; sat_ok: (N,) bool, usable this bucket: operational, SGP4
        succeeded and physically sane (the simulator routes and computes only through these);
        sat_fault: (N,) uint8 reason code when not (index into :data:`FAULT_REASONS`, 0: ok).
        pairs: (E, 2) candidate ISL pairs; isl_up: (E,) bool usable (geometry, failures, both ends ok);
        isl_distance_km: (E,) [km]; isl_bridge: (E,) bool, True for the inter-shell bridges that
        :class:`Network` appends after the +Grid pairs (``links.inter_shell_isls``; all False otherwise).
        site_lat_deg, site_lon_deg: (S,) [deg].
        gsl_visible: (S, N) bool (above the elevation mask, satellite ok); gsl_slant_km: (S, N) [km] (both dense
            views built on first access; the snapshot keeps the visible pairs only, see :meth:`gsl_row`).
        site_sat_delay_ms: (S, N) [ms] one-way shortest propagation delay from each site through one of its
            visible satellites (uplink slant / c) and then ISLs (distance / c); ``np.inf`` if unreachable.
        isl_capacity_gbps: [Gbit/s] per laser link; gsl_capacity_gbps: [Gbit/s] per satellite's ground
            links (shared by the sites that use it).
    """

    def __init__(
        self,
        *,
        time_s: float,
        sat_ecef_km: NDArray[np.float64],
        sat_ok: NDArray[np.bool_],
        pairs: NDArray[np.int64],
        isl_up: NDArray[np.bool_],
        isl_distance_km: NDArray[np.float64],
        site_lat_deg: NDArray[np.float64],
        site_lon_deg: NDArray[np.float64],
        gsl_pairs: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
        min_elevation_deg: float,
        site_sat_delay_ms: NDArray[np.float64] | None,
        predecessors: NDArray[np.int32] | None,
        isl_capacity_gbps: float,
        gsl_capacity_gbps: float,
        graph: csr_matrix | None = None,
        sat_fault: NDArray[np.uint8] | None = None,
        isl_bridge: NDArray[np.bool_] | None = None,
    ):
        self.time_s = float(time_s)
        self.sat_ecef_km = _readonly(sat_ecef_km)
        self.sat_ok = _readonly(sat_ok)
        self.sat_fault = _readonly(np.where(self.sat_ok, 0, 2).astype(np.uint8) if sat_fault is None
                                   else np.array(sat_fault, dtype=np.uint8))
        self.pairs = _readonly(pairs)
        self.isl_up = _readonly(isl_up)
        self.isl_distance_km = _readonly(isl_distance_km)
        self.isl_bridge = _readonly(np.zeros(self.pairs.shape[0], dtype=bool) if isl_bridge is None
                                    else np.array(isl_bridge, dtype=bool).reshape(self.pairs.shape[0]))
        self.site_lat_deg = _readonly(site_lat_deg)
        self.site_lon_deg = _readonly(site_lon_deg)
        self.min_elevation_deg = float(min_elevation_deg)
        n_sites = self.site_lat_deg.shape[0]
        # Visible ground links, sorted by site then satellite; row s is [_gsl_start[s], _gsl_start[s + 1]).
        gss, gnn, gsl = gsl_pairs
        self._gsl_sat = _readonly(np.asarray(gnn, dtype=np.int64))
        self._gsl_slant = _readonly(np.asarray(gsl, dtype=np.float64))
        self._gsl_start = np.searchsorted(np.asarray(gss, dtype=np.int64), np.arange(n_sites + 1))
        # Routes are stored per site (rows), so that no (S, N) array is allocated unless asked for: at 20,000
        # satellites one such array is 16 MB, which numpy backs with huge pages whose first touch costs the kernel
        # milliseconds.
        self._init_routes(n_sites, site_sat_delay_ms, predecessors, graph)
        self.isl_capacity_gbps = float(isl_capacity_gbps)
        self.gsl_capacity_gbps = float(gsl_capacity_gbps)

    def _init_routes(self, n_sites: int, site_sat_delay_ms: NDArray[np.float64] | None,
                     predecessors: NDArray[np.int32] | None, graph: csr_matrix | None) -> None:
        """The routes of :meth:`__init__`: every site's (eager) or none yet, routed per site from ``graph`` (lazy)."""
        self._delay_rows: dict[int, NDArray[np.float64]] = {}
        self._pred_rows: dict[int, NDArray[np.int32]] = {}
        if site_sat_delay_ms is None:  # lazy routing: rows are computed per site on first use
            if graph is None:
                raise ValueError("graph: lazy routing (no site_sat_delay_ms) needs the routing graph")
            self._graph = graph
            # [ms] per site: -1 not routed, a finite limit (row exact up to it), inf (complete row)
            self._routed_limit = np.full(n_sites, -1.0)
            self._full: tuple[NDArray[np.float64], NDArray[np.int32]] | None = None
        else:
            self._graph = None
            d = _readonly(np.array(site_sat_delay_ms, dtype=np.float64))
            p = _readonly(np.array(predecessors, dtype=np.int32))
            self._full = (d, p)
            self._delay_rows.update(enumerate(d))
            self._pred_rows.update(enumerate(p))
            self._routed_limit = np.full(n_sites, np.inf)

    @property
    def n_sats(self) -> int:
        return self.sat_ecef_km.shape[0]

    def _route(self, sites: NDArray[np.int64], limit_ms: float = np.inf) -> None:
        """Run Dijkstra from the given sites (lazy snapshots), exact up to ``limit_ms``, and store their rows."""
        todo = sites[self._routed_limit[sites] < limit_ms]
        if todo.size == 0:
            return
        n = self.n_sats
        d, pred = route_sites(self._graph, n, todo, limit_ms)
        for i, site in enumerate(todo.tolist()):
            self._delay_rows[site] = _readonly(d[i, :n])
            self._pred_rows[site] = pred[i]
        self._routed_limit[todo] = limit_ms

    def site_delay_ms(self, site: int, limit_ms: float = np.inf) -> NDArray[np.float64]:
        """(N,) [ms] row ``site`` of :attr:`site_sat_delay_ms`, routing only that site if needed.

        With a finite ``limit_ms`` the row may be partial: it is exact for every satellite within ``limit_ms``
        and ``np.inf`` beyond, where inf then means "farther than the limit", not "unreachable"; check
        :meth:`route_limit_ms` (inf for a complete row) before reading an inf as unreachable.
        """
        if self._routed_limit[site] < limit_ms:
            self._route(np.array([site]), limit_ms)
        return self._delay_rows[site]

    def route_limit_ms(self, site: int) -> float:
        """[ms] the limit up to which row ``site`` is exact (inf: complete; -1: not routed yet)."""
        return float(self._routed_limit[site])

    def delay_ms(self, site: int, sat: int, limit_ms: float = np.inf) -> float:
        """[ms] exact one-way delay from ``site`` to ``sat`` (np.inf only when unreachable).

        Routes the site up to ``limit_ms`` first (see :meth:`site_delay_ms`) and completes its route only when
        ``sat`` lies beyond that limit. A satellite already within the site's routed limit is read as it is (a
        partial row is exact wherever it is finite).
        """
        row = self._delay_rows.get(site)
        if row is not None and row[sat] < np.inf:
            return float(row[sat])
        d = self.site_delay_ms(site, limit_ms)[sat]
        if d == np.inf and self._routed_limit[site] < np.inf:
            d = self.site_delay_ms(site)[sat]
        return float(d)

    def _route_all(self) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        """Complete the route of every site (lazy snapshots); the (S, N) delays and (S, N + S) predecessors."""
        if self._full is None:
            self._route(np.arange(self._routed_limit.shape[0]))
            sites = range(self.n_sites)
            self._full = (_readonly(np.array([self._delay_rows[s] for s in sites]).reshape(self.n_sites, self.n_sats)),
                          _readonly(np.array([self._pred_rows[s] for s in sites], dtype=np.int32)
                                    .reshape(self.n_sites, self.n_sats + self.n_sites)))
        return self._full

    @property
    def site_sat_delay_ms(self) -> NDArray[np.float64]:
        """(S, N) [ms] one-way shortest delay from each site to each satellite (np.inf: unreachable)."""
        return self._route_all()[0]

    @property
    def _pred(self) -> NDArray[np.int32]:
        return self._route_all()[1]

    @property
    def n_sites(self) -> int:
        return self.site_lat_deg.shape[0]

    def gsl_row(self, site: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The satellites ``site`` sees in this bucket (sorted) and their slant ranges [km]: row ``site`` of
        :attr:`gsl_visible` / :attr:`gsl_slant_km` without the (S, N) matrices."""
        a, b = self._gsl_start[site], self._gsl_start[site + 1]
        return self._gsl_sat[a:b], self._gsl_slant[a:b]

    def gsl_visible_row(self, site: int) -> NDArray[np.bool_]:
        """(N,) bool: row ``site`` of :attr:`gsl_visible` (a new array)."""
        row = np.zeros(self.n_sats, dtype=bool)
        row[self.gsl_row(site)[0]] = True
        return row

    def gsl_slant_to(self, site: int, sat: int) -> float:
        """[km] slant range from ``site`` to ``sat`` if ``sat`` is visible from it, else ``np.inf``."""
        sats, slant = self.gsl_row(site)
        i = int(np.searchsorted(sats, sat))
        return float(slant[i]) if i < sats.shape[0] and sats[i] == sat else np.inf

    @cached_property
    def gsl_visible(self) -> NDArray[np.bool_]:
        """(S, N) bool: which satellites each site sees (above the mask, satellite ok, site's links up)."""
        vis = np.zeros((self.n_sites, self.n_sats), dtype=bool)
        vis[np.repeat(np.arange(self.n_sites), np.diff(self._gsl_start)), self._gsl_sat] = True
        return _readonly(vis)

    @cached_property
    def gsl_slant_km(self) -> NDArray[np.float64]:
        """(S, N) [km] slant ranges, exact within :func:`gsl_visibility`'s cut radius, ``np.inf`` beyond."""
        return _readonly(gsl_visibility(self.site_lat_deg, self.site_lon_deg, self.sat_ecef_km,
                                        self.min_elevation_deg)[1])

    @property
    def isl_delay_ms(self) -> NDArray[np.float64]:
        """(E,) [ms] ISL propagation delay (the routing edge weight)."""
        return _edge_ms(self.isl_distance_km)

    @property
    def gsl_delay_ms(self) -> NDArray[np.float64]:
        """(S, N) [ms] uplink propagation delay (the routing edge weight)."""
        return _edge_ms(self.gsl_slant_km)

    def path(self, site: int, sat: int) -> list[int]:
        """Satellites on the shortest-delay route from ``site`` to ``sat``: [first visible sat, ..., sat].

        Returns [] when ``sat`` is unreachable from the site.
        """
        if not (0 <= site < self.n_sites):
            raise ValueError(f"site: must lie in [0, {self.n_sites}), got {site}")
        if not (0 <= sat < self.n_sats):
            raise ValueError(f"sat: must lie in [0, {self.n_sats}), got {sat}")
        # A partial row (see site_delay_ms) is enough when the satellite lies within its limit.
        limit = float(self._routed_limit[site])
        if self.delay_ms(site, sat, limit if limit >= 0 else np.inf) == np.inf:
            return []
        pred = self._pred_rows[site]
        out = [int(sat)]
        node = int(pred[sat])
        while node < self.n_sats:
            out.append(node)
            node = int(pred[node])
        out.reverse()
        return out

    @cached_property
    def site_sat_hops(self) -> NDArray[np.int64]:
        """(S, N) number of ISL hops on the shortest-delay route (0: the satellite is the entry
        satellite); -1 when unreachable. Computed on first access by pointer jumping."""
        n = self.n_sats
        par = self._pred[:, :n].astype(np.int64)
        on_sat = (par >= 0) & (par < n)
        hops = on_sat.astype(np.int64)
        anc = np.where(on_sat, par, -1)
        rows = np.arange(par.shape[0])[:, None]
        while True:
            live = anc >= 0
            if not live.any():
                break
            safe = np.where(live, anc, 0)
            hops = np.where(live, hops + hops[rows, safe], hops)
            anc = np.where(live, anc[rows, safe], -1)
        hops[~np.isfinite(self.site_sat_delay_ms)] = -1
        return _readonly(hops)

    def to_networkx(self) -> nx.Graph:
        """The snapshot as an undirected networkx Graph (for inspection and rendering).

        Nodes: satellites ``0..N-1`` (``kind="satellite"``, ``ok``, ``fault`` reason), sites ``"site:<i>"``
        (``kind="site"``, ``lat_deg``, ``lon_deg``). Edges: usable ISLs (``kind="isl"``, ``bridge`` True for an
        inter-shell bridge) and visible GSLs (``kind="gsl"``), each with ``distance_km``, ``delay_ms`` (the routing
        weight) and ``capacity_gbps``.

        Routing in :attr:`site_sat_delay_ms` never transits a ground site (no ground relay); to reproduce
        it with networkx, search from one site in ``G.subgraph(range(N) | {that site})``.
        """
        g = nx.Graph()
        g.add_nodes_from(
            (i, {"kind": "satellite", "ok": bool(ok), "fault": FAULT_REASONS[f]})
            for i, (ok, f) in enumerate(zip(self.sat_ok.tolist(), self.sat_fault.tolist()))
        )
        g.add_nodes_from(
            (f"site:{s}", {"kind": "site", "lat_deg": la, "lon_deg": lo})
            for s, (la, lo) in enumerate(zip(self.site_lat_deg.tolist(), self.site_lon_deg.tolist()))
        )
        up = np.nonzero(self.isl_up)[0]
        isl_delay = self.isl_delay_ms
        cap = self.isl_capacity_gbps
        bridge = self.isl_bridge
        g.add_edges_from(
            (int(self.pairs[e, 0]), int(self.pairs[e, 1]),
             {"kind": "isl", "distance_km": float(self.isl_distance_km[e]), "delay_ms": float(isl_delay[e]),
              "capacity_gbps": cap, "bridge": bool(bridge[e])})
            for e in up.tolist()
        )
        ss = np.repeat(np.arange(self.n_sites), np.diff(self._gsl_start))
        nn, gk = self._gsl_sat, self._gsl_slant
        gd = _edge_ms(gk)
        gcap = self.gsl_capacity_gbps
        g.add_edges_from(
            (f"site:{s}", int(t), {"kind": "gsl", "distance_km": float(k), "delay_ms": float(d), "capacity_gbps": gcap})
            for s, t, k, d in zip(ss.tolist(), nn.tolist(), gk.tolist(), gd.tolist())
        )
        return g


def _usable_gsls(lat: NDArray[np.float64], lon: NDArray[np.float64], pos: NDArray[np.float64], ok: NDArray[np.bool_],
                 min_elevation_deg: float, site_gsl_down: ArrayLike | None,
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The ground links of :func:`build_snapshot`: (site, satellite, slant [km]) of the visible pairs whose satellite
    is ok and whose site's links are not down, sorted by site then satellite."""
    ss, nn, slant, vis = _gsl_near(lat, lon, pos, min_elevation_deg)
    vis &= ok[nn]
    if site_gsl_down is not None:
        vis &= ~np.asarray(site_gsl_down, dtype=bool).reshape(lat.shape[0])[ss]
    return ss[vis], nn[vis], slant[vis]


def build_snapshot(
    time_s: float,
    sat_ecef_km: ArrayLike,
    sat_ok: ArrayLike,
    pairs: ArrayLike,
    isl_up: ArrayLike,
    isl_distance_km: ArrayLike,
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    min_elevation_deg: float = DEFAULT_MIN_ELEVATION_DEG,
    isl_capacity_gbps: float = DEFAULT_ISL_CAPACITY_GBPS,
    gsl_capacity_gbps: float = DEFAULT_GSL_CAPACITY_GBPS,
    lazy_routing: bool = False,
    sat_fault: ArrayLike | None = None,
    site_gsl_down: ArrayLike | None = None,
    isl_bridge: ArrayLike | None = None,
) -> NetworkSnapshot:
    """Compute GSL visibility and shortest delays from every site for one topology bucket.

    Routing is :func:`shortest_delays` (no relay through ground sites; satellites with ``sat_ok`` False
    carry no links).

    Args:
        time_s: [s] bucket start, seconds since the constellation epoch.
        sat_ecef_km: [km] (N, 3) positions; sat_ok: (N,) bool (failed satellites carry no links).
        pairs: (E, 2) candidate ISLs; isl_up: (E,) bool usable (geometry and failures);
        isl_distance_km: (E,) [km].
        site_lat_deg, site_lon_deg: [deg] (S,) ground sites.
        min_elevation_deg: [deg] GSL elevation mask.
        isl_capacity_gbps: [Gbit/s] per ISL. gsl_capacity_gbps: [Gbit/s] per satellite's ground links.
        lazy_routing: route each site only when its delays are first asked for
            (:meth:`NetworkSnapshot.site_delay_ms`); same results, less work when few sites send traffic.
        sat_fault: (N,) uint8 reason codes of the satellites that are not ok (:func:`satellite_faults`).
        site_gsl_down: (S,) bool, sites whose ground links are all down this bucket (weather outages of the
            ``faults`` section); None: none.
        isl_bridge: (E,) bool, the pairs that are inter-shell bridges (:func:`bridge_isls`); None: none.
    """
    pos = np.array(sat_ecef_km, dtype=np.float64)
    n = pos.shape[0]
    ok = np.array(sat_ok, dtype=bool).reshape(n)
    pr = pairs if (isinstance(pairs, np.ndarray) and pairs.dtype == np.int64 and pairs.ndim == 2
                   and pairs.shape[1] == 2 and not pairs.flags.writeable) \
        else np.array(pairs, dtype=np.int64).reshape(-1, 2)
    dist = np.array(isl_distance_km, dtype=np.float64).reshape(pr.shape[0])
    up = np.array(isl_up, dtype=bool).reshape(pr.shape[0]) & ok[pr[:, 0]] & ok[pr[:, 1]]
    if isl_capacity_gbps <= 0 or gsl_capacity_gbps <= 0:
        raise ValueError(f"isl_capacity_gbps, gsl_capacity_gbps: must be > 0 Gbit/s, got {isl_capacity_gbps}, "
                         f"{gsl_capacity_gbps}")
    lat, lon, pos = _check_gsl_inputs(site_lat_deg, site_lon_deg, pos, min_elevation_deg)
    ss, nn, slant = _usable_gsls(lat, lon, pos, ok, min_elevation_deg, site_gsl_down)
    graph = _routing_graph(n, lat.shape[0], pr, up, dist, ss, nn, slant)
    d, pred = (None, None) if lazy_routing else _route_every_site(graph, n, lat.shape[0])
    return NetworkSnapshot(
        time_s=time_s, sat_ecef_km=pos, sat_ok=ok, pairs=pr, isl_up=up, isl_distance_km=dist,
        site_lat_deg=lat, site_lon_deg=lon, gsl_pairs=(ss, nn, slant), min_elevation_deg=min_elevation_deg,
        site_sat_delay_ms=d, predecessors=pred,
        isl_capacity_gbps=isl_capacity_gbps, gsl_capacity_gbps=gsl_capacity_gbps, graph=graph, sat_fault=sat_fault,
        isl_bridge=isl_bridge,
    )
