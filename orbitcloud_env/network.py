"""Inter-satellite (ISL) and ground-satellite (GSL) links, link failures and shortest-delay routing.

Two clocks (both in seconds):

- the topology clock: links, visibility and routes are recomputed once per time bucket of
  ``topology_dt_s`` and held constant within it (:class:`Network` caches the snapshots);
- the event clock of the simulator (job arrivals) reads the snapshot of the bucket it falls in.

Delays are one-way propagation delays [ms] at the vacuum speed of light ``C_KM_S`` (laser ISLs and radio
GSLs alike); queueing and processing delays are not modelled here. Terrestrial fibre paths live in
``ground.py``.

Default figures, cited:

- ISL capacity 100 Gbit/s per laser link (SpaceX statements on Starlink laser links, 2024).
- GSL capacity ~20 Gbit/s per satellite (del Portillo, Cameron & Crawley, "A technical comparison of
  three LEO satellite constellation systems to provide global broadband", Acta Astronautica 159, 2019).
- Minimum elevation 25 deg (SpaceX FCC modification, 2018, SAT-MOD-20181108-00083).
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from functools import cached_property
from typing import Callable, MutableMapping

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from orbitcloud_env.catalogue import CatalogueShell, plus_grid_pairs
from orbitcloud_env.config import CATALOGUE_REGRID_S, LinksConfig
from orbitcloud_env.constants import C_KM_S, EARTH_RADIUS_EQ_KM, ISL_TERMINALS, SECONDS_PER_HOUR, WGS84_FLATTENING
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.faults import TwoStateChains
from orbitcloud_env.geometry import geodetic_to_ecef, segment_clears_earth, site_up_vectors

__all__ = [
    "plus_grid_isls",
    "bridge_isls",
    "isl_state",
    "gsl_visibility",
    "LinkFailures",
    "NetworkSnapshot",
    "build_snapshot",
    "shortest_delays",
    "Network",
    "satellite_faults",
    "FAULT_REASONS",
    "SatelliteFault",
    "DEFAULT_ISL_CAPACITY_GBPS",
    "DEFAULT_GSL_CAPACITY_GBPS",
    "DEFAULT_MIN_ELEVATION_DEG",
]

#: [Gbit/s] Laser ISL capacity (SpaceX statements on Starlink laser links, 2024).
DEFAULT_ISL_CAPACITY_GBPS: float = LinksConfig.isl_capacity_gbps
#: [Gbit/s] Ground-link capacity per satellite (del Portillo et al., Acta Astronautica 159, 2019).
DEFAULT_GSL_CAPACITY_GBPS: float = LinksConfig.gsl_capacity_gbps
#: [deg] Minimum elevation of a usable ground link (SpaceX FCC filing SAT-MOD-20181108-00083).
DEFAULT_MIN_ELEVATION_DEG: float = LinksConfig.min_elevation_deg
#: [ms] Floor on edge weights so that a zero-length edge is still an edge for scipy.sparse.csgraph
#: (1 ps; far below anything this model resolves).
_MIN_EDGE_MS: float = 1e-9
#: [-] Most ISLs per satellite (four laser terminals).
_MAX_ISL_DEGREE: int = ISL_TERMINALS
#: [km] Sanity band of a satellite's geocentric radius minus the equatorial radius. LEO is 160-2,000 km
#: (config.MIN/MAX_ALTITUDE_KM); the band is wider by the Earth's flattening (21 km at the poles) and SGP4's
#: short-period terms, and catches the 10^5-10^14 km positions SGP4 returns, without an error, for decayed
#: element sets.
SANE_ALTITUDE_KM: tuple[float, float] = (100.0, 2500.0)
#: [km/s] Sanity band of Earth-fixed speed: circular LEO speeds are 6.9-7.85 km/s inertial
#: (sqrt(MU/r) at 2,000-160 km), and Earth rotation changes them by at most 0.6 km/s (omega * r).
SANE_SPEED_KM_S: tuple[float, float] = (5.5, 8.6)
class SatelliteFault(enum.IntEnum):
    """Why a satellite is down in a topology bucket (:func:`satellite_faults` codes; text in :data:`FAULT_REASONS`)."""

    OK = 0
    NOT_OPERATIONAL = 1
    SGP4_ERROR = 2
    ALTITUDE = 3
    SPEED = 4
    RANDOM_FAILURE = 5

    @property
    def text(self) -> str:
        return FAULT_REASONS[self]


#: Reasons of :func:`satellite_faults` codes (index = :class:`SatelliteFault` code); code 0 is a usable satellite.
FAULT_REASONS: tuple[str, ...] = (
    "ok",
    "not operational (catalogue status)",
    "SGP4 error",
    "altitude outside the LEO sanity band",
    "speed outside the LEO sanity band",
    "random satellite failure (faults section)",
)

_MS_PER_KM: float = 1e3 / C_KM_S


def _edge_ms(distance_km: NDArray[np.float64]) -> NDArray[np.float64]:
    """[ms] Routing weight of links ``distance_km`` [km] long: light time, floored at ``_MIN_EDGE_MS`` so that
    csgraph keeps a zero-length edge."""
    return np.maximum(distance_km * _MS_PER_KM, _MIN_EDGE_MS)


# ------------------------------------------------------------------------------------------ topology
def _tle_shell_pairs(pos_km: NDArray[np.float64], ok: NDArray[np.bool_], idx: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Greedy nearest-neighbour links: candidates are each satellite's 4 nearest, shortest first,
    accepted while both ends have fewer than 4 links."""
    idx = idx[ok[idx]]
    if idx.size < 2:
        return []
    k = min(_MAX_ISL_DEGREE, idx.size - 1)
    tree = cKDTree(pos_km[idx])
    dist, nbr = tree.query(pos_km[idx], k=k + 1)
    a = np.repeat(np.arange(idx.size), k)
    b = nbr[:, 1:].ravel()
    d = dist[:, 1:].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    cand, first = np.unique(np.stack([lo, hi], axis=1), axis=0, return_index=True)
    order = np.argsort(d[first], kind="stable")
    degree = np.zeros(idx.size, dtype=np.int64)
    out = []
    for i, j in cand[order].tolist():
        if degree[i] < _MAX_ISL_DEGREE and degree[j] < _MAX_ISL_DEGREE:
            degree[i] += 1
            degree[j] += 1
            out.append((int(idx[i]), int(idx[j])))
    return out


def plus_grid_isls(constellation: Constellation, time_s: float = 0.0) -> NDArray[np.int64]:
    """Candidate ISL pairs of the "+Grid" topology, computed once per constellation.

    Per Walker shell (P planes x S slots): two intra-plane neighbours (slot +-1, wrapping) and two
    inter-plane neighbours (same slot in plane +-1). A Walker delta shell (RAAN spread 360 deg) also links
    across the seam with the phasing offset: (P-1, k) -- (0, (k + F) mod S), which is the satellite that
    sits where plane P would continue plane P-1. A star / polar shell (spread < 360 deg) has no cross-seam
    links: its first and last planes counter-rotate, so their relative speed (~15 km/s) defeats laser
    pointing. No links between shells (catalogue shells may add per-bucket bridges: :func:`bridge_isls`). A shell
    inferred from a catalogue (:class:`CatalogueShell`) links its operational satellites by
    :func:`orbitcloud_env.catalogue.plus_grid_pairs`: next slot in the plane and nearest in phase in the adjacent
    planes (the seam closed only where the planes close a ring). A raw TLE shell (plane unknown) links each
    satellite to its nearest neighbours at the constellation epoch: the 4 nearest of each satellite are
    candidates, accepted shortest first while both ends have fewer than 4 links (so degree <= 4); satellites whose
    SGP4 propagation fails at the epoch get none.

    Args:
        constellation: the satellites.
        time_s: [s] since the epoch: the phases (mean argument of latitude) the catalogue shells are paired by;
            Walker and raw TLE shells do not depend on it.

    Returns:
        (E, 2) int64 array of satellite index pairs with i < j, sorted, unique.
    """
    pairs: list[NDArray[np.int64]] = []
    u_now = constellation.u_deg_at(time_s) if time_s else constellation.u_deg
    shell_of = constellation.shell
    tle_pos = tle_ok = None
    for s, info in enumerate(constellation.shells):
        idx = np.nonzero(shell_of == s)[0]
        if idx.size == 0:
            continue
        if isinstance(info, CatalogueShell):
            if not info.meshable:
                continue
            idx = idx[constellation.operational[idx] & (constellation.plane[idx] >= 0)]
            if idx.size >= 2:
                pairs.append(plus_grid_pairs(idx, constellation.plane[idx], u_now[idx], info.plane_links))
            continue
        if info is None:
            if tle_pos is None:
                tle_pos, _, tle_ok = constellation.propagate(0.0)
            extra = _tle_shell_pairs(tle_pos, tle_ok, idx)
            if extra:
                pairs.append(np.asarray(extra, dtype=np.int64))
            continue
        P, S, F = info.planes, info.sats_per_plane, info.phasing
        table = np.full((P, S), -1, dtype=np.int64)
        table[constellation.plane[idx], constellation.slot[idx]] = idx
        p, k = np.meshgrid(np.arange(P), np.arange(S), indexing="ij")
        if S > 1:  # intra-plane ring
            pairs.append(np.stack([table[p, k].ravel(), table[p, (k + 1) % S].ravel()], axis=1))
        if P > 1:  # adjacent planes, same slot
            pairs.append(np.stack([table[:-1].ravel(), table[1:].ravel()], axis=1))
            if info.is_delta:  # seam, with the phasing offset
                kk = np.arange(S)
                pairs.append(np.stack([table[P - 1, kk], table[0, (kk + F) % S]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    allp = np.concatenate(pairs)
    allp = allp[(allp[:, 0] >= 0) & (allp[:, 1] >= 0) & (allp[:, 0] != allp[:, 1])]
    allp = np.sort(allp, axis=1)
    return np.unique(allp, axis=0).astype(np.int64)


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
    p = pos[cand]
    k = min(_BRIDGE_NEIGHBOURS, cand.size - 1)
    d, b = cKDTree(p).query(p, k=list(range(1, k + 2)), distance_upper_bound=np.nextafter(max_range_km, np.inf))
    a = np.broadcast_to(np.arange(cand.size)[:, None], d.shape)
    rows = np.vstack([b, np.full((1, b.shape[1]), -1)])  # neighbours of each satellite; a miss is b = cand.size
    hit = (d <= max_range_km) & (sh[:, None] != np.append(sh, -1)[b])  # (a miss also has d = inf)
    hit &= (a < b) | ~(rows[b] == a[..., None]).any(axis=-1)  # a pair found from both ends: once
    a, b, d = a[hit], b[hit], d[hit]
    order = np.argsort(d, kind="stable")  # shortest first, ties in query order
    lo, hi = np.minimum(a, b)[order], np.maximum(a, b)[order]
    clear = segment_clears_earth(p[lo], p[hi], EARTH_RADIUS_EQ_KM + atmosphere_margin_km)
    lo, hi = lo[clear], hi[clear]
    if lo.size == 0:
        return empty

    left = free[cand].tolist()
    out: list[tuple[int, int]] = []
    taken = np.zeros(lo.size, dtype=bool)
    label = sh if component is None else np.asarray(component, dtype=np.int64)[cand]
    la, lb = label[lo], label[hi]
    cross = np.flatnonzero(la != lb)
    group = {g: g for g in np.unique(np.concatenate([la[cross], lb[cross]])).tolist()}
    joins_left = len(group) - 1

    def root(x: int) -> int:
        while group[x] != x:
            group[x] = group[group[x]]
            x = group[x]
        return x

    def span(edges: NDArray[np.int64]) -> None:
        nonlocal joins_left
        for e in edges.tolist():
            if joins_left == 0:
                return
            i, j, ri, rj = int(lo[e]), int(hi[e]), root(int(la[e])), root(int(lb[e]))
            if ri != rj and left[i] > 0 and left[j] > 0 and not taken[e]:
                group[ri] = rj
                joins_left -= 1
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
    if not out:
        return empty
    return np.sort(cand[np.asarray(out, dtype=np.int64)], axis=1)


def satellite_faults(
    sat_ecef_km: NDArray[np.float64],
    sat_vel_ecef_km_s: NDArray[np.float64],
    sgp4_ok: NDArray[np.bool_],
    operational: NDArray[np.bool_] | None = None,
) -> NDArray[np.uint8]:
    """Per-satellite fault code of one topology bucket (index into :data:`FAULT_REASONS`; 0: usable).

    A satellite is down when it is not operational (catalogue status), SGP4 flagged an error, its radius lies
    outside ``EARTH_RADIUS_EQ_KM + SANE_ALTITUDE_KM`` [km] or its Earth-fixed speed outside ``SANE_SPEED_KM_S``
    [km/s]. SGP4 keeps returning positions for decayed or very old element sets, 10^5 km and more away, without an
    error; this gate keeps them out of routing and compute.

    Args:
        sat_ecef_km: [km] (N, 3); sat_vel_ecef_km_s: [km/s] (N, 3); sgp4_ok: (N,) bool;
        operational: (N,) bool, default all.
    """
    r = np.sqrt(np.einsum("nk,nk->n", sat_ecef_km, sat_ecef_km)) - EARTH_RADIUS_EQ_KM
    v = np.sqrt(np.einsum("nk,nk->n", sat_vel_ecef_km_s, sat_vel_ecef_km_s))
    code = np.zeros(r.shape[0], np.uint8)
    code[(v < SANE_SPEED_KM_S[0]) | (v > SANE_SPEED_KM_S[1]) | ~np.isfinite(v)] = SatelliteFault.SPEED
    code[(r < SANE_ALTITUDE_KM[0]) | (r > SANE_ALTITUDE_KM[1]) | ~np.isfinite(r)] = SatelliteFault.ALTITUDE
    code[~np.asarray(sgp4_ok, bool)] = SatelliteFault.SGP4_ERROR
    if operational is not None:
        code[~np.asarray(operational, bool)] = SatelliteFault.NOT_OPERATIONAL
    return code


def isl_state(
    sat_ecef_km: ArrayLike,
    pairs: ArrayLike,
    max_range_km: float,
    atmosphere_margin_km: float = 80.0,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Geometric state of candidate ISLs.

    Args:
        sat_ecef_km: [km] (N, 3) satellite positions.
        pairs: (E, 2) int satellite index pairs.
        max_range_km: [km] longest usable laser link.
        atmosphere_margin_km: [km] the segment must pass above ``EARTH_RADIUS_EQ_KM`` + this margin
            (grazing links through the dense atmosphere are refused).

    Returns:
        (up, distance_km): (E,) bool, True when distance <= ``max_range_km`` and the segment clears the
        Earth plus margin; (E,) [km] straight-line distance.
    """
    if not (max_range_km > 0):
        raise ValueError(f"max_range_km: must be > 0 km, got {max_range_km}")
    if not (atmosphere_margin_km >= 0):
        raise ValueError(f"atmosphere_margin_km: must be >= 0 km, got {atmosphere_margin_km}")
    pos = np.asarray(sat_ecef_km, dtype=np.float64)
    pr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a, b = np.take(pos, pr[:, 0], axis=0), np.take(pos, pr[:, 1], axis=0)
    dist = np.linalg.norm(b - a, axis=1)
    up = dist <= max_range_km
    # The segment test runs only where the closest approach could be near the limit: for |a|, |b| >= r and
    # |b - a| = L, every point of the segment lies at least sqrt(r^2 - L^2 / 4) from the centre (the squared
    # distance along the segment is (1 - t)|a|^2 + t|b|^2 - t(1 - t)L^2); 1 km of margin covers the rounding.
    r_clear = EARTH_RADIUS_EQ_KM + atmosphere_margin_km
    r2 = np.einsum("nk,nk->n", pos, pos)
    low2 = np.minimum(r2[pr[:, 0]], r2[pr[:, 1]]) - 0.25 * dist * dist
    check = np.flatnonzero(up & ~(low2 > (r_clear + 1.0) ** 2))
    if check.size:
        up[check] = segment_clears_earth(a[check], b[check], r_clear)
    return up, dist


def _check_sites(site_lat_deg: ArrayLike, site_lon_deg: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lat = np.atleast_1d(np.array(site_lat_deg, dtype=np.float64))  # copies: callers' arrays stay writeable
    lon = np.atleast_1d(np.array(site_lon_deg, dtype=np.float64))
    if lat.ndim != 1 or lat.shape != lon.shape:
        raise ValueError(f"site_lat_deg, site_lon_deg: expected 1-D arrays of equal length, got {lat.shape} and {lon.shape}")
    if np.any(~np.isfinite(lat)) or np.any(np.abs(lat) > 90.0):
        raise ValueError("site_lat_deg: latitudes must be finite and lie in [-90, 90] deg")
    if np.any(~np.isfinite(lon)):
        raise ValueError("site_lon_deg: longitudes must be finite")
    return lat, lon


def gsl_visibility(
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    sat_ecef_km: ArrayLike,
    min_elevation_deg: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Which satellites each ground site sees above ``min_elevation_deg`` (WGS84 geodetic horizon).

    For site position g, unit normal u and satellite r, ``sin(elevation) = u.(r - g) / |r - g|``, evaluated on the
    (site, satellite) pairs closer than the longest slant range at which any satellite could clear the mask
    (a k-d tree query; ``_max_slant_km``), so the work grows with the visible pairs, not with S x N.

    Args:
        site_lat_deg: [deg] (S,) geodetic latitudes (sites on the ellipsoid surface).
        site_lon_deg: [deg] (S,) longitudes.
        sat_ecef_km: [km] (N, 3) satellite positions.
        min_elevation_deg: [deg] elevation mask, in [0, 90).

    Returns:
        (visible, slant_km): (S, N) bool and (S, N) [km] slant ranges, exact for every pair within the cut
        radius (every visible pair) and ``np.inf`` beyond it (never visible).
    """
    lat, lon, sats = _check_gsl_inputs(site_lat_deg, site_lon_deg, sat_ecef_km, min_elevation_deg)
    n_s, n = lat.shape[0], sats.shape[0]
    visible = np.zeros((n_s, n), dtype=bool)
    slant = np.full((n_s, n), np.inf)
    ss, nn, sl, vis = _gsl_near(lat, lon, sats, min_elevation_deg)
    slant[ss, nn] = sl
    visible[ss, nn] = vis
    return visible, slant


def _check_gsl_inputs(site_lat_deg: ArrayLike, site_lon_deg: ArrayLike, sat_ecef_km: ArrayLike,
                      min_elevation_deg: float) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    if not (0.0 <= min_elevation_deg < 90.0):
        raise ValueError(f"min_elevation_deg: must lie in [0, 90) deg, got {min_elevation_deg}")
    lat, lon = _check_sites(site_lat_deg, site_lon_deg)
    sats = np.asarray(sat_ecef_km, dtype=np.float64)
    if sats.ndim != 2 or sats.shape[1] != 3:
        raise ValueError(f"sat_ecef_km: expected shape (N, 3) in km, got {sats.shape}")
    return lat, lon, sats


def _gsl_near(lat: NDArray[np.float64], lon: NDArray[np.float64], sats: NDArray[np.float64],
              min_elevation_deg: float) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64],
                                                 NDArray[np.bool_]]:
    """The (site, satellite) pairs within the cut radius of :func:`gsl_visibility`, sorted by site then satellite:
    (site index, satellite index, slant [km], visible), each (P,). Sparse, so a snapshot of 20,000 satellites and
    100 sites never allocates an (S, N) matrix."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))
    if lat.shape[0] == 0 or sats.shape[0] == 0:
        return empty
    g = geodetic_to_ecef(lat, lon)  # (S, 3)
    up = site_up_vectors(lat, lon)  # (S, 3)
    r2 = np.einsum("nk,nk->n", sats, sats)
    cut_km = _max_slant_km(float(np.sqrt(r2.max())), min_elevation_deg)
    # Unbalanced trees build twice as fast and answer this one query as well; ndarray output avoids Python lists.
    near = cKDTree(g, balanced_tree=False).sparse_distance_matrix(
        cKDTree(sats, balanced_tree=False, compact_nodes=False), cut_km, output_type="ndarray")
    if near.size == 0:
        return empty
    # Sorted by site then satellite (np.nonzero's order over the (S, N) matrix) through one integer key.
    key = np.sort(near["i"].astype(np.int64) * sats.shape[0] + near["j"])
    ss, nn = np.divmod(key, sats.shape[0])
    x, y, z = sats[nn, 0], sats[nn, 1], sats[nn, 2]
    ups, gs = up[ss], g[ss]
    upr = ups[:, 0] * x + ups[:, 1] * y + ups[:, 2] * z - np.einsum("sk,sk->s", up, g)[ss]  # u.(r - g)
    gr = gs[:, 0] * x + gs[:, 1] * y + gs[:, 2] * z
    d2 = r2[nn] - 2.0 * gr + np.einsum("sk,sk->s", g, g)[ss]
    sl = np.sqrt(np.maximum(d2, 0.0))
    vis = (upr >= sl * math.sin(math.radians(min_elevation_deg))) & (upr > 0.0)
    return ss, nn, sl, vis


def _max_slant_km(r_max_km: float, min_elevation_deg: float) -> float:
    """[km] Longest site-satellite distance at which a satellite at radius <= ``r_max_km`` can be seen at
    ``min_elevation_deg``: ``sqrt(r^2 - R^2 cos^2 e) - R sin e`` for the smallest site radius R (the WGS84 polar
    radius), with the elevation lowered by 1 deg (geodetic vs geocentric vertical differ by < 0.2 deg) and 50 km
    added, so the cut never removes a visible pair."""
    r_site = EARTH_RADIUS_EQ_KM * (1.0 - WGS84_FLATTENING)
    e = math.radians(min_elevation_deg - 1.0)
    r = max(r_max_km, r_site)
    return math.sqrt(max(r * r - (r_site * math.cos(e)) ** 2, 0.0)) - r_site * math.sin(e) + 50.0


# ------------------------------------------------------------------------------------------ failures
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

    def __init__(self, n_links: int, failure_rate_per_hour: float, repair_time_s: float, rng: np.random.Generator | None):
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


# ------------------------------------------------------------------------------------------ snapshot
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
        self.isl_capacity_gbps = float(isl_capacity_gbps)
        self.gsl_capacity_gbps = float(gsl_capacity_gbps)

    @property
    def n_sats(self) -> int:
        return self.sat_ecef_km.shape[0]

    def _route(self, sites: NDArray[np.int64], limit_ms: float = np.inf) -> None:
        """Run Dijkstra from the given sites (lazy snapshots), exact up to ``limit_ms``, and store their rows."""
        todo = sites[self._routed_limit[sites] < limit_ms]
        if todo.size == 0:
            return
        n = self.n_sats
        d, pred = dijkstra(self._graph, directed=True, indices=n + todo, return_predecessors=True, limit=limit_ms)
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

        Nodes: satellites ``0..N-1`` (``kind="satellite"``, ``ok``, ``fault`` reason), sites ``"site:<i>"`` (``kind="site"``,
        ``lat_deg``, ``lon_deg``). Edges: usable ISLs (``kind="isl"``, ``bridge`` True for an inter-shell bridge)
        and visible GSLs (``kind="gsl"``), each with ``distance_km``, ``delay_ms`` (the routing weight) and
        ``capacity_gbps``.

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
                   and pairs.shape[1] == 2 and not pairs.flags.writeable) else np.array(pairs, dtype=np.int64).reshape(-1, 2)
    dist = np.array(isl_distance_km, dtype=np.float64).reshape(pr.shape[0])
    up = np.array(isl_up, dtype=bool).reshape(pr.shape[0]) & ok[pr[:, 0]] & ok[pr[:, 1]]
    if isl_capacity_gbps <= 0 or gsl_capacity_gbps <= 0:
        raise ValueError(f"isl_capacity_gbps, gsl_capacity_gbps: must be > 0 Gbit/s, got {isl_capacity_gbps}, {gsl_capacity_gbps}")
    lat, lon, pos = _check_gsl_inputs(site_lat_deg, site_lon_deg, pos, min_elevation_deg)
    ss, nn, slant, vis = _gsl_near(lat, lon, pos, min_elevation_deg)
    vis &= ok[nn]
    if site_gsl_down is not None:
        vis &= ~np.asarray(site_gsl_down, dtype=bool).reshape(lat.shape[0])[ss]
    ss, nn, slant = ss[vis], nn[vis], slant[vis]
    graph = _routing_graph(n, lat.shape[0], pr, up, dist, ss, nn, slant)
    d, pred = (None, None) if lazy_routing else _route_every_site(graph, n, lat.shape[0])
    return NetworkSnapshot(
        time_s=time_s, sat_ecef_km=pos, sat_ok=ok, pairs=pr, isl_up=up, isl_distance_km=dist,
        site_lat_deg=lat, site_lon_deg=lon, gsl_pairs=(ss, nn, slant), min_elevation_deg=min_elevation_deg,
        site_sat_delay_ms=d, predecessors=pred,
        isl_capacity_gbps=isl_capacity_gbps, gsl_capacity_gbps=gsl_capacity_gbps, graph=graph, sat_fault=sat_fault,
        isl_bridge=isl_bridge,
    )


# ------------------------------------------------------------------------------------------ Network
class Network:
    """A constellation's network over time: +Grid ISLs, ground sites, link failures, cached snapshots.

    Clock: ``time_s`` is [s] since ``constellation.epoch``. The topology is piecewise constant on buckets
    ``floor(time_s / topology_dt_s)``; the snapshot of a bucket is computed at the bucket start and the
    last few are cached. Link failures evolve bucket by bucket, in order, from all-up at bucket 0:
    asking for a later bucket first steps the failure process through the buckets in between. Step b
    draws from its own stream ``default_rng([seed, b])``, where ``seed`` is drawn once from ``rng`` at
    construction / :meth:`reset`; the failure state is checkpointed every few buckets, so going back to
    an earlier bucket replays it exactly. The result depends only on ``rng``, never on the query order.

    Args:
        constellation: the satellites.
        site_lat_deg, site_lon_deg: [deg] (S,) ground sites (on the WGS84 ellipsoid).
        min_elevation_deg: [deg] GSL elevation mask (25 deg: SpaceX FCC SAT-MOD-20181108-00083).
        isl_max_range_km: [km] longest usable laser link.
        atmosphere_margin_km: [km] ISLs must pass this far above the equatorial radius.
        isl_capacity_gbps: [Gbit/s] per laser ISL (100: SpaceX statements on Starlink lasers, 2024).
        gsl_capacity_gbps: [Gbit/s] ground-link capacity per satellite (20: del Portillo et al. 2019).
        failure_rate_per_hour: [1/h] ISL failure rate (0: no failures).
        repair_time_s: [s] mean ISL repair time.
        rng: numpy Generator for failures; required when ``failure_rate_per_hour > 0``.
        topology_dt_s: [s] topology bucket length.
        lazy_routing: route a site only when its delays are first used (see :func:`build_snapshot`).
        cache_buckets: [-] snapshots kept (the current bucket and those ahead in which jobs finish; see
            :meth:`snapshot` for which go first).
        regrid_s: [s] period at which the +Grid of catalogue shells is re-paired from the current phases
            (satellites of one plane at slightly different altitudes overtake each other: in the shipped catalogue
            0.1 % of the pairs change per hour, 2.5 % per day); None keeps the epoch's pairs. Walker shells never
            change. Re-pairing needs the link-failure process off (its state is per link): with
            ``failure_rate_per_hour > 0`` the epoch's pairs are kept. :attr:`pairs` are those of the latest
            snapshot returned (each snapshot carries its own ``pairs``).
        inter_shell_isls: add each bucket's inter-shell bridges (:func:`bridge_isls`) after the +Grid pairs of
            its snapshot (``isl_bridge`` marks them): operational satellites of meshed catalogue shells
            (:class:`CatalogueShell`) link their free laser terminals (4 minus their usable +Grid links) to
            satellites of other shells. Recomputed every bucket (shells of different inclination drift apart at
            km/s). With ``failure_rate_per_hour > 0`` each bridge is up with the failure chain's stationary
            availability ``p_repair / (p_fail + p_repair)``, one independent draw per bridge and bucket from
            ``default_rng([seed, bucket, 2])`` (``seed`` as for the +Grid failures). Walker and raw TLE shells
            never take part, so Walker constellations get no bridges.
    """

    _FAILURE_HISTORY = 64  # [buckets] recent link-failure states kept (TwoStateChains checkpoints the rest)

    def __init__(
        self,
        constellation: Constellation,
        site_lat_deg: ArrayLike,
        site_lon_deg: ArrayLike,
        *,
        min_elevation_deg: float = LinksConfig.min_elevation_deg,
        isl_max_range_km: float = LinksConfig.isl_max_range_km,
        atmosphere_margin_km: float = LinksConfig.atmosphere_margin_km,
        isl_capacity_gbps: float = LinksConfig.isl_capacity_gbps,
        gsl_capacity_gbps: float = LinksConfig.gsl_capacity_gbps,
        failure_rate_per_hour: float = LinksConfig.isl_failure_rate_per_hour,
        repair_time_s: float = LinksConfig.isl_repair_time_s,
        rng: np.random.Generator | None = None,
        topology_dt_s: float = 10.0,
        lazy_routing: bool = False,
        cache_buckets: int = 4,
        regrid_s: float | None = CATALOGUE_REGRID_S,
        inter_shell_isls: bool = False,
    ):
        if not isinstance(constellation, Constellation):
            raise ValueError(f"constellation: expected a Constellation, got {type(constellation).__name__}")
        self.site_lat_deg, self.site_lon_deg = _check_sites(site_lat_deg, site_lon_deg)
        self.site_lat_deg.flags.writeable = False
        self.site_lon_deg.flags.writeable = False
        if not (0.0 <= min_elevation_deg < 90.0):
            raise ValueError(f"min_elevation_deg: must lie in [0, 90) deg, got {min_elevation_deg}")
        if not (isl_max_range_km > 0):
            raise ValueError(f"isl_max_range_km: must be > 0 km, got {isl_max_range_km}")
        if not (atmosphere_margin_km >= 0):
            raise ValueError(f"atmosphere_margin_km: must be >= 0 km, got {atmosphere_margin_km}")
        if not (isl_capacity_gbps > 0):
            raise ValueError(f"isl_capacity_gbps: must be > 0 Gbit/s, got {isl_capacity_gbps}")
        if not (gsl_capacity_gbps > 0):
            raise ValueError(f"gsl_capacity_gbps: must be > 0 Gbit/s, got {gsl_capacity_gbps}")
        if not (math.isfinite(topology_dt_s) and topology_dt_s > 0):
            raise ValueError(f"topology_dt_s: must be finite and > 0 s, got {topology_dt_s}")
        self.constellation = constellation
        self.min_elevation_deg = float(min_elevation_deg)
        self.isl_max_range_km = float(isl_max_range_km)
        self.atmosphere_margin_km = float(atmosphere_margin_km)
        self.isl_capacity_gbps = float(isl_capacity_gbps)
        self.gsl_capacity_gbps = float(gsl_capacity_gbps)
        self.topology_dt_s = float(topology_dt_s)
        if isinstance(cache_buckets, bool) or not isinstance(cache_buckets, int) or cache_buckets < 1:
            raise ValueError(f"cache_buckets: must be an integer >= 1, got {cache_buckets!r}")
        self.lazy_routing = bool(lazy_routing)
        self.cache_buckets = cache_buckets
        if regrid_s is not None and not (math.isfinite(regrid_s) and regrid_s > 0):
            raise ValueError(f"regrid_s: must be None or finite and > 0 s, got {regrid_s}")
        if not isinstance(inter_shell_isls, (bool, np.bool_)):
            raise ValueError(f"inter_shell_isls: expected True or False, got {inter_shell_isls!r}")
        self.inter_shell_isls = bool(inter_shell_isls)
        meshed = np.array([isinstance(info, CatalogueShell) and info.meshable for info in constellation.shells])
        member = constellation.operational & (constellation.plane >= 0) & meshed[constellation.shell]
        #: (N,) satellites that may take bridges (operational, in a plane of a meshed catalogue shell); None: none.
        self._bridge_member = _readonly(member) if self.inter_shell_isls and member.any() else None
        self._pairs0 = _readonly(plus_grid_isls(constellation))
        self.pairs = self._pairs0
        self.regrid_s = float(regrid_s) if (regrid_s is not None and meshed.any() and failure_rate_per_hour == 0.0) \
            else None
        self._grids: OrderedDict[int, NDArray[np.int64]] = OrderedDict({0: self._pairs0})
        self._operational = constellation.operational
        self.failures = LinkFailures(len(self._pairs0), failure_rate_per_hour, repair_time_s, rng)
        self._cache: OrderedDict[int, NetworkSnapshot] = OrderedDict()
        self._now_bucket = -1  # the clock's bucket (snapshot(..., current=True)); earlier ones are evicted first
        #: Optional hook of the ``faults`` section: bucket -> (satellites down (N,), sites whose ground links are
        #: down (S,)) (set by the simulator when faults are on; None: no such faults).
        self.fault_hook: Callable[[int], tuple[NDArray[np.bool_], NDArray[np.bool_]]] | None = None
        #: Optional bucket -> snapshot mapping shared with other networks of the same scenario (the batched vector
        #: env's copies, :mod:`orbitcloud_env.vector`): a bucket one of them built is reused, not built again. Only
        #: for networks whose snapshots are a function of the bucket alone (no random link failures, no fault hook).
        self.shared_snapshots: MutableMapping[int, NetworkSnapshot] | None = None
        self._restart_failures()

    @classmethod
    def from_config(
        cls,
        constellation: Constellation,
        site_lat_deg: ArrayLike,
        site_lon_deg: ArrayLike,
        links: LinksConfig,
        *,
        rng: np.random.Generator | None = None,
        topology_dt_s: float = 10.0,
        lazy_routing: bool = False,
        cache_buckets: int = 4,
    ) -> "Network":
        """A network whose link figures come from a validated :class:`~orbitcloud_env.config.LinksConfig`.

        Args:
            constellation: the satellites; site_lat_deg, site_lon_deg: [deg] (S,) ground sites.
            links: the scenario's ``links`` section (elevation mask, ISL range, margin, capacities, failures,
                inter-shell bridges).
            rng, topology_dt_s, lazy_routing, cache_buckets: as in :class:`Network` ([s] for the bucket length).
        """
        if not isinstance(links, LinksConfig):
            raise ValueError(f"links: expected a LinksConfig, got {type(links).__name__}")
        return cls(
            constellation, site_lat_deg, site_lon_deg, min_elevation_deg=links.min_elevation_deg,
            isl_max_range_km=links.isl_max_range_km, atmosphere_margin_km=links.atmosphere_margin_km,
            isl_capacity_gbps=links.isl_capacity_gbps, gsl_capacity_gbps=links.gsl_capacity_gbps,
            failure_rate_per_hour=links.isl_failure_rate_per_hour, repair_time_s=links.isl_repair_time_s,
            rng=rng, topology_dt_s=topology_dt_s, lazy_routing=lazy_routing, cache_buckets=cache_buckets,
            inter_shell_isls=links.inter_shell_isls,
        )

    @property
    def n_sites(self) -> int:
        return self.site_lat_deg.shape[0]

    def reset(self, rng: np.random.Generator | None = None, start_time_s: float | None = None) -> None:
        """Forget cached snapshots and restart the failure process.

        Args:
            rng: new generator for failures (default: keep the current one). A fresh stream seed is drawn
                from it when the failure rate is > 0, so the same generator state gives the same history.
            start_time_s: [s since epoch] the episode's start. None: the process starts all-up at bucket 0 and
                is stepped up to any bucket asked for (the cost grows with the time since the epoch). Given (and
                the failure rate > 0): the start bucket is drawn from the chain's stationary distribution (each
                link failed with probability p_fail / (p_fail + p_repair) per step), one draw however late.
        """
        self.failures.reset(rng)
        self._cache.clear()
        self._now_bucket = -1
        self._restart_failures(start_time_s)

    #: Buckets before the clock's that :meth:`snapshot` keeps cached.
    _PAST_KEPT = 2

    def _restart_failures(self, start_time_s: float | None = None) -> None:
        lf = self.failures
        self._failure_seed = int(lf.rng.integers(2**63)) if lf.failure_rate_per_hour > 0.0 else 0
        #: Stationary start (the simulator's episodes): long gaps are crossed with one exact k-step draw.
        stationary = start_time_s is not None and lf.failure_rate_per_hour > 0.0
        b0 = self.bucket(start_time_s) if stationary else 0
        p_fail, p_repair = lf.step_probabilities(self.topology_dt_s)
        #: The links' failure chains (orbitcloud_env.faults.TwoStateChains, as the node faults'); one per link.
        self._link_chains = TwoStateChains(np.full(lf.n_links, p_fail), np.full(lf.n_links, p_repair),
                                           history=self._FAILURE_HISTORY, packed=True)
        self._link_chains.reset(self._failure_seed, b0, stationary)

    @property
    def _failure_b0(self) -> int:
        """The failure chains' first bucket."""
        return self._link_chains.b0

    @property
    def _failure_bucket(self) -> int:
        """The latest bucket the failure chains were stepped to."""
        return self._link_chains.latest

    def bucket(self, time_s: float) -> int:
        """Topology bucket index ``floor(time_s / topology_dt_s)`` of ``time_s`` [s] >= 0."""
        t = float(time_s)
        if not (math.isfinite(t) and t >= 0.0):
            raise ValueError(f"time_s: must be finite and >= 0 s since the epoch, got {time_s}")
        return int(math.floor(t / self.topology_dt_s))

    def _failed_at(self, b: int) -> NDArray[np.bool_]:
        if self.failures.failure_rate_per_hour == 0.0:
            return np.zeros(len(self._pairs_at(b)), dtype=bool)
        return self._link_chains.down(b)

    def snapshot(self, time_s: float, current: bool = False) -> NetworkSnapshot:
        """The :class:`NetworkSnapshot` of the bucket containing ``time_s`` [s since epoch].

        ``current=True`` marks that bucket as the clock's (the simulator's current bucket): snapshots more than
        ``_PAST_KEPT`` buckets before it are dropped (a clock that moves forward does not read them again; a
        lookahead that restores an earlier state finds the last few), and when the cache is full, earlier buckets go
        first, then the least recently used. Snapshots are deterministic, so this only decides what is computed
        twice.
        """
        b = self.bucket(time_s)
        if current and b != self._now_bucket:
            self._now_bucket = b
            for k in [k for k in self._cache if k < b - self._PAST_KEPT]:
                del self._cache[k]  # routed from many sites, these are the big ones
        snap = self._cache.get(b)
        if snap is not None:
            self._cache.move_to_end(b)
            self.pairs = snap.pairs
            return snap
        shared = self.shared_snapshots
        snap = shared.get(b) if shared is not None else None
        if snap is None:
            snap = self._build_snapshot(b)
            if shared is not None:
                shared[b] = snap
        self._cache[b] = snap
        if len(self._cache) > self.cache_buckets:
            past = [k for k in self._cache if k < self._now_bucket]
            if past:
                del self._cache[min(past)]
            else:
                self._cache.popitem(last=False)
        self.pairs = snap.pairs
        return snap

    def _build_snapshot(self, b: int) -> NetworkSnapshot:
        """Propagate, link and (unless lazy) route bucket ``b``."""
        failed = self._failed_at(b)
        t0 = b * self.topology_dt_s
        pairs = self._pairs_at(b)
        pos, vel, sgp4_ok = self.constellation.propagate(t0)
        fault = satellite_faults(pos, vel, sgp4_ok, self._operational)
        site_down = None
        if self.fault_hook is not None:
            sat_down, site_down = self.fault_hook(b)
            fault[(fault == SatelliteFault.OK) & sat_down] = SatelliteFault.RANDOM_FAILURE
        ok = fault == SatelliteFault.OK
        up, dist = isl_state(pos, pairs, self.isl_max_range_km, self.atmosphere_margin_km)
        n_grid = len(pairs)
        if self._bridge_member is not None:
            pairs, up, dist, failed = self._with_bridges(b, pos, ok, pairs, up, dist, failed)
        return build_snapshot(
            t0, pos, ok, pairs, up & ~failed, dist, self.site_lat_deg, self.site_lon_deg,
            self.min_elevation_deg, self.isl_capacity_gbps, self.gsl_capacity_gbps,
            lazy_routing=self.lazy_routing, sat_fault=fault, site_gsl_down=site_down,
            isl_bridge=np.arange(len(pairs)) >= n_grid,
        )

    def _with_bridges(
        self, b: int, pos: NDArray[np.float64], ok: NDArray[np.bool_], pairs: NDArray[np.int64],
        up: NDArray[np.bool_], dist: NDArray[np.float64], failed: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.bool_]]:
        """Bucket ``b``'s +Grid ``pairs`` (with their geometric ``up``, ``dist`` [km] and ``failed``) followed by its
        bridges (:func:`bridge_isls`), which join the pieces of the +Grid's usable links."""
        n = len(self.constellation)
        used = pairs[up & ok[pairs[:, 0]] & ok[pairs[:, 1]]]  # +Grid links whose terminals are pointed
        links = np.bincount(used.ravel(), minlength=n)
        free = np.where(self._bridge_member & ok, np.maximum(_MAX_ISL_DEGREE - links, 0), 0)
        _, piece = connected_components(csr_matrix((np.ones(len(used)), (used[:, 0], used[:, 1])), shape=(n, n)),
                                        directed=False)
        bridges = bridge_isls(pos, self.constellation.shell, free, ok, self.isl_max_range_km,
                              self.atmosphere_margin_km, component=piece)
        b_up, b_dist = isl_state(pos, bridges, self.isl_max_range_km, self.atmosphere_margin_km)
        b_failed = np.zeros(len(bridges), dtype=bool)
        lf = self.failures
        if lf.failure_rate_per_hour > 0.0:  # stationary availability, one independent draw per bridge and bucket
            p_fail, p_repair = lf.step_probabilities(self.topology_dt_s)
            u = np.random.default_rng([self._failure_seed, b, 2]).random(len(bridges))
            b_failed = u >= p_repair / (p_fail + p_repair)
        return (np.concatenate([pairs, bridges]), np.concatenate([up, b_up]), np.concatenate([dist, b_dist]),
                np.concatenate([failed, b_failed]))

    def _pairs_at(self, b: int) -> NDArray[np.int64]:
        """Candidate ISLs of bucket ``b``: the epoch's, or those of its regrid period (catalogue shells)."""
        if self.regrid_s is None:
            return self._pairs0
        k = int(math.floor(b * self.topology_dt_s / self.regrid_s))
        grid = self._grids.get(k)
        if grid is None:
            grid = _readonly(plus_grid_isls(self.constellation, k * self.regrid_s))
            self._grids[k] = grid
            if len(self._grids) > 4:
                self._grids.popitem(last=False)
        return grid

    def network_graph(self, time_s: float) -> nx.Graph:
        """networkx view (:meth:`NetworkSnapshot.to_networkx`) of the snapshot at ``time_s`` [s].

        Satellite nodes also carry ``shell`` and ``plane`` (-1 when unknown or not operational) and
        ``operational`` (catalogue status; ``ok`` is whether the satellite is usable in this bucket).
        """
        g = self.snapshot(time_s).to_networkx()
        c = self.constellation
        for i, (sh, pl, op) in enumerate(zip(c.shell.tolist(), c.plane.tolist(), c.operational.tolist())):
            node = g.nodes[i]
            node["shell"] = sh
            node["plane"] = pl
            node["operational"] = op
        return g
