"""Hyperparameters of a training run: the shipped defaults, ``--conf-file``, ``--hyperparams``, and the checks that
turn them into constructor kwargs (rl-baselines3-zoo layout, parsed without ``eval``).

The defaults ship inside the package as ``agents/hyperparams/<algo>.yml`` (package data, so ``pip install .``
has them), one entry per env id plus ``default``. Precedence: yml < ``--conf-file`` < ``--hyperparams``.

Importing this module loads yaml only; the algorithm table (torch, Stable-Baselines3) is imported when a function
needs it.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from agents.common.cli import UsageError, parse_key_values

__all__ = [
    "HYPERPARAMS_DIR",
    "SPECIAL_KEYS",
    "UNSUPPORTED_KEYS",
    "FLAG_KEYS",
    "SCHEDULE_KEYS",
    "hyperparams_for",
    "load_conf_file",
    "resolve_hyperparams",
    "build_algo_kwargs",
    "normalize_kwargs",
    "rollout_rounding_notice",
]

#: Default hyperparameter files, shipped as package data: ``agents/hyperparams/<algo>.yml``.
HYPERPARAMS_DIR = Path(__file__).resolve().parents[1] / "hyperparams"  # agents/hyperparams/ (package data)

#: rl-zoo3 keys that configure the run rather than the algorithm.
SPECIAL_KEYS = ("n_timesteps", "policy", "n_envs", "normalize", "policy_kwargs")
#: rl-zoo3 keys we do not support (named so a user's zoo file fails clearly instead of being half-applied).
UNSUPPORTED_KEYS = ("env_wrapper", "vec_env_wrapper", "frame_stack", "callback", "normalize_kwargs")
#: Arguments the training command sets itself from flags.
FLAG_KEYS = {"env": "--env", "seed": "--seed", "device": "--device", "tensorboard_log": "-tb", "verbose": "--verbose"}
#: Hyperparameters that accept "lin_<x>" (linear decay from x to 0).
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")

#: Value checks the constructors leave to an assert deep inside (or to a crash mid-training):
#: key -> (predicate, what is allowed).
_VALUE_RULES: dict[str, tuple[Any, str]] = {
    **{k: (lambda v: _is_int(v) and v >= 1, "an integer >= 1")
       for k in ("n_steps", "n_epochs", "buffer_size", "target_update_interval")},
    "batch_size": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "learning_starts": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "gradient_steps": (lambda v: _is_int(v) and (v >= 1 or v == -1), "an integer >= 1, or -1"),
    "gamma": (lambda v: _is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
    "gae_lambda": (lambda v: _is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
    "tau": (lambda v: _is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
    "learning_rate": (lambda v: callable(v) or (_is_num(v) and v > 0.0), "a number > 0 or 'lin_<number>'"),
    "clip_range": (lambda v: callable(v) or (_is_num(v) and v > 0.0), "a number > 0 or 'lin_<number>'"),
    **{k: (lambda v: _is_num(v) and v >= 0.0, "a number >= 0")
       for k in ("ent_coef", "vf_coef", "max_grad_norm", "exploration_fraction", "exploration_initial_eps",
                 "exploration_final_eps")},
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _read_yaml(path: Path, flag: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{flag}: cannot parse {path}{at}: {problem}") from None
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None


def _lookup_keys(env_id: str) -> tuple[str, str, str]:
    """Keys a hyperparameter table is searched for, in order: the id as given, without its ``module:`` prefix,
    then ``default``."""
    return env_id, env_id.split(":", 1)[-1], "default"


def hyperparams_for(algo: str, env_id: str, directory: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """Hyperparameters for ``env_id`` from ``<directory>/<algo>.yml`` and the key they came from.

    Returns ``(hyperparams, key)`` where ``key`` is the env id, or ``"default"`` when the file has no entry for it.
    A missing or malformed file, or one with neither entry, raises ValueError (a :class:`UsageError`).
    """
    from agents.acting.rl import resolve_algo

    algo = resolve_algo(algo)
    path = Path(directory or HYPERPARAMS_DIR) / f"{algo}.yml"
    if not path.is_file():
        raise UsageError(f"no hyperparameter file {path}")
    table = _read_yaml(path, "hyperparameter file") or {}
    if not isinstance(table, dict):
        raise UsageError(f"hyperparameter file {path}: must hold a mapping of env id -> hyperparameters")
    for key in _lookup_keys(env_id):
        if key in table:
            entry = table[key] or {}
            if not isinstance(entry, dict):
                raise UsageError(f"hyperparameter file {path}: entry '{key}' must be a mapping, "
                                 f"got {type(entry).__name__}")
            return dict(entry), key
    raise UsageError(f"{path} has no entry for '{_lookup_keys(env_id)[1]}' and no 'default' entry")


def load_conf_file(path: str, env_id: str) -> dict[str, Any]:
    """Hyperparameters from a --conf-file: the env id's entry (or 'default') when keyed like the yml, else flat."""
    p = Path(path)
    if not p.is_file():
        hint = ""
        if not p.exists() and p.parts[:1] == ("hyperparams",) and (HYPERPARAMS_DIR / p.name).is_file():
            hint = f" (the shipped defaults moved to {HYPERPARAMS_DIR / p.name})"
        raise UsageError(f"--conf-file: no such file: {p}{hint}")
    doc = _read_yaml(p, "--conf-file") or {}
    if not isinstance(doc, dict):
        raise UsageError(f"--conf-file: {p} must hold a mapping, got {type(doc).__name__}")
    for key in _lookup_keys(env_id):
        if isinstance(doc.get(key), dict):
            return dict(doc[key])
    return doc


def resolve_hyperparams(args: Any, algo: str, env_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge yml < --conf-file < --hyperparams; return (merged raw values, provenance).

    ``args`` needs ``conf_file`` and ``hyperparams`` (the argparse namespace of the training command).
    """
    hyperparams, key = hyperparams_for(algo, env_id)
    yml = HYPERPARAMS_DIR / f"{algo}.yml"
    if key == "default":
        print(f"Notice: {yml.name} has no entry for {env_id.split(':', 1)[-1]}; using its 'default' hyperparameters")
    source: dict[str, Any] = {"file": str(yml), "key": key}
    if args.conf_file:
        conf = load_conf_file(args.conf_file, env_id)
        hyperparams.update(conf)
        source["conf_file"] = {"path": args.conf_file, "keys": sorted(conf)}
    overrides = parse_key_values(args.hyperparams, "--hyperparams")
    hyperparams.update(overrides)
    if overrides:
        source["overrides"] = sorted(overrides)
    return hyperparams, source


def build_algo_kwargs(algo: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """Turn merged values into constructor kwargs: parse policy_kwargs, schedules, ints; reject unknown keys and
    out-of-range values (``n_steps:-5``, ``batch_size:0``) with a UsageError naming the key."""
    from agents.acting.rl import ALGOS, linear_schedule, parse_policy_kwargs
    from orbitcloud_env.suggest import did_you_mean

    cls = ALGOS[algo]
    params = inspect.signature(cls.__init__).parameters
    valid = [k for k in params if k not in ("self", "policy", "env", *FLAG_KEYS)]
    kwargs: dict[str, Any] = {}
    for key, value in hyperparams.items():
        if key in SPECIAL_KEYS:
            continue
        if key in UNSUPPORTED_KEYS:
            raise UsageError(f"hyperparameter '{key}' (rl-zoo3) is not supported by train.py")
        if key in FLAG_KEYS:
            raise UsageError(f"hyperparameter '{key}' is set by the {FLAG_KEYS[key]} flag, not in hyperparameters")
        if key not in params:
            raise UsageError(f"unknown {cls.__name__} hyperparameter '{key}'{did_you_mean(key, valid)}")
        if key in SCHEDULE_KEYS and isinstance(value, str):
            match = re.fullmatch(r"lin_([-+0-9.eE]+)", value)
            if not match:
                raise UsageError(f"hyperparameter {key}: expected a number or 'lin_<number>', got {value!r}")
            start = float(match.group(1))
            if not (math.isfinite(start) and start > 0.0):
                raise UsageError(f"hyperparameter {key}: 'lin_<x>' needs x > 0, got {value!r}")
            value = linear_schedule(start)
        default = params[key].default
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) \
                and value.is_integer():
            value = int(value)
        rule = _VALUE_RULES.get(key)
        if rule is not None and not rule[0](value):
            raise UsageError(f"hyperparameter {key}: must be {rule[1]}, got {value!r}")
        kwargs[key] = value
    try:
        kwargs["policy_kwargs"] = parse_policy_kwargs(hyperparams.get("policy_kwargs"))
    except ValueError as exc:
        raise UsageError(f"hyperparameter policy_kwargs: {exc}") from None
    return kwargs


def resolve_prior_params(algo_kwargs: dict[str, Any], env_id: str) -> dict[str, Any]:
    """``policy_kwargs.prior_params: 'tuned-admit'`` replaced by the env id's tuned parameters as plain numbers.

    RowScoringPolicy's residual prior is then ``tuned-admit`` with the parameters shipped for ``env_id``
    (agents/tuned/<env-id>.json, benchmarks/tune_heuristics.py): per-class admission thresholds and ground bias as
    lists in the job classes' one-hot order, and the battery reserve. The saved model holds those numbers, so it
    acts the same wherever it is loaded. A UsageError names the id when none are shipped."""
    policy_kwargs = algo_kwargs.get("policy_kwargs") or {}
    if policy_kwargs.get("prior_params") != "tuned-admit":
        return algo_kwargs
    from agents.acting.heuristics import load_tuned_params, tuned_params_path

    short = str(env_id).split(":")[-1]
    try:
        data = load_tuned_params(short)
    except ValueError as exc:
        raise UsageError(f"policy_kwargs.prior_params: {exc}") from None
    if data is None:
        raise UsageError(f"policy_kwargs.prior_params 'tuned-admit': no tuned parameters for {short} (no "
                         f"{tuned_params_path(short)}; benchmarks/tune_heuristics.py makes them)")
    classes, params = list(data.get("classes") or ()), data["params"]
    caps = params.get("backlog_cap")
    if isinstance(caps, dict) and any(v is not None for v in caps.values()):
        raise UsageError(f"policy_kwargs.prior_params 'tuned-admit': {tuned_params_path(short)} sets a backlog_cap, "
                         "which the policy's prior does not model")

    def per_class(key: str, neutral: float) -> list[float]:
        value = params.get(key, neutral)
        if isinstance(value, dict):
            return [float(value.get(c, neutral)) for c in classes]
        return [float(value)] * len(classes)

    resolved = {"admit_threshold": per_class("admit_threshold", 1.0), "ground_bias": per_class("ground_bias", 0.0),
                "battery_reserve": float(params.get("battery_reserve", 0.0))}
    return {**algo_kwargs, "policy_kwargs": {**policy_kwargs, "prior_params": resolved}}


def normalize_kwargs(value: Any) -> dict[str, Any] | None:
    """``normalize``: false/true, or VecNormalize kwargs as a mapping or a "dict(...)" string; None when off."""
    from agents.acting.rl import parse_policy_kwargs

    if value in (None, False):
        return None
    if value is True:
        return {}
    try:
        return parse_policy_kwargs(value)
    except ValueError as exc:
        raise UsageError(f"normalize: {exc}") from None


def rollout_rounding_notice(algo: str, algo_kwargs: Mapping[str, Any], n_envs: int, n_timesteps: int) -> str | None:
    """The line train.py prints when ``-n`` is not a whole number of rollouts of an on-policy algorithm, else None.

    SB3's on-policy ``learn`` collects whole rollouts of ``n_steps`` decisions in each of ``n_envs`` envs and stops
    at the first rollout end at or past ``total_timesteps``: ``-n 2048`` with 8 envs x ``n_steps`` 2048 trains
    16,384 steps.
    """
    if n_timesteps <= 0:
        return None
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    from agents.acting.rl import ALGOS

    cls = ALGOS[algo]
    if not issubclass(cls, OnPolicyAlgorithm):
        return None
    n_steps = int(algo_kwargs.get("n_steps", inspect.signature(cls).parameters["n_steps"].default))
    rollout = n_steps * n_envs
    total = -(-n_timesteps // rollout) * rollout
    if total == n_timesteps:
        return None
    return (f"Note: -n {n_timesteps} rounds up to {total:,} training steps: {algo} trains whole rollouts of "
            f"n_steps {n_steps} x {n_envs} envs = {rollout:,} decisions")
