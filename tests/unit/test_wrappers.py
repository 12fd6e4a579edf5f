"""orbitcloud_env.wrappers: the action mask carried in the observation (no RL library needed)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import orbitcloud_env  # noqa: F401 - registers the ids
from orbitcloud_env.wrappers import ActionMaskInObservation


def _pair(env_id: str, **kw):
    """The same scenario bare and wrapped (separate instances, so each can be stepped alongside the other)."""
    return gym.make(env_id, max_jobs=30, **kw), ActionMaskInObservation(gym.make(env_id, max_jobs=30, **kw))


@pytest.mark.parametrize("env_id,kw", [("OrbitCloud-Small-v1", {}),
                                       ("OrbitCloud-Small-v1", {"action_mode": "candidates"})])
def test_mask_and_observation_follow_the_env_after_reset_and_steps(env_id, kw):
    bare, wrapped = _pair(env_id, **kw)
    n = int(bare.action_space.n)
    assert wrapped.action_space == bare.action_space
    assert wrapped.observation_space["action_mask"] == spaces.Box(0.0, 1.0, (n,), np.float32)
    assert wrapped.observation_space["observations"].shape == (spaces.flatdim(bare.observation_space),)
    rng = np.random.default_rng(3)
    obs_b, _ = bare.reset(seed=11)
    obs_w, _ = wrapped.reset(seed=11)
    for step in range(40):
        assert wrapped.observation_space.contains(obs_w), f"step {step}: observation outside its space"
        mask = bare.unwrapped.action_masks()
        np.testing.assert_array_equal(obs_w["action_mask"], mask.astype(np.float32))
        np.testing.assert_array_equal(obs_w["action_mask"], wrapped.unwrapped.action_masks())
        back = spaces.unflatten(bare.observation_space, obs_w["observations"])
        for key, value in obs_b.items():
            np.testing.assert_array_equal(back[key], value, err_msg=key)
        # Mostly valid actions, now and then a masked-out one (the env's invalid action passes through unchanged).
        invalid = np.flatnonzero(~mask)
        action = int(rng.choice(invalid) if invalid.size and step % 7 == 3 else rng.choice(np.flatnonzero(mask)))
        obs_b, r_b, term_b, trunc_b, info_b = bare.step(action)
        obs_w, r_w, term_w, trunc_w, info_w = wrapped.step(action)
        assert (r_w, term_w, trunc_w, info_w["invalid_action"]) == (r_b, term_b, trunc_b, info_b["invalid_action"])
        assert info_w["invalid_action"] == (not mask[action])
        if term_b or trunc_b:
            obs_b, _ = bare.reset()
            obs_w, _ = wrapped.reset()


def test_needs_a_discrete_action_space_and_action_masks():
    with pytest.raises(ValueError, match="env: .*action_masks"):
        ActionMaskInObservation(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="env: .*Discrete"):
        ActionMaskInObservation(gym.make("Pendulum-v1"))


def test_tianshou_layout_keys_and_int8_mask():
    """obs_key/mask_key/dtype give Tianshou's {"obs", "mask"} layout; the mask follows action_masks()."""
    env = ActionMaskInObservation(gym.make("OrbitCloud-Small-v1", max_jobs=10), obs_key="obs", mask_key="mask",
                                  dtype=np.int8)
    n = int(env.action_space.n)
    assert set(env.observation_space) == {"obs", "mask"}
    assert env.observation_space["mask"] == spaces.Box(0, 1, (n,), np.int8)
    obs, info = env.reset(seed=0)
    for _ in range(12):
        assert env.observation_space.contains(obs)
        assert obs["mask"].dtype == np.int8
        np.testing.assert_array_equal(obs["mask"], info["action_mask"])
        np.testing.assert_array_equal(obs["mask"], env.unwrapped.action_masks())
        obs, _, term, trunc, info = env.step(int(env.action_space.sample(mask=obs["mask"])))
        assert not info["invalid_action"]
        if term or trunc:
            obs, info = env.reset()


@pytest.mark.parametrize("kw,match", [({"dtype": bool}, "dtype: expected one of float32"),
                                      ({"dtype": "int"}, "dtype: "),
                                      ({"obs_key": ""}, "obs_key: expected a non-empty string"),
                                      ({"obs_key": "m", "mask_key": "m"}, "mask_key: must differ")])
def test_bad_keys_and_dtypes_are_one_line_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        ActionMaskInObservation(gym.make("OrbitCloud-Small-v1", max_jobs=10), **kw)


def test_numpy_info_flattens_and_gives_every_value_a_dtype():
    from orbitcloud_env.wrappers import NumpyInfo, numpy_info

    flat = numpy_info({"a": 1, "b": 2.5, "c": True, "s": "x", "d": {"e": 3.0, "f": {"g": np.int64(4)}},
                       "m": np.zeros(3, np.int8), "names": np.array(["x"])})
    assert set(flat) == {"a", "b", "c", "d.e", "d.f.g", "m"}
    assert all(hasattr(v, "dtype") for v in flat.values())
    assert flat["a"].dtype == np.int64 and flat["b"].dtype == np.float64 and flat["c"].dtype == np.bool_
    env = NumpyInfo(gym.make("OrbitCloud-Small-v1", max_jobs=3))
    bare = gym.make("OrbitCloud-Small-v1", max_jobs=3)
    _, info = env.reset(seed=1)
    bare.reset(seed=1)
    for _ in range(3):
        _, r, _, trunc, info = env.step(env.action_space.n - 1)
        _, r_b, _, trunc_b, info_b = bare.step(bare.action_space.n - 1)
        assert (r, trunc) == (r_b, trunc_b)
        assert info["rewards.rejection"] == info_b["rewards"]["rejection"]
        assert info["latency_breakdown_ms.total"] == info_b["latency_breakdown_ms"]["total"]
        assert "outcome" not in info and all(hasattr(v, "dtype") for v in info.values())
    assert info["episode_metrics.rejection_rate"] == 1.0
