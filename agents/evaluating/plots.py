"""Evaluation plots (PNG, matplotlib Agg backend) and the episode animation (GIF via PillowWriter).

Every function takes already-computed numbers (no env, no policies), writes one file atomically (temporary file in
the same folder, then ``os.replace``) and returns its path. Figures are closed after saving.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from agents.common.io import atomic_path  # noqa: E402

__all__ = ["metric_bars", "latency_cdf", "region_latency", "save_animation"]

_DPI = 150


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def _atomic_savefig(fig: plt.Figure, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def _axis_label(label: str, unit: str) -> str:
    return f"{label} [{unit}]" if unit else label


def metric_bars(summary: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Sequence[tuple[str, str, str]],
                path: Path, *, title: str = "", confidence: float = 0.95) -> Path:
    """Bar per policy of each metric's mean with confidence-interval whiskers, one panel per metric.

    Args:
        summary: ``summary[policy][metric]`` with keys ``mean``, ``ci_low``, ``ci_high``.
        metrics: ``(metric, label, unit)``; unit "%" plots the fraction as per cent.
    """
    policies = list(summary)
    n = len(metrics)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 0.9 + 3.4 * nrows), squeeze=False)
    colors = _colors(len(policies))
    x = np.arange(len(policies))
    for ax, (metric, label, unit) in zip(axes.flat, metrics):
        scale = 100.0 if unit == "%" else 1.0
        mean = np.array([summary[p][metric]["mean"] for p in policies]) * scale
        low = np.array([summary[p][metric]["ci_low"] for p in policies]) * scale
        high = np.array([summary[p][metric]["ci_high"] for p in policies]) * scale
        low = np.where(np.isfinite(low), low, mean)
        high = np.where(np.isfinite(high), high, mean)
        yerr = np.vstack([np.maximum(mean - low, 0.0), np.maximum(high - mean, 0.0)])
        ax.bar(x, mean, color=colors, yerr=yerr, capsize=4, edgecolor="black", linewidth=0.5)
        ax.set_xticks(x, policies, rotation=30, ha="right")
        ax.set_ylabel(_axis_label(label, unit))
        ax.set_title(label)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title or f"Mean per episode with {confidence:.0%} bootstrap CI")
    fig.tight_layout()
    return _atomic_savefig(fig, path)


def latency_cdf(latencies_ms: Mapping[str, np.ndarray], path: Path, *, title: str = "") -> Path:
    """Empirical CDF of served jobs' latency per policy (all episodes pooled); log x axis when the range is wide."""
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    colors = _colors(len(latencies_ms))
    positive = [np.asarray(v)[np.asarray(v) > 0] for v in latencies_ms.values()]
    all_lat = np.concatenate(positive) if positive else np.zeros(0)
    for color, (policy, values) in zip(colors, latencies_ms.items()):
        v = np.sort(np.asarray(values, dtype=float))
        if v.size == 0:
            ax.plot([], [], color=color, label=f"{policy} (no served jobs)")
            continue
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, label=f"{policy} (n={v.size})")
    if all_lat.size and all_lat.max() / max(all_lat.min(), 1e-9) > 50:
        ax.set_xscale("log")
    ax.set_xlabel("Job latency [ms]")
    ax.set_ylabel("Fraction of served jobs")
    ax.set_ylim(0.0, 1.01)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Latency CDF of served jobs (all episodes)")
    fig.tight_layout()
    return _atomic_savefig(fig, path)


def region_latency(region_stats: Mapping[str, Mapping[str, Mapping[str, float]]], regions: Sequence[str],
                   path: Path, *, title: str = "") -> Path:
    """Grouped bars: mean latency per region (groups) and policy (bars), with CI whiskers where available.

    Args:
        region_stats: ``region_stats[policy][region]`` with ``mean``, ``ci_low``, ``ci_high`` (NaN: no jobs).
    """
    policies = list(region_stats)
    shown = [r for r in regions if any(math.isfinite(region_stats[p][r]["mean"]) for p in policies)]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(shown) + 2.0), 4.8))
    width = 0.8 / max(1, len(policies))
    x = np.arange(len(shown))
    for k, (color, policy) in enumerate(zip(_colors(len(policies)), policies)):
        s = region_stats[policy]
        mean = np.array([s[r]["mean"] for r in shown], dtype=float)
        low = np.array([s[r]["ci_low"] for r in shown], dtype=float)
        high = np.array([s[r]["ci_high"] for r in shown], dtype=float)
        low = np.where(np.isfinite(low), low, mean)
        high = np.where(np.isfinite(high), high, mean)
        yerr = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0).clip(min=0.0)
        ax.bar(x + (k - (len(policies) - 1) / 2) * width, np.nan_to_num(mean, nan=0.0), width, yerr=yerr,
               capsize=2, color=color, label=policy, edgecolor="black", linewidth=0.4)
    ax.set_xticks(x, shown)
    ax.set_xlabel("Region of the job's site")
    ax.set_ylabel("Mean latency of served jobs [ms]")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Mean latency per region (mean over episodes, 95% CI)")
    fig.tight_layout()
    return _atomic_savefig(fig, path)


def save_animation(frames: Sequence[np.ndarray], path: Path, *, fps: int = 8, title: str = "") -> Path:
    """Write RGB frames as a GIF with :class:`matplotlib.animation.PillowWriter` (atomically)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not frames:
        raise ValueError("save_animation: no frames to write")
    first = np.asarray(frames[0])
    h, w = first.shape[:2]
    fig = plt.figure(figsize=(w / 100.0, h / 100.0 + (0.35 if title else 0.0)), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, h / (h + (35.0 if title else 0.0))))
    ax.axis("off")
    image = ax.imshow(first)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995)

    def update(k: int):
        image.set_data(np.asarray(frames[k]))
        return (image,)

    anim = FuncAnimation(fig, update, frames=len(frames), blit=True)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            anim.save(tmp, writer=PillowWriter(fps=fps))
    finally:
        plt.close(fig)
    return path
