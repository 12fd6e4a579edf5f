"""The batched vector env (orbitcloud_env.vector) and its SB3 VecEnv (agents.vec_env): N copies give the
trajectories of N single envs with the same seeds (observations, masks, rewards, episode ends, infos), in every
autoreset mode, with and without shared topology snapshots."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids
from orbitcloud_env.vector import OrbitCloudVectorEnv

#: Short episodes, so that every run crosses autoresets; a start spread of 0 puts every copy in the same buckets.
KW = {"max_jobs": 12}


def _same(a, b, where):
    """Deep equality of info values (dicts, arrays, scalars)."""
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype == object or b.dtype == object:
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                _same(x, y, f"{where}[{i}]")
        else:
            assert np.array_equal(a, b), where
    else:
        assert a == b, where


def _rollout_pair(env_id, n, steps, mode, share=True, **kw):
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode,
                        share_topology=share, **kw)
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kw)
    assert isinstance(venv, OrbitCloudVectorEnv)
    assert venv.single_observation_space == sync.single_observation_space
    assert venv.observation_space == sync.observation_space and venv.action_space == sync.action_space
    rng = np.random.default_rng(3)
    out = [venv.reset(seed=11), sync.reset(seed=11)]
    ended = 0
    for t in range(steps):
        (oa, ia), (ob, ib) = out[0][:1] + out[0][-1:], out[1][:1] + out[1][-1:]
        for k in ob:
            assert np.array_equal(oa[k], ob[k]), (t, k)
        _same(ia, ib, f"info@{t}")
        masks = venv.action_masks()
        assert np.array_equal(masks, np.stack(sync.call("action_masks")))
        actions = np.argmax(rng.random(masks.shape) * masks, axis=1)
        out = [venv.step(actions), sync.step(actions)]
        for x, y in zip(out[0][1:4], out[1][1:4]):
            assert np.array_equal(x, y), t
        ended += int(out[0][3].sum())
        if mode == "Disabled" and out[0][3].any():
            done = out[0][3].copy()
            out = [venv.reset(options={"reset_mask": done}), sync.reset(options={"reset_mask": done})]
            out = [(o[0], None, None, None, o[1]) for o in out]
    assert ended > 0  # the run crossed episode ends
    venv.close()
    sync.close()


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_batched_equals_single_envs_small(mode):
    """All-nodes mode, with the start spread at 0: every copy shares every bucket's snapshot."""
    _rollout_pair("OrbitCloud-Small-v1", 3, 30, mode, start_time_spread_s=0.0, **KW)


@pytest.mark.parametrize("share", [True, False])
def test_batched_equals_single_envs_candidates(share):
    """Candidates mode (lazy partial routing) on the v1 default scenario: shared and unshared snapshots."""
    _rollout_pair("OrbitCloud-v1", 2, 28, "NextStep", share=share, start_time_spread_s=0.0, **KW)


def test_batched_equals_single_envs_default_start_spread():
    """The v1 default scenario as registered (copies start in different buckets; the per-site route limits that
    one copy learns are used by all, which changes only the work)."""
    _rollout_pair("OrbitCloud-v1", 3, 30, "NextStep", **KW)


def test_snapshots_are_shared_only_where_the_scenario_allows():
    venv = OrbitCloudVectorEnv(3, preset="small", max_jobs=5, start_time_spread_s=0.0)
    assert venv.shares_topology
    venv.reset(seed=0)
    snaps = [env.sim.topology.snapshot for env in venv.envs]
    assert snaps[0] is snaps[1] is snaps[2]  # one build for the three copies
    assert not OrbitCloudVectorEnv(2, preset="small", isl_failure_rate_per_hour=1.0).shares_topology
    assert not OrbitCloudVectorEnv(2, preset="small", share_topology=False).shares_topology


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="num_envs"):
        OrbitCloudVectorEnv(0, preset="small")
    with pytest.raises(ValueError, match="autoreset_mode"):
        OrbitCloudVectorEnv(1, preset="small", autoreset_mode="Sometimes")
    venv = OrbitCloudVectorEnv(2, preset="small", max_jobs=5)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        venv.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="seed"):
        venv.reset(seed=[1, 2, 3])


def test_sb3_vec_env_equals_dummy_vec_env():
    """agents.vec_env against SB3's make_vec_env(DummyVecEnv) with the same seed: observations, masks, rewards,
    dones, infos (terminal observation, TimeLimit.truncated, Monitor's episode statistics but its time)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.vec_env import OrbitCloudVecEnv, make_batched_vec_env, supports_batched

    assert supports_batched("orbitcloud_env:OrbitCloud-v1") and not supports_batched("CartPole-v1")
    a = make_batched_vec_env("OrbitCloud-Small-v1", 3, seed=7, env_kwargs=KW)
    b = make_vec_env("OrbitCloud-Small-v1", n_envs=3, seed=7, env_kwargs=KW, vec_env_cls=DummyVecEnv)
    assert isinstance(a, OrbitCloudVecEnv)
    oa, ob = a.reset(), b.reset()
    rng = np.random.default_rng(1)
    episodes = 0
    for t in range(30):
        for k in ob:
            assert np.array_equal(oa[k], ob[k]), (t, k)
        ma = np.stack(a.env_method("action_masks"))
        assert np.array_equal(ma, np.stack(b.env_method("action_masks")))
        assert np.array_equal(ma, a.action_masks())
        act = np.argmax(rng.random(ma.shape) * ma, axis=1)
        oa, ra, da, ia = a.step(act)
        ob, rb, db, ib = b.step(act)
        assert np.array_equal(ra, rb) and ra.dtype == rb.dtype and np.array_equal(da, db)
        for x, y in zip(ia, ib):
            for info in (x, y):
                if "episode" in info:
                    info["episode"].pop("t")
            episodes += "episode" in y
            _same(x, y, f"info@{t}")
    assert episodes > 0
    a.close()
    b.close()


def test_maskable_ppo_learns_on_the_sb3_vec_env():
    """MaskablePPO runs a rollout and an update on it (masks through env_method)."""
    from sb3_contrib import MaskablePPO

    from agents.vec_env import make_batched_vec_env

    venv = make_batched_vec_env("OrbitCloud-Small-v1", 2, seed=0, env_kwargs=KW)
    model = MaskablePPO("MultiInputPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu",
                        policy_kwargs={"net_arch": [8]})
    model.learn(16)
    assert model.num_timesteps == 16
    venv.close()
