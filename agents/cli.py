"""Helpers shared by the command lines (train.py, evaluate.py): typed flag values and env-id checks.

Values are parsed with :func:`ast.literal_eval` (never ``eval``), falling back to the raw string, so
``max_jobs:200`` gives an int, ``lr:3e-4`` a float, ``net:[64, 64]`` a list and ``preset:small`` a string.
"""

from __future__ import annotations

import ast
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable

from orbitcloud_env.suggest import did_you_mean

__all__ = ["UsageError", "parse_value", "parse_key_values", "resolve_env_id", "environment_versions"]


class UsageError(ValueError):
    """A bad flag or flag value: reported as one line on stderr, exit status 2."""


def parse_value(text: str) -> Any:
    """A Python literal (int, float, bool, None, list, dict...) via ast.literal_eval, else the raw string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_key_values(tokens: Iterable[str] | None, flag: str) -> dict[str, Any]:
    """``["a:1", "b:x"]`` -> ``{"a": 1, "b": "x"}`` (split at the first colon).

    Raises:
        UsageError: for a token without ``KEY:``, an empty key, or a key given twice, naming ``flag``.
    """
    out: dict[str, Any] = {}
    for token in tokens or ():
        key, sep, value = str(token).partition(":")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag}: expected KEY:VALUE, got {token!r} (e.g. {flag} preset:small max_jobs:200)")
        if key in out:
            raise UsageError(f"{flag}: key {key!r} given twice")
        out[key] = parse_value(value.strip())
    return out


def resolve_env_id(env_id: str) -> str:
    """``env_id`` if it is registered (an optional ``module:`` prefix is kept), else UsageError with a suggestion."""
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the OrbitCloud ids

    short = env_id.split(":", 1)[-1]
    if short in gym.registry:
        return env_id
    ours = sorted(i for i in gym.registry if i.startswith("OrbitCloud"))
    hint = did_you_mean(short, ours, cutoff=0.4) or did_you_mean(short, gym.registry)
    raise UsageError(f"--env: unknown env id '{env_id}'{hint} (OrbitCloud ids: {', '.join(ours)})")


def environment_versions() -> dict[str, str]:
    """Versions of Python, the libraries a run depends on and this package, plus the git commit of the checkout
    when there is one: recorded in train.py's config.yml and evaluate.py's run.json for reproducibility."""
    out = {"python": platform.python_version()}
    for mod in ("numpy", "scipy", "gymnasium", "stable_baselines3", "sb3_contrib", "torch", "orbitcloud_env"):
        try:
            out[mod] = str(__import__(mod).__version__)
        except (ImportError, AttributeError):
            out[mod] = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    if commit:
        out["git_commit"] = commit
    return out
