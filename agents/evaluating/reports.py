"""Evaluation reports: aggregate episode results per policy and write summary.md/.csv/.json, episodes.csv,
probability_of_improvement.csv and the plots (each file written atomically, agents/common/io.py).

Statistics are :mod:`agents.evaluating.stats`'; this module chooses the normalised score's baselines, adds per-region
latency, and formats. Reference rows (``upper-bound``) carry ``episode_return`` only: they appear in the tables and
in episodes.csv, get a normalised score, and take no part in the choice of baselines or in the probability of
improvement.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from agents.common.io import write_text_atomic
from agents.evaluating import stats
from agents.evaluating.episode_metrics import METRICS, REGION_NAMES, EpisodeResult, region_column
from orbitcloud_env.plain import to_plain

__all__ = [
    "NOT_BASELINES",
    "SUMMARY_METRICS",
    "baseline_sentence",
    "strongest_heuristic",
    "summarize_results",
    "format_summary_md",
    "format_value_table",
    "json_safe",
    "to_dict",
    "write_outputs",
]

#: Heuristic names never chosen as the strongest-heuristic baseline (``lookahead`` plans with the simulator).
NOT_BASELINES: tuple[str, ...] = ("lookahead",)

#: Metrics shown in summary.md (in this order).
SUMMARY_METRICS: tuple[str, ...] = (
    "episode_return", "mean_latency_ms", "p95_latency_ms", "deadline_miss_rate", "rejection_rate",
    "success_rate", "energy_j_per_job", "orbital_share", "jain_fairness", "value_earned_share",
)

#: Shown for a metric a row does not have (a reference row has the return only).
_MISSING = "—"


def _higher_is_better(metric: str) -> bool:
    info = METRICS.get(metric)
    return info is None or info.higher_is_better is not False


def strongest_heuristic(results: Sequence[EpisodeResult], heuristics: Iterable[str], *,
                        score_metric: str = "episode_return", exclude: Iterable[str] = ()) -> str | None:
    """The label among ``heuristics`` with the best mean ``score_metric`` over its episodes (highest, or lowest for
    a lower-is-better metric); None when no such label has results. Ties go to the first in ``heuristics``.

    Reference rows, labels in ``exclude`` and :data:`NOT_BASELINES` are never chosen.
    """
    skip = set(exclude) | set(NOT_BASELINES)
    sign = 1.0 if _higher_is_better(score_metric) else -1.0
    best, best_value = None, -math.inf
    for label in heuristics:
        if label in skip:
            continue
        values = [r.metrics[score_metric] for r in results
                  if r.policy == label and not r.reference and score_metric in r.metrics]
        if values and sign * float(np.mean(values)) > best_value:
            best, best_value = label, sign * float(np.mean(values))
    return best


def summarize_results(results: Sequence[EpisodeResult], *, score_metric: str = "episode_return",
                      lower: str | None = "random", upper: str | None = "earliest-finish",
                      baseline_source: str = "", confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> dict[str, Any]:
    """Aggregate episode results per policy (see :func:`agents.evaluating.stats.aggregate`), plus per-region latency
    stats.

    Every policy must have the same episodes (paired seeds). Returns :func:`agents.evaluating.stats.aggregate`'s dict
    with ``"region_latency_ms"`` (``[policy][region]`` -> mean/CI over the episodes in which the region had served
    jobs; policies only), ``"policies"`` (labels in order, reference rows last), ``"reference"`` (the reference
    rows' labels) and ``"baselines"`` (``lower``, ``upper`` and ``source``, how they were chosen, in words).
    """
    policies = list(dict.fromkeys(r.policy for r in results))
    by_policy = {p: [r for r in results if r.policy == p] for p in policies}
    reference = [p for p in policies if by_policy[p][0].reference]
    seeds = {p: [r.seed for r in rs] for p, rs in by_policy.items()}
    if len({tuple(s) for s in seeds.values()}) > 1:
        raise ValueError(f"policies were evaluated on different seeds: {seeds}")
    metric_names = list(dict.fromkeys(k for r in results if not r.reference for k in r.metrics))
    values = {p: {m: np.array([r.metrics.get(m, 0.0) for r in rs]) for m in metric_names}
              for p, rs in by_policy.items() if p not in reference}
    for p in reference:
        values[p] = {m: np.array([r.metrics[m] for r in by_policy[p]]) for m in by_policy[p][0].metrics}
    agg = stats.aggregate(values, score_metric=score_metric, higher_is_better=_higher_is_better(score_metric),
                          lower=lower, upper=upper, reference=reference, confidence=confidence,
                          n_resamples=n_resamples, seed=seed)
    region: dict[str, dict[str, dict[str, float]]] = {}
    for p, rs in by_policy.items():
        if p in reference:
            continue
        region[p] = {}
        for name in REGION_NAMES:
            v = np.array([r.region_latency_ms[name] for r in rs], dtype=float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                region[p][name] = {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
            else:
                ci = stats.bootstrap_ci(v, confidence=confidence, n_resamples=n_resamples, seed=seed)
                region[p][name] = {"mean": ci.value, "ci_low": ci.low, "ci_high": ci.high, "n": int(v.size)}
    if not agg["normalized_score"] and baseline_source:
        agg["notes"].append(f"normalised score: {baseline_source}")
    agg["region_latency_ms"] = region
    agg["policies"] = policies
    agg["reference"] = reference
    agg["score_metric"] = score_metric
    agg["baselines"] = {"lower": lower, "upper": upper, "source": baseline_source}
    agg["confidence"] = confidence
    return agg


# ----------------------------------------------------------------------------------------------------------------
# summary.md


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


def baseline_sentence(agg: Mapping[str, Any]) -> str:
    """One line: the normalised score's formula and how its baselines were chosen ("" when it was skipped)."""
    if not agg["normalized_score"]:
        return ""
    b = agg["baselines"]
    line = (f"Normalised score on {agg['score_metric']}: (policy - {b['lower']}) / ({b['upper']} - {b['lower']}), "
            "paired bootstrap over seeds")
    return line + (f"; {b['source']}." if b.get("source") else ".")


def format_summary_md(agg: Mapping[str, Any], *, title: str = "", footer: str = "") -> str:
    """Markdown tables: one row per policy with mean [95% CI] of the main metrics; then P(improvement)."""
    conf = agg.get("confidence", 0.95)
    reference = set(agg.get("reference", ()))
    policies = [p for p in agg["policies"] if p not in reference]
    lines = [f"## {title}", ""] if title else []
    cols = [m for m in SUMMARY_METRICS if all(m in agg["metrics"][p] for p in policies)]
    has_score = bool(agg["normalized_score"])
    header = ["Policy"] + [_header(m) for m in cols] + (["Normalised score"] if has_score else [])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for p in agg["policies"]:
        row = [p] + [_cell(agg["metrics"][p][m], METRICS[m].unit, _DECIMALS.get(m)) if m in agg["metrics"][p]
                     else _MISSING for m in cols]
        if has_score:
            ns = agg["normalized_score"].get(p)
            row.append(_MISSING if ns is None else _cell(ns, "", 2))
        lines.append("| " + " | ".join(row) + " |")
    n = max(s["n"] for pm in agg["metrics"].values() for s in pm.values())
    lines += ["", f"Mean over {n} paired episodes per policy with {conf:.0%} percentile bootstrap CI."]
    if has_score:
        lines.append(baseline_sentence(agg))
    if reference:
        lines.append(f"Reference row{'s' if len(reference) > 1 else ''} {', '.join(sorted(reference))}: "
                     "per-seed upper bound on the episode return (the relaxation of "
                     "orbitcloud_env.bounds.episode_upper_bound), not a policy.")
    baselines = [b for b in (agg["baselines"]["lower"], agg["baselines"]["upper"]) if b in policies]
    rows = [r for r in agg["probability_of_improvement"] if r["baseline"] in baselines]
    if rows:
        lines += ["", f"Probability of improvement P(policy > baseline) on {agg['score_metric']} "
                      f"(rliable; ties 0.5; {conf:.0%} paired bootstrap CI):", ""]
        lines.append("| Policy | " + " | ".join(f"vs {b}" for b in baselines) + " |")
        lines.append("|---|" + "---:|" * len(baselines))
        for p in policies:
            cells = []
            for b in baselines:
                r = next((r for r in rows if r["policy"] == p and r["baseline"] == b), None)
                cells.append(_MISSING if r is None else _cell({"value": r["probability_of_improvement"],
                                                               "ci_low": r["ci_low"], "ci_high": r["ci_high"]},
                                                              "", 2))
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    value_lines = format_value_table(agg)
    if value_lines:
        lines += ["", *value_lines]
    for note in agg["notes"]:
        lines += ["", f"Note: {note}"]
    if footer:
        lines += ["", footer]
    return "\n".join(lines) + "\n"


def format_value_table(agg: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the value objective's per-class table (v2 ids): for each policy and job class, the mean
    value earned (met), forfeited (late or lost) and rejected per episode, and the SLA credits paid [value units].
    No lines when the episodes carry no per-class value metrics (v0, v1)."""
    reference = set(agg.get("reference", ()))
    policies = [p for p in agg["policies"] if p not in reference]
    if not policies:
        return []
    keys = agg["metrics"][policies[0]]
    classes = [k.split(".", 1)[1] for k in keys if k.startswith("value_earned.")]
    if not classes or not all("sla_paid" in agg["metrics"][p] for p in policies):
        return []
    kinds = (("value_earned", "earned"), ("value_forfeited", "late"), ("value_rejected", "rejected"))
    header = ["Policy"] + [f"{c} {label}" for c in classes for _, label in kinds] + ["SLA paid"]
    lines = ["Value per job class, mean per episode [value units] (earned: met; late: forfeited by late or lost "
             "jobs; rejected: forgone):", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for p in policies:
        m = agg["metrics"][p]
        cells = [_fmt(m[f"{key}.{c}"]["mean"], "") if f"{key}.{c}" in m else _MISSING
                 for c in classes for key, _ in kinds]
        lines.append("| " + " | ".join([p, *cells, _fmt(m["sla_paid"]["mean"], "")]) + " |")
    return lines


# ----------------------------------------------------------------------------------------------------------------
# CSV / JSON


def _csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
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
    """NaN/inf -> None, numpy scalars -> Python, tuples -> lists: strict JSON (orbitcloud_env.plain.to_plain)."""
    return to_plain(obj, json_numbers=True)


def to_dict(result: EpisodeResult) -> dict[str, Any]:
    """JSON-ready view of an :class:`~agents.evaluating.episode_metrics.EpisodeResult` (without the per-job arrays)."""
    d = dataclasses.asdict(result)
    d.pop("latencies_ms")
    d.pop("jobs")
    return d


SUMMARY_CSV_STATS = ("mean", "ci_low", "ci_high", "iqm", "std", "median")


def write_outputs(results: Sequence[EpisodeResult], agg: Mapping[str, Any], out_dir: str | os.PathLike, *,
                  run_info: Mapping[str, Any], plots: bool = True, title: str = "") -> list[Path]:
    """Write summary.md/.csv/.json, episodes.csv, probability_of_improvement.csv and the plots.

    Returns the written paths. ``out_dir`` is created if needed; each file is written atomically.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    policies = agg["policies"]
    reference = set(agg.get("reference", ()))

    rows = [r.row() for r in results]
    written.append(write_text_atomic(out / "episodes.csv", _csv_text(rows)))

    metric_names = list(dict.fromkeys(m for p in policies for m in agg["metrics"][p]))
    srows = []
    for p in policies:
        pm = agg["metrics"][p]
        row: dict[str, Any] = {"policy": p, "n_episodes": next(iter(pm.values()))["n"]}
        for m in metric_names:
            for s in SUMMARY_CSV_STATS:
                row[f"{m}_{s}"] = pm[m][s] if m in pm else math.nan
        if p in agg["normalized_score"]:
            ns = agg["normalized_score"][p]
            row.update({"normalized_score": ns["value"], "normalized_score_ci_low": ns["ci_low"],
                        "normalized_score_ci_high": ns["ci_high"]})
        for name in REGION_NAMES:
            row[region_column(name) + "_mean"] = agg["region_latency_ms"][p][name]["mean"] \
                if p in agg["region_latency_ms"] else math.nan
        srows.append(row)
    written.append(write_text_atomic(out / "summary.csv", _csv_text(srows)))
    written.append(write_text_atomic(out / "probability_of_improvement.csv",
                                     _csv_text(agg["probability_of_improvement"])))
    md = format_summary_md(agg, title=title, footer=run_info.get("footer", ""))
    written.append(write_text_atomic(out / "summary.md", md))
    payload = {"run": run_info, "metric_definitions": {k: dataclasses.asdict(v) for k, v in METRICS.items()},
               "regions": list(REGION_NAMES), **{k: v for k, v in agg.items()}}
    written.append(write_text_atomic(out / "summary.json", json.dumps(json_safe(payload), indent=2) + "\n"))

    if plots:
        from agents.evaluating import plots as P

        shown = [p for p in policies if p not in reference]
        bar_metrics = [(m, METRICS[m].label, METRICS[m].unit)
                       for m in ("mean_latency_ms", "deadline_miss_rate", "orbital_share", "episode_return")]
        written.append(P.metric_bars({p: agg["metrics"][p] for p in shown}, bar_metrics, out / "metrics.png",
                                     confidence=agg.get("confidence", 0.95),
                                     title=f"{title}: mean per episode, {agg.get('confidence', 0.95):.0%} CI"
                                     if title else ""))
        lat = {p: np.concatenate([r.latencies_ms for r in results if r.policy == p] or [np.zeros(0)])
               for p in shown}
        written.append(P.latency_cdf(lat, out / "latency_cdf.png",
                                     title=f"{title}: latency CDF of served jobs" if title else ""))
        written.append(P.region_latency(agg["region_latency_ms"], REGION_NAMES, out / "region_latency.png",
                                        title=f"{title}: mean latency per region" if title else ""))
    return written
