"""Faults section: fault chains, masks, failed jobs, metrics that add up, determinism, stationary start."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from orbitcloud_env.config import ConfigError, FaultsConfig, load_config
from orbitcloud_env.faults import FaultProcess
from orbitcloud_env.metrics import EpisodeStats, JobOutcome, episode_metrics
from orbitcloud_env.simulator import Outcome, Simulator

ALL_FAULTS = {"faults.satellite_failure_rate_per_hour": 1.0, "faults.payload_failure_rate_per_hour": 2.0,
              "faults.datacentre_outage_rate_per_hour": 1.0, "faults.ground_link_outage_rate_per_hour": 1.0,
              "faults.fibre_cut_rate_per_hour": 0.2, "faults.fibre_repair_time_s": 1_800.0,
              "links.isl_failure_rate_per_hour": 0.5}


def _play(sim: Simulator, seed: int, steps: int) -> list[Outcome]:
    """A masked random episode (10 % rejections) of up to ``steps`` jobs; each job's outcome."""
    sim.reset(np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 100)
    outs = []
    for _ in range(steps):
        view = sim.node_view()
        valid = np.flatnonzero(view.valid)
        down = sim.node_down_reason()
        assert not set(down) & set(valid.tolist()), "a node down by a fault must be masked out"
        node = int(rng.choice(valid)) if valid.size and rng.random() < 0.9 else None
        outs.append(sim.place(node, view))
        if sim.job is None:
            break
    return outs


def _run(sim: Simulator, seed: int, steps: int) -> list[tuple]:
    return [(out.node, out.outcome.value, out.latency_ms) for out in _play(sim, seed, steps)]


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
    chains = net._link_chains
    assert chains.gaps and len(chains._checkpoints) < 10
    expected = 2.0 / 3600 * 900 / (1 + 2.0 / 3600 * 900)
    assert abs(failed.mean() - expected) < 0.15
    assert np.array_equal(net._failed_at(net.bucket(far) - 5), net._failed_at(chains.gaps[0][0]))


# ---- faults.failed_jobs: "lost" (default) or "replace" ----

HIGH_FAULTS = {**ALL_FAULTS, "faults.satellite_failure_rate_per_hour": 20.0, "faults.satellite_repair_time_s": 60.0,
               "faults.payload_failure_rate_per_hour": 20.0, "faults.payload_repair_time_s": 60.0}


def test_failed_jobs_field_is_lost_by_default_and_checked():
    assert FaultsConfig().failed_jobs == "lost"
    assert load_config("small", {"faults.failed_jobs": "replace"}).faults.failed_jobs == "replace"
    with pytest.raises(ConfigError, match=r"faults\.failed_jobs: unknown value 'replaced'; did you mean "
                                          r"'replace'\? \(allowed: 'lost', 'replace'\)"):
        load_config("small", {"faults.failed_jobs": "replaced"})
    with pytest.raises(ConfigError, match="faults.failed_jobs: expected a string"):
        load_config("small", {"faults.failed_jobs": 1})


def test_explicit_lost_is_the_default_behaviour():
    default = Simulator(load_config("small", ALL_FAULTS))
    lost = Simulator(load_config("small", {**ALL_FAULTS, "faults.failed_jobs": "lost"}))
    assert _run(default, 5, 300) == _run(lost, 5, 300)


def _outcomes(mode: str, seed: int, steps: int) -> tuple[Simulator, list[Outcome]]:
    sim = Simulator(load_config("small", {**HIGH_FAULTS, "faults.failed_jobs": mode}))
    return sim, _play(sim, seed, steps)


def test_replace_re_places_failed_jobs_on_data_centres_and_outcomes_add_up():
    _, lost = _outcomes("lost", 0, 600)
    sim, replaced = _outcomes("replace", 0, 600)
    n_lost = sum(o.outcome is JobOutcome.FAILED for o in lost)
    moved = [o for o in replaced if o.replaced_from >= 0]
    assert n_lost > 10 and moved, "rates this high make nodes fail under jobs"
    assert sum(o.outcome is JobOutcome.FAILED for o in replaced) < n_lost
    m = sim.stats.metrics()
    counts = {v: sum(o.outcome is v for o in replaced) for v in JobOutcome}
    assert sum(counts.values()) == m["n_jobs"] == 600
    assert m["failure_rate"] == counts[JobOutcome.FAILED] / 600
    assert m["replaced_rate"] == sum(o.outcome is not JobOutcome.FAILED for o in moved) / 600 > 0
    for o in moved:
        assert o.node >= sim.n_sat and o.node != o.replaced_from  # ended on another node, a data centre
        if o.outcome.served:  # the time spent on the failed node counts: latency from the job's arrival
            b = o.breakdown
            assert o.latency_ms == b.total_ms == pytest.approx(b.uplink_ms + b.isl_ms + b.transfer_ms + b.queue_ms
                                                               + b.compute_ms + b.return_ms)
            assert b.queue_ms >= 0.0 and o.energy_j > 0.0
    _, again = _outcomes("replace", 0, 600)
    assert [(o.node, o.outcome, o.latency_ms, o.energy_j, o.replaced_from) for o in replaced] == \
        [(o.node, o.outcome, o.latency_ms, o.energy_j, o.replaced_from) for o in again]


def test_replace_charges_the_partial_run_on_the_failed_satellite_and_the_new_run():
    sim = Simulator(load_config("small", {**HIGH_FAULTS, "faults.failed_jobs": "replace"}))
    drawn = []
    sim.reset(np.random.default_rng(1))
    draw_one = sim.batteries.draw_one
    sim.batteries.draw_one = lambda node, energy_j: (drawn.append(energy_j), draw_one(node, energy_j))
    rng = np.random.default_rng(3)
    shares = []  # drawn / full energy of the jobs whose satellite failed under them
    for _ in range(400):
        view = sim.node_view()
        sats = np.flatnonzero(view.valid[: sim.n_sat])
        if not sats.size:
            sim.place(None, view)
            continue
        node = int(rng.choice(sats))
        out = sim.place(node, view)
        full_j = out.job.work_gflop * sim.compute.seconds_per_gflop[node] * sim.compute.server_power_w[node]
        assert drawn[-1] <= full_j * (1 + 1e-9)  # the satellite's battery gives at most the full run
        if out.replaced_from == node and out.outcome.served:
            assert out.energy_j > drawn[-1]  # plus the run on the data centre
            shares.append(drawn[-1] / full_j)
        else:
            assert out.energy_j == drawn[-1]
    assert shares and min(shares) < 0.999  # failed before the end: only the part computed is charged


def test_replaced_jobs_in_gym_info_and_metrics():
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401

    env = gym.make("OrbitCloud-Small-v1", max_jobs=300, **HIGH_FAULTS, failed_jobs="replace")
    env.reset(seed=0)
    n_replaced = 0
    for _ in range(300):
        obs, r, term, trunc, info = env.step(int(np.flatnonzero(env.unwrapped.action_masks())[0]))
        n_replaced += info["replaced_from"] >= 0 and info["outcome"] != "failed"
        if info["replaced_from"] >= 0:
            assert info["is_ground"]
        if trunc:
            break
    assert info["episode_metrics"]["replaced_rate"] == n_replaced / 300
    env.close()


def test_fault_kinds_are_records_and_reasons_are_int_enums():
    from orbitcloud_env.faults import FAULT_KINDS, NODE_DOWN_REASONS, FaultState, NodeDownReason
    from orbitcloud_env.network import FAULT_REASONS, SatelliteFault, satellite_faults

    assert [k.name for k in FaultsConfig.KINDS] == list(FAULT_KINDS) == [f.name for f in
                                                                        dataclasses.fields(FaultState)]
    cfg = FaultsConfig()
    assert all(hasattr(cfg, k.rate_field) and hasattr(cfg, k.repair_field) for k in FaultsConfig.KINDS)
    assert [r.text for r in NodeDownReason] == list(NODE_DOWN_REASONS)
    assert [r.text for r in SatelliteFault] == list(FAULT_REASONS)
    state = FaultState(satellite=np.array([True, False, False]), payload=np.array([True, True, False]),
                       datacentre=np.array([False, True]), ground_link=np.zeros(1, bool), fibre=np.zeros((1, 2), bool))
    assert [NodeDownReason(c) for c in state.node_reason()] == [
        NodeDownReason.SATELLITE_FAILURE, NodeDownReason.PAYLOAD_FAILURE, NodeDownReason.UP, NodeDownReason.UP,
        NodeDownReason.DATACENTRE_OUTAGE]
    pos = np.array([[7_000.0, 0, 0], [7_000.0, 0, 0], [60_000.0, 0, 0]])
    vel = np.array([[0, 7.5, 0], [0, 7.5, 0], [0, 7.5, 0]])
    codes = satellite_faults(pos, vel, np.array([True, False, True]), np.array([True, True, True]))
    assert [SatelliteFault(c) for c in codes] == [SatelliteFault.OK, SatelliteFault.SGP4_ERROR,
                                                  SatelliteFault.ALTITUDE]


def test_links_and_nodes_share_one_failure_chain_class():
    """Network's ISL failures and FaultProcess run on faults.TwoStateChains: the same seed, rates and queries give
    the same states (the per-bucket streams and the stationary start are one implementation)."""
    from orbitcloud_env.faults import TwoStateChains

    sim = Simulator(load_config("small", {"links.isl_failure_rate_per_hour": 30.0, "links.isl_repair_time_s": 300.0,
                                          "power.warmup_orbits": 0}))
    sim.reset(np.random.default_rng(4))
    net = sim.network
    assert isinstance(net._link_chains, TwoStateChains) and isinstance(FaultProcess(
        FaultsConfig(), 3, 1, 1, 10.0)._chains, TwoStateChains)
    lf, n = net.failures, net.failures.n_links
    p_fail, p_repair = lf.step_probabilities(net.topology_dt_s)
    twin = TwoStateChains(np.full(n, p_fail), np.full(n, p_repair))
    twin.reset(net._failure_seed, net._failure_b0)
    b0 = net._failure_b0
    for b in (b0, b0 + 3, b0 + 40, b0 + 5_000, b0 + 5_010, b0 + 20):
        assert np.array_equal(net._failed_at(b), twin.down(b))
    assert 0 < twin.down(b0 + 40).mean() < 1  # stationary share 30/h * 300 s: 2.5 / 3.5 = 0.71
