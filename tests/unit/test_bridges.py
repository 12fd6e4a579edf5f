"""Tests for the inter-shell bridge ISLs (orbitcloud_env.network.bridge_isls, ``links.inter_shell_isls``): the rule on
small hand-placed sets, one connected operational mesh on the shipped catalogue, nothing changed with the switch off
or on Walker shells, failures, config errors and the ``OrbitCloud-Starlink2026-v2`` id."""

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
from orbitcloud_env.config import ConfigError, load_config
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.network import Network, bridge_isls, isl_state

SHIPPED = "package:starlink-2026-05-12.tle"
SITES = ([47.6, -33.9, 1.3], [-122.3, 18.4, 103.8])  # [deg] Seattle, Cape Town, Singapore
R_KM = 6_900.0  # [km] a LEO radius


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


# ------------------------------------------------------------------------------------------ the rule
def _points(*offsets_km):
    """Positions [km] near (R_KM, 0, 0), offset in y and z."""
    return np.array([[R_KM, y, z] for y, z in offsets_km], dtype=np.float64)


def test_spanning_pass_joins_a_piece_that_shortest_first_alone_would_strand():
    # x1, x2 (shell 0) and y1 (shell 1) lie on a line, z1 (shell 2) off it: shortest first takes x1-y1 and then the
    # redundant x2-y1, which uses y1's last terminal, and z1 (whose only partners are full) is left alone.
    pos = _points((100.0, 0.0), (-200.0, 0.0), (0.0, 0.0), (0.0, 300.0))  # x1, x2, y1, z1
    shell = np.array([0, 0, 1, 2])
    free = np.array([1, 1, 2, 1])
    ok = np.ones(4, bool)
    greedy = bridge_isls(pos, shell, free, ok, 5_000.0, component=np.zeros(4, int))  # one piece: no spanning
    assert greedy.tolist() == [[0, 2], [1, 2]]
    both = bridge_isls(pos, shell, free, ok, 5_000.0)  # pieces = shells
    assert both.tolist() == [[0, 2], [2, 3]]
    assert np.all(np.bincount(both.ravel(), minlength=4) <= free)


def test_bridges_join_other_shells_only_within_range_above_the_atmosphere_and_free_terminals():
    pos = _points((0.0, 0.0), (50.0, 0.0), (0.0, 60.0), (0.0, 900.0))
    shell = np.array([0, 0, 1, 1])
    ok = np.ones(4, bool)
    out = bridge_isls(pos, shell, np.array([1, 1, 1, 1]), ok, 500.0)
    assert out.tolist() == [[0, 2]]  # never 0-1 (same shell); 3 is beyond 500 km of every other-shell satellite
    assert bridge_isls(pos, shell, np.array([0, 1, 1, 1]), ok, 500.0).tolist() == [[1, 2]]  # 0 has no free terminal
    assert bridge_isls(pos, shell, np.ones(4, int), np.array([True, True, False, True]), 500.0).size == 0
    # 14 deg apart at 6,500 km: 1,584 km, within range, but the segment dips to 6,452 km, below 6,378 + 80 km.
    a = np.deg2rad(7.0)
    low = np.array([[6_500.0 * np.cos(a), 6_500.0 * np.sin(a), 0.0], [6_500.0 * np.cos(a), -6_500.0 * np.sin(a), 0.0]])
    assert bridge_isls(low, np.array([0, 1]), np.array([4, 4]), np.ones(2, bool), 5_000.0, 80.0).size == 0
    assert bridge_isls(low, np.array([0, 1]), np.array([4, 4]), np.ones(2, bool), 5_000.0, 0.0).tolist() == [[0, 1]]
    assert bridge_isls(pos, np.zeros(4, int), np.ones(4, int), ok, 5_000.0).shape == (0, 2)  # one shell: none


# ------------------------------------------------------------------------------------------ shipped catalogue
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


# ------------------------------------------------------------------------------------------ unaffected
def test_walker_shells_take_no_bridges_even_with_the_switch_on():
    epoch = dt.datetime(2026, 5, 12, tzinfo=dt.timezone.utc)
    delta = Constellation.walker_delta(12, 10, 550.0, 53.0, phasing=1, epoch=epoch, name_prefix="D")
    star = Constellation.walker_delta(6, 11, 780.0, 86.4, phasing=0, raan_spread_deg=180.0, epoch=epoch,
                                      name_prefix="S")  # its seam planes have free terminals
    c = delta + star
    off, on = Network(c, *SITES).snapshot(0.0), Network(c, *SITES, inter_shell_isls=True).snapshot(0.0)
    np.testing.assert_array_equal(on.pairs, off.pairs)
    np.testing.assert_array_equal(on.isl_up, off.isl_up)
    np.testing.assert_array_equal(on.site_sat_delay_ms, off.site_sat_delay_ms)
    assert not on.isl_bridge.any()


def test_switch_is_off_by_default_and_bad_values_name_the_field(shipped):
    assert load_config("starlink2026").links.inter_shell_isls is False
    assert load_config("starlink2026", {"inter_shell_isls": True}).links.inter_shell_isls is True
    with pytest.raises(ConfigError, match=r"^links\.inter_shell_isls: expected true or false, got 'yes'$"):
        load_config("small", {"links.inter_shell_isls": "yes"})
    with pytest.raises(ConfigError, match=r"^links\.inter_shell_isls: expected true or false, got 1$"):
        load_config("small", {"links": {"inter_shell_isls": 1}})
    with pytest.raises(ValueError, match=r"^inter_shell_isls: expected True or False, got 'on'$"):
        Network(shipped, *SITES, inter_shell_isls="on")


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
