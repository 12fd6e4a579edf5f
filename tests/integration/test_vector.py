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


def _sb3_steps_match(a, b, steps, rng, tag=""):
    """Step SB3 VecEnvs ``a`` (the batched kind, with ``action_masks()``) and ``b`` side by side from a reset with
    masked random actions: observations (and dtypes), masks, rewards, dones and infos equal at every step
    (Monitor's time aside). Returns the number of episodes that ended."""
    oa, ob = a.reset(), b.reset()
    episodes = 0
    for t in range(steps):
        for k in ob:
            assert np.array_equal(oa[k], ob[k]) and oa[k].dtype == ob[k].dtype, (tag, t, k)
        ma = np.stack(a.env_method("action_masks"))
        assert np.array_equal(ma, np.stack(b.env_method("action_masks")))
        assert np.array_equal(ma, a.action_masks())
        act = np.argmax(rng.random(ma.shape) * ma, axis=1)
        oa, ra, da, ia = a.step(act)
        ob, rb, db, ib = b.step(act)
        assert np.array_equal(ra, rb) and ra.dtype == rb.dtype and np.array_equal(da, db)
        assert len(ia) == len(ib) == a.num_envs
        for x, y in zip(ia, ib):
            for info in (x, y):
                if "episode" in info:
                    info["episode"].pop("t")
            episodes += "episode" in y
            _same(x, y, f"info@{tag}{t}")
    return episodes


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
    assert _sb3_steps_match(a, b, 30, np.random.default_rng(1)) > 0
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


def test_batched_env_in_worker_processes_equals_one_process():
    """OrbitCloudSubprocVecEnv (5 copies over 2 workers: 3 + 2) against OrbitCloudVecEnv of the 5 copies with the
    same seed: observations, masks, rewards, dones and infos across autoresets (Monitor's time aside); reset
    seeds and options reach the copies of every worker; the attribute calls address the right copy."""
    from agents.vec_env import OrbitCloudSubprocVecEnv, OrbitCloudVecEnv, make_batched_vec_env

    a = make_batched_vec_env("OrbitCloud-Small-v1", 5, seed=7, env_kwargs=KW)
    b = make_batched_vec_env("OrbitCloud-Small-v1", 5, seed=7, env_kwargs=KW, n_procs=2)
    try:
        assert isinstance(a, OrbitCloudVecEnv) and isinstance(b, OrbitCloudSubprocVecEnv)
        assert b.observation_space == a.observation_space and b.action_space == a.action_space
        rng = np.random.default_rng(1)
        for rep in range(2):  # the second pass: a reset with new seeds, after the first pass's episodes
            assert _sb3_steps_match(b, a, 30, rng, f"{rep},") > 0
            a.seed(100)
            b.seed(100)
        assert b.get_attr("np_random_seed") == a.get_attr("np_random_seed")
        assert b.get_attr("np_random_seed", indices=[4, 0]) == a.get_attr("np_random_seed", indices=[4, 0])
        with pytest.raises(AttributeError, match="no_such_attribute"):  # raised as itself; stepping goes on
            b.get_attr("no_such_attribute", indices=[3])
        b.set_attr("marker", "x", indices=[1, 3])
        assert b.get_attr("marker", indices=[1, 3]) == ["x", "x"] and not b.has_attr("no_such_attribute")
        assert b.has_attr("action_masks") and b.env_is_wrapped(gym.Wrapper) == [False] * 5
        assert [m.shape for m in b.env_method("action_masks", indices=[3])] == [(a.action_space.n,)]
        assert b.env_method("get_state", indices=[2])[0]["steps"] == a.env_method("get_state", indices=[2])[0]["steps"]
        assert _sb3_steps_match(b, a, 3, rng, "after the attribute calls,") >= 0
    finally:
        a.close()
        b.close()
    assert all(not p.is_alive() for p in b._procs.values())
    b.close()  # twice is fine


def test_batched_env_in_worker_processes_refuses_bad_input():
    """Bad counts are named before any process starts; a copy's error reaches the parent as that error, and the
    VecEnv then refuses to go on (the other workers' copies have stepped) instead of running out of step."""
    from agents.vec_env import OrbitCloudSubprocVecEnv

    for kwargs, field in (({"n_envs": 0}, "n_envs"), ({"n_procs": 1}, "n_procs"), ({"n_procs": 3}, "n_procs"),
                          ({"n_procs": True}, "n_procs"), ({"start_method": "thread"}, "start_method")):
        args = {"env_id": "OrbitCloud-Small-v1", "n_envs": 2, "n_procs": 2, **kwargs}
        with pytest.raises(ValueError, match=field):
            OrbitCloudSubprocVecEnv(**args)
    with pytest.raises(ValueError, match="max_jobs"):  # the env's own check, raised in a worker
        OrbitCloudSubprocVecEnv("OrbitCloud-Small-v1", 2, {"max_jobs": -1}, n_procs=2)
    venv = OrbitCloudSubprocVecEnv("OrbitCloud-Small-v1", 3, KW, n_procs=2)
    try:
        venv.reset()
        with pytest.raises(ValueError, match="actions"):
            venv.step(np.zeros(2, dtype=np.int64))
        with pytest.raises(ValueError, match="action"):
            venv.step(np.array([0, 0, 99]))  # outside the action space: copy 2's env refuses it
        with pytest.raises(RuntimeError, match=r"worker 1, copies 2..2: ValueError.*close\(\)"):
            venv.step(np.zeros(3, dtype=np.int64))
    finally:
        venv.close()
    assert all(not p.is_alive() for p in venv._procs.values())
    venv = OrbitCloudSubprocVecEnv("OrbitCloud-Small-v1", 3, KW, n_procs=2)
    try:
        venv.reset()
        with pytest.raises(ValueError, match="action"):
            venv.step(np.array([99, 0, 0]))  # copy 0, held by this process: the worker's answer is still read
        assert not venv._pending
        with pytest.raises(RuntimeError, match=r"this process, copies 0..1: ValueError.*close\(\)"):
            venv.reset()
    finally:
        venv.close()
