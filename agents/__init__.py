"""Policies for OrbitCloud: heuristics that read only the observation, and Stable-Baselines3 models.

    import agents
    agents.available()                 # heuristic names
    agents.available_algorithms()      # RL algorithm names (train.py --algo)
    policy = agents.make_policy("earliest-finish")          # or a path to a saved .zip
    action, _ = policy.predict(obs, deterministic=True)
    model = agents.load("logs/ppo/OrbitCloud-Small-v0_1/best_model.zip", env=env)

The interface is docs/env_contract.md; nothing here imports orbitcloud_env internals.
"""

from agents.heuristics import HEURISTICS, HeuristicPolicy
from agents.registry import available, available_algorithms, available_policies, make_policy
from agents.rl import ALGOS, LoadedPolicy, load, load_model, masks_from_obs

__all__ = [
    "ALGOS",
    "HEURISTICS",
    "HeuristicPolicy",
    "LoadedPolicy",
    "available",
    "available_policies",
    "available_algorithms",
    "load",
    "load_model",
    "make_policy",
    "masks_from_obs",
]
