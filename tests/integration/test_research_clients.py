"""OrbitCloud driven by the research clients that wrap Gymnasium envs: TorchRL's ``GymEnv`` and Gymnasium's
``AsyncVectorEnv`` with spawned workers.

TorchRL is in the ``dev`` extra (CI installs it); without it, the TorchRL tests skip.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids

#: Episodes of a few decisions: the rollouts below cross at least one truncation and reset.
MAX_JOBS = 6
ROLLOUT_STEPS = 15


def _valid_action(mask: np.ndarray, rng: np.random.Generator) -> int:
    """A uniformly drawn valid action of one env (rejection, the last action, is always valid)."""
    return int(rng.choice(np.flatnonzero(mask)))


# ----------------------------------------------------------------------------------------------------------------
# TorchRL


@pytest.mark.parametrize("env_id", ["OrbitCloud-Small-v1", "OrbitCloud-Small-v0"])
@pytest.mark.parametrize("categorical", [False, True], ids=["one_hot", "categorical"])
def test_torchrl_gym_env_specs_and_rollout_match_gymnasium(env_id, categorical):
    """TorchRL builds the env as it builds any Gymnasium id (its ``frameskip`` probe gets the TypeError it expects
    and TorchRL drops the keyword), its own spec check passes, and a rollout with masked valid actions carries the
    same rewards, observations and truncations as the Gymnasium env stepped with the same seed and actions."""
    torchrl_envs = pytest.importorskip("torchrl.envs")
    import torch
    from torchrl.envs.utils import check_env_specs

    env = torchrl_envs.GymEnv(env_id, max_jobs=MAX_JOBS, categorical_action_encoding=categorical)
    assert env.wrapper_frame_skip == 1  # the frameskip keyword was refused and dropped, not applied
    check_env_specs(env, seed=0)

    obs_keys = sorted(env.observation_spec.keys())
    genv = gym.make(env_id, max_jobs=MAX_JOBS)
    n_actions = int(genv.action_space.n)
    rng = np.random.default_rng(0)

    def policy(td):
        mask = np.append(td["node_valid"].numpy() > 0.5, True)  # node_valid is the mask of the rows; + reject
        a = _valid_action(mask, rng)
        td["action"] = torch.tensor(a) if categorical else torch.nn.functional.one_hot(torch.tensor(a), n_actions)
        return td

    env.set_seed(3)  # TorchRL seeds with reset(seed=3); its rollout then resets again without a seed
    td = env.rollout(ROLLOUT_STEPS, policy, break_when_any_done=False)
    assert td.batch_size == (ROLLOUT_STEPS,)
    assert td["action"].shape == ((ROLLOUT_STEPS,) if categorical else (ROLLOUT_STEPS, n_actions))
    reward = td["next", "reward"]
    assert reward.shape == (ROLLOUT_STEPS, 1) and reward.dtype == torch.float32
    assert torch.isfinite(reward).all()
    truncated = td["next", "truncated"].flatten().tolist()
    assert truncated == [(i + 1) % MAX_JOBS == 0 for i in range(ROLLOUT_STEPS)]
    assert not td["next", "terminated"].any()
    assert env.observation_spec.is_in(td["next"].select(*obs_keys))

    actions = td["action"] if categorical else td["action"].argmax(-1)
    genv.reset(seed=3)
    obs, _ = genv.reset()
    for i, a in enumerate(actions.tolist()):
        for key in obs_keys:
            np.testing.assert_array_equal(td[key][i].numpy(), obs[key], err_msg=f"step {i} {key}")
        obs, r, terminated, trunc, info = genv.step(a)
        assert not info["invalid_action"]
        assert float(reward[i]) == np.float32(r)
        assert trunc == truncated[i] and not terminated
        if trunc:
            obs, _ = genv.reset()
    assert (actions < n_actions - 1).any()  # some jobs were placed, not only rejected
    env.close()
    genv.close()


def test_torchrl_default_info_reader_reads_every_key_through_numpy_info():
    """TorchRL's ``set_info_dict_reader()`` (the default reader, every key, specs from a dummy rollout) reads the
    whole info of the NumpyInfo-wrapped env, its own spec check passes, and the values are the env's."""
    pytest.importorskip("torchrl.envs")
    import torch
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    from orbitcloud_env.wrappers import NumpyInfo

    env = GymWrapper(NumpyInfo(gym.make("OrbitCloud-Small-v1", max_jobs=MAX_JOBS)), categorical_action_encoding=True)
    env.set_info_dict_reader()
    spec = env.observation_spec
    assert spec["action_mask"].dtype == torch.int8 and spec["invalid_action"].dtype == torch.bool
    assert spec["latency_ms"].dtype == torch.float64 and spec["rewards.latency"].dtype == torch.float64
    check_env_specs(env, seed=0)

    genv = gym.make("OrbitCloud-Small-v1", max_jobs=MAX_JOBS)
    rng = np.random.default_rng(0)

    def policy(td):  # the mask read by TorchRL from info
        td["action"] = torch.tensor(_valid_action(td["action_mask"].numpy(), rng))
        return td

    env.set_seed(3)
    td = env.rollout(ROLLOUT_STEPS, policy, break_when_any_done=False)
    assert not td["next", "invalid_action"].any()
    _, info = genv.reset(seed=3)
    _, info = genv.reset()
    for i, a in enumerate(td["action"].tolist()):
        np.testing.assert_array_equal(td["action_mask"][i].numpy(), info["action_mask"])
        _, _, _, trunc, info = genv.step(a)
        assert float(td["next", "latency_ms"][i]) == info["latency_ms"]
        assert float(td["next", "rewards.miss"][i]) == info["rewards"]["miss"]
        assert bool(td["next", "met_deadline"][i]) == info["met_deadline"]
        if trunc:
            _, info = genv.reset()
    env.close()
    genv.close()


def test_torchrl_reader_with_keys_reads_the_bare_env():
    """Without the wrapper, a reader given the numeric keys reads the env's numpy values as they are."""
    pytest.importorskip("torchrl.envs")
    import torch
    from torchrl.data import Unbounded
    from torchrl.envs import GymEnv, default_info_dict_reader
    from torchrl.envs.utils import check_env_specs

    env = GymEnv("OrbitCloud-Small-v1", max_jobs=MAX_JOBS, categorical_action_encoding=True)
    n = int(env.action_spec.space.n)
    keys = {"latency_ms": Unbounded((), dtype=torch.float64), "node": Unbounded((), dtype=torch.int64),
            "invalid_action": Unbounded((), dtype=torch.bool), "action_mask": Unbounded((n,), dtype=torch.int8)}
    env.set_info_dict_reader(default_info_dict_reader(list(keys), spec=keys))
    check_env_specs(env, seed=0)
    td = env.rollout(ROLLOUT_STEPS, break_when_any_done=False)
    assert td["next", "action_mask"].dtype == torch.int8 and (td["next", "action_mask"][:, -1] == 1).all()
    env.close()


# ----------------------------------------------------------------------------------------------------------------
# Gymnasium AsyncVectorEnv with spawned workers


def _vector_rollout(envs: gym.vector.VectorEnv, seed: int, n_steps: int) -> list[tuple]:
    """Reset with ``seed`` and step ``n_steps`` with uniformly drawn valid actions (masks read from each sub-env
    through ``call("action_masks")``); every step's (actions, obs, reward, terminated, truncated, info)."""
    rng = np.random.default_rng(seed)
    obs, info = envs.reset(seed=seed)
    out = [(None, obs, None, None, None, info)]
    for _ in range(n_steps):
        masks = np.stack(envs.call("action_masks"))
        assert masks.shape == (envs.num_envs, envs.single_action_space.n) and masks[:, -1].all()
        actions = np.array([_valid_action(m, rng) for m in masks])
        out.append((actions, *envs.step(actions)))
    envs.close()
    return out


@pytest.mark.slow
def test_async_vector_env_spawn_matches_sync_vector_env():
    """Two spawned workers step bit-identically to the same two envs in this process (same seeds, same masked
    valid actions), across the autoreset at each truncation, and close cleanly."""
    # The module prefix makes each spawned worker import and register orbitcloud_env (see the README).
    make = functools.partial(gym.make, "orbitcloud_env:OrbitCloud-Small-v1", max_jobs=MAX_JOBS)
    sync = _vector_rollout(gym.vector.SyncVectorEnv([make, make]), seed=7, n_steps=ROLLOUT_STEPS)
    envs = gym.vector.AsyncVectorEnv([make, make], context="spawn")
    spawned = _vector_rollout(envs, seed=7, n_steps=ROLLOUT_STEPS)
    assert envs.closed
    np.testing.assert_equal(spawned, sync)  # actions, observations, rewards, flags and every info entry

    rewards = np.stack([s[2] for s in sync[1:]])
    assert rewards.shape == (ROLLOUT_STEPS, 2) and np.isfinite(rewards).all()
    # Autoreset (next-step mode): a truncation at step MAX_JOBS, then a reset step whose action is ignored.
    truncated = np.stack([s[4] for s in sync[1:]])
    assert truncated[MAX_JOBS - 1].all() and truncated.sum() == 2 * (ROLLOUT_STEPS // (MAX_JOBS + 1))
    stepped = [s[5] for s in sync[1:] if "invalid_action" in s[5]]
    assert stepped and not any(info["invalid_action"][info["_invalid_action"]].any() for info in stepped)
    assert not np.array_equal(sync[1][1]["job"][0], sync[1][1]["job"][1])  # the two sub-envs differ (seeds 7, 8)
