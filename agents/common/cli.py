"""Helpers shared by the command lines (``orbitcloud-train`` / train.py, ``orbitcloud-evaluate`` / evaluate.py):
one-line argument errors, typed flag values, env-id and output-folder checks.

Values are parsed with :func:`ast.literal_eval` (never ``eval``), falling back to the raw string, so
``max_jobs:200`` gives an int, ``lr:3e-4`` a float, ``net:[64, 64]`` a list and ``preset:small`` a string.

This module imports only the standard library at import time (no torch, Stable-Baselines3, gymnasium or the
simulator), so the parsers that use it answer ``--help`` at once.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = ["EXIT_USAGE", "EXIT_TERMINATED", "Terminated", "UsageError", "OneLineParser", "prog_name", "parse_value",
           "parse_key_values", "resolve_env_id", "check_folder_writable", "environment_versions",
           "sigterm_as_interrupt"]

#: Exit status of a usage error (argparse's).
EXIT_USAGE = 2
#: Exit status after SIGTERM (128 + 15, what a shell reports for a process the signal ended).
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's or ``timeout``'s stop), raised in the main thread where Ctrl-C raises
    KeyboardInterrupt, so the commands handle both in one place (save / keep the finished work)."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread; a second SIGTERM while the first
    is being handled (the model being saved) is ignored. Outside the main thread: no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum: int, frame: Any) -> None:
        if not fired:
            fired.append(signum)
            raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class UsageError(ValueError):
    """A bad flag or flag value: reported as one line on stderr, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump): ``PROG: error: ... (see PROG --help)``, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def prog_name(default: str, argv: Any) -> str:
    """The program name for messages: ``default`` (``train.py``) when ``main(argv)`` is called in process, else
    the name it was started as (``train.py`` from a checkout, ``orbitcloud-train`` when installed)."""
    if argv is not None:
        return default
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] and sys.argv[0] != "-c" else default


def check_folder_writable(path: str | os.PathLike, flag: str) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder, creating nothing (a probe temporary folder is
    made and removed in the nearest existing folder). UsageError naming ``flag`` for a path that is a file or lies
    under one, or a folder this process cannot write to."""
    p = Path(path).expanduser()
    probe = p.absolute()
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == p.absolute() else f"lies under the file {probe}"
        raise UsageError(f"{flag}: {p} {where}; give a folder")
    try:
        with tempfile.TemporaryDirectory(prefix=".write-probe-", dir=probe):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write to {probe} ({exc.strerror or type(exc).__name__})") from None
    return p


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


def resolve_env_id(env_id: str, flag: str = "--env") -> str:
    """``env_id`` if it is registered (an optional ``module:`` prefix is kept), else UsageError naming ``flag`` with a
    suggestion and the OrbitCloud ids."""
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the OrbitCloud ids
    from orbitcloud_env.suggest import did_you_mean

    short = env_id.split(":", 1)[-1]
    if short in gym.registry:
        return env_id
    ours = sorted(i for i in gym.registry if i.startswith("OrbitCloud"))
    hint = did_you_mean(short, ours, cutoff=0.4) or did_you_mean(short, gym.registry)
    raise UsageError(f"{flag}: unknown env id '{env_id}'{hint} (OrbitCloud ids: {', '.join(ours)})")


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
