"""Paired per-seed gaps between policies of an evaluate.py run (its ``episodes.csv``): the protocol's statistics.

For each policy against each ``--baseline``: the mean per-seed gap in per cent of |baseline mean|, with its 95 %
paired bootstrap interval over seeds (agents.stats.paired_gap_ci), the median per-seed gap (each seed's gap in per
cent of |baseline mean|) and the wins out of the seeds (ties count half, as agents.stats.paired_win_rate). A ratio of
means alone is dominated by a few overloaded seeds; the median and the wins are not.

Usage::

    python benchmarks/paired_gaps.py results/v1/episodes.csv results/v1-tuned/episodes.csv --baselines earliest-finish-admit tuned-admit
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.stats import paired_gap_ci, paired_win_rate  # noqa: E402


def read_returns(path: str, metric: str = "episode_return") -> dict[str, dict[int, float]]:
    """``{policy: {seed: value}}`` from an episodes.csv (reference rows such as upper-bound included)."""
    out: dict[str, dict[int, float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get(metric) not in (None, ""):
                out.setdefault(row["policy"], {})[int(row["seed"])] = float(row[metric])
    return out


def gap_cells(x: np.ndarray, y: np.ndarray, *, n_resamples: int = 2000, seed: int = 0) -> str:
    """``mean [low, high] | median | wins of n`` of X against Y on paired seeds: the mean per-seed gap in per cent of
    |mean of Y| with its 95 % paired bootstrap interval, the median per-seed gap and the wins (ties count half)."""
    scale = abs(float(np.mean(y))) or 1.0
    mean, lo, hi = paired_gap_ci(x, y, scale, n_resamples=n_resamples, seed=seed)
    median = float(np.median((np.asarray(x) - np.asarray(y)) / scale * 100.0))
    wins = paired_win_rate(x, y) * len(x)
    return f"{mean:+.1f} [{lo:+.1f}, {hi:+.1f}] | {median:+.1f} | {wins:g} of {len(x)}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("episodes_csv", nargs="+", help="episodes.csv of one or more runs on the same seeds (a policy "
                                                   "in several: the later file wins)")
    p.add_argument("--baselines", nargs="+", required=True)
    p.add_argument("--metric", default="episode_return")
    p.add_argument("--n-resamples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = p.parse_args()
    data: dict[str, dict[int, float]] = {}
    for path in args.episodes_csv:
        for pol, vals in read_returns(path, args.metric).items():
            data.setdefault(pol, {}).update(vals)
    missing = [b for b in args.baselines if b not in data]
    if missing:
        p.error(f"--baselines: {missing[0]!r} is not in {', '.join(args.episodes_csv)} (policies: {', '.join(data)})")
    print("| policy | baseline | mean gap % [95 % CI] | median per-seed gap % | wins |")
    print("|---|---|---:|---:|---:|")
    for base in args.baselines:
        for pol, vals in data.items():
            if pol == base:
                continue
            seeds = sorted(set(vals) & set(data[base]))
            x = np.array([vals[s] for s in seeds])
            y = np.array([data[base][s] for s in seeds])
            print(f"| {pol} | {base} | {gap_cells(x, y, n_resamples=args.n_resamples, seed=args.seed)} |")


if __name__ == "__main__":
    main()
