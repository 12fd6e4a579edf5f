"""Tests for the inter-shell bridge ISLs (orbitcloud_env.network.bridge_isls, ``links.inter_shell_isls``): the rule on
small hand-placed sets, nothing changed on Walker shells, config errors. The shipped catalogue's one connected mesh,
bridge failures and the ``OrbitCloud-Starlink2026-v2`` id: tests/integration/test_shipped_catalogue.py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import orbitcloud_env  # noqa: F401  (registers the ids)
from orbitcloud_env.config import ConfigError, load_config
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.network import Network, bridge_isls

SITES = ([47.6, -33.9, 1.3], [-122.3, 18.4, 103.8])  # [deg] Seattle, Cape Town, Singapore
R_KM = 6_900.0  # [km] a LEO radius


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


def test_switch_is_off_by_default_and_bad_values_name_the_field():
    assert load_config("starlink2026").links.inter_shell_isls is False
    assert load_config("starlink2026", {"inter_shell_isls": True}).links.inter_shell_isls is True
    with pytest.raises(ConfigError, match=r"^links\.inter_shell_isls: expected true or false, got 'yes'$"):
        load_config("small", {"links.inter_shell_isls": "yes"})
    with pytest.raises(ConfigError, match=r"^links\.inter_shell_isls: expected true or false, got 1$"):
        load_config("small", {"links": {"inter_shell_isls": 1}})
    with pytest.raises(ValueError, match=r"^inter_shell_isls: expected True or False, got 'on'$"):
        Network(Constellation.walker_delta(4, 4, 550.0, 53.0), *SITES, inter_shell_isls="on")


