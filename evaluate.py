#!/usr/bin/env python
"""Evaluate heuristics and trained models on OrbitCloud with paired seeds; write tables, statistics and plots.

Example::

    python evaluate.py --env OrbitCloud-v0 \
        --policies random earliest-finish energy-aware ground-only logs/ppo/OrbitCloud-v0_1/best_model.zip \
        --episodes 20 --seed 0 -o results/ --env-kwargs preset:small max_jobs:200 --n-jobs 2

Episode ``i`` of every policy runs on ``env.reset(seed=seed + i)`` (same job stream for every policy). Scores are
normalised between ``random`` and the strongest heuristic of the run unless ``--baselines`` names both; an
``upper-bound`` reference row (``orbitcloud_env.bounds.episode_upper_bound`` per seed) is added unless
``--no-bound``. Every flag is checked here, once: bad inputs (unknown policy, missing model, malformed
--env-kwargs, an env that cannot be built, an existing non-empty results folder without --overwrite) stop with
one line on stderr and exit status 2 before any episode runs.
See docs/evaluation.md for the metrics, the statistics and the output files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

PROG = "evaluate.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--env", default="OrbitCloud-v1", help="registered env id")
    p.add_argument("--policies", nargs="+", required=True, metavar="POLICY",
                   help="heuristic names and/or model .zip paths; LABEL=POLICY sets the label")
    p.add_argument("--episodes", "-n", type=int, default=20, help="episodes per policy")
    p.add_argument("--seed", type=int, default=0, help="episode i uses env.reset(seed=SEED + i); also seeds the bootstrap")
    p.add_argument("-o", "--output", default="results", help="results folder")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY:VALUE",
                   help="env overrides as key:value (values through ast.literal_eval, else strings)")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel worker processes (spawn)")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                   help="write into an existing non-empty results folder")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNG plots")
    p.add_argument("--render-episode", metavar="POLICY", default=None,
                   help="save a GIF of episode 0 of this policy (label or name as in --policies)")
    p.add_argument("--render-frames", type=int, default=60, help="maximum frames of the GIF")
    p.add_argument("--score-metric", default="episode_return",
                   help="metric of the normalised score and the probability of improvement")
    p.add_argument("--baselines", nargs=2, default=None, metavar=("LOWER", "UPPER"),
                   help="policies scored 0 and 1 by the normalised score (default: random and the strongest "
                        "heuristic of the run, by mean score metric)")
    p.add_argument("--bound", action=argparse.BooleanOptionalAction, default=True,
                   help="add the upper-bound reference row (orbitcloud_env.bounds.episode_upper_bound per seed)")
    p.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                   help="deterministic actions for trained models")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar")
    return p


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _check_output_dir(path: str, overwrite: bool) -> Path:
    """The results folder; UsageError for a file, or an existing non-empty folder without ``--overwrite``."""
    from agents.cli import UsageError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"-o: {p} exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise UsageError(f"-o: results folder {p} exists and is not empty; pass --overwrite or choose another")
    return p


def _baselines(args: argparse.Namespace, specs: Sequence[Any], results: Sequence[Any]) -> tuple[str, str | None, str]:
    """``(lower, upper, source)``: ``--baselines`` when given, else random and the strongest heuristic of the run."""
    from agents import evaluation as E

    if args.baselines is not None:
        lower, upper = args.baselines
        return lower, upper, "baselines set with --baselines"
    lower = next((s.label for s in specs if not s.is_model and s.source == "random"), "random")
    heuristics = [s.label for s in specs if not s.is_model and s.source not in E.NOT_BASELINES]
    upper = E.strongest_heuristic(results, heuristics, score_metric=args.score_metric, exclude=[lower])
    if upper is None:
        return lower, None, (f"no upper baseline: no heuristic besides {lower} was evaluated "
                             "(name one in --policies, or set --baselines)")
    return lower, upper, (f"upper baseline {upper} is the strongest heuristic of this run (best mean "
                          f"{args.score_metric}; models and lookahead not considered); set both with --baselines")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Heavy imports after argument parsing, so --help is fast.
    import agents
    from agents import evaluation as E
    from agents.cli import UsageError, environment_versions, parse_key_values, resolve_env_id
    from agents.io import write_text_atomic

    # ---- validate everything before any episode runs -----------------------------------------------------
    try:
        if args.episodes < 1:
            raise E.EvaluationError(f"--episodes must be >= 1, got {args.episodes}")
        if args.n_jobs < 1:
            raise E.EvaluationError(f"--n-jobs must be >= 1, got {args.n_jobs}")
        if not 0.0 < args.confidence < 1.0:
            raise E.EvaluationError(f"--confidence must be in (0, 1), got {args.confidence}")
        if args.render_frames < 1:
            raise E.EvaluationError(f"--render-frames must be >= 1, got {args.render_frames}")
        if args.n_resamples < 1:
            raise E.EvaluationError(f"--n-resamples must be >= 1, got {args.n_resamples}")
        if args.score_metric not in E.METRICS and not args.score_metric.startswith("reward."):
            raise E.EvaluationError(f"--score-metric: unknown metric {args.score_metric!r}; "
                                    f"choose from {', '.join(E.METRICS)}")
        env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
        out_dir = _check_output_dir(args.output, args.overwrite)
        specs = [E.resolve_policy(text, agents.available_policies()) for text in args.policies]
        labels = [s.label for s in specs]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise E.EvaluationError(f"--policies: policy given twice: {', '.join(dupes)} (use LABEL=POLICY)")
        if E.UPPER_BOUND in labels:
            raise E.EvaluationError(f"--policies: the label {E.UPPER_BOUND!r} is reserved for the reference row; "
                                    "choose another with LABEL=POLICY")
        render_spec = None
        if args.render_episode is not None:
            render_spec = next((s for s in specs if args.render_episode in (s.label, s.source)), None)
            if render_spec is None:
                raise E.EvaluationError(f"--render-episode: {args.render_episode!r} is not among --policies "
                                        f"({', '.join(labels)})")
        resolve_env_id(args.env)
        if args.bound:
            try:
                from orbitcloud_env.bounds import episode_upper_bound  # noqa: F401
            except ImportError as exc:
                raise E.EvaluationError(f"--bound: the upper bound is unavailable ({_first_line(exc)}); "
                                        "pass --no-bound") from None
        env_spec = E.EnvSpec.create(args.env, env_kwargs)
        try:
            env = E.make_env(env_spec)
        except Exception as exc:  # noqa: BLE001 - any failure to build the env is a bad --env/--env-kwargs
            raise E.EvaluationError(f"cannot make env {args.env!r} with {env_kwargs}: {_first_line(exc)}") from exc
        try:
            for s in specs:
                try:
                    E.build_policy(s, env, seed=args.seed)
                except Exception as exc:  # noqa: BLE001 - unusable model / incompatible env
                    raise E.EvaluationError(f"policy {s.label!r}: {_first_line(exc)}") from exc
        finally:
            env.close()
    except UsageError as exc:
        return _fail(str(exc))

    # ---- run ---------------------------------------------------------------------------------------------
    t0 = time.time()
    try:
        results = E.evaluate(env_spec, specs, n_episodes=args.episodes, seed=args.seed, n_jobs=args.n_jobs,
                             deterministic=args.deterministic, progress=args.progress, upper_bound=args.bound)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    eval_s = time.time() - t0
    lower, upper, source = _baselines(args, specs, results)
    agg = E.summarize_results(results, score_metric=args.score_metric, lower=lower, upper=upper,
                              baseline_source=source, confidence=args.confidence, n_resamples=args.n_resamples,
                              seed=args.seed)

    kwargs_txt = " ".join(f"{k}={v!r}" for k, v in env_kwargs.items())
    run_info: dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in [PROG, *(sys.argv[1:] if argv is None else argv)]),
        "env_id": args.env, "env_kwargs": env_kwargs, "episodes": args.episodes, "seed": args.seed,
        "seeds": [args.seed + i for i in range(args.episodes)], "n_jobs": args.n_jobs,
        "deterministic": args.deterministic, "n_resamples": args.n_resamples, "confidence": args.confidence,
        "baselines": {"lower": lower, "upper": upper, "source": source}, "upper_bound": args.bound,
        "policies": [{"label": s.label, "source": s.source, "is_model": s.is_model,
                      "vecnormalize": s.vecnormalize} for s in specs],
        "evaluation_wall_s": eval_s, "episode_steps": int(sum(r.steps for r in results)),
        "versions": environment_versions(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "footer": f"Env {args.env}{' (' + kwargs_txt + ')' if kwargs_txt else ''}, seeds {args.seed}.."
                  f"{args.seed + args.episodes - 1}.",
    }
    title = args.env
    written = E.write_outputs(results, agg, out_dir, run_info=run_info, plots=args.plots, title=title)
    if render_spec is not None:
        from agents import plots as P

        frames, _ = E.render_episode_frames(env_spec, render_spec, seed=args.seed, max_frames=args.render_frames,
                                            deterministic=args.deterministic)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in render_spec.label)
        written.append(P.save_animation(frames, out_dir / f"episode_{safe}.gif",
                                        title=f"{args.env}: {render_spec.label}, seed {args.seed}"))
    run_info["outputs"] = [p.name for p in written] + ["run.json"]
    write_text_atomic(out_dir / "run.json", json.dumps(E.json_safe(run_info), indent=2) + "\n")

    print(E.format_summary_md(agg, title=title, footer=run_info["footer"]))
    steps = run_info["episode_steps"]
    n_episodes = sum(not r.reference for r in results)
    print(f"{n_episodes} episodes, {steps} steps in {eval_s:.1f} s ({steps / max(eval_s, 1e-9):.0f} steps/s, "
          f"{args.n_jobs} worker{'s' if args.n_jobs > 1 else ''}); results in {out_dir}{os.sep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
