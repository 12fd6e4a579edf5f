"""The learned policy of the README and its ablation over observation groups, in one reproducible run.

1. Collect ``--decisions`` decisions of the privileged ``lookahead`` planner on training seeds (agents/training/distill.py),
   in ``--workers`` processes, and save them (``<out>/demos.npz``); or load them with ``--demos``.
2. Train one MaskablePPO policy per variant with ``train.py`` itself (``--pretrain-demos``, ``-n 0``: behaviour
   cloning only, the id's hyperparameters): ``all`` (every observation group of the id) and one variant without each
   of ``--drop`` (default: load, power, links, backlog; ``load+trend`` drops both in one variant). A variant's env is the same id with
   ``groups:[...]`` minus the group, and its demonstrations are the same ones with that group's features removed,
   so the variants differ only in what the policy sees.
3. Evaluate every variant and the strongest heuristic (``--baseline``, default ``earliest-finish-admit``) on the same
   paired seeds, and print one markdown table: mean return, the paired gap in per cent of |baseline| with a 95 %
   bootstrap interval over seeds, and the seeds on which the variant beats the baseline.

Usage (the README's figures; see its Results section for the machine)::

    python benchmarks/distill_ablation.py --decisions 176000 --workers 16 --epochs 20 --device cuda --n-jobs 16 \
        --hyperparams policy:RowScoringPolicy \
        "policy_kwargs:dict(row_arch=[128, 128], prior_logit=5.0, net_arch=dict(vf=[256, 256]))" -o runs/ablation

Writes ``<out>/ablation.json`` and ``<out>/ablation.md`` (atomically) and the models under ``<out>/logs/``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import numpy as np

#: [-] bootstrap resamples of the gap intervals.
_RESAMPLES = 10_000
#: Groups the issue's ablation removes, one at a time.
DEFAULT_DROP = ("load", "power", "links", "backlog")


def gap_ci(a: np.ndarray, b: np.ndarray, scale: float, seed: int = 0) -> tuple[float, float, float]:
    """[%] mean of (a - b) / scale, with a 95 % paired bootstrap interval over seeds (episodes resampled jointly)."""
    from agents.stats import paired_gap_ci

    return paired_gap_ci(a, b, scale, n_resamples=_RESAMPLES, seed=seed)


def _train_variant(name: str, env_id: str, groups: list[str] | None, demos: str, out: str, seed: int, epochs: int,
                   device: str, temperature: float, hyperparams: list[str]) -> tuple[str, str]:
    """``train.py`` for one variant; returns (name, model path)."""
    from agents.train_cli import main as train_main

    folder = Path(out) / "logs" / name
    argv = ["--algo", "maskable_ppo", "--env", env_id, "--seed", str(seed), "--pretrain-demos", demos,
            "--pretrain-epochs", str(epochs), "-n", "0", "--eval-freq", "0", "-f", str(folder), "--device", device,
            "--verbose", "1", "--pretrain-temperature", str(temperature)]
    if hyperparams:
        argv += ["--hyperparams", *hyperparams]
    if groups is not None:
        argv += ["--env-kwargs", f"groups:{groups!r}"]
    status = train_main(argv)
    if status != 0:
        raise RuntimeError(f"variant {name}: train.py exited {status}")
    models = sorted(folder.glob(f"maskable_ppo/*/{env_id}.zip"), key=lambda p: p.stat().st_mtime)
    return name, str(models[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="OrbitCloud-v1", help="env id")
    p.add_argument("--decisions", type=int, default=176_000, help="lookahead decisions to collect, >= 1")
    p.add_argument("--workers", type=int, default=2, help="collection worker processes, >= 1")
    p.add_argument("--demos", default=None, help="load these demonstrations (.npz) instead of collecting")
    p.add_argument("--seed", type=int, default=0, help="seed of the collection and of the training")
    p.add_argument("--epochs", type=int, default=10, help="behaviour-cloning passes over the data, >= 1")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="train.py --pretrain-temperature (0: clone the lookahead's choices)")
    p.add_argument("--hyperparams", nargs="*", default=[], metavar="KEY:VALUE",
                   help="train.py --hyperparams, e.g. policy:RowScoringPolicy")
    p.add_argument("--drop", nargs="*", default=list(DEFAULT_DROP),
                   help="groups removed one at a time; 'a+b' removes a and b together (one variant)")
    p.add_argument("--device", default="cpu", help="torch device of the training")
    p.add_argument("--baseline", default="earliest-finish-admit", help="heuristic the gaps are measured against")
    p.add_argument("--eval-seed", type=int, default=1000, help="first evaluation seed")
    p.add_argument("--eval-episodes", type=int, default=20, help="paired evaluation episodes, >= 2")
    p.add_argument("--n-jobs", type=int, default=2, help="worker processes of training and evaluation, >= 1")
    p.add_argument("-o", "--out", default="runs/ablation", help="output folder")
    args = p.parse_args(argv)

    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401  (registers the ids)
    from agents.distill import collect_expert_demonstrations, save_demonstrations
    from agents.io import write_text_atomic
    from agents.rollouts import EnvSpec, _run_task, _worker_init, resolve_policy

    for flag, value, low in (("--decisions", args.decisions, 1), ("--workers", args.workers, 1),
                             ("--epochs", args.epochs, 1), ("--eval-episodes", args.eval_episodes, 2),
                             ("--n-jobs", args.n_jobs, 1)):
        if value < low:
            p.error(f"{flag}: must be >= {low}, got {value}")
    if args.env not in gym.registry:
        p.error(f"--env: unknown id {args.env!r}")
    if args.baseline not in agents.available():
        p.error(f"--baseline: must be one of {', '.join(agents.available())}, got {args.baseline!r}")
    env = gym.make(args.env)
    groups = list(env.unwrapped.config.observation.groups)
    env.close()
    unknown = [g for item in args.drop for g in item.split("+") if g not in groups]
    if unknown:
        p.error(f"--drop: {unknown} are not observation groups of {args.env} (its groups: {groups})")
    if args.demos is not None and not Path(args.demos).is_file():
        p.error(f"--demos: no such file: {args.demos}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if args.demos is None:
        demos_path = out / "demos.npz"
        demos = collect_expert_demonstrations(args.env, args.decisions, n_workers=args.workers, seed=args.seed)
        save_demonstrations(demos_path, demos, env_id=args.env, groups=groups, expert="lookahead")
        n_decisions = int(demos["actions"].size)
        del demos
    else:
        demos_path = Path(args.demos)
        with np.load(demos_path, allow_pickle=False) as data:
            n_decisions = int(data["actions"].size)
    timings["collect_s"] = time.perf_counter() - t0
    print(f"demonstrations: {demos_path} ({timings['collect_s']:.0f} s)", flush=True)

    variants: dict[str, list[str] | None] = {"all": None}
    variants.update({f"no-{item}": [x for x in groups if x not in item.split("+")] for item in args.drop})
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(args.n_jobs, len(variants)), mp_context=ctx) as pool:
        models = dict(pool.map(_train_variant, list(variants), [args.env] * len(variants), list(variants.values()),
                               [str(demos_path)] * len(variants), [str(out)] * len(variants),
                               [args.seed] * len(variants), [args.epochs] * len(variants),
                               [args.device] * len(variants), [args.temperature] * len(variants),
                               [args.hyperparams] * len(variants)))
    timings["train_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    runs = [(args.baseline, EnvSpec.create(args.env), resolve_policy(args.baseline, agents.available()))]
    runs += [(name, EnvSpec.create(args.env, None if g is None else {"groups": tuple(g)}),
              resolve_policy(f"{name}={models[name]}", agents.available())) for name, g in variants.items()]
    seeds_list = [args.eval_seed + i for i in range(args.eval_episodes)]
    tasks = [(name, spec, policy, i, s) for name, spec, policy in runs for i, s in enumerate(seeds_list)]
    with cf.ProcessPoolExecutor(max_workers=args.n_jobs, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_run_task, spec, policy, i, s, True): (name, i) for name, spec, policy, i, s in tasks}
        by_name: dict[str, dict[int, float]] = {}
        for fut in cf.as_completed(futures):
            name, i = futures[fut]
            by_name.setdefault(name, {})[i] = fut.result().metrics["episode_return"]
    returns = {name: np.array([by_name[name][i] for i in range(args.eval_episodes)]) for name, _, _ in runs}
    timings["evaluate_s"] = time.perf_counter() - t0

    base = returns[args.baseline]
    scale = abs(float(base.mean())) or 1.0
    seeds = f"{args.eval_seed}-{args.eval_seed + args.eval_episodes - 1}"
    lines = [f"{args.env}, behaviour cloning of `lookahead` ({n_decisions} decisions, {args.epochs} epochs, "
             f"temperature {args.temperature:g}{', ' + ' '.join(args.hyperparams) if args.hyperparams else ''}), "
             f"seeds {seeds}; gaps in % of |{args.baseline}| with 95 % paired "
             f"bootstrap intervals; {platform.machine()}, {args.n_jobs} worker(s); collect "
             f"{timings['collect_s']:.0f} s, train {timings['train_s']:.0f} s, evaluate {timings['evaluate_s']:.0f} s.",
             "", f"| variant | observation groups | return | gap vs {args.baseline} (%) | wins |",
             "|---|---|---:|---:|---:|",
             f"| {args.baseline} | (heuristic) | {base.mean():.0f} | — | — |"]
    table = {"env_id": args.env, "baseline": args.baseline, "seeds": seeds, "decisions": n_decisions,
             "epochs": args.epochs, "timings": timings, "models": models, "variants": {}}
    for name, g in variants.items():
        ret = returns[name]
        gap = gap_ci(ret, base, scale)
        wins = int(np.sum(ret > base))
        shown = ", ".join(groups if g is None else g)
        lines.append(f"| {name} | {shown} | {ret.mean():.0f} | {gap[0]:+.1f} [{gap[1]:+.1f}, {gap[2]:+.1f}] | "
                     f"{wins} of {ret.size} |")
        table["variants"][name] = {"groups": groups if g is None else g, "mean_return": float(ret.mean()),
                                   "gap_pct": gap, "wins": wins, "returns": ret.tolist()}
    table["baseline_returns"] = base.tolist()
    text = "\n".join(lines)
    write_text_atomic(out / "ablation.md", text + "\n")
    write_text_atomic(out / "ablation.json", json.dumps(table, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
