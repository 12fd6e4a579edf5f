"""The orbit timeline (observation groups "power" and "links") and the subset of satellites it propagates."""

from __future__ import annotations

import numpy as np
import pytest

from orbitcloud_env.config import load_config
from orbitcloud_env.simulator import Simulator
from orbitcloud_env.timeline import LIGHT_HORIZON_S, OrbitTimeline


@pytest.fixture(scope="module")
def candidates_sim() -> Simulator:
    sim = Simulator(load_config("small", {"action_mode": "candidates", "compute.satellite_fraction": 0.25}))
    sim.reset(np.random.default_rng(0))
    return sim


def test_a_subset_propagates_exactly_its_rows_of_the_whole_set(candidates_sim):
    whole = candidates_sim.constellation
    idx = np.array([3, 0, len(whole) - 1])
    times = np.array([0.0, 1_234.5, 86_400.0])
    pos, vel, ok = whole.propagate(times)
    sub_pos, sub_vel, sub_ok = whole.subset(idx).propagate(times)
    assert np.array_equal(sub_pos, pos[:, idx]) and np.array_equal(sub_vel, vel[:, idx])
    assert np.array_equal(sub_ok, ok[:, idx])
    for bad in ([], [len(whole)], [-1], [0.5]):
        with pytest.raises(ValueError, match="indices"):
            whole.subset(np.asarray(bad))


def test_candidates_mode_tracks_the_compute_satellites_bit_for_bit(candidates_sim):
    sim = candidates_sim
    tl = sim.timeline
    rows = np.flatnonzero(sim.sat_has_compute)
    assert np.array_equal(tl.tracked, rows) and rows.size < sim.n_sat
    full = OrbitTimeline(sim.constellation, sim._sunlit_many, sim.start_time_s, 600.0)
    t = sim.time_s + 95.0
    light, light_full = tl.time_to_light_change_s(t, sim.sunlit), full.time_to_light_change_s(t, sim.sunlit)
    assert np.array_equal(light[rows], light_full[rows])
    assert np.all(light[~sim.sat_has_compute] == LIGHT_HORIZON_S)  # untracked: no change within the horizon
    lat, lon = float(sim.sites.lat_deg[0]), float(sim.sites.lon_deg[0])
    assert np.array_equal(tl.time_in_view_s(t, lat, lon, rows, 25.0), full.time_in_view_s(t, lat, lon, rows, 25.0))
    assert np.array_equal(tl.tracks(np.arange(sim.n_sat)), sim.sat_has_compute)
    with pytest.raises(ValueError, match="not tracked"):
        tl.time_in_view_s(t, lat, lon, np.flatnonzero(~sim.sat_has_compute)[:1], 25.0)


def test_sunlit_soon_of_the_compute_satellites_is_the_whole_propagation(candidates_sim):
    sim = candidates_sim
    topo = sim.topology
    t = topo.bucket * sim.config.episode.topology_dt_s + sim.config.power.eclipse_lookahead_s
    pos, _, _ = sim.constellation.propagate(t)
    expected = sim._sunlit(pos, t) & topo.snapshot.sat_ok
    rows = sim.sat_has_compute
    assert np.array_equal(topo.sunlit_soon[rows], expected[rows])
    assert np.array_equal(topo.sunlit_soon[~rows], topo.sunlit[~rows])


def test_all_nodes_mode_tracks_every_satellite():
    sim = Simulator(load_config("small", {"action_mode": "all_nodes"}))
    sim.reset(np.random.default_rng(0))
    assert sim.timeline.tracked is None and sim.timeline.tracks(np.arange(sim.n_sat)).all()


def test_windowed_grid_gives_the_same_answers_in_bounded_memory(candidates_sim, monkeypatch):
    """Dropping rows behind the query time (and recomputing them when a query goes back) changes no answer; a
    ten-year horizon allocates one chunk, not ten years of grid."""
    from orbitcloud_env import timeline as T

    sim = candidates_sim
    lat, lon = float(sim.sites.lat_deg[0]), float(sim.sites.lon_deg[0])
    rows = np.flatnonzero(sim.sat_has_compute)
    ten_years_s = 10 * 365.25 * 86_400.0
    windowed = OrbitTimeline(sim._row_constellation, sim._sunlit_many, sim.start_time_s, ten_years_s,
                             tracked=sim._row_sats, n_sat=sim.n_sat)
    assert windowed._times.size <= (T.MAX_CHUNK_S + LIGHT_HORIZON_S) / T.STEP_S + 2
    monkeypatch.setattr(T, "KEEP_ROWS", 10**9)  # the reference keeps every row
    whole = OrbitTimeline(sim._row_constellation, sim._sunlit_many, sim.start_time_s, 600.0,
                          tracked=sim._row_sats, n_sat=sim.n_sat)
    times = [*(sim.start_time_s + 977.0 * k for k in range(60)), sim.start_time_s + 1_000.0]  # last: back in time
    held = []
    for t in times:
        monkeypatch.setattr(T, "KEEP_ROWS", 10**9)
        expected = (whole.time_to_light_change_s(t, sim.sunlit), whole.time_in_view_s(t, lat, lon, rows, 25.0))
        monkeypatch.setattr(T, "KEEP_ROWS", 480)
        got = (windowed.time_to_light_change_s(t, sim.sunlit), windowed.time_in_view_s(t, lat, lon, rows, 25.0))
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
        held.append(windowed._times.size)
    assert max(held) < 480 + (T.MAX_CHUNK_S + LIGHT_HORIZON_S) / T.STEP_S + 2 < whole._times.size
