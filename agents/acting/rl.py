"""Reinforcement-learning algorithms and model loading (the hyperparameter files: agents/training/hyperparameters.py).

``ALGOS`` maps a name to its Stable-Baselines3 class; every algorithm uses ``MultiInputPolicy`` because the
OrbitCloud observation is a ``spaces.Dict`` (docs/env_contract.md). ``load(path, env)`` opens a saved model whatever
its algorithm and returns a :class:`LoadedPolicy` whose ``predict`` has the SB3 signature plus ``action_masks``
(as the heuristics), so evaluation drives heuristics and models the same way.
"""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.common.safeload import UntrustedFileError, load_vecnormalize, open_model_archive
from orbitcloud_env.suggest import did_you_mean

__all__ = [
    "ALGOS",
    "PACKAGE_POLICIES",
    "resolve_policy",
    "POLICY",
    "IncompatibleSpaceError",
    "LoadedPolicy",
    "UntrustedFileError",
    "available_algorithms",
    "check_algo_env",
    "detect_algo",
    "linear_schedule",
    "load",
    "load_model",
    "masks_from_obs",
    "parse_policy_kwargs",
    "resolve_algo",
]

#: Algorithm name -> class. Names are rl-zoo3's, plus MaskablePPO (which the zoo lacks).
ALGOS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "maskable_ppo": MaskablePPO,
    "a2c": A2C,
    "dqn": DQN,
}

#: Policy class name for Dict observations.
POLICY = "MultiInputPolicy"

#: Action spaces each algorithm supports (SB3 docs, "RL Algorithms" table).
_ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {
    "ppo": (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary),
    "a2c": (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary),
    "maskable_ppo": (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "dqn": (spaces.Discrete,),
}



class IncompatibleSpaceError(ValueError):
    """An algorithm cannot handle the env's observation or action space."""


def available_algorithms() -> list[str]:
    """Names accepted by ``train.py --algo`` and :data:`ALGOS`."""
    return list(ALGOS)


#: Policy classes of this package that a hyperparameters file may name (``policy: RowScoringPolicy``): the
#: algorithm they work with and their module (imported only when named).
PACKAGE_POLICIES = {"RowScoringPolicy": ("maskable_ppo", "agents.acting.policies")}


def resolve_policy(name: Any, algo: str) -> Any:
    """The ``policy`` argument of ``ALGOS[algo]``: a package policy class for a name of :data:`PACKAGE_POLICIES`,
    else ``name`` unchanged (SB3's aliases such as ``MultiInputPolicy``, or a class). ValueError when a package
    policy does not work with ``algo``."""
    if not isinstance(name, str) or name not in PACKAGE_POLICIES:
        return name
    needs, module = PACKAGE_POLICIES[name]
    if algo != needs:
        raise ValueError(f"policy {name}: needs algorithm {needs}, not {algo}")
    import importlib

    return getattr(importlib.import_module(module), name)


def resolve_algo(name: str) -> str:
    """Normalise an algorithm name (case, '-' vs '_'); ValueError with a "did you mean" for an unknown one."""
    key = str(name).strip().lower().replace("-", "_")
    if key in ALGOS:
        return key
    raise ValueError(f"unknown algorithm '{name}'{did_you_mean(key, ALGOS)} (available: {', '.join(ALGOS)})")


def check_algo_env(algo: str, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise :class:`IncompatibleSpaceError` when ``algo`` cannot train on these spaces."""
    algo = resolve_algo(algo)
    allowed = _ACTION_SPACES[algo]
    if not isinstance(action_space, allowed):
        names = ", ".join(c.__name__ for c in allowed)
        raise IncompatibleSpaceError(f"{algo} needs a {names} action space; the env has {action_space}")
    if not isinstance(observation_space, (spaces.Dict, spaces.Box)):
        raise IncompatibleSpaceError(f"{algo} needs a Dict or Box observation space; "
                                     f"the env has {type(observation_space).__name__}")


# ----------------------------------------------------------------------------------------------------------------
# Hyperparameters (rl-zoo3 layout, parsed without eval()).

def linear_schedule(initial_value: float) -> Callable[[float], float]:
    """Linear decay from ``initial_value`` to 0 over training (SB3 passes progress_remaining from 1 to 0)."""
    initial_value = float(initial_value)

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial_value

    schedule.__qualname__ = f"linear_schedule({initial_value})"
    return schedule


def _activations() -> dict[str, Any]:
    import torch as th

    names = ("ReLU", "Tanh", "ELU", "LeakyReLU", "SiLU", "GELU", "Sigmoid")
    table: dict[str, Any] = {}
    for n in names:
        cls = getattr(th.nn, n)
        table[n] = table[f"nn.{n}"] = table[f"th.nn.{n}"] = table[f"torch.nn.{n}"] = cls
    for n in ("Adam", "AdamW", "RMSprop", "SGD"):
        cls = getattr(th.optim, n)
        table[f"th.optim.{n}"] = table[f"torch.optim.{n}"] = table[f"optim.{n}"] = cls
    return table


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _safe_eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    """Evaluate literals, ``dict(...)`` calls, lists/tuples/dicts and whitelisted torch names; nothing else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return ast.literal_eval(node)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_safe_eval(e, names) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        return {_safe_eval(k, names): _safe_eval(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {kw.arg: _safe_eval(kw.value, names) for kw in node.keywords}
    dotted = _dotted(node)
    if dotted is not None and dotted in names:
        return names[dotted]
    raise ValueError(f"unsupported expression {ast.unparse(node)!r} (allowed: literals, dict(...), "
                     f"activation functions such as nn.ReLU / nn.Tanh, optimizers such as th.optim.Adam)")


def parse_policy_kwargs(value: Any) -> dict[str, Any]:
    """policy_kwargs from a mapping or an rl-zoo3 style string such as ``"dict(net_arch=[128, 128])"``."""
    if value is None:
        return {}
    names = _activations()
    if isinstance(value, Mapping):
        out = dict(value)
    elif isinstance(value, str):
        try:
            tree = ast.parse(value.strip(), mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"policy_kwargs: cannot parse {value!r}: {exc.msg}") from None
        out = _safe_eval(tree.body, names)
        if not isinstance(out, dict):
            raise ValueError(f"policy_kwargs must be a dict, got {value!r}")
    else:
        raise ValueError(f"policy_kwargs must be a dict or a string, got {type(value).__name__}")
    for key in ("activation_fn", "optimizer_class"):
        if isinstance(out.get(key), str):
            if out[key] not in names:
                raise ValueError(f"policy_kwargs.{key}: unknown {out[key]!r}")
            out[key] = names[out[key]]
    return out


# ----------------------------------------------------------------------------------------------------------------
# Loading saved models.

def _open_zip(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Resolve ``path`` (``.zip`` may be omitted, as SB3 allows) and return it with its parsed "data" json."""
    p = Path(path)
    if not p.exists() and p.suffix != ".zip" and p.with_name(p.name + ".zip").exists():
        p = p.with_name(p.name + ".zip")
    if not p.exists():
        raise FileNotFoundError(f"model file not found: {p}")
    if not p.is_file():
        raise ValueError(f"not a model file (a directory?): {p}")
    if not zipfile.is_zipfile(p):
        raise ValueError(f"not a Stable-Baselines3 model: {p} is not a zip archive")
    try:
        with zipfile.ZipFile(p) as archive:
            data = json.loads(archive.read("data").decode("utf-8"))
    except KeyError:
        raise ValueError(f"not a Stable-Baselines3 model: {p} has no 'data' entry") from None
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable Stable-Baselines3 model {p}: {exc}") from None
    return p, data


def detect_algo(path: str | Path) -> str | None:
    """The algorithm name of a saved model, read from its "data" json (None when it cannot be told)."""
    _, data = _open_zip(path)
    policy = data.get("policy_class") or {}
    module = policy.get("__module__", "") if isinstance(policy, dict) else ""
    if module.startswith("sb3_contrib.common.maskable"):
        return "maskable_ppo"
    if module.startswith("stable_baselines3.dqn"):
        return "dqn"
    if module.startswith("stable_baselines3.common.policies"):
        return "ppo" if "clip_range" in data else "a2c"
    return None


def _space_diff(name: str, saved: spaces.Space, current: spaces.Space) -> str | None:
    if saved == current:
        return None
    if isinstance(saved, spaces.Dict) and isinstance(current, spaces.Dict):
        parts = []
        missing = sorted(set(saved.spaces) - set(current.spaces))
        extra = sorted(set(current.spaces) - set(saved.spaces))
        if missing:
            parts.append(f"keys missing from the env: {missing}")
        if extra:
            parts.append(f"keys the model does not know: {extra}")
        for key in sorted(set(saved.spaces) & set(current.spaces)):
            if saved[key] != current[key]:
                s, c = saved[key], current[key]
                if getattr(s, "shape", None) != getattr(c, "shape", None):
                    parts.append(f"'{key}' shape {s.shape} (model) vs {c.shape} (env)")
                else:
                    parts.append(f"'{key}' {s} (model) vs {c} (env)")
        return f"observation space differs: {'; '.join(parts)}"
    return f"{name} space differs: {saved} (model) vs {current} (env)"


def _check_spaces(path: Path, model_obs: spaces.Space, model_act: spaces.Space, env: Any) -> None:
    problems = [d for d in (_space_diff("observation", model_obs, env.observation_space),
                            _space_diff("action", model_act, env.action_space)) if d]
    if problems:
        hint = " (was it trained with another preset or action_mode?)"
        raise ValueError(f"model {path} does not fit this env: {' | '.join(problems)}{hint}")


def _algo_of_policy(policy_class: Any, data: Mapping[str, Any]) -> str | None:
    """The algorithm of a (safely decoded) policy class: MaskablePPO, DQN, or PPO/A2C (told apart by clip_range)."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy

    if not isinstance(policy_class, type):
        return None
    if issubclass(policy_class, MaskableActorCriticPolicy):
        return "maskable_ppo"
    if issubclass(policy_class, DQNPolicy):
        return "dqn"
    if issubclass(policy_class, ActorCriticPolicy):
        return "ppo" if "clip_range" in data else "a2c"
    return None


def load_model(path: str | Path, env: Any = None, device: str = "cpu", algo: str | None = None,
               trust: bool = False, **kwargs: Any) -> BaseAlgorithm:
    """Load a saved SB3 model (any algorithm in :data:`ALGOS`) and return the SB3 object itself.

    With ``env`` (a gymnasium Env or a VecEnv) the spaces are checked first and a mismatch raises ValueError
    naming the space; the env is then attached (for continued training). ``kwargs`` go to ``Algo.load``.

    Unless ``trust``, nothing in the file is unpickled with the full unpickler (:mod:`agents.common.safeload`): the
    ``data`` fields are decoded from an allow-list of classes, the weights are read as tensors only, and a file
    that needs anything else raises :class:`UntrustedFileError` (a ValueError) naming ``trust=True`` /
    ``--trust-model``, which restore SB3's own loading for a file the user vouches for.
    """
    p, data = _open_zip(path)
    custom: dict[str, Any] | None = None
    if not trust:
        try:
            custom = open_model_archive(p)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise ValueError(f"unreadable Stable-Baselines3 model {p}: {exc}") from None
        policy_class = custom.get("policy_class", data.get("policy_class"))
        if not isinstance(policy_class, (type, str)):
            raise ValueError(f"model {p}: its policy_class is not a policy class")
        custom.update(kwargs.pop("custom_objects", None) or {})
        if algo is None:
            algo = _algo_of_policy(policy_class, data)
    name = resolve_algo(algo) if algo else detect_algo(p)
    candidates = [name] if name else list(ALGOS)
    errors = []
    extra = {} if custom is None else {"custom_objects": custom}
    for cand in candidates:
        try:
            model = ALGOS[cand].load(p, env=None, device=device, **extra, **kwargs)
        except Exception as exc:  # noqa: BLE001 - try the next algorithm, report all at the end
            errors.append(f"{cand}: {type(exc).__name__}: {exc}")
            continue
        if env is not None:
            _check_spaces(p, model.observation_space, model.action_space, env)
            model = ALGOS[cand].load(p, env=env, device=device, **extra, **kwargs)
        return model
    raise ValueError(f"cannot load {p} as any of {candidates}: " + "; ".join(errors))


def masks_from_obs(observation: Mapping[str, Any]) -> np.ndarray:
    """Action masks (length M + 1, or (B, M + 1)) from ``node_valid``; reject (last) is always allowed."""
    valid = np.asarray(observation["node_valid"]) > 0.5
    reject = np.ones(valid.shape[:-1] + (1,), dtype=bool)
    return np.concatenate([valid, reject], axis=-1)


class LoadedPolicy:
    """A saved model behind the heuristics' ``predict`` signature.

    ``predict(obs, state=None, episode_start=None, deterministic=True, action_masks=None)`` calls the SB3 model's
    ``predict``. For MaskablePPO the mask defaults to ``node_valid`` + reject from the observation itself. When a
    ``vecnormalize.pkl`` lies beside the model (train.py writes one when ``normalize`` is on), observations are
    normalised with its frozen statistics first. Any other attribute (``policy``, ``observation_space``, ``save``...)
    is the SB3 model's; the model itself is ``.model``.
    """

    def __init__(self, model: BaseAlgorithm, algo: str, path: Path, obs_normalizer: Any = None) -> None:
        self.model = model
        self.algo = algo
        self.path = path
        self.name = str(path)
        self.obs_normalizer = obs_normalizer

    def __getattr__(self, item: str) -> Any:
        if item == "model":  # not yet set (e.g. during unpickling)
            raise AttributeError(item)
        return getattr(self.model, item)

    def __repr__(self) -> str:
        return f"LoadedPolicy(algo={self.algo!r}, path={str(self.path)!r})"

    def reset(self) -> None:
        """No per-episode state (kept for symmetry with the heuristics)."""

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True,
                action_masks: Any = None) -> tuple[np.ndarray, Any]:
        masked = self.algo == "maskable_ppo"
        if masked and action_masks is None:
            action_masks = masks_from_obs(observation)
        if self.obs_normalizer is not None:
            observation = self.obs_normalizer.normalize_obs(observation)
        if masked:
            return self.model.predict(observation, state=state, episode_start=episode_start,
                                      deterministic=deterministic, action_masks=action_masks)
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)


def _load_normalizer(model_path: Path, trust: bool = False) -> Any:
    stats = model_path.parent / "vecnormalize.pkl"
    if not stats.is_file():
        return None
    norm = load_vecnormalize(stats, trust=trust)  # restricted unpickler unless trusted (agents/common/safeload.py)
    norm.training = False
    norm.norm_reward = False
    return norm


def load(path: str | Path, env: Any = None, device: str = "cpu", trust: bool = False) -> LoadedPolicy:
    """Load a saved model whatever its algorithm, ready for evaluation.

    Args:
        path: [file] an SB3 ``.zip`` (the suffix may be omitted).
        env: optional env or VecEnv; its observation/action spaces must equal the model's (ValueError naming the
            differing space otherwise).
        device: torch device for the policy.
        trust: False (default): read the file without running code from it (:mod:`agents.common.safeload`; a
            ``vecnormalize.pkl`` beside it too); True: SB3's own loading, for a file whose source you trust.

    Raises:
        FileNotFoundError: the file does not exist.
        UntrustedFileError: (a ValueError) the file needs code or a class off the allow-list and ``trust`` is False.
        ValueError: not a zip / not an SB3 model / unreadable, or spaces differ from ``env``'s.
    """
    p, _ = _open_zip(path)
    model = load_model(p, env=None, device=device, trust=trust)
    algo = next((name for name, cls in ALGOS.items() if type(model) is cls), None) or detect_algo(p) or "ppo"
    if env is not None:
        _check_spaces(p, model.observation_space, model.action_space, env)
    return LoadedPolicy(model, algo, p, _load_normalizer(p, trust))
