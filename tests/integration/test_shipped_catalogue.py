"""The shipped 2026-05-12 Starlink catalogue (10,313 element sets) as the env loads it: its inferred shells, the +Grid
mesh and its re-pairing, positions against Skyfield, the inter-shell bridges that join its operational mesh into one
piece, and the ``OrbitCloud-Starlink2026-v1/v2`` ids. Default tier (loaded once per module, a second or two); the
rules themselves are unit-tested on small synthetic sets in tests/unit/test_catalogue.py and test_bridges.py."""

from __future__ import annotations

import datetime as dt
import warnings

import gymnasium as gym
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import orbitcloud_env  # noqa: F401  (registers the ids)
from orbitcloud_env.catalogue import CatalogueWarning
from orbitcloud_env.constellation import Constellation, TLEError
from orbitcloud_env.data import resolve_data_path
from orbitcloud_env.network import Network, isl_state, plus_grid_isls
from tests.graph_helpers import components, pairs_set

SHIPPED = "package:starlink-2026-05-12.tle"
SITES = ([47.6, -33.9, 1.3], [-122.3, 18.4, 103.8])  # [deg] Seattle, Cape Town, Singapore


@pytest.fixture(scope="module")
def shipped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        return Constellation.from_tle(SHIPPED)


def _pieces(snap, n: int) -> int:
    """Connected pieces of the usable ISLs among the usable satellites."""
    p = snap.pairs[snap.isl_up]
    _, lab = connected_components(coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n)), directed=False)
    return len(np.unique(lab[snap.sat_ok]))


# ------------------------------------------------------------------------------------------ shells and mesh
def test_shipped_catalogue_shells_match_its_elements(shipped):
    c = shipped
    assert len(c) == 10_313
    inc = np.rad2deg(c._elements["inclo"])  # noqa: SLF001 - the catalogue's own inclinations
    main = {}
    for s, info in enumerate(c.shells):
        op = (c.shell == s) & c.operational
        if not info.meshable:
            assert not op.any()
            continue
        assert np.all(np.abs(inc[op] - info.inclination_deg) < 0.2)
        lo, hi = info.altitude_band_km
        assert lo <= info.altitude_km <= hi and hi - lo <= 20.0
        main[(round(info.inclination_deg), round(info.altitude_km, -1))] = (info.n_operational, info.planes)
    # The data README's main shells (inclination [deg], altitude [km]) with their operational satellites.
    assert main[(43, 480)][0] > 3000 and main[(53, 480)][0] > 1500 and main[(53, 540)][0] > 1300
    assert main[(70, 570)][0] > 690 and main[(98, 550)][0] > 430
    assert main[(53, 540)][1] == 72 and main[(70, 570)][1] == 34  # Starlink shells 2 and 3: 72 and 36 planes filed
    assert 8000 < c.operational.sum() < 9000


def test_shipped_catalogue_mesh_has_four_isls_nearly_everywhere_and_one_component_per_shell(shipped):
    c = shipped
    pairs = plus_grid_isls(c)
    deg = np.bincount(pairs.ravel(), minlength=len(c))
    op = c.operational
    assert deg.max() <= 4 and np.all(deg[~op] == 0)
    assert np.mean(deg[op] >= 3) > 0.95 and np.mean(deg[op] == 4) > 0.85 and np.all(deg[op] >= 2)
    for s, _info in enumerate(c.shells):
        idx = np.nonzero((c.shell == s) & op)[0]
        if idx.size:
            assert components(pairs, idx, len(c)) == 1, f"shell {s} is broken into pieces"


def test_shipped_catalogue_positions_agree_with_skyfield_within_1_km_over_24_h(shipped):
    skyfield_api = pytest.importorskip("skyfield.api")
    from skyfield.framelib import itrs

    ts = skyfield_api.load.timescale(builtin=True)
    lines = resolve_data_path(SHIPPED).read_text(encoding="ascii").splitlines()
    pick = np.nonzero(shipped.operational)[0][::97]  # ~90 operational satellites across every shell
    sats = [skyfield_api.EarthSatellite(lines[3 * i + 1], lines[3 * i + 2], lines[3 * i], ts) for i in pick]
    for seconds in (0.0, 12 * 3600.0, 24 * 3600.0):
        when = shipped.epoch + dt.timedelta(seconds=seconds)
        ours = shipped.positions_ecef(when)[pick]
        theirs = np.array([s.at(ts.from_datetime(when)).frame_xyz(itrs).km for s in sats])
        assert np.max(np.linalg.norm(ours - theirs, axis=1)) < 1.0


def test_catalogue_load_is_cached_and_package_paths_resolve(shipped):
    assert Constellation.from_tle(SHIPPED) is shipped
    assert Constellation.from_tle(str(resolve_data_path(SHIPPED))) is shipped
    assert Constellation.from_tle("starlink-2026-05-12.tle") is shipped  # bare name in the package data
    with pytest.raises(TLEError, match="no such file in the package data"):
        Constellation.from_tle("package:nope.tle")


def test_network_graph_nodes_carry_shell_plane_operational(shipped):
    net = Network(shipped, [47.6], [-122.3])
    g = net.network_graph(0.0)
    i_op = int(np.nonzero(shipped.operational)[0][0])
    i_down = int(np.nonzero(~shipped.operational)[0][0])
    assert g.nodes[i_op]["operational"] and g.nodes[i_op]["plane"] >= 0 and g.nodes[i_op]["ok"]
    assert not g.nodes[i_down]["operational"] and not g.nodes[i_down]["ok"]
    assert g.nodes[i_down]["fault"] == "not operational (catalogue status)"
    assert g.nodes[i_op]["shell"] == shipped.shell[i_op]


def test_catalogue_grid_is_re_paired_from_current_phases_and_walker_grids_never_change(shipped):
    net = Network(shipped, [0.0], [0.0], regrid_s=3600.0)
    first = net.snapshot(0.0)
    assert net.pairs is first.pairs
    later = net.snapshot(25 * 3600.0)
    assert net.pairs is later.pairs and np.array_equal(later.pairs, plus_grid_isls(shipped, 25 * 3600.0))
    changed = len(pairs_set(first.pairs) - pairs_set(later.pairs)) / len(first.pairs)
    assert 0.0 < changed < 0.05  # satellites of one plane overtake each other slowly (2.5 % of pairs per day)
    assert np.bincount(later.pairs.ravel()).max() <= 4
    assert net.snapshot(0.0).pairs is first.pairs  # cached bucket: its own pairs again
    assert net.pairs is first.pairs
    # With link failures on, the failure state is per link: the epoch's grid is kept.
    fixed = Network(shipped, [0.0], [0.0], failure_rate_per_hour=0.1, rng=np.random.default_rng(0))
    assert fixed.regrid_s is None
    assert np.array_equal(fixed.snapshot(25 * 3600.0).pairs, fixed.snapshot(0.0).pairs)
    walker = Constellation.walker_delta(24, 20, 550.0, 53.0, phasing=1, epoch=shipped.epoch)
    assert Network(walker, [0.0], [0.0]).regrid_s is None
    with pytest.raises(ValueError, match="regrid_s"):
        Network(shipped, [0.0], [0.0], regrid_s=0.0)


# ------------------------------------------------------------------------------------------ bridges
@pytest.mark.parametrize("time_s", [0.0, 6 * 3600.0, 24 * 3600.0])
def test_shipped_catalogue_operational_mesh_is_one_piece_with_bridges(shipped, time_s):
    n = len(shipped)
    off = Network(shipped, *SITES).snapshot(time_s)
    on = Network(shipped, *SITES, inter_shell_isls=True).snapshot(time_s)
    assert _pieces(off, n) > 9 and _pieces(on, n) == 1  # 13-15 pieces of the shells' own ISLs; one with bridges
    grid = len(off.pairs)
    np.testing.assert_array_equal(on.pairs[:grid], off.pairs)  # the +Grid first, unchanged
    np.testing.assert_array_equal(on.isl_up[:grid], off.isl_up)
    assert not on.isl_bridge[:grid].any() and on.isl_bridge[grid:].all() and not off.isl_bridge.any()
    bridges = on.pairs[grid:]
    assert 700 < len(bridges) < 1_000  # of the ~1,340 free terminals of operational satellites
    # every bridge joins two shells' operational satellites, within range and clear of the Earth + margin
    assert np.all(shipped.shell[bridges[:, 0]] != shipped.shell[bridges[:, 1]])
    assert np.all(shipped.operational[bridges] & (shipped.plane[bridges] >= 0))
    up, dist = isl_state(on.sat_ecef_km, bridges, 5_000.0, 80.0)
    assert up.all() and on.isl_up[grid:].all()
    np.testing.assert_array_equal(on.isl_distance_km[grid:], dist)
    # at most four usable ISLs per satellite, and nearly every operational satellite has four
    degree = np.bincount(on.pairs[on.isl_up].ravel(), minlength=n)
    assert degree.max() <= 4
    assert np.mean(degree[shipped.operational] == 4) > 0.95


def test_network_graph_marks_bridges(shipped):
    net = Network(shipped, *SITES, inter_shell_isls=True)
    g = net.network_graph(0.0)
    snap = net.snapshot(0.0)
    isl = [(u, v, d["bridge"]) for u, v, d in g.edges(data=True) if d["kind"] == "isl"]
    bridges = [(u, v) for u, v, b in isl if b]
    assert len(bridges) == int((snap.isl_bridge & snap.isl_up).sum()) > 0
    assert all(g.nodes[u]["shell"] != g.nodes[v]["shell"] for u, v in bridges)
    assert all(g.nodes[u]["shell"] == g.nodes[v]["shell"] for u, v, b in isl if not b)


def test_bridge_failures_are_seeded_per_bucket_at_the_stationary_availability(shipped):
    kw = dict(inter_shell_isls=True, failure_rate_per_hour=2.0, repair_time_s=600.0)
    a = Network(shipped, *SITES, rng=np.random.default_rng(7), **kw)
    b = Network(shipped, *SITES, rng=np.random.default_rng(7), **kw)
    b.snapshot(60.0)  # another query order: the same history
    sa, sb = a.snapshot(30.0), b.snapshot(30.0)
    np.testing.assert_array_equal(sa.pairs, sb.pairs)
    np.testing.assert_array_equal(sa.isl_up, sb.isl_up)
    up = sa.isl_up[sa.isl_bridge]
    p_fail, p_repair = -np.expm1(-2.0 * 10.0 / 3600.0), -np.expm1(-10.0 / 600.0)
    assert abs(up.mean() - p_repair / (p_fail + p_repair)) < 0.05  # 0.75 (870 draws: sd 0.015)
    c = Network(shipped, *SITES, rng=np.random.default_rng(8), **kw).snapshot(30.0)
    np.testing.assert_array_equal(c.pairs, sa.pairs)  # the bridges themselves do not depend on the seed
    assert not np.array_equal(c.isl_up[c.isl_bridge], up)
    assert not np.array_equal(a.snapshot(40.0).isl_up[a.snapshot(40.0).isl_bridge][:100], up[:100])  # redrawn


def test_starlink2026_v2_makes_resets_and_steps_with_bridges_and_v1_has_none():
    env = gym.make("OrbitCloud-Starlink2026-v2", max_jobs=3)
    assert env.unwrapped.config.links.inter_shell_isls
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(int(np.flatnonzero(env.unwrapped.action_masks())[0]))
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    assert env.unwrapped.sim.snapshot.isl_bridge.sum() > 500
    env.close()
    with pytest.warns(DeprecationWarning, match="out of date"):  # Gymnasium points v1 users to v2
        v1 = gym.make("OrbitCloud-Starlink2026-v1", max_jobs=3)
    assert not v1.unwrapped.config.links.inter_shell_isls
    v1.reset(seed=0)
    assert not v1.unwrapped.sim.snapshot.isl_bridge.any()
    v1.close()
