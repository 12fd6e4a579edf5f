"""Candidate links of one topology bucket: the +Grid ISL topology (:func:`plus_grid_isls`), the geometry of an ISL
(:func:`isl_state`: range and Earth clearance), ground-link visibility (:func:`gsl_visibility`) and the routing weight
of a link (light time). Part of the network layer that :mod:`orbitcloud_env.network` re-exports.

Default figures, cited:

- ISL capacity 100 Gbit/s per laser link (SpaceX statements on Starlink laser links, 2024).
- GSL capacity ~20 Gbit/s per satellite (del Portillo, Cameron & Crawley, "A technical comparison of
  three LEO satellite constellation systems to provide global broadband", Acta Astronautica 159, 2019).
- Minimum elevation 25 deg (SpaceX FCC modification, 2018, SAT-MOD-20181108-00083).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from orbitcloud_env.catalogue import CatalogueShell, plus_grid_pairs
from orbitcloud_env.config import LinksConfig
from orbitcloud_env.constants import C_KM_S, EARTH_RADIUS_EQ_KM, ISL_TERMINALS, WGS84_FLATTENING
from orbitcloud_env.constellation import Constellation, ShellInfo
from orbitcloud_env.geometry import geodetic_to_ecef, segment_clears_earth, site_up_vectors

__all__ = ["plus_grid_isls", "isl_state", "gsl_visibility", "DEFAULT_ISL_CAPACITY_GBPS", "DEFAULT_GSL_CAPACITY_GBPS",
           "DEFAULT_MIN_ELEVATION_DEG"]

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

_MS_PER_KM: float = 1e3 / C_KM_S


def _edge_ms(distance_km: NDArray[np.float64]) -> NDArray[np.float64]:
    """[ms] Routing weight of links ``distance_km`` [km] long: light time, floored at ``_MIN_EDGE_MS`` so that
    csgraph keeps a zero-length edge."""
    return np.maximum(distance_km * _MS_PER_KM, _MIN_EDGE_MS)


def _tle_shell_pairs(pos_km: NDArray[np.float64], ok: NDArray[np.bool_],
                     idx: NDArray[np.int64]) -> list[tuple[int, int]]:
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
        pairs += _walker_shell_pairs(constellation, idx, info)
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    allp = np.concatenate(pairs)
    allp = allp[(allp[:, 0] >= 0) & (allp[:, 1] >= 0) & (allp[:, 0] != allp[:, 1])]
    allp = np.sort(allp, axis=1)
    return np.unique(allp, axis=0).astype(np.int64)


def _walker_shell_pairs(constellation: Constellation, idx: NDArray[np.int64],
                        info: ShellInfo) -> list[NDArray[np.int64]]:
    """:func:`plus_grid_isls`' pairs of one Walker shell (``info``; satellites ``idx``): the
    intra-plane ring, the adjacent planes' same slots and, for a delta shell, the seam with the phasing offset
    (-1 where a slot is empty; the caller drops those)."""
    pairs = []
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
    return pairs


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
        raise ValueError(f"site_lat_deg, site_lon_deg: expected 1-D arrays of equal length, got {lat.shape} and "
                         f"{lon.shape}")
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
