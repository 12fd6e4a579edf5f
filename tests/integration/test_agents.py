"""Heuristic policies, the policy registry and model loading (agents/), against the real env."""

from __future__ import annotations

import zipfile

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

import agents
import orbitcloud_env  # noqa: F401 - registers the ids
from agents.heuristics import REQUIRED_KEYS
from agents.rl import ALGOS, detect_algo, parse_policy_kwargs

ENV_ID = "OrbitCloud-Small-v0"
MODES = ("all_nodes", "candidates")
MAX_JOBS = 100


def _masks(env: gym.Env) -> np.ndarray:
    return np.asarray(env.get_wrapper_attr("action_masks")(), dtype=bool)


def _run_episode(env: gym.Env, policy, seed: int) -> tuple[dict, int]:
    """One full episode; asserts every action is allowed by env.action_masks(); returns (episode_metrics, steps)."""
    obs, _ = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset()
    n_rows = env.observation_space["node_valid"].shape[0]
    steps = 0
    while True:
        action, _ = policy.predict(obs, episode_start=np.array([steps == 0]), deterministic=True)
        assert isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer)
        masks = _masks(env)
        assert masks.shape == (n_rows + 1,)
        assert masks[int(action)], f"{policy} picked masked-out action {int(action)} at step {steps}"
        obs, _, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
        steps += 1
        if terminated or truncated:
            return info["episode_metrics"], steps


@pytest.fixture(scope="module", params=MODES)
def env(request):
    e = gym.make(ENV_ID, max_jobs=MAX_JOBS, action_mode=request.param)
    yield e
    e.close()


@pytest.mark.parametrize("name", agents.available())
def test_heuristic_full_episode_respects_mask(env, name):
    policy = agents.make_policy(name, env=env, seed=0)
    metrics, steps = _run_episode(env, policy, seed=3)
    assert steps == MAX_JOBS
    assert metrics["n_jobs"] == MAX_JOBS


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", agents.available())
def test_vectorised_predict_on_a_vecenv(name, mode):
    vec = make_vec_env(ENV_ID, n_envs=3, seed=5, env_kwargs={"max_jobs": 30, "action_mode": mode})
    try:
        policy = agents.make_policy(name, seed=1)
        obs = vec.reset()
        starts = np.ones(3, dtype=bool)
        n_rows = vec.observation_space["node_valid"].shape[0]
        for _ in range(40):  # crosses an episode boundary (auto-reset)
            actions, _ = policy.predict(obs, episode_start=starts)
            assert actions.shape == (3,) and np.issubdtype(actions.dtype, np.integer)
            masks = np.stack(vec.env_method("action_masks"))
            assert masks.shape == (3, n_rows + 1)
            assert masks[np.arange(3), actions].all()
            obs, _, starts, _ = vec.step(actions)
    finally:
        vec.close()


@pytest.mark.parametrize("name", [n for n in agents.available() if n not in ("random", "round-robin")])
def test_batch_predict_equals_single_predicts(name):
    env = gym.make(ENV_ID, max_jobs=MAX_JOBS)
    policy = agents.make_policy(name)
    observations = []
    obs, _ = env.reset(seed=11)
    for _ in range(6):
        observations.append(obs)
        obs, *_ = env.step(policy.predict(obs)[0])
    batch = {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    batched, _ = policy.predict(batch)
    singles = [int(policy.predict(o)[0]) for o in observations]
    assert batched.tolist() == singles


def test_earliest_finish_beats_random_on_paired_seeds():
    """Same 5 seeds (same jobs) for both policies.

    Mean latency is over served jobs only, so a policy that rejects or drops could look fast; the check also asks
    for a success rate (met / all jobs) at least as high, which rules that out.
    """
    env = gym.make(ENV_ID, max_jobs=MAX_JOBS)
    greedy, rand = agents.make_policy("earliest-finish"), agents.make_policy("random", seed=0)
    results = {"greedy": [], "random": []}
    for seed in range(5):
        results["greedy"].append(_run_episode(env, greedy, seed)[0])
        results["random"].append(_run_episode(env, rand, seed)[0])
    mean = {k: float(np.mean([m["mean_latency_ms"] for m in v])) for k, v in results.items()}
    success = {k: float(np.mean([m["success_rate"] for m in v])) for k, v in results.items()}
    assert mean["greedy"] < mean["random"], mean
    assert success["greedy"] >= success["random"], success


# --------------------------------------------------------------------------------------------------------------
# Decision rules on synthetic observations (contract layout, M = 4 rows).

def _synthetic(**overrides):
    m = 4
    obs = {k: np.zeros(m, dtype=np.float32) for k in REQUIRED_KEYS}
    obs.update(node_valid=np.ones(m, np.float32), node_soc=np.ones(m, np.float32),
               node_sunlit=np.ones(m, np.float32), node_sunlit_soon=np.ones(m, np.float32),
               node_latency=np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    for k, v in overrides.items():
        obs[k] = np.asarray(v, dtype=np.float32)
    return obs


@pytest.mark.parametrize("name", agents.available())
def test_no_valid_row_rejects(name):
    obs = _synthetic(node_valid=[0, 0, 0, 0])
    assert int(agents.make_policy(name, seed=0).predict(obs)[0]) == 4


def test_decision_rules():
    obs = _synthetic(node_wait=[0.5, 0.0, 0.0, 0.0], node_queue=[0.5, 0.2, 0.2, 0.9], node_is_ground=[0, 0, 1, 1])
    assert int(agents.make_policy("nearest").predict(obs)[0]) == 0
    assert int(agents.make_policy("earliest-finish").predict(obs)[0]) == 1
    assert int(agents.make_policy("least-loaded").predict(obs)[0]) == 1  # tie 0.2/0.2 -> lower latency
    assert int(agents.make_policy("ground-only").predict(obs)[0]) == 2
    masked = dict(obs, node_valid=np.array([1, 1, 0, 0], np.float32))
    assert int(agents.make_policy("ground-only").predict(masked)[0]) == 4
    # action_masks (length M + 1) further restricts the rows
    assert int(agents.make_policy("nearest").predict(obs, action_masks=[False, False, True, True, True])[0]) == 2


def test_energy_aware_avoids_eclipse_and_low_battery():
    eclipse = _synthetic(node_sunlit=[0, 1, 1, 1])
    assert int(agents.make_policy("earliest-finish").predict(eclipse)[0]) == 0
    assert int(agents.make_policy("energy-aware").predict(eclipse)[0]) == 1
    entering = _synthetic(node_sunlit_soon=[0, 1, 1, 1])
    assert int(agents.make_policy("energy-aware").predict(entering)[0]) == 1
    low = _synthetic(node_soc=[0.05, 1, 1, 1])
    assert int(agents.make_policy("energy-aware").predict(low)[0]) == 1
    # a data centre is never penalised, even with (meaningless) power columns at 0
    ground = _synthetic(node_sunlit=[0, 1, 1, 1], node_soc=[0, 1, 1, 1], node_is_ground=[1, 0, 0, 0])
    assert int(agents.make_policy("energy-aware").predict(ground)[0]) == 0
    # the penalty is bounded: a much slower alternative loses
    far = _synthetic(node_sunlit=[0, 1, 1, 1], node_latency=[0.1, 2.0, 2.0, 2.0])
    assert int(agents.make_policy("energy-aware").predict(far)[0]) == 0


def test_round_robin_cycles_and_resets_per_env():
    policy = agents.make_policy("round-robin")
    obs = _synthetic(node_valid=[1, 0, 1, 1])
    picks = [int(policy.predict(obs)[0]) for _ in range(4)]
    assert picks == [0, 2, 3, 0]
    assert int(policy.predict(obs, episode_start=np.array([True]))[0]) == 0
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    a, _ = policy.predict(batch, episode_start=np.array([True, True]))
    b, _ = policy.predict(batch, episode_start=np.array([False, True]))
    assert a.tolist() == [0, 0] and b.tolist() == [2, 0]


def test_random_is_seeded_uniform_over_valid():
    obs = _synthetic(node_valid=[1, 0, 1, 1])
    draws = [int(agents.make_policy("random", seed=7).predict(obs)[0]) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same first draw
    policy = agents.make_policy("random", seed=0)
    counts = np.bincount([int(policy.predict(obs)[0]) for _ in range(3000)], minlength=5)
    assert counts[1] == 0 and counts[4] == 0
    assert counts[[0, 2, 3]].min() > 850  # ~1000 each


# --------------------------------------------------------------------------------------------------------------
# Registry and loading errors.

def test_registry_lists():
    assert agents.available() == ["random", "round-robin", "nearest", "least-loaded", "earliest-finish",
                                  "energy-aware", "ground-only", "earliest-finish-admit", "slack-aware",
                                  "tuned-admit"]
    assert agents.available_policies() == agents.available() + ["lookahead", "lookahead-long", "lookahead-admit"]
    assert agents.available_algorithms() == ["ppo", "maskable_ppo", "a2c", "dqn"]
    assert isinstance(agents.make_policy("Earliest_Finish"), agents.HeuristicPolicy)


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"did you mean 'earliest-finish'.*random"):
        agents.make_policy("earliest-finsh")


def test_make_policy_checks_env_keys():
    class FakeEnv:
        observation_space = gym.spaces.Dict({"node_valid": gym.spaces.Box(0, 1, (3,))})

    with pytest.raises(ValueError, match="node_latency"):
        agents.make_policy("nearest", env=FakeEnv())


def test_load_errors(tmp_path):
    missing = tmp_path / "nope.zip"
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        agents.load(missing)
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        agents.make_policy(str(missing))
    text = tmp_path / "model.zip"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="model.zip.*not a zip"):
        agents.load(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="other.zip.*no 'data'"):
        agents.load(other)


@pytest.mark.parametrize("algo", list(ALGOS))
def test_load_any_algorithm_and_predict(saved_models, algo):
    assert detect_algo(saved_models[algo]) == algo
    env = gym.make(ENV_ID, max_jobs=MAX_JOBS)
    policy = agents.make_policy(str(saved_models[algo]), env=env)
    assert policy.algo == algo and type(policy.model) is ALGOS[algo]
    obs, _ = env.reset(seed=0)
    action, _ = policy.predict(obs, deterministic=True)
    assert action.shape == () and 0 <= int(action) < env.action_space.n
    if algo == "maskable_ppo":  # the mask is taken from node_valid when not given
        for _ in range(20):
            action, _ = policy.predict(obs, deterministic=False)
            assert _masks(env)[int(action)]
            obs, *_ = env.step(action)


def test_load_rejects_other_spaces(saved_models):
    env = gym.make(ENV_ID, max_jobs=MAX_JOBS, action_mode="candidates")
    with pytest.raises(ValueError, match=r"observation space differs.*node_valid.*action space differs"):
        agents.load(saved_models["maskable_ppo"], env=env)


def test_policy_kwargs_are_parsed_without_eval():
    import torch

    assert parse_policy_kwargs("dict(net_arch=[64, 64], activation_fn=nn.Tanh)") == {
        "net_arch": [64, 64], "activation_fn": torch.nn.Tanh}
    with pytest.raises(ValueError, match="unsupported expression"):
        parse_policy_kwargs("dict(net_arch=__import__('os').getcwd())")


def test_algorithm_space_checks():
    from agents.rl import IncompatibleSpaceError, check_algo_env, resolve_algo

    obs = gym.spaces.Dict({"node_valid": gym.spaces.Box(0, 1, (3,))})
    check_algo_env("dqn", obs, gym.spaces.Discrete(4))
    with pytest.raises(IncompatibleSpaceError, match="dqn needs a Discrete action space"):
        check_algo_env("dqn", obs, gym.spaces.Box(-1, 1, (2,)))
    assert resolve_algo("Maskable-PPO") == "maskable_ppo"
    with pytest.raises(ValueError, match="did you mean 'a2c'"):
        resolve_algo("a2d")
