"""Tests for orbitcloud_env.network: +Grid topology, link geometry, visibility, failures, routing."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from orbitcloud_env.constants import C_KM_S, EARTH_RADIUS_EQ_KM
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.geometry import elevation_deg, geodetic_to_ecef
from orbitcloud_env.network import (
    LinkFailures,
    Network,
    build_snapshot,
    gsl_visibility,
    isl_state,
    plus_grid_isls,
)

ISS_L1 = "1 25544U 98067A   19343.69339541  .00001764  00000-0  38792-4 0  9991"
ISS_L2 = "2 25544  51.6439 211.2001 0007417  17.6667  85.6398 15.50103472202482"


def _degrees(pairs: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(pairs.ravel(), minlength=n)


@pytest.fixture(scope="module")
def starlink() -> Constellation:
    return Constellation.walker_delta(72, 22, 550.0, 53.0)


# ------------------------------------------------------------------------------------------ topology
@pytest.mark.parametrize("shape", [(72, 22, 550.0, 53.0), (34, 34, 630.0, 51.9)])
def test_plus_grid_delta_shells_have_exactly_four_live_isls(shape):
    c = Constellation.walker_delta(*shape)
    pairs = plus_grid_isls(c)
    assert pairs.dtype == np.int64 and np.all(pairs[:, 0] < pairs[:, 1])
    assert len(np.unique(pairs, axis=0)) == len(pairs) == 2 * len(c)
    assert np.all(_degrees(pairs, len(c)) == 4)
    for t in (0.0, 1500.0):
        up, dist = isl_state(c.positions_ecef(t), pairs, 5000.0)
        assert up.all(), "every +Grid link is within the default 5,000 km range and clears the atmosphere"
        assert np.all(_degrees(pairs[up], len(c)) == 4)
        assert np.all(dist > 0.0)


def test_delta_seam_links_use_the_phasing_offset():
    c = Constellation.walker_delta(5, 4, 550.0, 53.0, phasing=2)
    pairs = {tuple(p) for p in plus_grid_isls(c).tolist()}
    idx = lambda p, k: p * 4 + k  # noqa: E731
    for k in range(4):
        assert tuple(sorted((idx(4, k), idx(0, (k + 2) % 4)))) in pairs
        assert tuple(sorted((idx(4, k), idx(0, k)))) not in pairs  # no un-phased seam link


def test_star_shell_seam_satellites_have_three_links():
    c = Constellation.walker_delta(6, 11, 780.0, 86.4, raan_spread_deg=180.0)
    pairs = plus_grid_isls(c)
    deg = _degrees(pairs, len(c))
    seam = (c.plane == 0) | (c.plane == 5)
    assert np.all(deg[seam] == 3) and seam.sum() == 22
    assert np.all(deg[~seam] == 4) and (~seam).sum() == 44
    planes = c.plane[pairs]
    assert not np.any((planes.min(axis=1) == 0) & (planes.max(axis=1) == 5)), "no links across the star seam"
    up, _ = isl_state(c.positions_ecef(0.0), pairs, 5000.0)
    assert up.all()


def test_no_links_between_shells_and_degree_cap_for_tle_shells():
    a = Constellation.walker_delta(4, 5, 550.0, 53.0, name_prefix="A")
    b = Constellation.walker_delta(3, 6, 1100.0, 87.0, name_prefix="B")
    tle = Constellation.from_tle_text(Constellation.walker_delta(6, 8, 700.0, 60.0).to_tle() + f"{ISS_L1}\n{ISS_L2}\n")
    c = a + b + tle
    pairs = plus_grid_isls(c)
    assert np.all(c.shell[pairs[:, 0]] == c.shell[pairs[:, 1]])
    deg = _degrees(pairs, len(c))
    tle_sats = c.shell == 2
    assert np.all(deg[tle_sats] <= 4) and np.all(deg[tle_sats] >= 1)
    assert np.all(pairs[:, 0] < pairs[:, 1])


def test_isl_state_range_and_earth_blockage():
    r = EARTH_RADIUS_EQ_KM + 550.0
    pos = np.array([[r, 0, 0], [r * math.cos(0.3), r * math.sin(0.3), 0], [-r, 0, 0], [r * math.cos(0.9), r * math.sin(0.9), 0]])
    pairs = np.array([[0, 1], [0, 2], [0, 3]])
    up, dist = isl_state(pos, pairs, max_range_km=5000.0)
    chord = 2 * r * math.sin(0.15)
    assert dist[0] == pytest.approx(chord) and dist[1] == pytest.approx(2 * r)
    # 0-1 short and high; 0-2 through the Earth; 0-3 within 6,000 km but its midpoint at r cos(0.45) dips
    # below the 80 km margin
    assert up.tolist() == [True, False, False]
    assert r * math.cos(0.45) < EARTH_RADIUS_EQ_KM + 80.0
    up2, _ = isl_state(pos, pairs, max_range_km=chord - 1.0)
    assert not up2[0]
    with pytest.raises(ValueError, match="max_range_km"):
        isl_state(pos, pairs, max_range_km=0.0)


# ------------------------------------------------------------------------------------------ GSL
def test_isl_state_equals_the_segment_test_on_every_pair():
    """isl_state skips the segment test where a link clears the Earth by a margin; the result is that of the test
    on every pair, also for links that graze the limit (random radii from below the margin to 1,600 km up)."""
    from orbitcloud_env.geometry import segment_clears_earth

    rng = np.random.default_rng(0)
    r = rng.uniform(6_300.0, 8_000.0, 3_000)
    v = rng.normal(size=(3_000, 3))
    pos = v / np.linalg.norm(v, axis=1)[:, None] * r[:, None]
    pairs = rng.integers(0, 3_000, (20_000, 2))
    up, dist = isl_state(pos, pairs, 5_000.0, 80.0)
    a, b = pos[pairs[:, 0]], pos[pairs[:, 1]]
    np.testing.assert_array_equal(dist, np.linalg.norm(b - a, axis=1))
    expected = (dist <= 5_000.0) & segment_clears_earth(a, b, EARTH_RADIUS_EQ_KM + 80.0)
    np.testing.assert_array_equal(up, expected)
    assert 0 < expected.sum() < (dist <= 5_000.0).sum()  # some in-range links are blocked


def test_gsl_visibility_overhead_far_side_and_consistency():
    lat, lon = np.array([40.0, -33.9]), np.array([-75.0, 151.2])
    sats = np.concatenate([geodetic_to_ecef(lat, lon, 550.0), geodetic_to_ecef(-40.0, 105.0, 550.0)[None]])
    vis, slant = gsl_visibility(lat, lon, sats, 25.0)
    assert vis.shape == slant.shape == (2, 3)
    assert vis[0, 0] and vis[1, 1] and not vis[0, 2]
    assert slant[0, 0] == pytest.approx(550.0, abs=1e-5)
    rng = np.random.default_rng(3)
    many = geodetic_to_ecef(rng.uniform(-60, 60, 500), rng.uniform(-180, 180, 500), 550.0)
    vis, _ = gsl_visibility(lat, lon, many, 25.0)
    el = elevation_deg(lat, lon, many)
    near_mask = np.abs(el - 25.0) < 1e-9
    assert np.array_equal(vis[~near_mask], (el >= 25.0)[~near_mask])
    with pytest.raises(ValueError, match="min_elevation_deg"):
        gsl_visibility(lat, lon, many, 95.0)


# ------------------------------------------------------------------------------------------ routing
SITES_LAT = np.array([40.7, 51.5, -33.9, 35.7, 0.0])
SITES_LON = np.array([-74.0, -0.1, 151.2, 139.7, -30.0])


@pytest.fixture(scope="module")
def snapshot(starlink):
    net = Network(starlink, SITES_LAT, SITES_LON)
    return net.snapshot(123.0)


def test_scipy_delays_equal_networkx_delays(snapshot):
    g = snapshot.to_networkx()
    n = snapshot.n_sats
    assert g.number_of_nodes() == n + len(SITES_LAT)
    assert g.nodes[0]["kind"] == "satellite" and g.nodes["site:1"]["kind"] == "site"
    assert g.nodes["site:1"]["lat_deg"] == pytest.approx(51.5)
    kinds = nx.get_edge_attributes(g, "kind")
    assert sum(k == "isl" for k in kinds.values()) == int(snapshot.isl_up.sum())
    assert sum(k == "gsl" for k in kinds.values()) == int(snapshot.gsl_visible.sum())
    for s in range(len(SITES_LAT)):
        node = f"site:{s}"
        sub = g.subgraph(list(range(n)) + [node])  # routes do not relay through other ground sites
        dist = nx.single_source_dijkstra_path_length(sub, node, weight="delay_ms")
        ours = snapshot.site_sat_delay_ms[s]
        reach = np.isfinite(ours)
        assert reach.sum() == len(dist) - 1
        nx_d = np.array([dist[i] for i in np.nonzero(reach)[0]])
        assert np.allclose(ours[reach], nx_d, rtol=1e-9, atol=0)


def test_paths_are_connected_and_sum_to_delay(snapshot):
    live = {tuple(p) for p in snapshot.pairs[snapshot.isl_up].tolist()}
    rng = np.random.default_rng(0)
    for s in range(len(SITES_LAT)):
        for sat in rng.integers(0, snapshot.n_sats, 20):
            path = snapshot.path(s, int(sat))
            assert path[-1] == sat and snapshot.gsl_visible[s, path[0]]
            assert snapshot.site_sat_hops[s, sat] == len(path) - 1
            total_km = snapshot.gsl_slant_km[s, path[0]]
            for a, b in zip(path[:-1], path[1:]):
                assert (min(a, b), max(a, b)) in live
                total_km += np.linalg.norm(snapshot.sat_ecef_km[a] - snapshot.sat_ecef_km[b])
            assert snapshot.site_sat_delay_ms[s, sat] == pytest.approx(total_km / C_KM_S * 1e3, rel=1e-9)
    # delay at least straight-line light time from the site
    site = geodetic_to_ecef(SITES_LAT, SITES_LON)
    direct = np.linalg.norm(snapshot.sat_ecef_km[None] - site[:, None], axis=-1) / C_KM_S * 1e3
    assert np.all(snapshot.site_sat_delay_ms >= direct * (1 - 1e-12))


def test_unreachable_is_inf(starlink):
    pos, _, ok = starlink.propagate(0.0)
    pairs = plus_grid_isls(starlink)
    up, dist = isl_state(pos, pairs, 5000.0)
    # North pole site: a 53 deg shell never rises 25 deg there. Second site: no ISLs at all.
    snap = build_snapshot(0.0, pos, ok, pairs, up, dist, [90.0], [0.0], 25.0, 100.0, 20.0)
    assert np.all(np.isinf(snap.site_sat_delay_ms)) and snap.path(0, 5) == []
    assert np.all(snap.site_sat_hops == -1)
    snap2 = build_snapshot(0.0, pos, ok, pairs, np.zeros_like(up), dist, [0.0], [0.0], 25.0, 100.0, 20.0)
    finite = np.isfinite(snap2.site_sat_delay_ms[0])
    assert np.array_equal(finite, snap2.gsl_visible[0]) and 0 < finite.sum() < 30
    # a satellite whose propagation failed carries no links
    bad = ok.copy()
    first = int(np.nonzero(snap2.gsl_visible[0])[0][0])
    bad[first] = False
    snap3 = build_snapshot(0.0, pos, bad, pairs, up, dist, [0.0], [0.0], 25.0, 100.0, 20.0)
    assert np.isinf(snap3.site_sat_delay_ms[0, first]) and not snap3.isl_up[np.any(pairs == first, axis=1)].any()


# ------------------------------------------------------------------------------------------ failures
def test_link_failures_deterministic_and_rate_zero_never_fails():
    runs = []
    for _ in range(2):
        lf = LinkFailures(500, failure_rate_per_hour=2.0, repair_time_s=300.0, rng=np.random.default_rng(42))
        runs.append(np.stack([lf.step(10.0) for _ in range(200)]))
    assert np.array_equal(runs[0], runs[1])
    assert runs[0].any() and (runs[0][:-1] & ~runs[0][1:]).any(), "links fail and get repaired"
    # long-run failed fraction ~ lambda / (lambda + mu) = (2/3600) / (2/3600 + 1/300) ~ 0.143
    lf = LinkFailures(2000, 2.0, 300.0, np.random.default_rng(1))
    frac = np.mean([lf.step(10.0).mean() for _ in range(600)][100:])
    assert frac == pytest.approx(0.143, abs=0.02)
    rng = np.random.default_rng(7)
    before = rng.bit_generator.state
    zero = LinkFailures(100, 0.0, 600.0, rng)
    assert not any(zero.step(10.0).any() for _ in range(100))
    assert rng.bit_generator.state == before, "rate 0 draws nothing"
    with pytest.raises(ValueError, match="rng"):
        LinkFailures(10, 1.0, 600.0, None)
    with pytest.raises(ValueError, match="repair_time_s"):
        LinkFailures(10, 1.0, 0.0, np.random.default_rng(0))


# ------------------------------------------------------------------------------------------ Network
def test_network_caches_buckets_and_failures_are_query_order_independent():
    c = Constellation.walker_delta(6, 11, 780.0, 86.4, raan_spread_deg=180.0)
    kw = dict(failure_rate_per_hour=30.0, repair_time_s=120.0, topology_dt_s=10.0)
    a = Network(c, [0.0, 45.0], [0.0, 10.0], rng=np.random.default_rng(5), **kw)
    b = Network(c, [0.0, 45.0], [0.0, 10.0], rng=np.random.default_rng(5), **kw)
    s1 = a.snapshot(51.0)
    assert a.snapshot(59.9) is s1 and s1.time_s == 50.0
    for t in range(0, 60, 10):
        b.snapshot(float(t))
    assert np.array_equal(b.snapshot(55.0).isl_up, s1.isl_up)
    assert (~s1.isl_up).any(), "a high failure rate takes some links down"
    g = a.network_graph(52.0)
    assert isinstance(g, nx.Graph) and g.number_of_nodes() == len(c) + 2
    with pytest.raises(ValueError, match="time_s"):
        a.snapshot(-1.0)
    # far ahead, then back to buckets older than the recent history: replayed exactly from checkpoints
    far = a.snapshot(10_000.0).isl_up.copy()
    assert np.array_equal(a.snapshot(20.0).isl_up, b.snapshot(20.0).isl_up)
    assert np.array_equal(a.snapshot(5_000.0).isl_up, b.snapshot(5_000.0).isl_up)
    assert np.array_equal(b.snapshot(10_000.0).isl_up, far)
    a.reset(np.random.default_rng(5))
    assert np.array_equal(a.snapshot(50.0).isl_up, s1.isl_up)


def test_network_validation():
    c = Constellation.walker_delta(2, 3, 550.0, 53.0)
    with pytest.raises(ValueError, match="rng"):
        Network(c, [0.0], [0.0], failure_rate_per_hour=1.0)
    with pytest.raises(ValueError, match="site_lat_deg"):
        Network(c, [0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="topology_dt_s"):
        Network(c, [0.0], [0.0], topology_dt_s=0.0)
    with pytest.raises(ValueError, match="min_elevation_deg"):
        Network(c, [0.0], [0.0], min_elevation_deg=-5.0)
    lat = np.array([10.0])
    Network(c, lat, [0.0]).snapshot(0.0)
    lat[0] = 11.0  # the caller's array is copied, not frozen


def test_lazy_routing_gives_the_eager_delays_and_paths():
    from orbitcloud_env.constellation import Constellation
    from orbitcloud_env.network import Network

    c = Constellation.walker_delta(12, 10, 550.0, 53.0, phasing=1)
    lat = np.array([0.0, 35.7, -33.9, 51.5, 64.0])
    lon = np.array([0.0, 139.7, 151.2, -0.1, -22.0])
    eager = Network(c, lat, lon, min_elevation_deg=10.0).snapshot(120.0)
    lazy = Network(c, lat, lon, min_elevation_deg=10.0, lazy_routing=True).snapshot(120.0)
    np.testing.assert_array_equal(lazy.site_delay_ms(3), eager.site_sat_delay_ms[3])
    assert lazy.path(3, 7) == eager.path(3, 7)
    np.testing.assert_array_equal(lazy.site_sat_delay_ms, eager.site_sat_delay_ms)
    with pytest.raises(ValueError):
        lazy.site_sat_delay_ms[0, 0] = 1.0


def test_delay_ms_completes_a_partial_route_only_beyond_its_limit():
    from orbitcloud_env.constellation import Constellation
    from orbitcloud_env.network import Network

    c = Constellation.walker_delta(12, 10, 550.0, 53.0, phasing=1)
    lat, lon = np.array([35.7, -33.9]), np.array([139.7, 151.2])
    eager = Network(c, lat, lon, min_elevation_deg=10.0).snapshot(0.0)
    lazy = Network(c, lat, lon, min_elevation_deg=10.0, lazy_routing=True).snapshot(0.0)
    full = eager.site_sat_delay_ms[0]
    near, far = int(np.argmin(full)), int(np.argmax(np.where(np.isfinite(full), full, -1.0)))
    limit = float(full[near]) + 1e-6
    assert lazy.delay_ms(0, near, limit) == full[near]
    assert lazy.route_limit_ms(0) == limit  # still partial: the near satellite lies within the limit
    assert lazy.delay_ms(0, far, limit) == full[far]
    assert lazy.route_limit_ms(0) == np.inf  # the far one did not: the route was completed


def test_delay_ms_reads_a_satellite_within_the_routed_row_without_routing_further():
    c = Constellation.walker_delta(12, 10, 550.0, 53.0, phasing=1)
    lat, lon = np.array([35.7]), np.array([139.7])
    full = Network(c, lat, lon, min_elevation_deg=10.0).snapshot(0.0).site_sat_delay_ms[0]
    lazy = Network(c, lat, lon, min_elevation_deg=10.0, lazy_routing=True).snapshot(0.0)
    limit = float(np.sort(full[np.isfinite(full)])[10])
    row = lazy.site_delay_ms(0, limit)
    near = int(np.flatnonzero(np.isfinite(row))[-1])
    assert lazy.delay_ms(0, near, 10 * limit) == full[near]  # a larger limit asked, but the value is known
    assert lazy.route_limit_ms(0) == limit


def test_snapshot_cache_drops_buckets_behind_the_clock_first_and_keeps_those_ahead():
    c = Constellation.walker_delta(6, 11, 780.0, 86.4, raan_spread_deg=180.0)
    net = Network(c, [0.0], [0.0], topology_dt_s=10.0, cache_buckets=4)
    now = net.snapshot(100.0, current=True)
    ahead = [net.snapshot(100.0 + 10.0 * k) for k in (1, 2, 3)]
    assert net.snapshot(105.0) is now and all(net.snapshot(s.time_s) is s for s in ahead)
    net.snapshot(140.0, current=True)  # the clock moves 4 buckets on: 10 and 11 lie more than 2 behind
    assert sorted(net._cache) == [12, 13, 14]
    net.snapshot(150.0)
    net.snapshot(160.0)  # full: the oldest bucket behind the clock goes, not one ahead
    assert sorted(net._cache) == [13, 14, 15, 16]
    net.snapshot(170.0)
    assert sorted(net._cache) == [14, 15, 16, 17]
    net.snapshot(140.0)
    net.snapshot(180.0)  # nothing behind the clock now: the least recently used goes
    assert sorted(net._cache) == [14, 16, 17, 18]
    again = net.snapshot(100.0)  # rebuilt on demand, the same snapshot
    np.testing.assert_array_equal(again.sat_ecef_km, now.sat_ecef_km)


def test_from_config_takes_every_link_figure_from_links_config(starlink):
    from orbitcloud_env.config import LinksConfig

    links = LinksConfig(min_elevation_deg=30.0, isl_max_range_km=4000.0, atmosphere_margin_km=100.0,
                        isl_capacity_gbps=50.0, gsl_capacity_gbps=10.0, isl_failure_rate_per_hour=0.5,
                        isl_repair_time_s=300.0)
    net = Network.from_config(starlink, SITES_LAT, SITES_LON, links, rng=np.random.default_rng(1), topology_dt_s=5.0)
    assert (net.min_elevation_deg, net.isl_max_range_km, net.atmosphere_margin_km) == (30.0, 4000.0, 100.0)
    assert (net.isl_capacity_gbps, net.gsl_capacity_gbps, net.topology_dt_s) == (50.0, 10.0, 5.0)
    assert (net.failures.failure_rate_per_hour, net.failures.repair_time_s) == (0.5, 300.0)
    default = Network(starlink, SITES_LAT, SITES_LON)
    same = Network.from_config(starlink, SITES_LAT, SITES_LON, LinksConfig())
    assert np.array_equal(default.snapshot(0.0).site_sat_delay_ms, same.snapshot(0.0).site_sat_delay_ms)
    with pytest.raises(ValueError, match="links: expected a LinksConfig"):
        Network.from_config(starlink, SITES_LAT, SITES_LON, {"min_elevation_deg": 25.0})


def test_walker_network_graph_nodes_carry_shell_and_plane(starlink):
    g = Network(starlink, SITES_LAT, SITES_LON).network_graph(0.0)
    assert g.nodes[23]["shell"] == 0 and g.nodes[23]["plane"] == 1 and g.nodes[23]["operational"]
    assert g.nodes[23]["ok"] and g.nodes[23]["fault"] == "ok"



def test_lazy_snapshot_rows_and_sparse_ground_links_equal_the_dense_matrices(starlink):
    """A lazily routed snapshot keeps routes per site and ground links as sparse pairs; its rows, its (S, N) views
    and its per-site accessors equal those of an eagerly routed snapshot of the same bucket."""
    eager = Network(starlink, SITES_LAT, SITES_LON).snapshot(321.0)
    lazy = Network(starlink, SITES_LAT, SITES_LON, lazy_routing=True).snapshot(321.0)
    vis, slant = gsl_visibility(SITES_LAT, SITES_LON, eager.sat_ecef_km, eager.min_elevation_deg)
    vis &= eager.sat_ok[None, :]
    for snap in (eager, lazy):
        np.testing.assert_array_equal(snap.gsl_visible, vis)
        np.testing.assert_array_equal(snap.gsl_slant_km, slant)
        for s in range(snap.n_sites):
            sats, sl = snap.gsl_row(s)
            np.testing.assert_array_equal(sats, np.flatnonzero(vis[s]))
            np.testing.assert_array_equal(sl, slant[s, sats])
            np.testing.assert_array_equal(snap.gsl_visible_row(s), vis[s])
            if sats.size:
                assert snap.gsl_slant_to(s, int(sats[0])) == slant[s, sats[0]]
            hidden = np.flatnonzero(~vis[s])
            assert snap.gsl_slant_to(s, int(hidden[0])) == np.inf
    # Partial rows are exact within their limit; completing them gives the eager rows and matrices.
    row = lazy.site_delay_ms(0, 20.0)
    near = row < np.inf
    assert 0 < near.sum() < row.size and lazy.route_limit_ms(0) == 20.0
    np.testing.assert_array_equal(row[near], eager.site_sat_delay_ms[0][near])
    assert lazy.path(0, int(np.flatnonzero(near)[-1])) == eager.path(0, int(np.flatnonzero(near)[-1]))
    np.testing.assert_array_equal(lazy.site_sat_delay_ms, eager.site_sat_delay_ms)
    np.testing.assert_array_equal(lazy.site_sat_hops, eager.site_sat_hops)
    assert lazy.route_limit_ms(0) == np.inf


def test_routing_graph_from_a_kept_pair_layout_equals_the_sparse_conversion(starlink):
    """A pair list used bucket after bucket (read-only, as the Network keeps it) is laid out once; the graphs
    assembled from that layout equal scipy's conversion of the same links, entry for entry."""
    from orbitcloud_env.links import _gsl_near
    from orbitcloud_env.routing import _LAYOUTS, _routing_graph

    net = Network(starlink, SITES_LAT, SITES_LON)
    pairs = net.pairs
    assert not pairs.flags.writeable
    for t in (0.0, 600.0, 1_200.0, 5_000.0):
        snap = net.snapshot(t)
        ss, nn, slant, vis = _gsl_near(snap.site_lat_deg, snap.site_lon_deg, snap.sat_ecef_km, 25.0)
        args = (snap.n_sats, snap.n_sites)
        rest = (snap.isl_up, snap.isl_distance_km, ss[vis], nn[vis], slant[vis])
        kept = _routing_graph(*args, pairs, *rest)
        assert _LAYOUTS[id(pairs)][1] is not None  # assembled from the layout
        converted = _routing_graph(*args, pairs.copy(), *rest)  # a writable list: scipy's COO conversion
        for name in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(kept, name), getattr(converted, name), err_msg=name)


#: Every name orbitcloud_env.network had before it was split by concern (code and pickles import them from there).
NETWORK_NAMES_BEFORE_THE_SPLIT = (
    "plus_grid_isls", "bridge_isls", "isl_state", "gsl_visibility", "LinkFailures", "NetworkSnapshot", "build_snapshot",
    "shortest_delays", "routing_graph", "Network", "satellite_faults", "FAULT_REASONS", "SatelliteFault",
    "DEFAULT_ISL_CAPACITY_GBPS", "DEFAULT_GSL_CAPACITY_GBPS", "DEFAULT_MIN_ELEVATION_DEG", "SANE_ALTITUDE_KM",
    "SANE_SPEED_KM_S", "_BRIDGE_NEIGHBOURS", "_MAX_ISL_DEGREE", "_MIN_EDGE_MS", "_MS_PER_KM", "_edge_ms",
    "_tle_shell_pairs", "_check_sites", "_check_gsl_inputs", "_gsl_near", "_max_slant_km", "_readonly",
    "_IslLayout", "_LAYOUTS", "_layout_for", "_routing_graph", "_route_every_site",
)


def test_network_module_still_has_every_name_it_had_before_the_split():
    import importlib
    import pickle

    network = importlib.import_module("orbitcloud_env.network")
    missing = [n for n in NETWORK_NAMES_BEFORE_THE_SPLIT if not hasattr(network, n)]
    assert not missing, missing
    assert set(network.__all__) <= set(NETWORK_NAMES_BEFORE_THE_SPLIT)
    # A pickle written before the split names the class by its old module; it still loads (here, a protocol-0
    # reference to the class, as such a pickle holds it).
    assert pickle.loads(b"corbitcloud_env.network\nNetworkSnapshot\n.") is network.NetworkSnapshot
    assert pickle.loads(b"corbitcloud_env.network\nLinkFailures\n.") is network.LinkFailures
