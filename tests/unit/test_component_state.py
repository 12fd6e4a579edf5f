"""Each component saves and restores its own state (get_state / set_state); Simulator.get_state composes them. A
restored component behaves exactly as it did from the saved point, and one saved state can be restored twice."""

from __future__ import annotations

import numpy as np

from orbitcloud_env.compute import ComputeNodes
from orbitcloud_env.config import FaultsConfig, WorkloadConfig, load_config
from orbitcloud_env.faults import MAX_STEP_GAP, FaultProcess
from orbitcloud_env.metrics import EpisodeStats, JobOutcome
from orbitcloud_env.power import Batteries
from orbitcloud_env.simulator import Simulator
from orbitcloud_env.workload import LookaheadWorkload, PoissonWorkload


def test_compute_queues_restore_and_replay_the_same_placements():
    n = ComputeNodes(np.array([100.0, 1000.0]), np.array([2, 5]), np.array([50.0, 500.0]))
    n.place(0, 1.0, 200.0)
    saved = n.get_state()
    after = [n.place(0, 2.0, 100.0), n.place(1, 2.0, 500.0)]
    n.advance(10.0)
    for _ in range(2):
        n.set_state(saved)
        assert n.held.tolist() == [1, 0] and n.free_at_s.tolist() == [3.0, 0.0]
        assert [n.place(0, 2.0, 100.0), n.place(1, 2.0, 500.0)] == after


def test_batteries_restore_energy_and_ledger():
    b = Batteries(2, capacity_wh=100.0, initial_soc=[0.5, 0.9])
    saved = b.get_state()
    b.draw_one(0, 3_600.0 * 10)  # 10 Wh
    assert b.energy_wh[0] < 50.0 and b.ledger.compute_wh[0] > 0
    b.set_state(saved)
    np.testing.assert_array_equal(b.energy_wh, [50.0, 90.0])
    assert b.ledger.compute_wh[0] == 0.0
    b.draw_one(0, 3_600.0)
    b.set_state(saved)  # the saved arrays were not changed by the draw after the first restore
    np.testing.assert_array_equal(b.energy_wh, [50.0, 90.0])


def test_episode_records_truncate_back_to_the_saved_point():
    st = EpisodeStats()
    st.record(JobOutcome.MET, 10.0, 1.0, False)
    before = st.metrics()
    saved = st.get_state()
    st.record(JobOutcome.MISSED, 500.0, 2.0, True)
    st.record(JobOutcome.REJECTED, 0.0, 0.0, False)
    st.episode_return -= 3.0
    st.set_state(saved)
    assert st.metrics() == before and st.n_jobs == 1


def test_fault_chains_restore_so_a_lookahead_jump_never_shows_in_the_episode():
    cfg = FaultsConfig(satellite_failure_rate_per_hour=5.0, satellite_repair_time_s=60.0)
    episode, plain = (FaultProcess(cfg, 50, 3, 4, 10.0) for _ in range(2))
    for fp in (episode, plain):
        fp.reset(np.random.default_rng(7), 1_000.0)
    b0 = episode._b0
    saved = episode.get_state()
    episode.state(b0 + 2 * MAX_STEP_GAP)  # a lookahead asks far ahead: one jump
    assert episode._gaps
    episode.set_state(saved)
    assert not episode._gaps and episode._latest == b0
    for k in range(b0, b0 + 300):  # the episode then steps, as a process that never looked ahead does
        assert np.array_equal(episode.state(k).satellite, plain.state(k).satellite)


def test_poisson_and_lookahead_workloads_replay_the_same_jobs():
    wl = PoissonWorkload(WorkloadConfig(), np.array([0.0, 90.0]), np.array([0.5, 0.5]), np.random.default_rng(1),
                         start_time_s=0.0, epoch_second_of_day_utc=0.0, batch_size=8)
    look = LookaheadWorkload(wl)
    look.next_job()
    look.peek(3)  # drawn ahead, not consumed
    saved = look.get_state()
    jobs = [look.next_job() for _ in range(40)]  # crosses several refills of the inner batch
    look.set_state(saved)
    assert [look.next_job() for _ in range(40)] == jobs


def test_simulator_state_holds_each_component_state():
    sim = Simulator(load_config("small", {"faults.satellite_failure_rate_per_hour": 1.0}))
    sim.reset(np.random.default_rng(0))
    state = sim.get_state()
    assert {"batteries", "compute", "stats", "arrival_rates", "workload", "faults", "network"} <= set(state)
    outs = [sim.place(sim.n_sat if k % 2 else None) for k in range(30)]
    sim.set_state(state)
    again = [sim.place(sim.n_sat if k % 2 else None) for k in range(30)]
    assert [(o.job, o.outcome, o.latency_ms) for o in again] == [(o.job, o.outcome, o.latency_ms) for o in outs]


def test_topology_cache_restores_its_failure_chains_and_clock_so_a_lookahead_jump_never_shows():
    links = {"links.isl_failure_rate_per_hour": 2.0}
    episode, plain = (Simulator(load_config("small", links)) for _ in range(2))
    for sim in (episode, plain):
        sim.reset(np.random.default_rng(5))
    net, dt = episode.network, episode.config.episode.topology_dt_s
    b0 = net._failure_b0
    saved = net.get_state()
    assert saved[1] == net.bucket(episode.time_s)  # the clock's bucket of the snapshot cache
    net.snapshot((b0 + 2 * MAX_STEP_GAP) * dt, current=True)  # a lookahead asks far ahead: one jump
    assert net._link_chains.gaps and net._now_bucket > saved[1]
    for _ in range(2):  # one saved state restores twice
        net.set_state(saved)
        assert not net._link_chains.gaps and net._failure_bucket == saved[0][0] and net._now_bucket == saved[1]
        assert all(k <= saved[0][0] for k in net._cache)  # the jumped bucket's snapshot is gone
    for b in range(b0, b0 + 300):  # the episode then steps, as a network that never looked ahead does
        assert np.array_equal(net._failed_at(b), plain.network._failed_at(b))


def test_topology_cache_state_without_link_failures_holds_no_chains():
    sim = Simulator(load_config("small"))
    sim.reset(np.random.default_rng(0))
    chains, now, pairs = sim.network.get_state()
    assert chains is None and now == sim.network.bucket(sim.time_s) and pairs is sim.network.pairs
