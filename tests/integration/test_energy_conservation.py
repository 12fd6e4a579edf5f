"""Energy accounting of the batteries over whole episodes: what is stored equals what came in minus what went out.

``initial + harvested - base + base_unserved - clipped - compute = final`` per satellite, to 1e-9 relative, on a
v1 id and on a 0.001 Wh battery (where require_energy masks the satellites that would need the battery).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids
from orbitcloud_env.power import Batteries


def _episode(max_jobs: int = 400, **overrides):
    env = gym.make("OrbitCloud-Small-v1", max_jobs=max_jobs, **overrides)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    outcomes, sat_valid = [], []
    for _ in range(max_jobs):
        mask = env.unwrapped.action_masks()
        sat_valid.append((mask[: sim.n_sat].copy(), sim.topology.sunlit.copy()))
        _, _, _, truncated, info = env.step(int(np.flatnonzero(mask)[0]))
        outcomes.append((info["node"], info["outcome"]))
        if truncated:
            break
    env.close()
    return sim, outcomes, sat_valid


def _assert_conserved(batteries: Batteries) -> dict[str, float]:
    led = batteries.ledger
    final = batteries.energy_wh
    scale = np.maximum(np.abs(led.initial_wh) + led.harvested_wh + led.base_wh + led.compute_wh, 1e-300)
    assert np.all(np.abs(led.balance_wh() - final) <= 1e-9 * scale)
    totals = led.totals_wh()
    assert totals["harvested_wh"] > 0 and totals["base_wh"] > 0
    return totals


def test_energy_is_conserved_on_a_v1_id():
    sim, outcomes, _ = _episode()
    totals = _assert_conserved(sim.batteries)
    assert totals["compute_wh"] > 0, "satellites ran jobs"


def test_tiny_battery_conserves_energy_and_masks_satellites_that_need_it():
    default_sim, default_outcomes, _ = _episode()
    sim, outcomes, sat_valid = _episode(**{"power.battery_capacity_wh": 0.001})
    totals = _assert_conserved(sim.batteries)
    assert totals["clipped_wh"] > 0.9 * totals["harvested_wh"], "a 0.001 Wh battery wastes the surplus"
    # Only a sunlit satellite (whose panel surplus, 1,350 W, covers the 900 W payload) may take a job.
    for valid, sunlit in sat_valid:
        assert not np.any(valid & ~sunlit)
    assert outcomes != default_outcomes


def test_tiny_battery_and_weak_panel_mask_every_satellite():
    # 500 W panel: the surplus over the 150 W base load (350 W) never covers the 900 W payload.
    sim, outcomes, sat_valid = _episode(max_jobs=200, **{"power.battery_capacity_wh": 0.001,
                                                         "power.panel_power_w": 500.0})
    _assert_conserved(sim.batteries)
    assert not any(valid.any() for valid, _ in sat_valid)
    assert all(node == -1 or node >= sim.n_sat for node, _ in outcomes)


def test_ledger_unit_balance_and_unserved():
    b = Batteries(2, capacity_wh=10.0, initial_soc=[0.5, 0.0], panel_power_w=100.0, base_load_w=50.0,
                  charge_efficiency=1.0)
    b.advance(3600.0, [True, False])  # node 0: +50 Wh surplus, clipped at 10; node 1: 50 Wh base unserved
    assert b.draw_one(0, 36_000.0) == pytest.approx(0.0)  # 10 Wh
    assert b.draw_one(1, 3_600.0) == pytest.approx(3_600.0)  # empty: 1 Wh unserved
    led = b.ledger
    assert led.harvested_wh.tolist() == [50.0, 0.0]
    assert led.clipped_wh[0] == pytest.approx(45.0)
    assert led.base_unserved_wh[1] == pytest.approx(50.0)
    assert led.compute_unserved_wh[1] == pytest.approx(1.0)
    assert np.allclose(led.balance_wh(), b.energy_wh)
