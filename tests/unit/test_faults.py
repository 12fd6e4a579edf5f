"""Faults section: fault chains, masks, failed jobs, metrics that add up, determinism, stationary start."""

from __future__ import annotations

import time

import numpy as np
import pytest

from orbitcloud_env.config import ConfigError, FaultsConfig, load_config
from orbitcloud_env.faults import FaultProcess
from orbitcloud_env.metrics import EpisodeStats, JobOutcome, episode_metrics
from orbitcloud_env.simulator import Simulator

ALL_FAULTS = {"faults.satellite_failure_rate_per_hour": 1.0, "faults.payload_failure_rate_per_hour": 2.0,
              "faults.datacentre_outage_rate_per_hour": 1.0, "faults.ground_link_outage_rate_per_hour": 1.0,
              "faults.fibre_cut_rate_per_hour": 0.2, "faults.fibre_repair_time_s": 1_800.0,
              "links.isl_failure_rate_per_hour": 0.5}


def _run(sim: Simulator, seed: int, steps: int) -> list[tuple]:
    sim.reset(np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 100)
    trace = []
    for _ in range(steps):
        view = sim.node_view()
        valid = np.flatnonzero(view.valid)
        down = sim.node_down_reason()
        assert not set(down) & set(valid.tolist()), "a node down by a fault must be masked out"
        node = int(rng.choice(valid)) if valid.size and rng.random() < 0.9 else None
        out = sim.place(node, view)
        trace.append((out.node, out.outcome.value, out.latency_ms))
        if sim.job is None:
            break
    return trace


@pytest.fixture(scope="module")
def faulty_sim() -> Simulator:
    return Simulator(load_config("small", ALL_FAULTS))


def test_faults_are_off_by_default_in_every_preset():
    for name in ("small", "starlink", "small-v0", "starlink-v0"):
        assert not load_config(name).faults.enabled
    assert Simulator(load_config("small")).faults is None


def test_fault_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="faults.satellite_failure_rate_per_hour"):
        load_config("small", {"faults.satellite_failure_rate_per_hour": -1})
    with pytest.raises(ConfigError, match="fibre_repair_time_s"):
        FaultsConfig(fibre_repair_time_s=0.0)
    with pytest.raises(ConfigError, match="datacentre_repair_time_s"):
        FaultsConfig(datacentre_repair_time_s=1e12)


def test_outcomes_add_up_and_jobs_fail(faulty_sim):
    trace = _run(faulty_sim, 0, 2_000)
    m = faulty_sim.stats.metrics()
    counts = {o.value: sum(1 for t in trace if t[1] == o.value) for o in JobOutcome}
    assert counts["failed"] > 0, "with every fault kind on, some jobs must fail"
    assert sum(counts.values()) == m["n_jobs"] == len(trace)
    assert m["failure_rate"] == pytest.approx(counts["failed"] / len(trace))
    for node, outcome, latency in trace:
        if outcome == "failed":
            assert node >= 0 and latency == 0.0


def test_same_seed_same_faulty_episode_across_instances(faulty_sim):
    other = Simulator(load_config("small", ALL_FAULTS))
    assert _run(faulty_sim, 3, 400) == _run(other, 3, 400)
    assert _run(faulty_sim, 3, 400) != _run(faulty_sim, 4, 400)


def test_down_nodes_are_masked_with_a_reason(faulty_sim):
    faulty_sim.reset(np.random.default_rng(1))
    reasons = faulty_sim.node_down_reason()
    assert reasons, "rates this high leave some nodes down at the stationary start"
    view = faulty_sim.node_view()
    for node, why in reasons.items():
        assert not view.valid[node]
        assert why in ("satellite failure", "payload failure", "data centre outage")


def test_fault_stream_is_query_order_independent():
    cfg = FaultsConfig(satellite_failure_rate_per_hour=5.0, satellite_repair_time_s=60.0)
    a, b = (FaultProcess(cfg, 50, 3, 4, 10.0) for _ in range(2))
    a.reset(np.random.default_rng(7), 1_000.0)
    b.reset(np.random.default_rng(7), 1_000.0)
    late = b.state(100 + 400).satellite.copy()  # far ahead first, then back through the history
    for k in range(100, 501):
        a.state(k)
    assert np.array_equal(a.state(500).satellite, late)
    assert np.array_equal(a.state(150).satellite, b.state(150).satellite)


def test_stationary_start_matches_the_availability():
    rate_h, repair_s = 2.0, 900.0  # down share ~ rate * repair / (1 + rate * repair) = 0.333
    cfg = FaultsConfig(satellite_failure_rate_per_hour=rate_h, satellite_repair_time_s=repair_s)
    fp = FaultProcess(cfg, 20_000, 1, 1, 10.0)
    fp.reset(np.random.default_rng(0), 5e6)
    expected = rate_h / 3600 * repair_s / (1 + rate_h / 3600 * repair_s)
    assert fp.state(fp._b0).satellite.mean() == pytest.approx(expected, abs=0.015)
    assert fp.state(fp._b0 + 300).satellite.mean() == pytest.approx(expected, abs=0.015)


def test_reset_with_isl_failures_does_not_replay_from_the_epoch():
    """With a start-time spread of years, a reset steps no chain from the epoch (one stationary draw)."""
    cfg = load_config("small", {"links.isl_failure_rate_per_hour": 1.0, "episode.start_time_spread_s": 3e8,
                                "power.warmup_orbits": 0})
    sim = Simulator(cfg)
    sim.reset(np.random.default_rng(0))
    assert sim.network._failure_b0 == sim.network.bucket(sim.start_time_s) > 10_000
    assert sim.network._failure_bucket - sim.network._failure_b0 < 10


def test_failure_rate_only_with_faults_and_counts_in_miss_rate():
    outs = [JobOutcome.MET, JobOutcome.FAILED, JobOutcome.REJECTED, JobOutcome.MISSED]
    m = episode_metrics(outs, [1.0, 2.0], [1.0, 1.0, 1.0], 0, 0.0)
    assert "failure_rate" not in m
    assert m["deadline_miss_rate"] == pytest.approx(2 / 3)
    m = episode_metrics(outs, [1.0, 2.0], [1.0, 1.0, 1.0], 0, 0.0, faults=True)
    assert m["failure_rate"] == 0.25
    st = EpisodeStats(faults=True)
    st.record(JobOutcome.FAILED, 0.0, 5.0, False)
    assert list(st.latencies_ms) == [] and list(st.energies_j) == [5.0] and st.orbital_served == 0


def test_gym_info_reports_down_nodes_and_failed_jobs():
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401

    env = gym.make("OrbitCloud-Small-v1", max_jobs=300, **ALL_FAULTS)
    obs, info = env.reset(seed=0)
    seen = set()
    for _ in range(300):
        mask = env.unwrapped.action_masks()
        obs, r, term, trunc, info = env.step(int(np.flatnonzero(mask)[0]))
        mask = env.unwrapped.action_masks()  # all_nodes mode: row = global node; the next job's view
        assert isinstance(info["node_down_reason"], dict)
        assert not any(mask[n] for n in info["node_down_reason"])
        seen.add(info["outcome"])
        if info["outcome"] == "failed":
            assert info["rewards"]["drop"] < 0
        if trunc:
            break
    m = info["episode_metrics"]
    assert "failure_rate" in m
    assert sum(m[k] for k in ("success_rate", "rejection_rate", "drop_rate", "failure_rate")) <= 1.0 + 1e-12
    env.close()


def test_every_registered_id_has_faults_off():
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401

    ids = [k for k in gym.registry if k.startswith("OrbitCloud")]
    assert len(ids) >= 10
    for env_id in ids:
        kwargs = dict(gym.registry[env_id].kwargs)
        cfg = load_config(kwargs.pop("preset"), kwargs)
        assert not cfg.faults.enabled and cfg.links.isl_failure_rate_per_hour == 0.0, env_id


def test_isl_chain_crosses_a_long_gap_in_one_draw():
    sim = Simulator(load_config("small", {"links.isl_failure_rate_per_hour": 2.0, "links.isl_repair_time_s": 900.0,
                                          "episode.start_time_spread_s": 0.0, "power.warmup_orbits": 0}))
    sim.reset(np.random.default_rng(0))
    net = sim.network
    far = sim.start_time_s + 1e7  # 10^6 buckets ahead
    failed = net._failed_at(net.bucket(far))
    assert net._failure_gaps and len(net._failure_checkpoints) < 10
    expected = 2.0 / 3600 * 900 / (1 + 2.0 / 3600 * 900)
    assert abs(failed.mean() - expected) < 0.15
    assert np.array_equal(net._failed_at(net.bucket(far) - 5), net._failed_at(net._failure_gaps[0][0]))
