"""Policies for OrbitCloud: heuristics that read only the observation, and Stable-Baselines3 models.

    import agents
    agents.available()                 # heuristic names
    agents.available_algorithms()      # RL algorithm names (train.py --algo)
    policy = agents.make_policy("earliest-finish")          # or a path to a saved .zip
    action, _ = policy.predict(obs, deterministic=True)
    model = agents.load("logs/ppo/OrbitCloud-Small-v0_1/best_model.zip", env=env)

The interface is docs/env_contract.md; nothing here imports orbitcloud_env internals.

The names below are imported on first use (PEP 562), so ``import agents.cli`` (the command lines' parsers) loads
neither torch nor Stable-Baselines3 and ``--help`` answers at once.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Public name -> the module that defines it.
_EXPORTS = {
    "ALGOS": "agents.rl",
    "HEURISTICS": "agents.heuristics",
    "HeuristicPolicy": "agents.heuristics",
    "LoadedPolicy": "agents.rl",
    "UntrustedFileError": "agents.safeload",
    "available": "agents.registry",
    "available_policies": "agents.registry",
    "available_algorithms": "agents.registry",
    "load": "agents.rl",
    "load_model": "agents.rl",
    "make_policy": "agents.registry",
    "masks_from_obs": "agents.rl",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # cached: later lookups (and monkeypatching) see a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
