"""Policies for OrbitCloud: heuristics that read only the observation, and Stable-Baselines3 models.

    import agents
    agents.available()                 # heuristic names
    agents.available_algorithms()      # RL algorithm names (train.py --algo)
    policy = agents.make_policy("earliest-finish")          # or a path to a saved .zip
    action, _ = policy.predict(obs, deterministic=True)
    model = agents.load("logs/ppo/OrbitCloud-Small-v0_1/best_model.zip", env=env)

The interface is docs/env_contract.md; nothing here imports orbitcloud_env internals.

The subpackages, in layers (docs/architecture.md; none imports one to its right or beside it):

- ``agents.common``: command-line helpers, atomic writes, folder locks, safe model loading, seed ranges;
- ``agents.acting``: heuristics, the lookahead planner, the network policy, model loading and the registry;
- ``agents.training``, ``agents.evaluating``, ``agents.marl``: the two commands and what they run, and the
  multi-agent tooling.

The module paths of the flat layout before them (``agents.heuristics``, ``agents.policies``, ...) import the same
modules (agents/_old_paths.py), so saved models and scripts keep working.

The names below are imported on first use (PEP 562), so ``import agents.common.cli`` (the command lines' parsers)
loads neither torch nor Stable-Baselines3 and ``--help`` answers at once.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from agents import _old_paths

_old_paths.install()  # agents.heuristics, agents.policies, ...: the flat layout's paths import (agents/_old_paths.py)

#: Public name -> the module that defines it.
_EXPORTS = {
    "ALGOS": "agents.acting.rl",
    "HEURISTICS": "agents.acting.heuristics",
    "HeuristicPolicy": "agents.acting.heuristics",
    "LoadedPolicy": "agents.acting.rl",
    "UntrustedFileError": "agents.common.safeload",
    "available": "agents.acting.registry",
    "available_policies": "agents.acting.registry",
    "available_algorithms": "agents.acting.registry",
    "load": "agents.acting.rl",
    "load_model": "agents.acting.rl",
    "make_policy": "agents.acting.registry",
    "masks_from_obs": "agents.acting.rl",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None and f"agents.{name}" in _old_paths.OLD_PATHS:
        return import_module(f"agents.{name}")  # agents.heuristics without importing it first, as a submodule would
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # cached: later lookups (and monkeypatching) see a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
