"""Compare a shared learned policy with shared heuristics on the multi-agent env: ``python
examples/multiagent_compare.py --help`` (docs/multiagent.md).

Trains one MaskablePPO policy shared by every agent (or loads one with ``--model``), then runs it and each
heuristic for every agent on the same seeds (episode ``i`` on ``reset(seed=SEED + i)``) and prints a table: mean
return per agent and in total, the share of jobs that met their deadline, and the share rejected by contention.

Every flag is checked before training: a bad one stops with one line on stderr and exit status 2, creating nothing.
``--save`` writes the trained model through a temporary file renamed at the end.

Needs the ``multiagent`` extra (pettingzoo, supersuit).
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path
from typing import Any, Sequence

from agents.common.cli import EXIT_USAGE, OneLineParser, UsageError, parse_key_values, prog_name

__all__ = ["build_parser", "main", "DEFAULT_HEURISTICS"]

PROG = "multiagent_compare.py"
#: Heuristics compared by default (agents/acting/heuristics.py).
DEFAULT_HEURISTICS = ("random", "nearest", "earliest-finish", "earliest-finish-admit", "slack-aware")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="Train (or load) one policy shared by every agent of the multi-agent "
                      "env and compare it with every agent running the same heuristic.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="small", help="scenario preset or YAML path")
    p.add_argument("--groups", default="continent", help="agents: 'continent' or 'cloud_region'")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY:VALUE",
                   help="scenario overrides as key:value, e.g. max_jobs:400")
    p.add_argument("--heuristics", nargs="*", default=list(DEFAULT_HEURISTICS), metavar="NAME",
                   help="heuristics to compare (agents/acting/heuristics.py)")
    p.add_argument("--episodes", "-n", type=int, default=3, help="evaluation episodes per policy")
    p.add_argument("--seed", type=int, default=100, help="evaluation episode i uses reset(seed=SEED + i)")
    p.add_argument("--model", default=None, help="a saved MaskablePPO .zip to evaluate instead of training")
    p.add_argument("--trust-model", action=argparse.BooleanOptionalAction, default=False,
                   help="load --model with Stable-Baselines3's own unpickling, which runs any code the file holds "
                        "(default: safe loading, which refuses such a file; docs/evaluation.md)")
    p.add_argument("--timesteps", type=int, default=20_000,
                   help="training agent-steps (rows of the vector env, idle rows included)")
    p.add_argument("--train-seed", type=int, default=0, help="seed of the training run and its episodes")
    p.add_argument("--n-copies", type=int, default=1, help="copies of the multi-agent env stacked for training")
    p.add_argument("--save", default=None, help="save the trained model to this .zip")
    return p


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    for key in ("preset", "groups", "render_mode"):
        if key in kwargs:
            raise UsageError(f"--env-kwargs: {key!r} is a flag of its own here (use --{key})"
                             if key != "render_mode" else "--env-kwargs: render_mode is not used here")
    return {"preset": args.preset, "groups": args.groups, **kwargs}


def _check(args: argparse.Namespace) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Validate every flag; return the env kwargs, one env and the policies (label -> policy; the learned one is
    None until trained). UsageError for a bad flag."""
    from agents.acting.registry import make_policy
    from orbitcloud_env.config import ConfigError
    from orbitcloud_env.multiagent import OrbitCloudParallelEnv

    for flag, value, low in (("--episodes", args.episodes, 1), ("--timesteps", args.timesteps, 1),
                             ("--n-copies", args.n_copies, 1)):
        if value < low:
            raise UsageError(f"{flag}: must be >= {low}, got {value}")
    if args.model is not None and args.save is not None:
        raise UsageError("--save: only with training (not with --model)")
    if args.save is not None:
        save = Path(args.save)
        if save.suffix != ".zip":
            raise UsageError(f"--save: expected a path ending in .zip, got {args.save}")
        if not save.parent.is_dir():
            raise UsageError(f"--save: the folder {save.parent} does not exist")
    kwargs = _env_kwargs(args)
    try:
        env = OrbitCloudParallelEnv(**kwargs)
    except (ConfigError, ValueError, TypeError) as exc:
        message = str(exc)
        if message.startswith("groups"):  # "groups: ..." / "groups['x']: ..."
            raise UsageError(f"--{message}") from None
        raise UsageError(f"--preset/--env-kwargs: {message}") from None
    agent = env.possible_agents[0]
    spaces = types.SimpleNamespace(observation_space=env.observation_space(agent),
                                   action_space=env.action_space(agent))
    policies: dict[str, Any] = {}
    if args.model is not None:
        try:
            model = make_policy(Path(args.model), env=spaces, trust=args.trust_model)
            policies[f"shared model ({Path(args.model).name})"] = model
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--model: {exc}") from None
    else:
        policies["shared MaskablePPO"] = None
    for name in args.heuristics:
        try:
            policies[name] = make_policy(name, env=spaces, seed=args.seed)
        except ValueError as exc:
            raise UsageError(f"--heuristics: {exc}") from None
    return kwargs, env, policies


def format_table(env: Any, results: dict[str, Any]) -> str:
    """A Markdown table: mean return per agent and in total, met-deadline and contended shares of the jobs."""
    agents = env.possible_agents
    head = ["policy", *agents, "total", "met deadline", "contended"]
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for label, s in results.items():
        jobs = sum(s.jobs.values())
        cells = [label, *(f"{s.mean_return(a):.1f}" for a in agents), f"{s.mean_return():.1f}",
                 f"{s.met_rate():.1%}", f"{sum(s.contended.values()) / max(jobs, 1):.1%}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command (``argv`` without the program name); 0, or 2 after one line on stderr for a bad flag."""
    prog = prog_name(PROG, argv)
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        import pettingzoo  # noqa: F401
        import supersuit  # noqa: F401
    except ImportError:
        print(f"{prog}: error: needs the multiagent extra: pip install 'orbitcloud-env[multiagent]'", file=sys.stderr)
        return EXIT_USAGE
    try:
        kwargs, env, policies = _check(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from agents.acting.rl import LoadedPolicy
    from agents.common.io import atomic_path
    from agents.marl.multiagent import evaluate_shared, train_shared

    print("agents: " + "; ".join(f"{a} ({len(env.sites_of(a))} sites)" for a in env.possible_agents))
    if "shared MaskablePPO" in policies:
        t0 = time.perf_counter()
        model = train_shared(kwargs, args.timesteps, seed=args.train_seed, n_copies=args.n_copies)
        print(f"trained MaskablePPO for {model.num_timesteps} agent-steps in {time.perf_counter() - t0:.0f} s")
        if args.save is not None:
            with atomic_path(args.save) as tmp:
                model.save(tmp)
            print(f"saved {args.save}")
        policies["shared MaskablePPO"] = LoadedPolicy(model, "maskable_ppo", Path(args.save or "unsaved"))
    seeds = [args.seed + i for i in range(args.episodes)]
    results = {}
    for label, policy in policies.items():
        t0 = time.perf_counter()
        results[label] = evaluate_shared(env, policy, seeds)
        print(f"evaluated {label} on seeds {seeds[0]}..{seeds[-1]} in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
    print(f"\nmean return per episode over {args.episodes} episodes (seeds {seeds[0]}..{seeds[-1]}):\n")
    print(format_table(env, results))
    return 0
