"""OrbitCloud v1 as a benchmark (issue: a benchmark where learning pays): decision rules of the new heuristics,
the lookahead reference policy, the upper bound, orbit-scale episodes, state save/restore, v0 kept as it was."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import agents
import orbitcloud_env  # noqa: F401  (registers the ids)
from agents.heuristics import EarliestFinishAdmitPolicy, SlackAwarePolicy
from orbitcloud_env.bounds import episode_upper_bound

warnings.filterwarnings("ignore", message=".*is out of date.*")


def _obs(finish_latency, ground=None, valid=None, deadline_ms=150.0):
    """A hand-built candidates observation: node_latency carries the estimated finish (wait, compute 0)."""
    lat = np.asarray(finish_latency, dtype=np.float32)
    m = lat.size
    job = np.zeros(11, dtype=np.float32)
    job[3] = np.log10(deadline_ms) / 7.0
    return {
        "node_latency": lat, "node_wait": np.zeros(m, np.float32), "node_compute": np.zeros(m, np.float32),
        "node_valid": np.ones(m, np.float32) if valid is None else np.asarray(valid, np.float32),
        "node_is_ground": np.zeros(m, np.float32) if ground is None else np.asarray(ground, np.float32),
        "node_queue": np.zeros(m, np.float32), "node_soc": np.ones(m, np.float32),
        "node_sunlit": np.ones(m, np.float32), "node_sunlit_soon": np.ones(m, np.float32), "job": job,
    }


def test_earliest_finish_admit_places_on_time_and_rejects_late():
    policy = EarliestFinishAdmitPolicy()
    assert int(policy.predict(_obs([0.9, 0.4, 0.7]))[0]) == 1
    assert int(policy.predict(_obs([1.3, 1.1, 2.0]))[0]) == 3  # every node late: reject (action M)
    assert int(policy.predict(_obs([0.2, 1.5], valid=[0, 1]))[0]) == 2  # the only valid node is late
    batch = {k: np.stack([v, v * 4.0]) if k.startswith("node_lat") else np.stack([v, v])
             for k, v in _obs([0.3, 0.5]).items()}
    assert agents.make_policy("earliest-finish-admit").predict(batch)[0].tolist() == [0, 2]


def test_slack_aware_sends_tolerant_work_to_orbit_and_tight_work_to_the_earliest_finish():
    policy = SlackAwarePolicy()
    # Row 0 a data centre finishing first; rows 1-2 satellites, row 2 within the 0.5-deadline margin.
    finish, ground = [0.1, 0.7, 0.3], [1, 0, 0]
    assert int(policy.predict(_obs(finish, ground, deadline_ms=300_000.0))[0]) == 2  # tolerant: orbit
    assert int(policy.predict(_obs(finish, ground, deadline_ms=150.0))[0]) == 0  # tight: earliest finish
    # Tolerant, but no satellite meets the margin: earliest finish overall.
    assert int(policy.predict(_obs([0.1, 0.7, 0.6], ground, deadline_ms=300_000.0))[0]) == 0


@pytest.mark.slow
def test_default_episode_spans_orbit_scale_time_with_bounded_decisions():
    env = gym.make("OrbitCloud-v1")
    policy = agents.make_policy("earliest-finish-admit")
    obs, _ = env.reset(seed=5)
    steps, done = 0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(int(policy.predict(obs)[0]))
        steps += 1
        done = terminated or truncated
    m = info["episode_metrics"]
    assert m["elapsed_s"] >= 600.0
    assert m["n_jobs"] == steps <= env.unwrapped.config.episode.max_jobs
    assert steps <= 8_000


def _immediate_reward(env, action: int) -> float:
    saved = env.unwrapped.get_state()
    _, reward, _, _, _ = env.unwrapped.step(action)
    env.unwrapped.set_state(saved)
    return float(reward)


def test_state_restore_replays_the_same_step():
    env = gym.make("OrbitCloud-Small-v1", max_jobs=200)
    obs, _ = env.reset(seed=3)
    for _ in range(20):
        obs, *_ = env.step(int(EarliestFinishAdmitPolicy().predict(obs)[0]))
    base = env.unwrapped
    saved = base.get_state()
    first = base.step(int(np.flatnonzero(base.action_masks())[0]))
    for a in (base.action_space.n - 1, 0):  # wander off, then come back
        base.step(a)
    base.set_state(saved)
    again = base.step(int(np.flatnonzero(base.action_masks())[0]))
    assert first[1] == again[1] and first[4]["outcome"] == again[4]["outcome"]
    for k in first[0]:
        np.testing.assert_array_equal(first[0][k], again[0][k])


def test_lookahead_with_horizon_zero_picks_the_best_immediate_reward():
    from agents.lookahead import LookaheadPolicy

    env = gym.make("OrbitCloud-Small-v1", max_jobs=200)
    policy = LookaheadPolicy(env=env, n_candidates=4, horizon=0)
    obs, _ = env.reset(seed=1)
    for _ in range(30):
        valid = obs["node_valid"] > 0.5
        finish = np.where(valid, obs["node_latency"] + obs["node_wait"] + obs["node_compute"], np.inf)
        cands = [int(a) for a in np.argsort(finish, kind="stable")[:4] if np.isfinite(finish[a])]
        cands.append(int(env.action_space.n) - 1)
        rewards = {a: _immediate_reward(env, a) for a in cands}
        action = int(policy.predict(obs)[0])
        assert rewards[action] == max(rewards.values())
        obs, *_ = env.step(action)


@pytest.mark.slow
def test_lookahead_does_not_change_the_episode_it_plans_in():
    """Paired seeds hold: planning (save, try, restore) leaves the job stream of the episode unchanged."""
    def jobs(policy_name):
        env = gym.make("OrbitCloud-Small-v1", max_jobs=120)
        policy = agents.make_policy(policy_name, env=env, seed=0)
        obs, _ = env.reset(seed=4)
        out, done = [], False
        while not done:
            obs, _, terminated, truncated, info = env.step(int(policy.predict(obs)[0]))
            out.append((info["job_id"], info["site"], info["time_s"], info["job_class"]))
            done = terminated or truncated
        return out

    assert jobs("lookahead") == jobs("earliest-finish")


#: Faults high enough that nodes fail under jobs within a few dozen decisions (docs/faults.md).
_FAULTS = {"faults.satellite_failure_rate_per_hour": 20.0, "faults.satellite_repair_time_s": 60.0,
           "faults.payload_failure_rate_per_hour": 20.0, "faults.payload_repair_time_s": 60.0,
           "faults.datacentre_outage_rate_per_hour": 5.0, "faults.ground_link_outage_rate_per_hour": 1.0,
           "faults.fibre_cut_rate_per_hour": 0.5, "faults.fibre_repair_time_s": 600.0,
           "links.isl_failure_rate_per_hour": 0.5}


def _info_key(info: dict) -> str:
    import json

    return json.dumps(info, sort_keys=True, default=lambda v: np.asarray(v).tolist())


@pytest.mark.parametrize("mode", ["lost", "replace"])
def test_lookahead_with_faults_restores_the_episode_and_repeats(mode):
    """With faults on, planning (save, try, restore) leaves no trace: a twin env playing the same actions without
    planning sees the same steps (metrics included); and the same seed gives the same planned episode."""
    from agents.lookahead import LookaheadPolicy

    tried = []  # (outcome, replaced_from) of every step the env took, rollouts included

    def play():
        env, twin = (gym.make("OrbitCloud-Small-v1", max_jobs=60, failed_jobs=mode, **_FAULTS) for _ in range(2))
        base, step = env.unwrapped, env.unwrapped.step

        def recorded_step(action):
            out = step(action)
            tried.append((out[4]["outcome"], out[4]["replaced_from"]))
            return out

        base.step = recorded_step  # the policy steps the unwrapped env
        policy = LookaheadPolicy(env=env, n_candidates=3, horizon=4)
        obs, _ = env.reset(seed=2)
        twin.reset(seed=2)
        steps, done = [], False
        while not done:
            action = int(policy.predict(obs)[0])
            obs, reward, terminated, truncated, info = env.step(action)
            obs2, reward2, _, _, info2 = twin.step(action)
            assert reward == reward2 and _info_key(info) == _info_key(info2)
            for k in obs:
                np.testing.assert_array_equal(obs[k], obs2[k])
            steps.append((action, reward, info["outcome"], info["replaced_from"]))
            done = terminated or truncated
        return steps, info["episode_metrics"]

    steps, metrics = play()
    assert play() == (steps, metrics)
    # Nodes failed under jobs in the rollouts (which the restore must undo), lost or re-placed as configured.
    if mode == "lost":
        assert any(o == "failed" for o, _ in tried) and all(r < 0 for _, r in tried)
    else:
        assert any(r >= 0 for _, r in tried)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["OrbitCloud-Small-v1", "OrbitCloud-Small-v0"])
def test_bound_is_never_below_any_policy_on_the_same_seed(env_id):
    env = gym.make(env_id, max_jobs=250)
    for seed in (0, 1):
        bound = episode_upper_bound(env, seed)
        for name in ("random", "earliest-finish", "earliest-finish-admit", "slack-aware", "lookahead"):
            policy = agents.make_policy(name, env=env, seed=seed)
            obs, _ = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(int(policy.predict(obs)[0]))
                total += reward
                done = terminated or truncated
            assert bound >= total - 1e-9, (env_id, seed, name, bound, total)


def test_v0_ids_keep_the_first_release_spaces_and_v1_adds_the_groups():
    v0 = gym.make("OrbitCloud-v0").observation_space
    v1 = gym.make("OrbitCloud-v1").observation_space
    base = {"node_x", "node_y", "node_z", "node_sunlit", "node_soc", "node_sunlit_soon", "node_isl_up",
            "node_direct", "node_queue", "node_is_ground", "node_valid", "node_wait", "node_latency",
            "node_compute", "job"}
    assert set(v0.spaces) == base and v0["job"].shape == (11,)
    assert set(v1.spaces) == base | {"node_backlog", "node_utilisation", "node_light_change", "node_view_left",
                                     "node_finish", "node_rank"}
    assert v1["job"].shape == (11 + 3,)


def test_v1_candidates_list_two_data_centres():
    env = gym.make("OrbitCloud-v1")
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        ground_valid = (obs["node_is_ground"] > 0.5) & (obs["node_valid"] > 0.5)
        assert ground_valid.sum() >= 2
        obs, *_ = env.step(int(EarliestFinishAdmitPolicy().predict(obs)[0]))


def test_shipped_model_loads_and_plays_a_masked_episode():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "models" / "OrbitCloud-v1" / "maskable_ppo.zip"
    env = gym.make("OrbitCloud-v1", max_jobs=150)
    policy = agents.make_policy(str(path), env=env)
    obs, _ = env.reset(seed=1000)
    total, done, steps = 0.0, False, 0
    while not done:
        mask = env.unwrapped.action_masks()
        action = int(np.asarray(policy.predict(obs, action_masks=mask, deterministic=True)[0]))
        assert mask[action]
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
        done = terminated or truncated
    assert steps == 150 and np.isfinite(total) and not info["invalid_action"]
