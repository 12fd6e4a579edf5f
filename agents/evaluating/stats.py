"""Aggregate statistics over evaluation episodes: bootstrap CIs, IQM, normalised score, probability of improvement.

Pure numpy/scipy; no Gymnasium, no policies. Every function takes per-episode values (one float per episode) and
returns plain Python floats, so the results go straight into CSV/JSON.

Conventions
-----------
* **Episodes are the unit of resampling.** Episode ``i`` of every policy is run on the same seed (``seed + i``,
  hence the same job stream and constellation start), so arrays of different policies are *paired* by index.
* **Marginal confidence intervals** (:func:`bootstrap_ci`): the percentile bootstrap of
  :func:`scipy.stats.bootstrap` over one policy's episodes (the method rliable uses).
* **Paired statistics** (:func:`normalized_score_ci`, :func:`probability_of_improvement_ci`): the bootstrap
  resamples episode *indices* and applies the same indices to every policy involved (``paired=True`` in
  :func:`scipy.stats.bootstrap`). This is a bootstrap stratified by seed: each seed is one stratum holding one
  episode per policy, and strata are resampled whole.
* **Reproducible:** every bootstrap takes a ``seed`` that seeds a :class:`numpy.random.Generator`.

References: R. Agarwal, M. Schwarzer, P. S. Castro, A. Courville, M. G. Bellemare, "Deep Reinforcement Learning
at the Edge of the Statistical Precipice", NeurIPS 2021 (rliable): IQM, probability of improvement, stratified
bootstrap CIs. R. Jain, D. Chiu, W. Hawe, "A Quantitative Measure of Fairness and Discrimination for Resource
Allocation in Shared Computer Systems", DEC-TR-301, 1984: Jain's fairness index.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Interval",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "bootstrap_ci",
    "iqm",
    "jain_index",
    "normalized_score",
    "normalized_score_ci",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "paired_gap_ci",
    "paired_win_rate",
    "summarize",
    "aggregate",
]

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000

#: |upper - lower| baseline means below this are treated as a zero denominator in :func:`normalized_score`.
_ZERO_DENOMINATOR = 1e-12

# scipy >= 1.15 calls the seed argument ``rng``; older versions call it ``random_state``.
_RNG_KW = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval ``[low, high]`` (NaN bounds when fewer than 2 episodes)."""

    value: float
    low: float
    high: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.value, self.low, self.high)


def _as_1d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-episode values, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: expected at least one episode, got none")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: values must be finite, got {a[~np.isfinite(a)][:3].tolist()}...")
    return a


def _bootstrap(data: tuple[NDArray, ...], statistic: Callable[..., NDArray], *, paired: bool, seed: int,
               confidence: float, n_resamples: int, batch: int | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` (vectorised over ``axis=-1``); degenerate data gives a zero width."""
    point = float(statistic(*data, axis=-1))
    n = data[0].shape[0]
    if n < 2:
        return (math.nan, math.nan)
    with warnings.catch_warnings():
        # All-equal resamples are legitimate here (e.g. a policy that never misses); the percentile
        # method then returns a zero-width interval, which is the right answer.
        warnings.simplefilter("ignore", category=getattr(scipy.stats, "DegenerateDataWarning", RuntimeWarning))
        res = scipy.stats.bootstrap(data, statistic, n_resamples=n_resamples, paired=paired, vectorized=True,
                                    axis=-1, confidence_level=confidence, method="percentile",
                                    batch=batch, **{_RNG_KW: np.random.default_rng(seed)})
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return (point, point)
    # The percentile interval always contains the point estimate for the mean; keep that true after round-off.
    return (min(low, point), max(high, point))


def bootstrap_ci(x: ArrayLike, statistic: Callable[..., NDArray] = np.mean, *, confidence: float = DEFAULT_CONFIDENCE,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
    """``statistic(x)`` with a percentile bootstrap confidence interval over episodes.

    Args:
        x: per-episode values of one policy.
        statistic: a numpy reduction accepting ``axis=`` (``np.mean``, ``np.median``, :func:`iqm`).
        confidence: [-] confidence level, e.g. 0.95.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator (same seed, same interval).
    """
    a = _as_1d(x, "x")
    low, high = _bootstrap((a,), statistic, paired=False, seed=seed, confidence=confidence, n_resamples=n_resamples)
    return Interval(float(statistic(a, axis=-1)), low, high)


def iqm(x: ArrayLike, axis: int | None = None) -> NDArray | float:
    """Interquartile mean: the mean of the middle 50 % of values (25 % trimmed from each end), as in rliable.

    Uses :func:`scipy.stats.trim_mean` with ``proportiontocut=0.25`` (rliable's ``aggregate_iqm``).
    """
    a = np.asarray(x, dtype=np.float64)
    if axis is None:
        return float(scipy.stats.trim_mean(a.ravel(), 0.25))
    return scipy.stats.trim_mean(a, 0.25, axis=axis)


def jain_index(values: ArrayLike) -> float:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)`` of non-negative values, in ``[1/n, 1]``.

    1 when all values are equal, ``1/n`` when one value holds everything. All-zero input counts as equal (1.0).
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("jain_index: expected at least one value")
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        raise ValueError(f"jain_index: values must be finite and >= 0, got {a.tolist()}")
    sq = float(np.sum(a * a))
    if sq == 0.0:
        return 1.0
    return float(np.sum(a) ** 2 / (a.size * sq))


def _normalize(p: NDArray, lo: NDArray, hi: NDArray, axis: int = -1) -> NDArray:
    """Vectorised ``(mean p - mean lo) / (mean hi - mean lo)`` along the last axis; 0 where the denominator is 0."""
    den = np.mean(hi, axis=-1) - np.mean(lo, axis=-1)
    num = np.mean(p, axis=-1) - np.mean(lo, axis=-1)
    ok = np.abs(den) > _ZERO_DENOMINATOR
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0)


def normalized_score(policy: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> tuple[float, str]:
    """``(mean(policy) - mean(lower)) / (mean(upper) - mean(lower))``: 0 at the lower baseline, 1 at the upper.

    With ``lower`` = random and ``upper`` = earliest-finish this is the random-to-earliest-finish normalised score:
    passing the lower (upper) baseline's own values gives exactly 0.0 (1.0). The sign convention follows the
    baselines, so it works for lower-is-better metrics too (1 means "as good as the upper baseline").

    Returns:
        ``(score, note)``. When the baselines' means coincide (|denominator| <= 1e-12) the score is undefined; it is
        returned as 0.0 (never NaN) and ``note`` says why; otherwise ``note`` is "".
    """
    p, lo, hi = _as_1d(policy, "policy"), _as_1d(lower, "lower"), _as_1d(upper, "upper")
    den = float(np.mean(hi) - np.mean(lo))
    if abs(den) <= _ZERO_DENOMINATOR:
        return 0.0, (f"baselines have equal means ({float(np.mean(lo)):.6g}); normalised score undefined, "
                     "reported as 0.0")
    return float((np.mean(p) - np.mean(lo)) / den), ""


def normalized_score_ci(policy: ArrayLike, lower: ArrayLike, upper: ArrayLike, *,
                        confidence: float = DEFAULT_CONFIDENCE, n_resamples: int = DEFAULT_RESAMPLES,
                        seed: int = 0) -> tuple[Interval, str]:
    """:func:`normalized_score` with a paired bootstrap CI (episode ``i`` of all three arrays resampled together).

    A resample whose baseline means coincide contributes 0.0 (as the point estimate would).
    """
    p, lo, hi = _as_1d(policy, "policy"), _as_1d(lower, "lower"), _as_1d(upper, "upper")
    _check_paired(p, lo, hi)
    value, note = normalized_score(p, lo, hi)
    low, high = _bootstrap((p, lo, hi), _normalize, paired=True, seed=seed, confidence=confidence,
                           n_resamples=n_resamples)
    return Interval(value, low, high), note


def _check_paired(*arrays: NDArray) -> None:
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"paired statistics need the same episodes for every policy, got sizes {sorted(sizes)}")


def _poi(x: NDArray, y: NDArray, axis: int = -1) -> NDArray:
    """Vectorised P(X > Y) + 0.5 P(X = Y) over all (i, j) pairs along the last axis (Mann-Whitney U / (m n))."""
    xi = np.expand_dims(x, -1)  # (..., n, 1)
    yj = np.expand_dims(y, -2)  # (..., 1, n)
    wins = (xi > yj).astype(np.float64) + 0.5 * (xi == yj)
    return wins.mean(axis=(-2, -1))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """rliable's probability of improvement P(X > Y): the Mann-Whitney U statistic divided by ``m * n``.

    Every episode of X is compared with every episode of Y; a tie counts 0.5. 1.0 when every value of X exceeds
    every value of Y, 0.5 for identical samples. Higher values of the metric are taken as better; pass the
    negated metric for lower-is-better quantities (latency, miss rate).
    """
    a, b = _as_1d(x, "x"), _as_1d(y, "y")
    return float(_poi(a, b))


def probability_of_improvement_ci(x: ArrayLike, y: ArrayLike, *, confidence: float = DEFAULT_CONFIDENCE,
                                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
    """:func:`probability_of_improvement` with a paired bootstrap CI (episodes resampled jointly for X and Y)."""
    a, b = _as_1d(x, "x"), _as_1d(y, "y")
    _check_paired(a, b)
    # _poi holds an (n x n) comparison per resample: bound the batch to ~2e7 elements.
    batch = max(1, int(2e7 // (a.size * a.size)))
    low, high = _bootstrap((a, b), _poi, paired=True, seed=seed, confidence=confidence, n_resamples=n_resamples,
                           batch=batch)
    return Interval(float(_poi(a, b)), low, high)


def paired_gap_ci(x: ArrayLike, y: ArrayLike, scale: float, *, n_resamples: int = DEFAULT_RESAMPLES,
                  seed: int = 0) -> tuple[float, float, float]:
    """[%] mean of (x - y) / scale over paired episodes, with a 95 % percentile bootstrap interval (episode indices
    resampled jointly for x and y): (mean, low, high). ``scale`` is typically |mean of y|."""
    x, y = _as_1d(x, "x"), _as_1d(y, "y")
    _check_paired(x, y)
    d = (x - y) / scale * 100.0
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, size=(n_resamples, d.size))].mean(axis=1)
    return float(d.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def paired_win_rate(x: ArrayLike, y: ArrayLike) -> float:
    """Fraction of seeds on which X beats Y on the same episode (ties 0.5): ``mean([x_i > y_i] + 0.5 [x_i = y_i])``.

    The paired counterpart of :func:`probability_of_improvement`, meaningful because episode ``i`` of both
    policies saw the same job stream.
    """
    a, b = _as_1d(x, "x"), _as_1d(y, "y")
    _check_paired(a, b)
    return float(np.mean((a > b) + 0.5 * (a == b)))


def summarize(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE,
              n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, float]:
    """Mean with bootstrap CI, IQM, standard deviation, median, min, max of one policy's per-episode values."""
    a = _as_1d(values, "values")
    ci = bootstrap_ci(a, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "mean": ci.value,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "iqm": float(iqm(a)),
        "std": float(np.std(a, ddof=1)) if a.size > 1 else 0.0,
        "median": float(np.median(a)),
        "min": float(np.min(a)),
        "max": float(np.max(a)),
        "n": int(a.size),
    }



# ----------------------------------------------------------------------------------------------------------------
# Aggregation of a whole evaluation


def aggregate(values: Mapping[str, Mapping[str, ArrayLike]], *, score_metric: str = "episode_return",
              higher_is_better: bool = True, lower: str | None = "random", upper: str | None = "earliest-finish",
              reference: Sequence[str] = (), confidence: float = DEFAULT_CONFIDENCE,
              n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """All aggregates of one evaluation.

    Args:
        values: ``values[policy][metric]`` = per-episode values, episode ``i`` on the same seed for every policy.
        score_metric: metric of the normalised score and of the probability of improvement.
        higher_is_better: direction of ``score_metric`` for the probability of improvement (negated when False).
        lower, upper: baseline policies of the normalised score (skipped, with a note, when either is missing).
        reference: reference rows (e.g. an upper bound) among ``values``: summarised and normalised (when they have
            ``score_metric``), never a baseline, left out of the probability of improvement; they may carry only
            some metrics.
        confidence, n_resamples, seed: bootstrap settings (the same seed for every statistic).

    Returns:
        ``{"metrics": {policy: {metric: summarize(...)}}, "normalized_score": {policy: {value, ci_low, ci_high}},
        "probability_of_improvement": [rows], "notes": [str]}``.
    """
    policies = [p for p in values if p not in reference]
    notes: list[str] = []
    out: dict[str, Any] = {"metrics": {}, "normalized_score": {}, "probability_of_improvement": [], "notes": notes}
    for p in values:
        out["metrics"][p] = {m: summarize(v, confidence=confidence, n_resamples=n_resamples, seed=seed)
                             for m, v in values[p].items()}
    missing = [p for p in policies if score_metric not in values[p]]
    if missing:
        raise ValueError(f"score_metric: no per-episode values of {score_metric!r} for {', '.join(missing)}")
    score = {p: _as_1d(values[p][score_metric], f"{p}.{score_metric}") for p in values if score_metric in values[p]}
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    if lower in policies and upper in policies and lower != upper:
        out["normalized_score"] = _normalized_scores(score, lower, upper, notes, **boot)
    elif lower is None or upper is None:
        notes.append(f"normalised score skipped: no {'lower' if lower is None else 'upper'} baseline")
    else:
        notes.append(f"normalised score skipped: needs both baselines {lower!r} and {upper!r} among the "
                     "policies")
    out["probability_of_improvement"] = _improvement_rows(score, policies, score_metric, higher_is_better, **boot)
    return out


def _normalized_scores(score: Mapping[str, np.ndarray], lower: str, upper: str, notes: list[str], *,
                       confidence: float, n_resamples: int, seed: int) -> dict[str, dict[str, float]]:
    """aggregate's ``normalized_score`` of every row of ``score`` (a note in ``notes`` when it is undefined)."""
    _, undefined = normalized_score(score[lower], score[lower], score[upper])  # note only when undefined
    if undefined:
        notes.append(f"normalised score: {undefined}")
    out = {}
    for p in score:
        if undefined:
            ci = Interval(0.0, 0.0, 0.0)
        elif p == lower:  # exactly 0 / 1 by construction
            ci = Interval(0.0, 0.0, 0.0)
        elif p == upper:
            ci = Interval(1.0, 1.0, 1.0)
        else:
            ci, _ = normalized_score_ci(score[p], score[lower], score[upper], confidence=confidence,
                                        n_resamples=n_resamples, seed=seed)
        out[p] = {"value": ci.value, "ci_low": ci.low, "ci_high": ci.high}
    return out


def _improvement_rows(score: Mapping[str, np.ndarray], policies: Sequence[str], score_metric: str,
                      higher_is_better: bool, *, confidence: float, n_resamples: int,
                      seed: int) -> list[dict[str, Any]]:
    """aggregate's ``probability_of_improvement``: one row per ordered pair of (non-reference) policies."""
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for p in policies:
        for b in policies:
            if p == b:
                continue
            ci = probability_of_improvement_ci(sign * score[p], sign * score[b], confidence=confidence,
                                               n_resamples=n_resamples, seed=seed)
            rows.append({
                "policy": p, "baseline": b, "metric": score_metric, "higher_is_better": higher_is_better,
                "probability_of_improvement": ci.value, "ci_low": ci.low, "ci_high": ci.high,
                "paired_win_rate": paired_win_rate(sign * score[p], sign * score[b]),
                "n_episodes": int(score[p].size),
            })
    return rows
