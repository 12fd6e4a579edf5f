"""Policy registry: heuristics by name, saved models by path (one entry point for evaluation and scripts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.acting.heuristics import HEURISTICS, REQUIRED_KEYS, HeuristicPolicy
from agents.acting.lookahead import LOOKAHEAD_VARIANTS, make_lookahead
from agents.acting.rl import ALGOS, LoadedPolicy, load
from orbitcloud_env.suggest import closest

__all__ = ["available", "available_policies", "available_algorithms", "make_policy"]


def available() -> list[str]:
    """Names of the heuristic policies (observation-only), in a stable order."""
    return list(HEURISTICS)


def available_policies() -> list[str]:
    """Every name ``make_policy`` builds: the heuristics, then the reference policies ``lookahead``,
    ``lookahead-long`` and ``lookahead-admit`` (privileged: they read the simulator, see agents/acting/lookahead.py)."""
    return available() + list(LOOKAHEAD_VARIANTS)


def available_algorithms() -> list[str]:
    """Names of the RL algorithms (``train.py --algo``)."""
    return list(ALGOS)


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _looks_like_path(name: str) -> bool:
    return name.endswith(".zip") or "/" in name or "\\" in name or Path(name).exists()


def make_policy(name_or_path: str | Path, env: Any = None, seed: int | None = None,
                device: str = "cpu", trust: bool = False) -> HeuristicPolicy | LoadedPolicy:
    """A heuristic by name (``available()``), or a saved model when given a path to a ``.zip``.

    Args:
        name_or_path: heuristic name (case, '_' vs '-' ignored) or path of an SB3 model.
        env: optional env; a heuristic checks that its observation space has the keys it reads, a model that
            its spaces equal the env's.
        seed: seed of the policy's own generator (``random``); ignored by deterministic policies and models.
        device: torch device for a model.
        trust: for a model file: False (default) reads it without running code from it and refuses a file that
            would need some (:mod:`agents.common.safeload`); True loads it with SB3's own unpickling (a file you trust).

    Raises:
        ValueError: unknown name (with a "did you mean"), or an unusable model file / env
            (``agents.UntrustedFileError`` for a file refused by safe loading).
        FileNotFoundError: a model path that does not exist.
    """
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        return load(name_or_path, env=env, device=device, trust=trust)
    key = _normalise(str(name_or_path))
    if key in LOOKAHEAD_VARIANTS:
        return make_lookahead(key, env=env, seed=seed)
    if key not in HEURISTICS:
        close = closest(key, HEURISTICS, cutoff=0.5)
        hint = f"; did you mean '{close}'?" if close else ""
        raise ValueError(f"unknown policy '{name_or_path}'{hint} (heuristics: {', '.join(HEURISTICS)}; "
                         f"or give the path of a saved .zip model)")
    if env is not None:
        keys = set(getattr(env.observation_space, "spaces", {}) or {})
        missing = [k for k in REQUIRED_KEYS if k not in keys]
        if missing:
            raise ValueError(f"policy '{key}' needs observation keys {missing} that the env does not have")
    cls = HEURISTICS[key]
    if getattr(cls, "takes_env", False):  # tuned-admit: the env's id selects its tuned parameters
        return cls(seed=seed, env=env)
    return cls(seed=seed)
