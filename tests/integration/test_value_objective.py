"""The v2 ids (value objective): rewards from the one reward function, per-class value metrics that add up, the v2
observation groups, the upper bound, evaluation's per-class columns, and v1 left as it was."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import agents
import orbitcloud_env  # noqa: F401  (registers the ids)
from agents.episode_metrics import EpisodeRecorder
from orbitcloud_env.bounds import episode_upper_bound
from orbitcloud_env.metrics import METRIC_KEYS, VALUE_METRIC_KEYS
from orbitcloud_env.observation import VALUE_SCALE
from orbitcloud_env.reward import reward_terms, total

V2_IDS = ["OrbitCloud-v2", "OrbitCloud-Small-v2", "OrbitCloud-Kuiper-v2"]


def _rollout(env, seed: int, policy: str = "earliest-finish"):
    pol = agents.make_policy(policy, env=env, seed=seed)
    obs, _ = env.reset(seed=seed)
    steps = []
    while True:
        job = env.unwrapped.sim.job
        action = int(pol.predict(obs, action_masks=env.unwrapped.action_masks())[0])
        before = obs
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((before, job, reward, info))
        if terminated or truncated:
            return steps


@pytest.mark.parametrize("env_id", V2_IDS)
def test_v2_ids_use_the_value_objective_and_add_the_v2_groups(env_id):
    v1_id = env_id.replace("-v2", "-v1")
    v2, v1 = gym.make(env_id), gym.make(v1_id)
    cfg = v2.unwrapped.config
    assert cfg.reward.objective == "value" and cfg.reward.sla_penalty_fraction == 0.25
    assert v1.unwrapped.config.reward.objective == "count"
    # Same scenario otherwise (constellation, compute, action mode); the job vector gains value, trend, long rate.
    assert cfg.constellation == v1.unwrapped.config.constellation and cfg.compute == v1.unwrapped.config.compute
    assert v2.action_space == v1.action_space
    assert set(v2.observation_space.spaces) == set(v1.observation_space.spaces)
    assert v2.observation_space["job"].shape[0] == v1.observation_space["job"].shape[0] + 3


def test_v2_rewards_are_the_reward_function_of_each_job_and_the_metrics_add_up():
    env = gym.make("OrbitCloud-Small-v2", max_jobs=250)
    w = env.unwrapped.config.reward
    steps = _rollout(env, seed=3)
    names = env.unwrapped.sim.job_class_names
    earned = {n: 0.0 for n in names}
    forfeited = {n: 0.0 for n in names}
    counts = {n: [0, 0, 0] for n in names}
    for obs, job, reward, info in steps:
        value = info["job_value"]
        cls = names[job.job_class]
        price = env.unwrapped.config.workload.job_classes[job.job_class].price_per_gflop
        assert value == pytest.approx(price * job.work_gflop) and info["job_class"] == cls
        # The job feature: log10(1 + value) / log10(1 + VALUE_SCALE), clipped at 1.
        job_value_feature = obs["job"][-3]
        assert job_value_feature == pytest.approx(min(math.log10(1 + value) / math.log10(1 + VALUE_SCALE), 1.0),
                                                  abs=1e-6)
        o = info["outcome"]
        terms = reward_terms(w, served=o in ("met", "missed"), missed=o == "missed",
                             lost=o in ("dropped", "failed"), rejected=o == "rejected",
                             invalid=bool(info["invalid_action"]), latency_ratio=info["latency_ms"] / info["deadline_ms"],
                             energy_j=0.0, value=value)  # v2's energy weight is 0, as v1's
        assert info["rewards"] == pytest.approx(terms) and reward == pytest.approx(total(terms))
        k = 0 if o == "met" else (2 if o == "rejected" else 1)
        counts[cls][k] += 1
        earned[cls] += value if o == "met" else 0.0
        forfeited[cls] += value if k == 1 else 0.0
    m = steps[-1][3]["episode_metrics"]
    assert set(VALUE_METRIC_KEYS) <= set(m)
    for n in names:
        assert m[f"value_earned.{n}"] == pytest.approx(earned[n])
        assert m[f"value_forfeited.{n}"] == pytest.approx(forfeited[n])
        assert m[f"sla_paid.{n}"] == pytest.approx(0.25 * forfeited[n])
        assert [m[f"met.{n}"], m[f"late.{n}"], m[f"rejected.{n}"]] == counts[n]
    assert sum(counts[n][k] for n in names for k in range(3)) == m["n_jobs"] == len(steps)
    assert m["value_offered"] == pytest.approx(m["value_earned"] + m["value_forfeited"] + m["value_rejected"])
    latency = sum(info["rewards"]["latency"] for *_, info in steps)
    assert m["episode_return"] == pytest.approx(m["value_earned"] - m["sla_paid"] + latency)
    assert 0.0 < m["value_earned_share"] <= 1.0


def test_v2_trend_features_are_bounded_and_steady_at_the_start():
    env = gym.make("OrbitCloud-v2", max_jobs=400)
    steps = _rollout(env, seed=1)
    trend = np.array([obs["job"][-2] for obs, *_ in steps])
    long_rate = np.array([obs["job"][-1] for obs, *_ in steps])
    assert np.all(np.abs(trend) <= 1.0) and np.all((long_rate >= 0) & (long_rate <= 1))
    # Both windows are corrected for the time they have filled: no systematic warm-up trend in the first minute.
    assert abs(float(np.median(trend[20:200]))) < 0.3


def test_v1_metrics_and_info_carry_no_value_keys():
    env = gym.make("OrbitCloud-Small-v1", max_jobs=40)
    steps = _rollout(env, seed=0)
    assert tuple(steps[-1][3]["episode_metrics"]) == METRIC_KEYS
    assert all("job_value" not in info and set(info["rewards"]) == {"latency", "miss", "drop", "rejection",
                                                                     "invalid_action", "energy"}
               for *_, info in steps)


def test_bound_is_never_below_a_policy_under_the_value_objective():
    env = gym.make("OrbitCloud-Small-v2", max_jobs=150)
    bound = episode_upper_bound(env, 2)
    for name in ("random", "earliest-finish", "earliest-finish-admit"):
        ret = sum(r for *_, r, _ in _rollout(env, seed=2, policy=name))
        assert bound >= ret - 1e-9, (name, bound, ret)


def test_evaluation_reports_the_per_class_value_the_env_reports():
    env = gym.make("OrbitCloud-Small-v2", max_jobs=120)
    steps = _rollout(env, seed=4, policy="earliest-finish-admit")
    rec = EpisodeRecorder()
    for *_, reward, info in steps:
        rec.add(reward, info)
    metrics = rec.metrics()[0]
    env_metrics = steps[-1][3]["episode_metrics"]
    value_keys = [k for k in env_metrics if k in VALUE_METRIC_KEYS or "." in k]
    assert value_keys and {k: metrics[k] for k in value_keys} == {k: env_metrics[k] for k in value_keys}
    assert metrics["episode_return"] == pytest.approx(env_metrics["episode_return"])


def test_objective_check_prints_a_table_per_regime(capsys):
    from benchmarks.objective_check import main

    main(["--env", "OrbitCloud-Small-v2", "--seeds", "0", "--max-time-s", "4", "--thresholds", "0.2"])
    out = capsys.readouterr().out
    for name in ("admit-all", "earliest-finish-admit", "shed-batch", "class-threshold-0.2"):
        assert name in out
    assert "rules within 5 % of the best on every regime:" in out
    with pytest.raises(SystemExit, match="does not use the value objective"):
        main(["--env", "OrbitCloud-Small-v1", "--seeds", "0", "--max-time-s", "4"])
