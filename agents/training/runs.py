"""Run folders of the training command: ``<log-folder>/<algo>/<env>_<N>/`` (rl-baselines3-zoo layout).

N is 1 + the highest existing N for that algorithm and env, so an earlier run is never overwritten. The folder is
created only after every check has passed (the training command probes the env and builds the model first); if
setting up training still fails before the first step, :func:`remove_run_dir` takes the folder away again, with
the parent folders this run created.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from orbitcloud_env.plain import to_plain

__all__ = ["next_run_dir", "remove_run_dir", "plain"]


def next_run_dir(log_folder: str | os.PathLike, algo: str, env_id: str) -> tuple[Path, list[Path]]:
    """Create ``<log_folder>/<algo>/<env>_<N>`` with N = 1 + the highest existing N (race-safe).

    Returns ``(run_dir, created)``: ``created`` lists the parent folders that did not exist before, deepest first
    (for :func:`remove_run_dir`).
    """
    base = Path(log_folder) / algo
    created = [p for p in (base, base.parent) if not p.exists()]
    base.mkdir(parents=True, exist_ok=True)
    short = env_id.split(":", 1)[-1]
    pattern = re.compile(rf"^{re.escape(short)}_(\d+)$")
    n = max((int(m.group(1)) for d in base.iterdir() if (m := pattern.match(d.name))), default=0) + 1
    while True:
        run_dir = base / f"{short}_{n}"
        try:
            run_dir.mkdir()
            return run_dir, created
        except FileExistsError:
            n += 1


def remove_run_dir(run_dir: Path, created: list[Path] = ()) -> None:
    """Remove a run folder that never trained, and the parents in ``created`` that are now empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in created:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def _describe(value: Any) -> str:
    """A class as ``module.Name``, a function by its qualified name, anything else by its repr."""
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return getattr(value, "__qualname__", None) or repr(value)


def plain(value: Any) -> Any:
    """YAML-safe copy (:func:`orbitcloud_env.plain.to_plain`): containers recursively, numbers/strings/bools as the
    exact builtins, a class or function by its name, anything else as its repr."""
    return to_plain(value, other=_describe)
