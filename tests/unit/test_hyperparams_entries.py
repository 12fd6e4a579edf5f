"""agents/hyperparams/<algo>.yml: an entry for every registered id in every algorithm's file (rl-zoo3 and train.py
find it instead of falling back to ``default``), and nothing but registered ids and ``default``."""

from __future__ import annotations

import gymnasium as gym
import pytest
import yaml

import orbitcloud_env  # noqa: F401 - registers the ids
from agents.hyperparameters import HYPERPARAMS_DIR, hyperparams_for

ALGOS = ("ppo", "a2c", "dqn", "maskable_ppo")
IDS = sorted(i for i in gym.registry if i.startswith("OrbitCloud"))


@pytest.mark.parametrize("algo", ALGOS)
def test_every_registered_id_has_its_own_entry(algo):
    for env_id in IDS:
        params, key = hyperparams_for(algo, env_id)
        assert key == env_id, f"{algo}.yml falls back to {key!r} for {env_id}"
        assert params["policy"] and params["n_timesteps"] > 0
    table = yaml.safe_load((HYPERPARAMS_DIR / f"{algo}.yml").read_text())
    assert set(table) - set(IDS) <= {"default"}


def test_rollout_rounding_notice_says_how_many_steps_on_policy_training_takes():
    from agents.hyperparameters import rollout_rounding_notice

    notice = rollout_rounding_notice("ppo", {"n_steps": 2048}, 8, 2048)
    assert notice == ("Note: -n 2048 rounds up to 16,384 training steps: ppo trains whole rollouts of n_steps 2048 "
                      "x 8 envs = 16,384 decisions")
    assert "rounds up to 1,024" in rollout_rounding_notice("maskable_ppo", {"n_steps": 512}, 2, 1000)
    assert "n_steps 5 x 3 envs" in rollout_rounding_notice("a2c", {}, 3, 7)  # A2C's own n_steps default
    assert rollout_rounding_notice("ppo", {"n_steps": 512}, 4, 4096) is None  # whole rollouts: nothing to say
    assert rollout_rounding_notice("dqn", {}, 1, 1001) is None  # off-policy: no rollouts
    assert rollout_rounding_notice("ppo", {"n_steps": 512}, 4, 0) is None  # -n 0: cloning only
