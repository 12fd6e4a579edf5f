"""Physics sanity at env level, and property-based tests over random configs and random actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orbitcloud_env  # noqa: F401
from orbitcloud_env.env import OrbitCloudEnv
from orbitcloud_env.ground import fibre_delay_ms


def _step_until_site(env, site_name: str, max_steps: int = 5000):
    """Reject jobs until one arrives from ``site_name``; return False if none did."""
    sim = env.unwrapped.sim
    for _ in range(max_steps):
        if sim.sites.names[sim.job.site] == site_name:
            return True
        env.step(env.action_space.n - 1)
    return False


def test_job_on_a_nearby_data_centre_costs_about_the_fibre_delay():
    # Tokyo (city) and AWS ap-northeast-1 (Tokyo) are a few km apart: the network part is the fibre delay.
    env = gym.make("OrbitCloud-Small-v0", max_jobs=100_000, data_centres=["ap-northeast-1", "us-east-1"])
    env.reset(seed=0)
    assert _step_until_site(env, "Tokyo")
    sim = env.unwrapped.sim
    s = sim.job.site
    fibre = float(fibre_delay_ms(sim.sites.lat_deg[s], sim.sites.lon_deg[s], sim.data_centres.lat_deg[0],
                                 sim.data_centres.lon_deg[0], route_factor=sim.config.ground.fibre_route_factor))
    assert fibre < 1.0  # a few km of fibre
    _, _, _, _, info = env.step(sim.n_sat)  # data centre 0 in all_nodes mode
    b = info["latency_breakdown_ms"]
    assert info["is_ground"] and b["queue"] == 0.0
    assert b["uplink"] == pytest.approx(fibre) and b["return"] == pytest.approx(fibre)
    assert info["latency_ms"] - b["compute"] - b["transfer"] == pytest.approx(2 * fibre)
    # The far data centre costs the long fibre path, ~2 x 10,800 km x 1.5 / (2/3 c) ~ 160 ms.
    assert _step_until_site(env, "Tokyo")
    _, _, _, _, info = env.step(sim.n_sat + 1)
    assert info["latency_breakdown_ms"]["uplink"] > 50.0


def test_a_job_on_a_loaded_node_waits_longer_than_on_an_idle_one():
    env = gym.make("OrbitCloud-Small-v0", max_jobs=1000, satellite_queue_limit=64)
    obs, _ = env.reset(seed=4)
    target = int(np.argmin(np.where(obs["node_valid"][:66] > 0, obs["node_latency"][:66], np.inf)))
    queues = []
    for _ in range(8):
        mask = env.unwrapped.action_masks()
        assert mask[target]
        obs, _, _, _, info = env.step(target)
        queues.append(info["latency_breakdown_ms"]["queue"])
    assert obs["node_wait"][target] > 0 and obs["node_queue"][target] > 0
    assert queues[-1] > 0.0
    # An idle satellite (nothing placed on it) has no queue wait.
    idle = next(i for i in range(66) if i != target and obs["node_valid"][i] > 0 and obs["node_queue"][i] == 0)
    _, _, _, _, info = env.step(idle)
    assert info["latency_breakdown_ms"]["queue"] == 0.0
    assert queues[-1] > info["latency_breakdown_ms"]["queue"]


def test_low_battery_satellites_are_masked():
    # No warm-up: start from the drawn charge (the warm-up would recharge sunlit satellites first).
    env = OrbitCloudEnv(preset="small", max_jobs=50, initial_soc_min=0.0, initial_soc_max=0.1,
                        min_soc_for_compute=0.5, warmup_orbits=0.0)
    obs, _ = env.reset(seed=0)
    assert obs["node_valid"][: env.sim.n_sat].sum() == 0
    assert obs["node_valid"][env.sim.n_sat:].sum() > 0  # data centres still take work


def test_energy_is_drawn_from_the_battery_of_the_chosen_satellite():
    env = OrbitCloudEnv(preset="small", max_jobs=50)
    obs, _ = env.reset(seed=0)
    n = int(np.flatnonzero(obs["node_valid"][: env.sim.n_sat])[0])
    before = env.sim.batteries.energy_wh[n]
    _, _, _, _, info = env.step(n)
    assert info["energy_j"] > 0
    # Same bucket, so only the draw changed the battery.
    assert env.sim.batteries.energy_wh[n] == pytest.approx(before - info["energy_j"] / 3600.0)


configs = st.fixed_dictionaries({
    "constellation.planes": st.integers(2, 8),
    "constellation.sats_per_plane": st.integers(3, 12),
    "constellation.altitude_km": st.floats(400.0, 1500.0),
    "constellation.inclination_deg": st.floats(30.0, 100.0),
    "constellation.phasing": st.just(1),
    "links.min_elevation_deg": st.floats(0.0, 40.0),
    "links.isl_failure_rate_per_hour": st.sampled_from([0.0, 5.0]),
    "ground.n_sites": st.integers(1, 40),
    "compute.satellite_fraction": st.floats(0.0, 1.0),
    "workload.arrival_rate_per_s": st.floats(0.1, 200.0),
    "episode.action_mode": st.sampled_from(["all_nodes", "candidates"]),
    "episode.candidates_k": st.integers(2, 20),
    "episode.topology_dt_s": st.floats(1.0, 60.0),
    "power.min_soc_for_compute": st.floats(0.0, 1.0),
})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, seed=st.integers(0, 2**31 - 1))
def test_random_configs_and_actions_never_leave_the_space(cfg, seed):
    env = OrbitCloudEnv(preset="small", config=cfg, max_jobs=100)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        assert env.observation_space.contains(obs)
        for v in obs.values():
            assert np.all(np.isfinite(v))
        mask = env.action_masks()
        a = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(a)
        assert np.isfinite(reward)
        assert info["invalid_action"] == (not mask[a])
        if info["invalid_action"]:
            assert info["outcome"] == "rejected"
        if truncated:
            assert np.isfinite(list(info["episode_metrics"].values())).all()
            obs, _ = env.reset()


def test_trace_replay_drives_the_env_and_ends_the_episode(tmp_path):
    trace = tmp_path / "jobs.csv"
    trace.write_text("time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms\n"
                     "0.0,Tokyo,interactive,10,0.5,0.1,150\n"
                     "0.5,Delhi,video,200,8,0.5,1000\n"
                     "2.0,tokyo,batch,5000,100,10,60000\n")
    env = gym.make("OrbitCloud-Small-v0", **{"workload.trace_path": str(trace)})
    env.reset(seed=0)
    infos = []
    for _ in range(3):
        _, _, terminated, truncated, info = env.step(env.action_space.n - 1)
        infos.append(info)
    assert [i["site_name"] for i in infos] == ["Tokyo", "Delhi", "Tokyo"]
    assert [i["job_class"] for i in infos] == ["interactive", "video", "batch"]
    assert [i["time_s"] for i in infos] == [0.0, 0.5, 2.0]
    assert truncated and not terminated and info["episode_metrics"]["n_jobs"] == 3.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_a_malformed_trace_fails_at_make_with_its_line_number(tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms\n"
                     "0.0,Tokyo,interactive,ten,0.5,0.1,150\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 2"):
        gym.make("OrbitCloud-Small-v0", **{"workload.trace_path": str(trace)})


@pytest.mark.parametrize("overrides", [
    {},
    {"satellite_queue_limit": 1, "arrival_rate_per_s": 200.0},
    # ~90 % of satellites below the battery threshold: too few valid near a site, so candidates come from the
    # complete route (the fallback path).
    {"initial_soc_min": 0.0, "initial_soc_max": 0.3, "min_soc_for_compute": 0.27, "warmup_orbits": 0.0},
])
def test_partial_routing_gives_the_same_episode_as_complete_routing(monkeypatch, overrides):
    # Candidates mode routes each site only up to a limit first; the episode must not change because of it.
    import orbitcloud_env.simulator as simulator

    def rollout():
        env = gym.make("OrbitCloud-Kuiper-v0", max_jobs=400, **overrides)
        obs, _ = env.reset(seed=5)
        rng = np.random.default_rng(0)
        out = []
        for _ in range(400):
            mask = env.unwrapped.action_masks()
            obs, reward, _, _, info = env.step(int(rng.choice(np.flatnonzero(mask))))
            out.append((obs["node_latency"].tobytes(), obs["node_valid"].tobytes(), reward, info["latency_ms"],
                        info["node"], tuple(info["candidate_nodes"])))
        return out

    partial = rollout()
    monkeypatch.setattr(simulator, "_PARTIAL_ROUTE_MS", np.inf)
    assert rollout() == partial
