"""Evaluation rollouts: run policies on paired seeds, one task per (policy, episode), in workers or in process.

Pairing: episode ``i`` of every policy calls ``env.reset(seed=seed + i)``; the env draws the workload and the
constellation's starting phase from that seed, so every policy is scored on the same job stream
(:attr:`~agents.evaluating.episode_metrics.EpisodeResult.workload_digest` makes that checkable).

Parallelism: :func:`evaluate` runs one task per (policy, episode) in a ``ProcessPoolExecutor`` with a *spawn*
context. Tasks carry only picklable specs (:class:`EnvSpec`, :class:`PolicySpec`); each worker builds the env and
loads a model once and caches them. A heuristic is rebuilt for every episode with the env it runs on
(``agents.make_policy(name, env=env, seed=seed)``) and the episode's seed, so a result never depends on which
worker ran which episode.

Reference rows: with ``upper_bound=True`` every seed also gets an ``upper-bound`` row, the episode return of the
relaxation computed by ``orbitcloud_env.bounds.episode_upper_bound(env, seed)``.

Inputs are trusted: the command line (agents/evaluating/evaluate_cli.py) checks flags once, before any episode runs.
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from agents.common.cli import UsageError
from agents.evaluating.episode_metrics import EpisodeRecorder, EpisodeResult
from orbitcloud_env.suggest import closest

__all__ = [
    "EvaluationError",
    "UPPER_BOUND",
    "EnvSpec",
    "PolicySpec",
    "resolve_policy",
    "make_env",
    "build_policy",
    "run_episode",
    "upper_bound_result",
    "evaluate",
    "render_episode_frames",
]

#: Label of the reference row holding the per-seed upper bound on the episode return.
UPPER_BOUND = "upper-bound"


class EvaluationError(UsageError):
    """A bad evaluation input (unknown policy, missing model file, ...); the message is one line."""


# ----------------------------------------------------------------------------------------------------------------
# Specs: picklable descriptions of the env and the policies


@dataclass(frozen=True)
class EnvSpec:
    """``gymnasium.make(env_id, **kwargs)``; kwargs as a sorted tuple so the spec is hashable and picklable."""

    env_id: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def create(cls, env_id: str, kwargs: Mapping[str, Any] | None = None) -> "EnvSpec":
        return cls(env_id, tuple(sorted((kwargs or {}).items())))

    @property
    def kwargs_dict(self) -> dict[str, Any]:
        return dict(self.kwargs)


@dataclass(frozen=True)
class PolicySpec:
    """A policy to evaluate: a heuristic by name or a trained model by path.

    Attributes:
        label: name in tables and plots (the heuristic's name; for a model the path without ``.zip`` relative to a
            ``logs/`` folder when it has one, e.g. ``ppo/OrbitCloud-v0_1/best_model``; or ``LABEL=`` given on the
            command line).
        source: heuristic name, or the model's absolute path.
        is_model: True for a model file.
        vecnormalize: absolute path of ``vecnormalize.pkl`` beside the model, when present.
        trust: load the model with SB3's own unpickling (``evaluate.py --trust-model``); default: safe loading,
            which refuses a file that needs code (agents/common/safeload.py).
    """

    label: str
    source: str
    is_model: bool
    vecnormalize: str | None = None
    trust: bool = False


def _model_label(path: Path) -> str:
    parts = path.with_suffix("").parts
    if "logs" in parts:
        idx = len(parts) - 1 - parts[::-1].index("logs")
        rest = parts[idx + 1:]
        if rest:
            return "/".join(rest)
    return "/".join(parts[-3:])


def resolve_policy(text: str, heuristics: Iterable[str], trust: bool = False) -> PolicySpec:
    """Turn one ``--policies`` item into a :class:`PolicySpec`.

    A model is recognised by its path (ends with ``.zip`` or is an existing file); anything else must be a
    heuristic name. ``LABEL=SPEC`` sets the label. Raises :class:`EvaluationError` with a one-line message for
    a missing model file or an unknown heuristic (naming the valid ones). ``trust`` is passed on to a model's
    spec (:attr:`PolicySpec.trust`).
    """
    heuristics = list(heuristics)
    label, sep, spec = text.partition("=")
    if not sep:
        label, spec = "", text
    spec = spec.strip()
    if not spec:
        raise EvaluationError(f"--policies: empty policy in {text!r}")
    path = Path(spec).expanduser()
    if spec.endswith(".zip") or path.is_file():
        if not path.is_file():
            raise EvaluationError(f"--policies: model file not found: {spec}")
        path = path.resolve()
        vecnorm = path.parent / "vecnormalize.pkl"
        return PolicySpec(label or _model_label(Path(spec)), str(path), True,
                          str(vecnorm) if vecnorm.is_file() else None, trust)
    if spec not in heuristics:
        close = closest(spec, heuristics)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise EvaluationError(f"--policies: unknown policy {spec!r}{hint}; heuristics: {', '.join(heuristics)}; "
                              "or give a trained model's .zip path")
    return PolicySpec(label or spec, spec, False)


# ----------------------------------------------------------------------------------------------------------------
# Building envs and policies


def make_env(env_spec: EnvSpec, render_mode: str | None = None) -> Any:
    """``gymnasium.make`` the spec's env (importing orbitcloud_env registers the ids)."""
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401  (registration on import)

    kwargs = env_spec.kwargs_dict
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return gym.make(env_spec.env_id, **kwargs)


def _accepts_action_masks(policy: Any) -> bool:
    try:
        return "action_masks" in inspect.signature(policy.predict).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False


def build_policy(spec: PolicySpec, env: Any = None, seed: int | None = None) -> Any:
    """Instantiate the policy: ``agents.make_policy(name, env=env, seed=seed)`` for a heuristic (seeded, and given
    the env it will run on: ``lookahead`` plans on it), ``agents.load`` for a model.

    ``agents.load`` applies a ``vecnormalize.pkl`` found beside the model (frozen observation statistics; reward
    normalisation off), so the model sees observations as in training. Both are read without running code from
    them unless the spec is trusted (agents/common/safeload.py).
    """
    import agents

    if not spec.is_model:
        return agents.make_policy(spec.source, env=env, seed=seed)
    return agents.load(spec.source, env=env, device="cpu", trust=spec.trust)


# ----------------------------------------------------------------------------------------------------------------
# Rollouts


def run_episode(env: Any, policy: Any, *, seed: int, episode: int = 0, label: str = "",
                deterministic: bool = True, on_step: Callable[[Any, int], None] | None = None) -> EpisodeResult:
    """Run one episode from ``env.reset(seed=seed)`` to termination or truncation.

    The action mask (``env.action_masks()``) is passed to policies whose ``predict`` takes ``action_masks``
    (heuristics, MaskablePPO). ``on_step(env, step)`` is called after reset (step 0) and after every step (for
    rendering).
    """
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset()
    masks_fn = _masks_fn(env) if _accepts_action_masks(policy) else None
    rec = EpisodeRecorder()
    step = 0
    if on_step is not None:
        on_step(env, step)
    while True:
        kwargs = {"action_masks": masks_fn()} if masks_fn is not None else {}
        action, _ = policy.predict(obs, state=None, episode_start=np.array([step == 0]),
                                   deterministic=deterministic, **kwargs)
        obs, reward, terminated, truncated, info = env.step(int(np.asarray(action).reshape(-1)[0]))
        rec.add(reward, info)
        step += 1
        if on_step is not None:
            on_step(env, step)
        if terminated or truncated:
            break
    metrics, regions, lat = rec.metrics()
    return EpisodeResult(policy=label, episode=episode, seed=seed, metrics=metrics, region_latency_ms=regions,
                         latencies_ms=lat, workload_digest=rec.digest, jobs=rec.jobs,
                         wall_s=time.perf_counter() - t0, steps=step)


def _masks_fn(env: Any) -> Callable[[], np.ndarray] | None:
    try:
        return env.get_wrapper_attr("action_masks")
    except AttributeError:
        fn = getattr(env.unwrapped, "action_masks", None)
        return fn if callable(fn) else None


def upper_bound_result(env: Any, *, seed: int, episode: int = 0) -> EpisodeResult:
    """The ``upper-bound`` reference row of one seed: ``orbitcloud_env.bounds.episode_upper_bound(env, seed)``
    as its ``episode_return`` (the only metric a relaxation has)."""
    from orbitcloud_env import bounds

    t0 = time.perf_counter()
    value = float(bounds.episode_upper_bound(env, seed))
    return EpisodeResult(policy=UPPER_BOUND, episode=episode, seed=seed, metrics={"episode_return": value},
                         region_latency_ms={}, latencies_ms=np.zeros(0), workload_digest="",
                         wall_s=time.perf_counter() - t0, reference=True)


# Worker-side caches (one env per env spec, one loaded model per policy spec), filled lazily in each process.
_ENV_CACHE: dict[EnvSpec, Any] = {}
_MODEL_CACHE: dict[tuple[PolicySpec, EnvSpec], Any] = {}


def _worker_init() -> None:
    """Keep each worker single-threaded (n_jobs processes share the cores) and headless."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _cached_env(env_spec: EnvSpec) -> Any:
    env = _ENV_CACHE.get(env_spec)
    if env is None:
        env = _ENV_CACHE[env_spec] = make_env(env_spec)
    return env


def _run_task(env_spec: EnvSpec, policy_spec: PolicySpec | None, episode: int, seed: int,
              deterministic: bool) -> EpisodeResult:
    """One episode of ``policy_spec`` on the worker's env, or (``policy_spec`` None) the seed's upper bound."""
    env = _cached_env(env_spec)
    if policy_spec is None:
        return upper_bound_result(env, seed=seed, episode=episode)
    if policy_spec.is_model:
        key = (policy_spec, env_spec)
        policy = _MODEL_CACHE.get(key)
        if policy is None:
            policy = _MODEL_CACHE[key] = build_policy(policy_spec, env)
    else:
        policy = build_policy(policy_spec, env, seed=seed)  # the env it runs on (lookahead plans on it)
    return run_episode(env, policy, seed=seed, episode=episode, label=policy_spec.label,
                       deterministic=deterministic)


def evaluate(env_spec: EnvSpec, policies: Sequence[PolicySpec], *, n_episodes: int, seed: int = 0,
             n_jobs: int = 1, deterministic: bool = True, progress: bool = True,
             upper_bound: bool = False, done: Iterable[EpisodeResult] = (),
             on_result: Callable[[EpisodeResult], None] | None = None) -> list[EpisodeResult]:
    """Evaluate every policy on episodes ``seed + i``, ``i < n_episodes``; results ordered by policy then episode.

    ``n_jobs > 1`` runs tasks in a spawn-context process pool; ``n_jobs == 1`` runs them in this process. With
    ``upper_bound`` the :data:`UPPER_BOUND` reference rows of every seed follow the policies' results.

    ``done``: results of an earlier, interrupted run; a (label, seed) pair found there is not run again and its
    result is returned as it is (``evaluate.py --resume``). ``on_result(result)`` is called in this process as
    each new episode finishes (the journal of agents/evaluating/journal.py).
    """
    tasks: list[tuple[EnvSpec, PolicySpec | None, int, int, bool]] = [
        (env_spec, p, i, seed + i, deterministic) for p in policies for i in range(n_episodes)]
    if upper_bound:
        tasks += [(env_spec, None, i, seed + i, deterministic) for i in range(n_episodes)]
    wanted = {(UPPER_BOUND if t[1] is None else t[1].label, t[3]): t for t in tasks}
    results: list[EpisodeResult] = [r for r in done if (r.policy, r.seed) in wanted]
    finished = {(r.policy, r.seed) for r in results}
    tasks = [t for key, t in wanted.items() if key not in finished]

    def record(result: EpisodeResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)
        bar.update(1)

    bar = _progress(len(tasks), progress)
    try:
        if n_jobs == 1 or not tasks:
            _worker_init()
            for task in tasks:
                record(_run_task(*task))
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=max(1, min(n_jobs, len(tasks))), mp_context=ctx,
                                        initializer=_worker_init) as pool:
                futures = [pool.submit(_run_task, *task) for task in tasks]
                try:
                    for fut in cf.as_completed(futures):
                        record(fut.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
    order = {p.label: k for k, p in enumerate(policies)}
    order[UPPER_BOUND] = len(policies)
    results.sort(key=lambda r: (order[r.policy], r.episode))
    return results


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="episodes", unit="ep", disable=not enabled, dynamic_ncols=True)


# ----------------------------------------------------------------------------------------------------------------
# Episode frames (evaluate.py --render-episode)


def render_episode_frames(env_spec: EnvSpec, policy_spec: PolicySpec, *, seed: int, max_frames: int = 60,
                          deterministic: bool = True) -> tuple[list[np.ndarray], EpisodeResult]:
    """Run one episode with ``render_mode="rgb_array"`` and keep at most ``max_frames`` evenly spaced frames.

    The frame stride is ``ceil(horizon / max_frames)`` with the horizon from the env spec's
    ``max_episode_steps`` (or the config's ``max_jobs``); the reset frame and the final frame are always kept.
    """
    env = make_env(env_spec, render_mode="rgb_array")
    try:
        horizon = getattr(env.spec, "max_episode_steps", None) or _config_max_jobs(env) or max_frames
        stride = max(1, math.ceil(horizon / max(1, max_frames - 1)))
        frames: list[np.ndarray] = []
        last: dict[str, Any] = {}

        def on_step(e: Any, step: int) -> None:
            if step % stride == 0:
                frames.append(np.asarray(e.render()))
            last["step"] = step

        policy = build_policy(policy_spec, env, seed=seed)
        result = run_episode(env, policy, seed=seed, label=policy_spec.label, deterministic=deterministic,
                             on_step=on_step)
        if last.get("step", 0) % stride != 0:
            frames.append(np.asarray(env.render()))
    finally:
        env.close()
    if len(frames) > max_frames:
        keep = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[k] for k in keep]
    return frames, result


def _config_max_jobs(env: Any) -> int | None:
    cfg = getattr(env.unwrapped, "config", None)
    episode = getattr(cfg, "episode", None)
    return getattr(episode, "max_jobs", None)
