#!/usr/bin/env python
"""Train RLlib PPO (new API stack) on an OrbitCloud id, the action mask honoured by an action-masking RLModule.

Needs the ``rllib`` extra (``pip install -e ".[rllib]" torch==2.13.0``). On one machine::

    python examples/rllib_ppo.py --env-id OrbitCloud-Small-v2 --num-env-runners 2 --iterations 5 --seed 0

On a Ray cluster, start the script on the head node (or pass ``--address HOST:6379``); the env runners then sample
on whichever nodes have free CPUs (docs/scaling.md).

The env is wrapped in :class:`orbitcloud_env.wrappers.ActionMaskInObservation`, which gives the
``{"action_mask", "observations"}`` observation that :class:`agents.acting.rllib_masking.MaskedPPOTorchRLModule`
expects: that module, on RLlib's current RLModule API (``DefaultPPOTorchRLModule``; RLlib's own example module derives
from the deprecated ``PPOTorchRLModule``), adds log(mask) to the logits, so masked-out actions get probability ~0. Every
iteration prints the mean episode return, the env steps sampled and the invalid (masked-out) actions the env saw,
which stay 0 when the mask is honoured.

A bad flag prints one line on stderr and exits with status 2 (before Ray starts).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from agents.cli import (
    EXIT_USAGE,
    OneLineParser,
    UsageError,
    check_folder_writable,
    parse_key_values,
    prog_name,
    resolve_env_id,
)

PROG = "rllib_ppo.py"
#: The name the env creator is registered under with ``ray.tune.registry.register_env``.
RLLIB_ENV_NAME = "orbitcloud"
#: Per-iteration metric (summed over env runners): env steps whose action was masked out (``info["invalid_action"]``).
INVALID_ACTIONS = "invalid_actions"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="RLlib PPO (new API stack) on an OrbitCloud env, action mask honoured.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-Small-v2", help="registered env id (OrbitCloud-*)")
    p.add_argument("--env-kwargs", nargs="+", default=None, metavar="KEY:VALUE",
                   help="env overrides, e.g. max_jobs:200 action_mode:candidates")
    p.add_argument("--num-env-runners", type=int, default=2,
                   help="RLlib EnvRunner actors that sample in parallel (0: sample in the driver process)")
    p.add_argument("--iterations", type=int, default=5, help="training iterations (each samples a train batch)")
    p.add_argument("--train-batch-size", type=int, default=4000, help="env steps per iteration")
    p.add_argument("--seed", type=int, default=0, help="seed of the module and the envs (RLlib's debugging seed)")
    p.add_argument("--output", default=None, help="checkpoint folder written after the last iteration (optional)")
    p.add_argument("--num-threads", type=int, default=1,
                   help="torch CPU threads of this (driver) process, where the Learner and, with 0 env runners, the "
                        "sampling run (Ray sets a remote env runner's to its CPUs, 1); <= 0: torch's default")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (HOST:PORT or auto); default: a running local cluster, else a new one")
    return p


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """UsageError naming the flag for a bad value; returns the env overrides. Imports neither ray nor torch."""
    for flag, value, low in (("--num-env-runners", args.num_env_runners, 0), ("--iterations", args.iterations, 1),
                             ("--train-batch-size", args.train_batch_size, 2)):
        if value < low:
            raise UsageError(f"{flag}: must be >= {low}, got {value}")
    if args.seed < 0:
        raise UsageError(f"--seed: must be >= 0, got {args.seed}")
    resolve_env_id(args.env_id, flag="--env-id")
    overrides = parse_key_values(args.env_kwargs, "--env-kwargs")
    from agents.train_cli import probe_env

    _, _, _, maskable = probe_env(args.env_id, overrides)
    if not maskable:
        raise UsageError(f"--env-id: {args.env_id} has no action_masks(); this example needs a maskable env")
    if args.output is not None:
        out = check_folder_writable(args.output, "--output")
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"--output: {out} is a non-empty folder; give a new or empty one")
    return overrides


def make_env(env_config: Mapping[str, Any]):
    """The env creator registered with Ray: imports orbitcloud_env itself, so an EnvRunner in another process or on
    another node (where only the installed package is known) can build the env from ``env_config``
    (``{"env_id": ..., "overrides": {...}}``)."""
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the ids
    from orbitcloud_env.wrappers import ActionMaskInObservation

    return ActionMaskInObservation(gym.make(env_config["env_id"], **dict(env_config.get("overrides") or {})))


def _invalid_action_callback():
    """An RLlib callback that sums ``info["invalid_action"]`` over the sampled steps into :data:`INVALID_ACTIONS`."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class CountInvalidActions(RLlibCallback):
        def on_episode_step(self, *, episode, metrics_logger=None, **kwargs) -> None:
            info = episode.get_infos(-1)
            metrics_logger.log_value(INVALID_ACTIONS, int(bool(info.get("invalid_action", False))), reduce="sum")

    return CountInvalidActions


def build_config(env_id: str, overrides: Mapping[str, Any], *, num_env_runners: int, train_batch_size: int,
                 seed: int, minibatch_size: int = 128, num_epochs: int = 10):
    """A PPOConfig (new API stack) on ``env_id`` wrapped by ActionMaskInObservation, with the action-masking module
    (:class:`agents.acting.rllib_masking.MaskedPPOTorchRLModule`)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from agents.rllib_masking import MaskedPPOTorchRLModule

    register_env(RLLIB_ENV_NAME, make_env)
    return (
        PPOConfig()
        .environment(RLLIB_ENV_NAME, env_config={"env_id": env_id, "overrides": dict(overrides)})
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=train_batch_size,
                  minibatch_size=min(minibatch_size, train_batch_size), num_epochs=num_epochs)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedPPOTorchRLModule,
                                               model_config={"fcnet_hiddens": [64, 64]}))
        .callbacks(_invalid_action_callback())
        .debugging(seed=seed)
    )


def summarize(result: Mapping[str, Any]) -> dict[str, float]:
    """The figures printed per iteration, from an ``Algorithm.train()`` result."""
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        EPISODE_RETURN_MEAN,
        NUM_ENV_STEPS_SAMPLED,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
    )

    runners = result.get(ENV_RUNNER_RESULTS, {})
    sampled = float(runners.get(NUM_ENV_STEPS_SAMPLED, 0))
    seconds = float(result.get("time_this_iter_s", math.nan))
    return {"episode_return_mean": float(runners.get(EPISODE_RETURN_MEAN, math.nan)),
            "env_steps_sampled": sampled,
            "env_steps_sampled_lifetime": float(result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME,
                                                           runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, sampled))),
            "invalid_actions": float(runners.get(INVALID_ACTIONS, 0)),
            "iteration_s": seconds,
            "env_steps_per_s": sampled / seconds if seconds > 0 else math.nan}


def format_line(iteration: int, s: Mapping[str, float]) -> str:
    ret = "n/a (no episode ended yet)" if math.isnan(s["episode_return_mean"]) else f"{s['episode_return_mean']:.3f}"
    return (f"iter {iteration}: episode_return_mean={ret} env_steps_sampled={s['env_steps_sampled']:.0f} "
            f"(lifetime {s['env_steps_sampled_lifetime']:.0f}) invalid_actions={s['invalid_actions']:.0f} "
            f"time={s['iteration_s']:.1f}s ({s['env_steps_per_s']:.0f} env steps/s)")


def save_checkpoint(algo, output: str | os.PathLike) -> Path:
    """``algo.save_to_path`` into a temporary sibling folder, then renamed to ``output`` (an absent or empty folder)."""
    out = Path(output).expanduser().absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    algo.save_to_path(str(tmp))
    if out.exists():
        out.rmdir()  # empty (checked before training)
    os.replace(tmp, out)
    return out


def run(args: argparse.Namespace) -> int:
    overrides = check_args(args)
    try:
        import ray
        import torch
    except ImportError:
        print(f"{PROG}: error: ray is not installed; pip install -e \".[rllib]\" torch==2.13.0", file=sys.stderr)
        return 1
    if args.num_threads > 0:  # 2 threads: iterations 4-5x slower on the busy 2-core VM (docs/scaling.md)
        torch.set_num_threads(args.num_threads)
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    try:
        algo = build_config(args.env_id, overrides, num_env_runners=args.num_env_runners,
                            train_batch_size=args.train_batch_size, seed=args.seed).build_algo()
        print(f"PPO on {args.env_id} {overrides or ''}: {args.num_env_runners} env runners, "
              f"{args.train_batch_size} env steps per iteration, seed {args.seed}, driver torch threads "
              f"{torch.get_num_threads()}", flush=True)
        start = time.perf_counter()
        for i in range(1, args.iterations + 1):
            print(format_line(i, summarize(algo.train())), flush=True)
        print(f"{args.iterations} iterations in {time.perf_counter() - start:.1f} s", flush=True)
        if args.output is not None:
            print(f"checkpoint: {save_checkpoint(algo, args.output)}", flush=True)
        algo.stop()
    finally:
        ray.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    prog = prog_name(PROG, argv)
    args = build_parser(prog).parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
