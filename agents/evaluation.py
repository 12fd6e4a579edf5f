"""Evaluation rollouts: run policies on paired seeds and compute per-episode metrics from the per-step infos.

Pairing: episode ``i`` of every policy calls ``env.reset(seed=seed + i)``; the env draws the workload and the
constellation's starting phase from that seed, so every policy is scored on the same job stream
(:attr:`EpisodeResult.workload_digest` makes that checkable).

Parallelism: :func:`evaluate` runs one task per (policy, episode) in a ``ProcessPoolExecutor`` with a *spawn*
context. Tasks carry only picklable specs (:class:`EnvSpec`, :class:`PolicySpec`); each worker builds the env and
loads a model once and caches them. A heuristic is rebuilt for every episode, seeded with the episode's seed, so a
result never depends on which worker ran which episode.

Metrics are computed here from the per-step ``info`` dicts (docs/env_contract.md), not copied from the env's
final-step ``episode_metrics``; the latter is kept in :attr:`EpisodeResult.env_metrics` for cross-checking.
Clocks: latencies are per job on the event clock [ms]; ``time_s`` is simulated seconds since reset.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import inspect
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from agents.cli import UsageError, parse_key_values, resolve_env_id
from agents.io import write_text_atomic
from agents.stats import jain_index

__all__ = [
    "EvaluationError",
    "MetricInfo",
    "METRICS",
    "REGIONS",
    "region_of",
    "EnvSpec",
    "PolicySpec",
    "EpisodeResult",
    "EpisodeRecorder",
    "episode_metrics_from_infos",
    "parse_env_kwargs",
    "resolve_policy",
    "check_env_id",
    "make_env",
    "build_policy",
    "run_episode",
    "evaluate",
    "render_episode_frames",
]

#: The contract's outcomes; "served" jobs are those that ran (met or missed their deadline).
OUTCOMES = ("met", "missed", "dropped", "rejected")


class EvaluationError(UsageError):
    """A bad evaluation input (unknown policy, missing model file, malformed env kwargs); message is one line."""


# ----------------------------------------------------------------------------------------------------------------
# Metric registry


@dataclass(frozen=True)
class MetricInfo:
    """How a per-episode metric is labelled and compared.

    Args:
        label: human-readable name for tables and plots.
        unit: display unit ("" for none; "%" means the stored value is a fraction shown as per cent).
        higher_is_better: direction used by the probability of improvement (None: no preferred direction; treated
            as higher when chosen as the score metric).
    """

    label: str
    unit: str
    higher_is_better: bool | None
    description: str


METRICS: dict[str, MetricInfo] = {
    "episode_return": MetricInfo("Return", "", True, "sum of rewards over the episode"),
    "mean_latency_ms": MetricInfo("Mean latency", "ms", False, "mean total latency of served jobs"),
    "median_latency_ms": MetricInfo("Median latency", "ms", False, "median total latency of served jobs"),
    "p95_latency_ms": MetricInfo("P95 latency", "ms", False, "95th percentile latency of served jobs"),
    "deadline_miss_rate": MetricInfo("Deadline-miss rate", "%", False, "(missed + dropped) / placed"),
    "rejection_rate": MetricInfo("Rejection rate", "%", False, "rejected / jobs"),
    "drop_rate": MetricInfo("Drop rate", "%", False, "dropped / jobs"),
    "success_rate": MetricInfo("Success rate", "%", True, "met / jobs"),
    "energy_j_per_job": MetricInfo("Energy per job", "J", False, "energy of all jobs / placed"),
    "orbital_share": MetricInfo("Orbital share", "%", None, "served on satellites / served"),
    "jain_fairness": MetricInfo("Jain fairness (regions)", "", True,
                                "Jain's index over the regions' mean latencies"),
    "invalid_action_rate": MetricInfo("Invalid-action rate", "%", False, "invalid (masked-out) actions / jobs"),
    "n_jobs": MetricInfo("Jobs", "", None, "jobs decided in the episode"),
}

#: Metrics shown in summary.md (in this order).
SUMMARY_METRICS: tuple[str, ...] = (
    "episode_return", "mean_latency_ms", "p95_latency_ms", "deadline_miss_rate", "rejection_rate",
    "success_rate", "energy_j_per_job", "orbital_share", "jain_fairness",
)

# ----------------------------------------------------------------------------------------------------------------
# Regions: continent-like latitude/longitude boxes, tested in order (first match wins).

#: ``(name, rule)`` with ``rule(lat_deg, lon_deg) -> bool``; longitudes in [-180, 180), east positive.
#: Approximate continents: the Middle East counts as Asia; Istanbul, Ankara and Baku count as Europe; Central
#: America and the Caribbean count as North America. Every city of ``orbitcloud_env/data/cities.csv`` falls in
#: the continent it belongs to under this grouping.
REGIONS: tuple[tuple[str, Callable[[float, float], bool]], ...] = (
    ("North America", lambda lat, lon: lon < -25.0 and lat >= 13.0),
    ("South America", lambda lat, lon: lon < -25.0),
    ("Oceania", lambda lat, lon: lat < -10.0 and lon >= 110.0),
    ("Europe", lambda lat, lon: lat >= 37.0 and lon < 60.0),
    ("Africa", lambda lat, lon: lat < 37.0 and lon < 52.0 and not (lat >= 12.0 and lon >= 34.2)),
    ("Asia", lambda lat, lon: True),
)
REGION_NAMES: tuple[str, ...] = tuple(name for name, _ in REGIONS)


def region_of(lat_deg: float, lon_deg: float) -> str:
    """Continent-like region of a site from its latitude and longitude [deg] (see :data:`REGIONS`)."""
    lon = ((float(lon_deg) + 180.0) % 360.0) - 180.0
    for name, rule in REGIONS:
        if rule(float(lat_deg), lon):
            return name
    raise AssertionError("unreachable: the last region matches everything")  # pragma: no cover


def region_column(name: str) -> str:
    """Column name of a region's mean latency in episodes.csv, e.g. ``region_latency_ms.north_america``."""
    return "region_latency_ms." + name.lower().replace(" ", "_")


# ----------------------------------------------------------------------------------------------------------------
# Per-episode metrics from per-step infos


@dataclass
class EpisodeResult:
    """One policy's evaluation episode.

    Attributes:
        policy: the policy's label; episode: index ``i``; seed: ``seed + i`` passed to ``env.reset``.
        metrics: per-episode scalar metrics (keys of :data:`METRICS`, plus ``reward.<term>`` sums).
        region_latency_ms: mean latency [ms] of served jobs per region (NaN where the region had none).
        latencies_ms: total latency [ms] of every served job, in arrival order (for CDFs).
        workload_digest: SHA-1 of the job stream (job id, class, site, deadline, time); equal across policies when
            seeds are paired.
        jobs: ``(job_id, site, time_s)`` of every decided job (for tests and debugging).
        env_metrics: the env's own final-step ``info["episode_metrics"]`` (empty when absent).
        wall_s: wall-clock seconds of the rollout; steps: agent steps.
    """

    policy: str
    episode: int
    seed: int
    metrics: dict[str, float]
    region_latency_ms: dict[str, float]
    latencies_ms: np.ndarray
    workload_digest: str
    jobs: list[tuple[int, int, float]] = field(default_factory=list)
    env_metrics: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    steps: int = 0

    def row(self) -> dict[str, Any]:
        """Flat dict for episodes.csv."""
        out: dict[str, Any] = {"policy": self.policy, "episode": self.episode, "seed": self.seed}
        out.update(self.metrics)
        for name in REGION_NAMES:
            out[region_column(name)] = self.region_latency_ms.get(name, math.nan)
        out.update({"steps": self.steps, "wall_s": self.wall_s, "workload_digest": self.workload_digest})
        return out


class EpisodeRecorder:
    """Accumulates ``(reward, info)`` per step and turns them into per-episode metrics."""

    def __init__(self) -> None:
        self.rewards: list[float] = []
        self.outcomes: list[str] = []
        self.latency_ms: list[float] = []
        self.energy_j: list[float] = []
        self.is_ground: list[bool] = []
        self.invalid: list[bool] = []
        self.regions: list[str] = []
        self.reward_terms: dict[str, float] = {}
        self.jobs: list[tuple[int, int, float]] = []
        self._digest = hashlib.sha1()
        self.env_metrics: dict[str, float] = {}

    def add(self, reward: float, info: Mapping[str, Any]) -> None:
        outcome = str(info["outcome"])
        if outcome not in OUTCOMES:
            raise ValueError(f"info['outcome'] must be one of {OUTCOMES}, got {outcome!r}")
        self.rewards.append(float(reward))
        self.outcomes.append(outcome)
        self.latency_ms.append(float(info.get("latency_ms", 0.0)))
        self.energy_j.append(float(info.get("energy_j", 0.0)))
        self.is_ground.append(bool(info.get("is_ground", False)))
        self.invalid.append(bool(info.get("invalid_action", False)))
        self.regions.append(region_of(info["site_lat_deg"], info["site_lon_deg"]))
        for term, value in (info.get("rewards") or {}).items():
            self.reward_terms[term] = self.reward_terms.get(term, 0.0) + float(value)
        job = (int(info.get("job_id", len(self.jobs))), int(info.get("site", -1)), float(info.get("time_s", 0.0)))
        self.jobs.append(job)
        key = (job[0], str(info.get("job_class", "")), job[1], round(float(info.get("deadline_ms", 0.0)), 6),
               round(job[2], 6))
        self._digest.update(repr(key).encode())
        if "episode_metrics" in info:
            self.env_metrics = {k: float(v) for k, v in info["episode_metrics"].items()}

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def metrics(self) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
        """Returns ``(metrics, region_latency_ms, served_latencies_ms)``; conventions as the env contract."""
        outcomes = np.array(self.outcomes, dtype=object)
        n = len(outcomes)
        met = outcomes == "met"
        missed = outcomes == "missed"
        dropped = outcomes == "dropped"
        rejected = outcomes == "rejected"
        served = met | missed
        placed = n - int(rejected.sum())
        lat = np.asarray(self.latency_ms, dtype=np.float64)[served] if n else np.zeros(0)
        ground = np.asarray(self.is_ground, dtype=bool)
        regions = np.array(self.regions, dtype=object)

        def rate(count: int | np.integer, denom: int) -> float:
            return float(count) / denom if denom > 0 else 0.0

        region_latency = {}
        for name in REGION_NAMES:
            sel = served & (regions == name) if n else np.zeros(0, dtype=bool)
            region_latency[name] = float(np.mean(np.asarray(self.latency_ms)[sel])) if sel.any() else math.nan
        present = [v for v in region_latency.values() if not math.isnan(v)]
        m: dict[str, float] = {
            "episode_return": float(np.sum(self.rewards)),
            "mean_latency_ms": float(np.mean(lat)) if lat.size else 0.0,
            "median_latency_ms": float(np.median(lat)) if lat.size else 0.0,
            "p95_latency_ms": float(np.percentile(lat, 95)) if lat.size else 0.0,
            "deadline_miss_rate": rate(missed.sum() + dropped.sum(), placed),
            "rejection_rate": rate(rejected.sum(), n),
            "drop_rate": rate(dropped.sum(), n),
            "success_rate": rate(met.sum(), n),
            "energy_j_per_job": float(np.sum(self.energy_j)) / placed if placed > 0 else 0.0,
            "orbital_share": rate((served & ~ground).sum(), int(served.sum())),
            "jain_fairness": jain_index(present) if present else 1.0,
            "invalid_action_rate": rate(int(np.sum(self.invalid)), n),
            "n_jobs": float(n),
        }
        for term in sorted(self.reward_terms):
            m[f"reward.{term}"] = self.reward_terms[term]
        return m, region_latency, lat


def episode_metrics_from_infos(infos: Sequence[Mapping[str, Any]], rewards: Sequence[float]) -> dict[str, float]:
    """Per-episode metrics of a finished episode from its per-step infos and rewards (same length)."""
    if len(infos) != len(rewards):
        raise ValueError(f"need one reward per info, got {len(rewards)} rewards and {len(infos)} infos")
    rec = EpisodeRecorder()
    for r, info in zip(rewards, infos):
        rec.add(r, info)
    return rec.metrics()[0]


# ----------------------------------------------------------------------------------------------------------------
# Specs: picklable descriptions of the env and the policies


def parse_env_kwargs(items: Iterable[str] | None) -> dict[str, Any]:
    """Parse ``key:value`` strings (:func:`agents.cli.parse_key_values`, values through ast.literal_eval).

    ``["preset:small", "max_jobs:200", "constellation.altitude_km:600"]`` ->
    ``{"preset": "small", "max_jobs": 200, "constellation.altitude_km": 600}``.
    Raises :class:`EvaluationError` for an item without ``:``, an empty key or a repeated key.
    """
    try:
        return parse_key_values(items, "--env-kwargs")
    except UsageError as exc:
        raise EvaluationError(str(exc)) from None


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
    """

    label: str
    source: str
    is_model: bool
    vecnormalize: str | None = None


def _model_label(path: Path) -> str:
    parts = path.with_suffix("").parts
    if "logs" in parts:
        idx = len(parts) - 1 - parts[::-1].index("logs")
        rest = parts[idx + 1:]
        if rest:
            return "/".join(rest)
    return "/".join(parts[-3:])


def resolve_policy(text: str, heuristics: Iterable[str]) -> PolicySpec:
    """Turn one ``--policies`` item into a :class:`PolicySpec`.

    A model is recognised by its path (ends with ``.zip`` or is an existing file); anything else must be a
    heuristic name. ``LABEL=SPEC`` sets the label. Raises :class:`EvaluationError` with a one-line message for
    a missing model file or an unknown heuristic (naming the valid ones).
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
                          str(vecnorm) if vecnorm.is_file() else None)
    if spec not in heuristics:
        import difflib

        close = difflib.get_close_matches(spec, heuristics, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EvaluationError(f"--policies: unknown policy {spec!r}{hint}; heuristics: {', '.join(heuristics)}; "
                              "or give a trained model's .zip path")
    return PolicySpec(label or spec, spec, False)


# ----------------------------------------------------------------------------------------------------------------
# Building envs and policies


def check_env_id(env_id: str) -> None:
    """Raise :class:`EvaluationError` naming the closest registered id when ``env_id`` is not registered."""
    try:
        resolve_env_id(env_id)
    except UsageError as exc:
        raise EvaluationError(str(exc)) from None


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
    """Instantiate the policy: ``agents.make_policy`` for a heuristic (seeded), ``agents.load`` for a model.

    ``agents.load`` applies a ``vecnormalize.pkl`` found beside the model (frozen observation statistics; reward
    normalisation off), so the model sees observations as in training.
    """
    import agents

    if not spec.is_model:
        return agents.make_policy(spec.source, env=env, seed=seed)
    return agents.load(spec.source, env=env, device="cpu")


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
                         latencies_ms=lat, workload_digest=rec.digest, jobs=rec.jobs, env_metrics=rec.env_metrics,
                         wall_s=time.perf_counter() - t0, steps=step)


def _masks_fn(env: Any) -> Callable[[], np.ndarray] | None:
    try:
        return env.get_wrapper_attr("action_masks")
    except AttributeError:
        fn = getattr(env.unwrapped, "action_masks", None)
        return fn if callable(fn) else None


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


def _run_task(env_spec: EnvSpec, policy_spec: PolicySpec, episode: int, seed: int,
              deterministic: bool) -> EpisodeResult:
    env = _ENV_CACHE.get(env_spec)
    if env is None:
        env = _ENV_CACHE[env_spec] = make_env(env_spec)
    if policy_spec.is_model:
        key = (policy_spec, env_spec)
        policy = _MODEL_CACHE.get(key)
        if policy is None:
            policy = _MODEL_CACHE[key] = build_policy(policy_spec, env)
    else:
        policy = build_policy(policy_spec, env, seed=seed)
    return run_episode(env, policy, seed=seed, episode=episode, label=policy_spec.label,
                       deterministic=deterministic)


def evaluate(env_spec: EnvSpec, policies: Sequence[PolicySpec], *, n_episodes: int, seed: int = 0,
             n_jobs: int = 1, deterministic: bool = True, progress: bool = True) -> list[EpisodeResult]:
    """Evaluate every policy on episodes ``seed + i``, ``i < n_episodes``; results ordered by policy then episode.

    ``n_jobs > 1`` runs tasks in a spawn-context process pool; ``n_jobs == 1`` runs them in this process.
    """
    if n_episodes < 1:
        raise EvaluationError(f"--episodes must be >= 1, got {n_episodes}")
    if n_jobs < 1:
        raise EvaluationError(f"--n-jobs must be >= 1, got {n_jobs}")
    tasks = [(env_spec, p, i, seed + i, deterministic) for p in policies for i in range(n_episodes)]
    results: list[EpisodeResult] = []
    bar = _progress(len(tasks), progress)
    try:
        if n_jobs == 1:
            _worker_init()
            for task in tasks:
                results.append(_run_task(*task))
                bar.update(1)
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=ctx,
                                        initializer=_worker_init) as pool:
                futures = [pool.submit(_run_task, *task) for task in tasks]
                try:
                    for fut in cf.as_completed(futures):
                        results.append(fut.result())
                        bar.update(1)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
    order = {p.label: k for k, p in enumerate(policies)}
    results.sort(key=lambda r: (order[r.policy], r.episode))
    return results


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="episodes", unit="ep", disable=not enabled, dynamic_ncols=True)


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


def to_dict(result: EpisodeResult) -> dict[str, Any]:
    """JSON-ready view of an :class:`EpisodeResult` (without the per-job arrays)."""
    d = dataclasses.asdict(result)
    d.pop("latencies_ms")
    d.pop("jobs")
    return d


# ----------------------------------------------------------------------------------------------------------------
# Cross-check against the env's own episode_metrics

#: Our metric name -> the env's ``episode_metrics`` key (same definitions, docs/env_contract.md).
_ENV_METRIC_KEYS = {
    "n_jobs": "n_jobs", "mean_latency_ms": "mean_latency_ms", "median_latency_ms": "median_latency_ms",
    "p95_latency_ms": "p95_latency_ms", "deadline_miss_rate": "deadline_miss_rate",
    "rejection_rate": "rejection_rate", "drop_rate": "drop_rate", "success_rate": "success_rate",
    "energy_j_per_job": "energy_j_per_job", "orbital_share": "orbital_share", "episode_return": "episode_return",
}


def crosscheck(result: EpisodeResult, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> list[str]:
    """Metrics on which our step-info computation and the env's ``episode_metrics`` disagree (one line each)."""
    problems = []
    for ours, theirs in _ENV_METRIC_KEYS.items():
        if theirs not in result.env_metrics:
            continue
        a, b = result.metrics[ours], result.env_metrics[theirs]
        if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol):
            problems.append(f"{result.policy} episode {result.episode}: {ours} from step infos = {a:.6g}, "
                            f"env episode_metrics = {b:.6g}")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Aggregation and output files


def summarize_results(results: Sequence[EpisodeResult], *, score_metric: str = "episode_return",
                      lower: str | None = "random", upper: str | None = "earliest-finish",
                      confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Aggregate episode results per policy (see :func:`agents.stats.aggregate`), plus per-region latency stats.

    Every policy must have the same episodes (paired seeds). Returns :func:`agents.stats.aggregate`'s dict with
    ``"region_latency_ms"`` (``[policy][region]`` -> mean/CI over the episodes in which the region had served
    jobs), ``"policies"`` (labels in order) and ``"crosscheck"`` (disagreements with the env's metrics).
    """
    from agents import stats

    if score_metric not in METRICS and not score_metric.startswith("reward."):
        raise EvaluationError(f"--score-metric: unknown metric {score_metric!r}; choose from {', '.join(METRICS)}")
    policies = list(dict.fromkeys(r.policy for r in results))
    by_policy = {p: [r for r in results if r.policy == p] for p in policies}
    seeds = {p: [r.seed for r in rs] for p, rs in by_policy.items()}
    if len({tuple(s) for s in seeds.values()}) > 1:
        raise ValueError(f"policies were evaluated on different seeds: {seeds}")
    metric_names = list(dict.fromkeys(k for r in results for k in r.metrics))
    values = {p: {m: np.array([r.metrics.get(m, 0.0) for r in rs]) for m in metric_names}
              for p, rs in by_policy.items()}
    higher = METRICS[score_metric].higher_is_better if score_metric in METRICS else True
    agg = stats.aggregate(values, score_metric=score_metric, higher_is_better=higher is not False, lower=lower,
                          upper=upper, confidence=confidence, n_resamples=n_resamples, seed=seed)
    region: dict[str, dict[str, dict[str, float]]] = {}
    for p, rs in by_policy.items():
        region[p] = {}
        for name in REGION_NAMES:
            v = np.array([r.region_latency_ms[name] for r in rs], dtype=float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                region[p][name] = {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
            else:
                ci = stats.bootstrap_ci(v, confidence=confidence, n_resamples=n_resamples, seed=seed)
                region[p][name] = {"mean": ci.value, "ci_low": ci.low, "ci_high": ci.high, "n": int(v.size)}
    agg["region_latency_ms"] = region
    agg["policies"] = policies
    agg["score_metric"] = score_metric
    agg["baselines"] = {"lower": lower, "upper": upper}
    agg["confidence"] = confidence
    agg["crosscheck"] = [line for r in results for line in crosscheck(r)]
    return agg


def _fmt(value: float | None, unit: str, decimals: int | None = None) -> str:
    """Table number: fractions shown as per cent with one decimal; otherwise ``decimals`` or 3 significant-ish."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "%":
        return f"{100.0 * value:.1f}"
    if decimals is not None:
        return f"{value:.{decimals}f}"
    mag = abs(value)
    if mag >= 100:
        return f"{value:.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(s: Mapping[str, float], unit: str, decimals: int | None = None) -> str:
    """``mean [low, high]`` (just the mean when the interval is undefined, e.g. one episode)."""
    mean = s["mean"] if "mean" in s else s["value"]
    low, high = s.get("ci_low", math.nan), s.get("ci_high", math.nan)
    if not (low is not None and high is not None and math.isfinite(low) and math.isfinite(high)):
        return _fmt(mean, unit, decimals)
    return f"{_fmt(mean, unit, decimals)} [{_fmt(low, unit, decimals)}, {_fmt(high, unit, decimals)}]"


#: Fixed decimals for bounded unitless scores in summary.md.
_DECIMALS = {"jain_fairness": 3}


def _header(metric: str) -> str:
    info = METRICS[metric]
    return f"{info.label} ({info.unit})" if info.unit else info.label


def format_summary_md(agg: Mapping[str, Any], *, title: str = "", footer: str = "") -> str:
    """Markdown tables: one row per policy with mean [95% CI] of the main metrics; then P(improvement)."""
    conf = agg.get("confidence", 0.95)
    lines = [f"## {title}", ""] if title else []
    cols = [m for m in SUMMARY_METRICS if all(m in agg["metrics"][p] for p in agg["policies"])]
    has_score = bool(agg["normalized_score"])
    header = ["Policy"] + [_header(m) for m in cols] + (["Normalised score"] if has_score else [])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for p in agg["policies"]:
        row = [p] + [_cell(agg["metrics"][p][m], METRICS[m].unit, _DECIMALS.get(m)) for m in cols]
        if has_score:
            row.append(_cell(agg["normalized_score"][p], "", 2))
        lines.append("| " + " | ".join(row) + " |")
    n = max(s["n"] for pm in agg["metrics"].values() for s in pm.values())
    lines += ["", f"Mean over {n} paired episodes per policy with {conf:.0%} percentile bootstrap CI."]
    if has_score:
        b = agg["baselines"]
        lines.append(f"Normalised score on {agg['score_metric']}: (policy - {b['lower']}) / "
                     f"({b['upper']} - {b['lower']}), paired bootstrap over seeds.")
    baselines = [b for b in (agg["baselines"]["lower"], agg["baselines"]["upper"]) if b in agg["policies"]]
    rows = [r for r in agg["probability_of_improvement"] if r["baseline"] in baselines]
    if rows:
        lines += ["", f"Probability of improvement P(policy > baseline) on {agg['score_metric']} "
                      f"(rliable; ties 0.5; {conf:.0%} paired bootstrap CI):", ""]
        lines.append("| Policy | " + " | ".join(f"vs {b}" for b in baselines) + " |")
        lines.append("|---|" + "---:|" * len(baselines))
        for p in agg["policies"]:
            cells = []
            for b in baselines:
                r = next((r for r in rows if r["policy"] == p and r["baseline"] == b), None)
                cells.append("—" if r is None else _cell({"value": r["probability_of_improvement"],
                                                          "ci_low": r["ci_low"], "ci_high": r["ci_high"]}, "", 2))
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    for note in agg["notes"]:
        lines += ["", f"Note: {note}"]
    if footer:
        lines += ["", footer]
    return "\n".join(lines) + "\n"


def _csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    import csv
    import io

    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _csv_value(r.get(k, "")) for k in columns})
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse (EvaluationError) an existing non-empty folder unless ``overwrite``, or a path that is a file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise EvaluationError(f"-o: {p} exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise EvaluationError(f"-o: results folder {p} exists and is not empty; pass --overwrite or choose another")
    return p


SUMMARY_CSV_STATS = ("mean", "ci_low", "ci_high", "iqm", "std", "median")


def write_outputs(results: Sequence[EpisodeResult], agg: Mapping[str, Any], out_dir: str | os.PathLike, *,
                  run_info: Mapping[str, Any], plots: bool = True, title: str = "") -> list[Path]:
    """Write summary.md/.csv/.json, episodes.csv, probability_of_improvement.csv, run.json and the plots.

    Returns the written paths. ``out_dir`` is created if needed; each file is written atomically.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    policies = agg["policies"]

    rows = [r.row() for r in results]
    written.append(write_text_atomic(out / "episodes.csv", _csv_text(rows)))

    metric_names = list(dict.fromkeys(m for p in policies for m in agg["metrics"][p]))
    srows = []
    for p in policies:
        row: dict[str, Any] = {"policy": p, "n_episodes": agg["metrics"][p][metric_names[0]]["n"]}
        for m in metric_names:
            for s in SUMMARY_CSV_STATS:
                row[f"{m}_{s}"] = agg["metrics"][p][m][s]
        if p in agg["normalized_score"]:
            ns = agg["normalized_score"][p]
            row.update({"normalized_score": ns["value"], "normalized_score_ci_low": ns["ci_low"],
                        "normalized_score_ci_high": ns["ci_high"]})
        for name in REGION_NAMES:
            row[region_column(name) + "_mean"] = agg["region_latency_ms"][p][name]["mean"]
        srows.append(row)
    written.append(write_text_atomic(out / "summary.csv", _csv_text(srows)))
    written.append(write_text_atomic(out / "probability_of_improvement.csv",
                                     _csv_text(agg["probability_of_improvement"])))
    md = format_summary_md(agg, title=title, footer=run_info.get("footer", ""))
    written.append(write_text_atomic(out / "summary.md", md))
    import json

    payload = {"run": run_info, "metric_definitions": {k: dataclasses.asdict(v) for k, v in METRICS.items()},
               "regions": list(REGION_NAMES), **{k: v for k, v in agg.items()}}
    written.append(write_text_atomic(out / "summary.json", json.dumps(json_safe(payload), indent=2) + "\n"))

    if plots:
        from agents import plots as P

        bar_metrics = [(m, METRICS[m].label, METRICS[m].unit)
                       for m in ("mean_latency_ms", "deadline_miss_rate", "orbital_share", "episode_return")]
        written.append(P.metric_bars(agg["metrics"], bar_metrics, out / "metrics.png",
                                     confidence=agg.get("confidence", 0.95),
                                     title=f"{title}: mean per episode, {agg.get('confidence', 0.95):.0%} CI"
                                     if title else ""))
        lat = {p: np.concatenate([r.latencies_ms for r in results if r.policy == p] or [np.zeros(0)])
               for p in policies}
        written.append(P.latency_cdf(lat, out / "latency_cdf.png",
                                     title=f"{title}: latency CDF of served jobs" if title else ""))
        written.append(P.region_latency(agg["region_latency_ms"], REGION_NAMES, out / "region_latency.png",
                                        title=f"{title}: mean latency per region" if title else ""))
    return written
