"""Baselines tuned like the learner (issue 20, part B): tuned-admit, the tuning script's seed ranges, the time-horizon
lookahead and the capacity-aware bound."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import agents
import orbitcloud_env  # noqa: F401 - registers the ids
from agents.acting.lookahead import AdmissionLookaheadPolicy, LookaheadPolicy
from agents.heuristics import EarliestFinishAdmitPolicy, TunedAdmitPolicy, load_tuned_params, tuned_params_path
from agents.seeds import TEST, TRAINING, TUNING, check_tuning_seeds, parse_seed_range
from orbitcloud_env.bounds import episode_capacity_bound, episode_upper_bound
from orbitcloud_env.observation import N_JOB_BASE_FEATURES

CLASSES = ("interactive", "video", "batch")


def _random_obs(rng: np.random.Generator, batch: int = 64, m: int = 6) -> dict[str, np.ndarray]:
    """A batch of observations with the heuristics' keys, ties included (values on a coarse grid)."""
    f32 = np.float32
    obs = {k: rng.integers(0, 8, (batch, m)).astype(f32) / 4 for k in ("node_latency", "node_wait", "node_compute")}
    obs["node_valid"] = (rng.random((batch, m)) < 0.7).astype(f32)
    obs["node_is_ground"] = (rng.random((batch, m)) < 0.3).astype(f32)
    obs["node_soc"] = np.where(obs["node_is_ground"] > 0, 1.0, rng.random((batch, m))).astype(f32)
    for k in ("node_queue", "node_sunlit", "node_sunlit_soon"):
        obs[k] = rng.random((batch, m)).astype(f32)
    obs["node_backlog"] = rng.random((batch, m)).astype(f32) * 2
    job = np.zeros((batch, N_JOB_BASE_FEATURES + len(CLASSES) + 3), f32)
    job[np.arange(batch), N_JOB_BASE_FEATURES + rng.integers(0, len(CLASSES), batch)] = 1.0
    obs["job"] = job
    return obs


def _batch_class(obs, c: int) -> dict[str, np.ndarray]:
    out = dict(obs)
    job = obs["job"].copy()
    job[:, N_JOB_BASE_FEATURES:N_JOB_BASE_FEATURES + len(CLASSES)] = 0.0
    job[:, N_JOB_BASE_FEATURES + c] = 1.0
    out["job"] = job
    return out


def test_job_class_offset_matches_the_observation():
    from agents import heuristics

    assert heuristics._JOB_CLASS_START == N_JOB_BASE_FEATURES


def test_neutral_tuned_admit_equals_earliest_finish_admit_on_random_observations():
    rng = np.random.default_rng(0)
    neutral = TunedAdmitPolicy(env_id="", classes=CLASSES,
                               params={"admit_threshold": {c: 1.0 for c in CLASSES}, "ground_bias": 0.0,
                                       "battery_reserve": 0.0, "backlog_cap": None})
    efa = EarliestFinishAdmitPolicy()
    for _ in range(20):
        obs = _random_obs(rng)
        masks = rng.random((64, 7)) < 0.9
        assert neutral.predict(obs)[0].tolist() == efa.predict(obs)[0].tolist()
        assert neutral.predict(obs, action_masks=masks)[0].tolist() == efa.predict(obs, action_masks=masks)[0].tolist()


def test_neutral_tuned_admit_equals_earliest_finish_admit_action_for_action_on_v1():
    """Every decision of a v1 episode (cut to 300 jobs) along earliest-finish-admit's own trajectory."""
    env = gym.make("OrbitCloud-v1", max_jobs=300)
    neutral = TunedAdmitPolicy(env=env, env_id="", params={"admit_threshold": 1.0})
    efa = EarliestFinishAdmitPolicy()
    obs, _ = env.reset(seed=2000)
    actions, done = [], False
    while not done:
        masks = env.unwrapped.action_masks()
        a = int(efa.predict(obs, action_masks=masks)[0])
        assert int(neutral.predict(obs, action_masks=masks)[0]) == a
        actions.append(a)
        obs, _, terminated, truncated, _ = env.step(a)
        done = terminated or truncated
    assert len(actions) == 300 and actions.count(16) < 300  # both placed and rejected jobs were compared
    env.close()


def test_tuned_admit_rules():
    rng = np.random.default_rng(1)
    obs = _random_obs(rng, batch=1, m=4)
    obs.update(node_valid=np.ones((1, 4), np.float32), node_latency=np.array([[0.1, 0.2, 0.3, 0.4]], np.float32),
               node_wait=np.zeros((1, 4), np.float32), node_compute=np.zeros((1, 4), np.float32),
               node_is_ground=np.array([[0, 0, 1, 1]], np.float32), node_soc=np.array([[0.1, 0.9, 1, 1]], np.float32))
    batch = _batch_class(obs, 2)
    # a per-class threshold: batch rejected when nothing finishes within 0.05 deadlines, interactive not
    rule = TunedAdmitPolicy(env_id="", classes=CLASSES, admit_threshold={"batch": 0.05})
    assert int(rule.predict(batch)[0][0]) == 4
    assert int(rule.predict(_batch_class(obs, 0))[0][0]) == 0
    # a battery reserve skips the satellite at 10 % charge
    assert int(TunedAdmitPolicy(env_id="", classes=CLASSES, battery_reserve=0.5).predict(batch)[0][0]) == 1
    # a ground preference for batch only
    ground = TunedAdmitPolicy(env_id="", classes=CLASSES, ground_bias={"batch": -0.25})
    assert int(ground.predict(batch)[0][0]) == 2 and int(ground.predict(_batch_class(obs, 0))[0][0]) == 0
    # a backlog cap
    capped = dict(batch, node_backlog=np.array([[3.0, 3.0, 0.1, 3.0]], np.float32))
    assert int(TunedAdmitPolicy(env_id="", classes=CLASSES, backlog_cap=1.0).predict(capped)[0][0]) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"admit_threshold": 0.0}, "admit_threshold.*> 0"),
    ({"admit_threshold": {"bach": 0.5}}, "unknown job class 'bach'"),
    ({"ground_bias": float("nan")}, "ground_bias.*finite"),
    ({"battery_reserve": 1.5}, r"battery_reserve.*\[0, 1\]"),
    ({"admit_treshold": 1.0}, "unknown parameter 'admit_treshold'"),
])
def test_tuned_admit_bad_parameters_are_one_line_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        TunedAdmitPolicy(env_id="", classes=CLASSES, **kwargs)
    assert "\n" not in str(info.value)


def test_shipped_v1_parameters_are_loaded_by_the_registry():
    data = load_tuned_params("OrbitCloud-v1")
    assert data is not None and data["env_id"] == "OrbitCloud-v1" and data["classes"] == list(CLASSES)
    assert set(data["tuning"]["seeds"]) <= set(TUNING) | set(TRAINING)  # never tuned on test seeds
    env = gym.make("OrbitCloud-v1", max_jobs=5)
    policy = agents.make_policy("tuned-admit", env=env)
    assert isinstance(policy, TunedAdmitPolicy) and policy.source == tuned_params_path("OrbitCloud-v1").name
    assert policy.as_params()["admit_threshold"] == pytest.approx(data["params"]["admit_threshold"])
    # constructor keywords override the file
    assert TunedAdmitPolicy(env=env, battery_reserve=0.0).battery_reserve == 0.0
    env.close()


def test_an_id_without_tuning_warns_and_uses_the_neutral_parameters():
    env = gym.make("OrbitCloud-Small-v0", max_jobs=5)
    with pytest.warns(UserWarning, match="no tuned parameters for OrbitCloud-Small-v0"):
        policy = agents.make_policy("tuned-admit", env=env)
    assert np.all(policy.admit_threshold == 1.0) and np.all(policy.ground_bias == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agents.make_policy("tuned-admit")  # no env, no id: the neutral parameters, silently
    env.close()


# ----------------------------------------------------------------------------------------------------------------
# Seed ranges and the tuning script

def test_seed_ranges_are_disjoint():
    assert not set(TRAINING) & set(TEST) and not set(TUNING) & set(TEST) and not set(TRAINING) & set(TUNING)
    assert 1000 in TEST and 1019 in TEST  # the README's evaluation seeds


def test_seed_parsing_and_checks():
    assert parse_seed_range("2000-2003") == [2000, 2001, 2002, 2003]
    assert parse_seed_range("5,7") == [5, 7]
    with pytest.raises(ValueError, match="expected A-B"):
        parse_seed_range("2003-2000")
    with pytest.raises(ValueError, match="test seed"):
        check_tuning_seeds([2000, 1005])
    with pytest.raises(ValueError, match="outside the tuning range"):
        check_tuning_seeds([5000])
    assert check_tuning_seeds([0, 2999]) == [0, 2999]


def test_tuning_script_refuses_test_seeds(capsys, tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "tune_heuristics.py"
    spec = importlib.util.spec_from_file_location("tune_heuristics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "x.json"
    assert module.main(["--env", "OrbitCloud-v1", "--seeds", "1000-1005", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1000 is a test seed" in err and "2000-2999" in err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------------------
# Lookahead with a time horizon

def test_registered_lookahead_keeps_its_job_horizon():
    env = gym.make("OrbitCloud-v1", max_jobs=5)
    short = agents.make_policy("lookahead", env=env)
    long = agents.make_policy("lookahead-long", env=env)
    assert (short.horizon, short.horizon_s) == (8, None)
    assert (long.horizon, long.horizon_s) == (None, 60.0)
    with pytest.raises(ValueError, match="horizon_s"):
        LookaheadPolicy(env=env, horizon_s=-1.0)
    env.close()


def _lookahead_actions(seed: int, n: int) -> list[int]:
    env = gym.make("OrbitCloud-v1", max_jobs=10_000)
    policy = agents.make_policy("lookahead-long", env=env)
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(n):
        a = int(policy.predict(obs)[0])
        out.append(a)
        obs, *_ = env.step(a)
    env.close()
    return out


def test_time_horizon_lookahead_runs_and_is_deterministic():
    first = _lookahead_actions(2001, 12)
    assert first == _lookahead_actions(2001, 12)
    assert all(0 <= a <= 16 for a in first)


def test_admission_lookahead_plans_only_batch_admission_and_leaves_the_episode_unchanged():
    """lookahead-admit: on a batch job it takes tuned-admit's decision or the one alternative (reject <-> place at
    the earliest-finishing row), both with their rollout values; on other jobs tuned-admit's action, no rollout;
    planning leaves the episode exactly as it was (the next step's outcome equals an unplanned env's)."""
    env = gym.make("OrbitCloud-v2", max_time_s=60.0)
    twin = gym.make("OrbitCloud-v2", max_time_s=60.0)
    registered = agents.make_policy("lookahead-admit", env=env)
    assert registered.classes == ("batch",) and registered.horizon_s == 60.0
    planner = AdmissionLookaheadPolicy(env=env, horizon_s=3.0)  # short rollouts: a quick test
    tuned = TunedAdmitPolicy(env=env)
    efa = EarliestFinishAdmitPolicy()
    obs, _ = env.reset(seed=2010)
    twin_obs, _ = twin.reset(seed=2010)
    batch = list(env.unwrapped.sim.job_class_names).index("batch")
    n_rows, planned = obs["node_valid"].shape[0], 0
    for _ in range(150):
        mask = env.unwrapped.action_masks()
        a = int(planner.predict(obs, action_masks=mask)[0])
        base = int(tuned.predict(obs, action_masks=mask)[0])
        if env.unwrapped.sim.job.job_class == batch and planner.last_values:
            alternative = n_rows if base < n_rows else int(efa.predict(obs, action_masks=mask)[0])
            assert set(planner.last_values) == {base, alternative} and a in (base, alternative)
            assert a == max(planner.last_values, key=lambda k: (planner.last_values[k], k == base))
            planned += 1
        else:
            assert a == base and not planner.last_values
        obs, r, term, trunc, _ = env.step(a)
        twin_obs, twin_r, *_ = twin.step(a)
        assert r == twin_r and all(np.array_equal(obs[k], twin_obs[k]) for k in obs)
        if term or trunc:
            break
    assert planned > 0
    with pytest.raises(ValueError, match="classes"):
        AdmissionLookaheadPolicy(env=env, classes=("bulk",))
    assert AdmissionLookaheadPolicy(env=env, classes="video").classes == ("video",)
    env.close()
    twin.close()


def test_admission_lookahead_on_resampled_futures_leaves_the_episode_unchanged():
    """lookahead-admit with n_futures: the value of each choice is the mean over resampled futures (not the
    episode's own, so the values differ from the realised-future planner's), the episode is left exactly as it was,
    and the same seed gives the same values; bad n_futures are refused."""
    env = gym.make("OrbitCloud-v2", max_time_s=60.0)
    twin = gym.make("OrbitCloud-v2", max_time_s=60.0)
    sampled = AdmissionLookaheadPolicy(env=env, horizon_s=3.0, n_futures=2, seed=4)
    again = AdmissionLookaheadPolicy(env=env, horizon_s=3.0, n_futures=2, seed=4)
    own = AdmissionLookaheadPolicy(env=env, horizon_s=3.0)
    obs, _ = env.reset(seed=2011)
    twin.reset(seed=2011)
    differs = planned = 0
    for _ in range(120):
        mask = env.unwrapped.action_masks()
        a = int(sampled.predict(obs, action_masks=mask)[0])
        if sampled.last_values:
            planned += 1
            values = dict(sampled.last_values)
            again.predict(obs, action_masks=mask)
            own.predict(obs, action_masks=mask)
            assert again.last_values == values
            differs += any(abs(values[k] - own.last_values[k]) > 1e-9 for k in values)
        obs, r, term, trunc, _ = env.step(a)
        twin_obs, twin_r, *_ = twin.step(a)
        assert r == twin_r and all(np.array_equal(obs[k], twin_obs[k]) for k in obs)
        if term or trunc:
            break
    assert planned > 0 and differs > 0
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_futures"):
            AdmissionLookaheadPolicy(env=env, n_futures=bad)
    env.close()
    twin.close()


# ----------------------------------------------------------------------------------------------------------------
# The capacity-aware bound

def _return(env, policy, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        a, _ = policy.predict(obs, action_masks=env.unwrapped.action_masks())
        obs, r, terminated, truncated, _ = env.step(int(a))
        total += float(r)
        done = terminated or truncated
    return total


#: The 1,584-satellite ids run 20 s episodes (~180 decisions on v1, ~320 on v2, the policies' returns still apart);
#: the 66-satellite ones 40 s.
@pytest.mark.parametrize("env_id, seed, max_time_s", [("OrbitCloud-v1", 2002, 20.0), ("OrbitCloud-Small-v1", 2003, 40.0),
                                                      ("OrbitCloud-v2", 2004, 20.0), ("OrbitCloud-Small-v2", 2005, 40.0)])
def test_capacity_bound_is_above_every_policy_and_below_the_relaxation(env_id, seed, max_time_s):
    env = gym.make(env_id, max_time_s=max_time_s)
    d = episode_capacity_bound(env, seed, details=True)
    assert d["bound"] <= episode_upper_bound(env, seed) + 1e-9
    assert d["bound"] <= d["relaxation"] and d["bound"] <= d["lagrangian"]
    for name in ("random", "earliest-finish", "earliest-finish-admit", "tuned-admit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Small-v1 has no tuned parameters
            policy = agents.make_policy(name, env=env, seed=seed)
        assert _return(env, policy, seed) <= d["bound"] + 1e-9, name
    env.close()
