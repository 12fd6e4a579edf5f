"""The learning curve of a training run: evaluation return against training steps, with reference policies' levels.

``train.py`` (with ``--eval-freq`` > 0) evaluates the model every ``--eval-freq`` steps on the same
``--eval-episodes`` episodes each time (the evaluation env is re-seeded with the run's seed + 10,000 before each
evaluation, so the points differ only by the policy) and stores the returns in ``evaluations.npz``. This module
plays the reference policies (by default the policy's prior heuristic and ``tuned-admit``) on exactly those
episodes and draws one figure: the model's mean evaluation return per evaluation (with the min-max band over the
episodes) and each reference's mean return as a horizontal line. A curve that leaves its prior's line shows
learning; one that crosses ``tuned-admit``'s shows learning that beats the tuned rule on those episodes (a few
episodes: evaluate.py's paired table on other seeds is the result to quote).

Usage::

    python -m agents.learning_curve RUN_DIR [-o results/quickstart/learning_curve.png] [--references ...]

Writes ``learning_curve.png`` and ``learning_curve.csv`` (steps, mean, min, max; then one row per reference) through
temporary files and renames. Errors name the file or flag and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agents.common.io import atomic_path, write_text_atomic

__all__ = ["EVAL_SEED_OFFSET", "reference_returns", "write_learning_curve", "main"]

#: The evaluation env's seed is the run's seed plus this (agents/training/train_cli.py), disjoint from the training
#: envs'.
EVAL_SEED_OFFSET = 10_000


class CurveError(ValueError):
    """A run folder or flag that cannot give a learning curve (the message names it)."""


def _load_run(run_dir: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    import yaml

    config_path, npz_path = run_dir / "config.yml", run_dir / "evaluations.npz"
    for path in (config_path, npz_path):
        if not path.is_file():
            hint = " (train with --eval-freq > 0)" if path is npz_path else ""
            raise CurveError(f"{path}: no such file{hint}")
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CurveError(f"{config_path}: not a readable YAML file ({exc.__class__.__name__})") from None
    if not isinstance(config, dict):
        raise CurveError(f"{config_path}: expected a mapping (a train.py run's config.yml)")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            steps, results = np.asarray(data["timesteps"], dtype=np.int64), np.asarray(data["results"], float)
    except (OSError, KeyError, ValueError) as exc:
        raise CurveError(f"{npz_path}: not an evaluations file with 'timesteps' and 'results' ({exc})") from None
    if steps.ndim != 1 or results.ndim != 2 or len(steps) != len(results) or len(steps) == 0:
        raise CurveError(f"{npz_path}: expected timesteps (E,) and results (E, episodes) with E >= 1")
    if not np.isfinite(results).all():
        raise CurveError(f"{npz_path}: non-finite returns")
    return config, steps, results


def _config_value(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        for section in (config, config.get("args") or {}):
            if isinstance(section, dict) and key in section:
                return section[key]
    return None


def reference_returns(env_id: str, env_kwargs: dict[str, Any], policy_names: Sequence[str], *, seed: int,
                      n_episodes: int) -> dict[str, list[float]]:
    """Returns of each named policy on the episodes of a run's evaluations (same env, seed and episode count)."""
    from sb3_contrib.common.maskable.evaluation import evaluate_policy
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    import orbitcloud_env  # noqa: F401  (registers the ids)
    from agents.acting.registry import make_policy

    out: dict[str, list[float]] = {}
    for name in policy_names:
        env = make_vec_env(env_id, n_envs=1, seed=seed + EVAL_SEED_OFFSET, env_kwargs=dict(env_kwargs),
                           vec_env_cls=DummyVecEnv)
        try:
            policy = make_policy(name, env=env.envs[0], seed=seed)
            returns, _ = evaluate_policy(policy, env, n_eval_episodes=n_episodes, deterministic=True,
                                         return_episode_rewards=True, warn=False, use_masking=True)
        finally:
            env.close()
        out[name] = [float(r) for r in returns]
    return out


def write_learning_curve(run_dir: str | Path, output: str | Path | None = None,
                         references: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Draw ``run_dir``'s learning curve with the references' levels; returns the (png, csv) paths written."""
    run_dir = Path(run_dir)
    config, steps, results = _load_run(run_dir)
    env_id = _config_value(config, "env_id", "env")
    seed = _config_value(config, "seed")
    if not isinstance(env_id, str) or not isinstance(seed, int):
        raise CurveError(f"{run_dir / 'config.yml'}: needs 'env' (an id) and 'seed' (an integer)")
    env_kwargs = _config_value(config, "env_kwargs") or {}
    if references is None:
        references = ["earliest-finish-admit", "tuned-admit"]
    levels = reference_returns(env_id, env_kwargs, references, seed=seed, n_episodes=results.shape[1])
    png = Path(output) if output is not None else run_dir / "learning_curve.png"
    if png.suffix.lower() != ".png":
        raise CurveError(f"-o {png}: the figure's file name must end in .png")
    png.parent.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["series", "steps", "mean_return", "min_return", "max_return"])
    for s, r in zip(steps, results):
        writer.writerow(["model", int(s), f"{r.mean():.6g}", f"{r.min():.6g}", f"{r.max():.6g}"])
    for name, rs in levels.items():
        writer.writerow([name, "", f"{np.mean(rs):.6g}", f"{np.min(rs):.6g}", f"{np.max(rs):.6g}"])
    csv_path = write_text_atomic(png.with_suffix(".csv"), table.getvalue())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    mean = results.mean(axis=1)
    ax.plot(steps, mean, marker="o", color="C0", label="model (mean of evaluation episodes)")
    if results.shape[1] > 1:
        ax.fill_between(steps, results.min(axis=1), results.max(axis=1), color="C0", alpha=0.15,
                        label="model (min-max over episodes)")
    for k, (name, rs) in enumerate(levels.items()):
        ax.axhline(float(np.mean(rs)), color=f"C{k + 1}", linestyle="--", label=f"{name} (same episodes)")
    ax.set_xlabel("training steps [decisions]")
    ax.set_ylabel("episode return [-]")
    ax.set_title(f"{env_id}: evaluation return ({results.shape[1]} episodes per point, seed {seed + EVAL_SEED_OFFSET})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return png, csv_path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.learning_curve", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a train.py run folder with config.yml and evaluations.npz")
    p.add_argument("-o", "--output", default=None, help="the figure's path (.png; default RUN_DIR/learning_curve.png)")
    p.add_argument("--references", nargs="*", default=None,
                   help="policies drawn as levels (default: earliest-finish-admit tuned-admit)")
    args = p.parse_args(argv)
    try:
        png, csv_path = write_learning_curve(args.run_dir, args.output, args.references)
    except (CurveError, ValueError) as exc:
        print(f"learning_curve: error: {exc}", file=sys.stderr)
        return 2
    print(f"Learning curve: {png} ({csv_path.name} beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
