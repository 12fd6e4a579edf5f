"""The evaluation command: ``orbitcloud-evaluate`` (installed) or ``python evaluate.py`` (checkout).

Evaluate heuristics and trained models on OrbitCloud with paired seeds; write tables, statistics and plots.

Example::

    orbitcloud-evaluate --env OrbitCloud-v1 \\
        --policies random earliest-finish energy-aware ground-only logs/ppo/OrbitCloud-v1_1/best_model.zip \\
        --episodes 20 --seed 0 -o results/ --n-jobs 2

Episode ``i`` of every policy runs on ``env.reset(seed=seed + i)`` (same job stream for every policy). Scores are
normalised between ``random`` and the strongest heuristic of the run unless ``--baselines`` names both; an
``upper-bound`` reference row (``orbitcloud_env.bounds.episode_upper_bound`` per seed) is added unless
``--no-bound``.

Every flag is checked here, once, before the first episode: bad inputs (unknown policy or metric, missing model,
malformed --env-kwargs, an env that cannot be built, a results folder that is a file, lies under one or cannot be
written, an existing non-empty results folder without --overwrite or --resume, a --resume whose command differs)
stop with one line on stderr and exit status 2, creating nothing.

Each finished episode is appended to ``episodes.jsonl`` and ``episodes.csv`` at once (agents/evaluating/journal.py), and the
normalised command is stored in ``command.json`` before the first episode; ``--resume`` continues an interrupted
run (Ctrl-C or kill -9) in the same folder, skipping the finished (policy, seed) pairs, reference rows included.
See docs/evaluation.md for the metrics, the statistics and the output files.

Importing this module loads only the standard library and :mod:`agents.common.cli`, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from agents.common.cli import (
    EXIT_TERMINATED,
    EXIT_USAGE,
    OneLineParser,
    Terminated,
    UsageError,
    prog_name,
    sigterm_as_interrupt,
)

__all__ = ["build_parser", "main", "COMMAND_FILE", "RESUME_KEYS", "EvalPlan", "validate", "plan_run", "execute"]

PROG = "evaluate.py"
EXIT_INTERRUPTED = 130

#: The normalised command of a results folder, written before the first episode.
COMMAND_FILE = "command.json"
#: The entries of command.json that decide the episodes' results: ``--resume`` refuses when one differs. The
#: others (statistics, plots, GIF, workers, progress bar) apply to the whole run at its end and may change.
RESUME_KEYS = ("env", "env_kwargs", "policies", "episodes", "seed", "deterministic", "bound")
#: Files of an earlier run in the folder that this run may not rewrite (removed at the end when it did not).
_STALE_PLOTS = ("metrics.png", "latency_cdf.png", "region_latency.png")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="Evaluate heuristics and trained models on OrbitCloud with "
                                "paired seeds; write tables, statistics and plots.",
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
                   help="write into an existing non-empty results folder (an earlier run's files there are replaced "
                        "or removed)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=False,
                   help="continue an interrupted run in the -o folder: the same command plus --resume; finished "
                        "episodes are kept, the rest are run")
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
    p.add_argument("--trust-model", action=argparse.BooleanOptionalAction, default=False,
                   help="load the model files (and vecnormalize.pkl) with Stable-Baselines3's own unpickling, which "
                        "runs any code they hold; only for files whose source you trust (default: safe loading, "
                        "which refuses such files; docs/evaluation.md)")
    return p


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _has_entries(folder: Path) -> bool:
    """Whether ``folder`` holds anything besides the lock file (agents/common/locks.py)."""
    from agents.common.locks import LOCK_FILE

    return folder.is_dir() and any(p.name != LOCK_FILE for p in folder.iterdir())


def _check_output_dir(path: str, overwrite: bool, resume: bool) -> tuple[Path, dict[str, Any] | None]:
    """The results folder and, for ``--resume``, the stored command of the run to continue (None: start afresh).
    UsageError for a folder that is a file, lies under one or cannot be written, or an existing non-empty folder
    without ``--overwrite`` / ``--resume``."""
    from agents.common.cli import check_folder_writable

    if overwrite and resume:
        raise UsageError("--resume and --overwrite: choose one (resume keeps the finished episodes, overwrite "
                         "starts afresh)")
    from agents.common.locks import folder_holder

    p = check_folder_writable(path, "-o/--output")
    holder = folder_holder(p) if p.is_dir() else None
    if holder is not None:
        raise UsageError(f"-o: results folder {p} is in use by {holder}; wait for that run to end, or choose "
                         "another folder")
    non_empty = _has_entries(p)
    if resume:
        if not non_empty:
            return p, None  # nothing to resume: a fresh run
        stored = p / COMMAND_FILE
        try:
            return p, json.loads(stored.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(f"--resume: {p} holds no readable {COMMAND_FILE}: not a folder of an interrupted "
                             "evaluate run") from None
    if non_empty and not overwrite:
        raise UsageError(f"-o: results folder {p} exists and is not empty; pass --resume to continue the run in it, "
                         "--overwrite to replace it, or choose another")
    return p, None


def _normalised_command(args: argparse.Namespace, env_kwargs: dict[str, Any], specs: Sequence[Any]) -> dict[str, Any]:
    """The run's command as data (command.json): what --resume compares (:data:`RESUME_KEYS`) and the rest."""
    return {
        "env": args.env.split(":", 1)[-1],
        "env_kwargs": env_kwargs,
        "policies": [{"label": s.label, "source": s.source, "is_model": s.is_model,
                      **({"sha256": _sha256(s.source)} if s.is_model else {})} for s in specs],
        "episodes": args.episodes, "seed": args.seed, "deterministic": args.deterministic, "bound": args.bound,
        "score_metric": args.score_metric, "baselines": args.baselines, "n_resamples": args.n_resamples,
        "confidence": args.confidence, "plots": args.plots, "render_episode": args.render_episode,
        "render_frames": args.render_frames,
    }


def _resume_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    from agents.evaluating import evaluation as E

    current = json.loads(json.dumps(E.json_safe(current)))  # the form it has once stored
    diffs = []
    for key in RESUME_KEYS:
        if stored.get(key) != current.get(key):
            if key == "policies":
                diffs.append("policies (labels, sources or model files)")
            else:
                diffs.append(f"{key} ({stored.get(key)!r} then, {current.get(key)!r} now)")
    return diffs


def _baselines(args: argparse.Namespace, specs: Sequence[Any], results: Sequence[Any]) -> tuple[str, str | None, str]:
    """``(lower, upper, source)``: ``--baselines`` when given, else random and the strongest heuristic of the run."""
    from agents.evaluating import evaluation as E

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


def _remove_stale_outputs(out_dir: Path, written: Sequence[Path], previous_outputs: Sequence[str]) -> list[str]:
    """Remove files an earlier run wrote in ``out_dir`` that this run did not rewrite (plots after --no-plots, a
    GIF of another policy); only names this command writes, never anything else in the folder."""
    keep = {p.name for p in written}
    candidates = set(previous_outputs) | set(_STALE_PLOTS) | {p.name for p in out_dir.glob("episode_*.gif")}
    removed = []
    for name in sorted(candidates - keep):
        path = out_dir / name
        if Path(name).name == name and path.is_file() and (name in _STALE_PLOTS or name.endswith((".png", ".gif"))):
            path.unlink()
            removed.append(name)
    return removed


def _reward_terms(env: Any, seed: int) -> list[str]:
    """Names of the env's reward terms (``info["rewards"]``), from one step of a probe episode."""
    import numpy as np

    env.reset(seed=seed)
    masks = getattr(env.unwrapped, "action_masks", None)
    valid = np.flatnonzero(masks()) if callable(masks) else np.array([0])
    _, _, _, _, info = env.step(int(valid[-1]) if valid.size else 0)
    return sorted(info.get("rewards") or {})


def _previous_outputs(out_dir: Path) -> list[str]:
    try:
        outputs = json.loads((out_dir / "run.json").read_text(encoding="utf-8")).get("outputs", [])
        return [str(o) for o in outputs] if isinstance(outputs, list) else []
    except (OSError, ValueError, AttributeError):
        return []


# The command runs in four stages: parse (main: build_parser), validate (the flags on their own, the files and
# folder they name), plan (the env and the policies built once, the command as data, what --resume continues) and
# execute (the episodes, then the reports). Nothing is written before execute.

@dataclass
class EvalPlan:
    """The checked inputs of a run: :func:`validate` fills the first group, :func:`plan_run` the second."""

    args: argparse.Namespace
    env_kwargs: dict[str, Any]
    out_dir: Path
    stored: dict[str, Any] | None  # --resume: the interrupted run's command.json; None: a fresh run
    specs: list[Any]  # agents.evaluating.rollouts.PolicySpec, one per --policies entry
    render_spec: Any = None  # --render-episode's policy
    env_spec: Any = None  # agents.evaluating.rollouts.EnvSpec
    command: dict[str, Any] = field(default_factory=dict)  # command.json
    run_hash: str = ""  # of command.json's RESUME_KEYS, stamped on every journal row
    previous: list[Any] = field(default_factory=list)  # the episodes an interrupted run finished (--resume)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.specs]

    @property
    def total(self) -> int:
        """Episodes of the run, the upper-bound reference rows included."""
        return (len(self.specs) + bool(self.args.bound)) * self.args.episodes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (without the program name; default ``sys.argv[1:]``); return the exit status:
    0, 2 for a usage error (one line on stderr, nothing created), 130 after Ctrl-C and 143 after SIGTERM
    (finished episodes kept)."""
    prog = prog_name(PROG, argv)
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(args_list)
    try:
        plan = plan_run(validate(args))
    except UsageError as exc:
        return _fail(prog, str(exc))
    head = f"python {shlex.quote(sys.argv[0])}" if argv is None and sys.argv[0].endswith(".py") else prog
    return execute(plan, prog, typed=" ".join([prog, *(shlex.quote(a) for a in args_list)]),
                   as_run=" ".join([head, *(shlex.quote(a) for a in args_list)]))


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def validate(args: argparse.Namespace) -> EvalPlan:
    """Check every flag, the results folder and the policies' names and files (a UsageError for the first bad
    one); nothing is built yet."""
    from agents.common.cli import parse_key_values, resolve_env_id
    from agents.evaluating import evaluation as E

    _check_numbers(args)
    env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    out_dir, stored = _check_output_dir(args.output, args.overwrite, args.resume)
    plan = EvalPlan(args=args, env_kwargs=env_kwargs, out_dir=out_dir, stored=stored, specs=_check_policies(args))
    if args.render_episode is not None:
        plan.render_spec = next((s for s in plan.specs if args.render_episode in (s.label, s.source)), None)
        if plan.render_spec is None:
            raise E.EvaluationError(f"--render-episode: {args.render_episode!r} is not among --policies "
                                    f"({', '.join(plan.labels)})")
    resolve_env_id(args.env)
    if args.bound:
        try:
            from orbitcloud_env.bounds import episode_upper_bound  # noqa: F401
        except ImportError as exc:
            raise E.EvaluationError(f"--bound: the upper bound is unavailable ({_first_line(exc)}); "
                                    "pass --no-bound") from None
    return plan


def _check_numbers(args: argparse.Namespace) -> None:
    from agents.evaluating import evaluation as E

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


def _check_policies(args: argparse.Namespace) -> list[Any]:
    """--policies resolved (names known, model files present), their labels unique and not the reserved one."""
    import agents
    from agents.evaluating import evaluation as E

    specs = [E.resolve_policy(text, agents.available_policies(), trust=args.trust_model) for text in args.policies]
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise E.EvaluationError(f"--policies: policy given twice: {', '.join(dupes)} (use LABEL=POLICY)")
    if E.UPPER_BOUND in labels:
        raise E.EvaluationError(f"--policies: the label {E.UPPER_BOUND!r} is reserved for the reference row; "
                                "choose another with LABEL=POLICY")
    return specs


def plan_run(plan: EvalPlan) -> EvalPlan:
    """Build the env and every policy once (a bad --env-kwargs, an unusable model or a model of other spaces is a
    UsageError here), the command as data, and for --resume the finished episodes its journal holds."""
    from agents.common.provenance import trained_on_notice
    from agents.evaluating import evaluation as E
    from agents.evaluating.journal import command_hash

    args = plan.args
    plan.env_spec = E.EnvSpec.create(args.env, plan.env_kwargs)
    for spec in plan.specs:  # a model trained on another id: say so (its spaces are checked when it loads)
        notice = trained_on_notice(spec.source, args.env) if spec.is_model else None
        if notice:
            print(f"{spec.label}: {notice}", flush=True)
    _probe_env_and_policies(plan)
    plan.command = _normalised_command(args, plan.env_kwargs, plan.specs)
    stored_form = json.loads(json.dumps(E.json_safe(plan.command)))  # as in command.json
    plan.run_hash = command_hash({k: stored_form.get(k) for k in RESUME_KEYS})  # stamped on every journal row
    if plan.stored is not None:
        plan.previous = _resumed_episodes(plan)
    return plan


def _probe_env_and_policies(plan: EvalPlan) -> None:
    """One env of the run: --score-metric's reward term must be among its terms, and every policy must build on it."""
    from agents.evaluating import evaluation as E

    args = plan.args
    try:
        env = E.make_env(plan.env_spec)
    except Exception as exc:  # noqa: BLE001 - any failure to build the env is a bad --env/--env-kwargs
        raise E.EvaluationError(f"cannot make env {args.env!r} with {plan.env_kwargs}: {_first_line(exc)}") from exc
    try:
        if args.score_metric.startswith("reward."):
            terms = _reward_terms(env, args.seed)
            if args.score_metric[len("reward."):] not in terms:
                raise E.EvaluationError(f"--score-metric: the env has no reward term {args.score_metric!r}; "
                                        f"its terms: {', '.join('reward.' + t for t in terms)}")
        for s in plan.specs:
            try:
                E.build_policy(s, env, seed=args.seed)
            except Exception as exc:  # noqa: BLE001 - unusable model / incompatible env
                raise E.EvaluationError(f"policy {s.label!r}: {_first_line(exc)}") from exc
    finally:
        env.close()


def _resumed_episodes(plan: EvalPlan) -> list[Any]:
    """--resume: the episodes the interrupted run finished, when its command is this one and its journal sound."""
    from agents.evaluating import evaluation as E
    from agents.evaluating.journal import JournalError, read_journal

    args, out_dir = plan.args, plan.out_dir
    diffs = _resume_differences(plan.stored, plan.command)
    if diffs:
        raise UsageError(f"--resume: the command differs from the interrupted run's in {'; '.join(diffs)}; "
                         f"rerun it as stored in {out_dir / COMMAND_FILE}, or use another -o")
    episodes = {(label, args.seed + i) for label in [*plan.labels, *([E.UPPER_BOUND] if args.bound else [])]
                for i in range(args.episodes)}
    try:
        return read_journal(out_dir, command_sha256=plan.run_hash, episodes=episodes)
    except JournalError as exc:
        raise UsageError(f"--resume: {exc}; its episodes cannot be trusted: rerun with --overwrite, or use "
                         "another -o") from None


def execute(plan: EvalPlan, prog: str, typed: str, as_run: str) -> int:
    """Claim the results folder (locked for the run), run the episodes into the journal, then write the reports and
    print the summary. ``typed``: the command for the lock file; ``as_run``: for run.json."""
    from agents.common.locks import lock_folder

    out_dir = plan.out_dir
    previous_outputs = _previous_outputs(out_dir) if out_dir.is_dir() else []
    out_dir.mkdir(parents=True, exist_ok=True)
    try:  # one run per folder: a second one started at the same time stops here (agents/common/locks.py)
        lock = lock_folder(out_dir, "-o", command=typed)
    except UsageError as exc:
        return _fail(prog, str(exc))
    try:
        if plan.stored is None and not plan.args.overwrite and _has_entries(out_dir):
            return _fail(prog, f"-o: results folder {out_dir} was written by another run while this one was "
                               "checking its inputs; pass --resume to continue it, --overwrite to replace it, or "
                               "choose another")
        _start_output(plan)
        results, eval_s, status = _run_episodes(plan, prog)
        if status is not None:
            return status
        agg, run_info = _write_reports(plan, results, eval_s, as_run, previous_outputs)
    finally:
        lock.release()
    _print_summary(plan, results, eval_s, agg, run_info)
    return 0


def _start_output(plan: EvalPlan) -> None:
    """Remove an earlier run's reports (they must not pass for this run's while it runs); write command.json."""
    from agents.common.io import write_text_atomic
    from agents.evaluating import evaluation as E

    out_dir = plan.out_dir
    for stale in ("run.json", "summary.md", "summary.csv", "summary.json", "probability_of_improvement.csv"):
        if (out_dir / stale).is_file():
            (out_dir / stale).unlink()
    write_text_atomic(out_dir / COMMAND_FILE, json.dumps(E.json_safe(plan.command), indent=2) + "\n")


def _run_episodes(plan: EvalPlan, prog: str) -> tuple[list[Any], float, int | None]:
    """(results, seconds, None), each finished episode appended to the journal as it finishes; after Ctrl-C or
    SIGTERM the message is printed and the status is 130 / 143 (the journal keeps the finished episodes)."""
    from agents.evaluating import evaluation as E
    from agents.evaluating.journal import JOURNAL, EpisodeJournal, read_journal

    args, out_dir, previous = plan.args, plan.out_dir, plan.previous
    if previous:
        print(f"Resuming: {len(previous)} of {plan.total} episodes already in {out_dir / JOURNAL}", flush=True)
    t0 = time.time()
    with EpisodeJournal(out_dir, previous, command_sha256=plan.run_hash) as journal:
        try:
            with sigterm_as_interrupt():  # SIGTERM as Ctrl-C: the finished episodes are in the journal
                results = E.evaluate(plan.env_spec, plan.specs, n_episodes=args.episodes, seed=args.seed,
                                     n_jobs=args.n_jobs, deterministic=args.deterministic, progress=args.progress,
                                     upper_bound=args.bound, done=previous, on_result=journal.append)
        except KeyboardInterrupt as exc:
            n_done = len(read_journal(out_dir))
            what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            print(f"{prog}: {what} after {n_done} of {plan.total} episodes (kept in {out_dir / JOURNAL}); the same "
                  "command plus --resume continues", file=sys.stderr)
            return [], time.time() - t0, EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    return results, time.time() - t0, None


def _write_reports(plan: EvalPlan, results: list[Any], eval_s: float, as_run: str,
                   previous_outputs: list[str]) -> tuple[Any, dict[str, Any]]:
    """The statistics, the report files and plots, the GIF (--render-episode) and run.json; earlier outputs this
    run did not rewrite are removed. Returns (aggregate, run_info)."""
    from agents.common.io import write_text_atomic
    from agents.evaluating import evaluation as E
    from agents.evaluating.journal import JOURNAL

    args, out_dir = plan.args, plan.out_dir
    lower, upper, source = _baselines(args, plan.specs, results)
    agg = E.summarize_results(results, score_metric=args.score_metric, lower=lower, upper=upper,
                              baseline_source=source, confidence=args.confidence, n_resamples=args.n_resamples,
                              seed=args.seed)
    run_info = _run_info(plan, results, eval_s, as_run, {"lower": lower, "upper": upper, "source": source})
    written = E.write_outputs(results, agg, out_dir, run_info=run_info, plots=args.plots, title=args.env)
    if plan.render_spec is not None:
        written.append(_render_gif(plan))
    written += [out_dir / JOURNAL, out_dir / COMMAND_FILE]
    removed = _remove_stale_outputs(out_dir, written, previous_outputs)
    if removed:
        print(f"Removed {', '.join(removed)} of an earlier run (not written by this one)")
    run_info["outputs"] = [p.name for p in written] + ["run.json"]
    write_text_atomic(out_dir / "run.json", json.dumps(E.json_safe(run_info), indent=2) + "\n")
    return agg, run_info


def _run_info(plan: EvalPlan, results: list[Any], eval_s: float, as_run: str,
              baselines: dict[str, Any]) -> dict[str, Any]:
    """run.json (its ``outputs`` added once written): the command, settings, baselines, timing and versions."""
    from agents.common.cli import environment_versions

    args, env_kwargs = plan.args, plan.env_kwargs
    kwargs_txt = " ".join(f"{k}={v!r}" for k, v in env_kwargs.items())
    return {
        "command": as_run,
        "env_id": args.env, "env_kwargs": env_kwargs, "episodes": args.episodes, "seed": args.seed,
        "seeds": [args.seed + i for i in range(args.episodes)], "n_jobs": args.n_jobs,
        "deterministic": args.deterministic, "n_resamples": args.n_resamples, "confidence": args.confidence,
        "baselines": baselines, "upper_bound": args.bound,
        "policies": [{"label": s.label, "source": s.source, "is_model": s.is_model,
                      "vecnormalize": s.vecnormalize} for s in plan.specs],
        "resumed_episodes": len(plan.previous),
        "evaluation_wall_s": eval_s, "episode_steps": int(sum(r.steps for r in results)),
        "versions": environment_versions(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "footer": f"Env {args.env}{' (' + kwargs_txt + ')' if kwargs_txt else ''}, seeds {args.seed}.."
                  f"{args.seed + args.episodes - 1}.",
    }


def _render_gif(plan: EvalPlan) -> Path:
    """--render-episode: the animation of one episode of that policy (the first seed)."""
    from agents.evaluating import evaluation as E
    from agents.evaluating import plots as P

    args, spec = plan.args, plan.render_spec
    frames, _ = E.render_episode_frames(plan.env_spec, spec, seed=args.seed, max_frames=args.render_frames,
                                        deterministic=args.deterministic)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.label)
    return P.save_animation(frames, plan.out_dir / f"episode_{safe}.gif",
                            title=f"{args.env}: {spec.label}, seed {args.seed}")


def _print_summary(plan: EvalPlan, results: list[Any], eval_s: float, agg: Any, run_info: dict[str, Any]) -> None:
    from agents.evaluating import evaluation as E

    args, previous = plan.args, plan.previous
    done_before = {(p.policy, p.seed) for p in previous}
    new_steps = int(sum(r.steps for r in results if (r.policy, r.seed) not in done_before))
    print(E.format_summary_md(agg, title=args.env, footer=run_info["footer"]))
    n_episodes = sum(not r.reference for r in results)
    print(f"{n_episodes} episodes ({len(previous)} resumed), {new_steps} new steps in {eval_s:.1f} s "
          f"({new_steps / max(eval_s, 1e-9):.0f} steps/s, {args.n_jobs} worker{'s' if args.n_jobs > 1 else ''}); "
          f"results in {plan.out_dir}{os.sep}")


if __name__ == "__main__":
    sys.exit(main())
