"""The training command: ``orbitcloud-train`` (installed) or ``python train.py`` (checkout), rl-baselines3-zoo's
flags and output layout.

    orbitcloud-train --algo maskable_ppo --env OrbitCloud-Small-v0 -n 100000 --seed 0 --n-envs 4 \\
        --env-kwargs max_jobs:200 --hyperparams learning_rate:3e-4 -P

Runs go to ``<log-folder>/<algo>/<env>_<N>/`` (:mod:`agents.training.runs`) with ``config.yml`` and ``command.txt``
(written before training starts), ``<env>.zip`` (final model), ``best_model.zip`` and ``evaluations.npz`` (evaluation
callback, :mod:`agents.training.callbacks`), ``rl_model_<steps>_steps.zip`` checkpoints (``--save-freq``) and
``vecnormalize.pkl`` (when ``normalize`` is on). Hyperparameters: :mod:`agents.training.hyperparameters`. See
docs/training.md.

Every input is checked before the run folder is created: flags, env kwargs (a probe ``gymnasium.make``), the
device, the output folders, the hyperparameters (a probe model is built on a stand-in env with the real spaces,
or the ``--trained-agent`` loaded onto it). A bad one prints one line on stderr and exits with status 2.

Importing this module loads only the standard library and :mod:`agents.common.cli`, so ``--help`` answers at once;
torch, Stable-Baselines3, gymnasium and the simulator are imported when a run starts.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from agents.common.cli import (
    EXIT_TERMINATED,
    EXIT_USAGE,
    OneLineParser,
    Terminated,
    UsageError,
    environment_versions,
    parse_key_values,
    prog_name,
    resolve_env_id,
    sigterm_as_interrupt,
)

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "UsageError", "build_parser", "main",
           "parse_key_values", "importable_env_id", "probe_env", "check_device", "probe_model", "Flags", "TrainPlan",
           "validate", "plan_run", "execute", "run", "train"]

EXIT_INTERRUPTED = 130
PROG = "train.py"


# ----------------------------------------------------------------------------------------------------------------
# Argument parsing.

def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=prog, description="Train an RL agent on an OrbitCloud env (rl-baselines3-zoo flags).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--algo", default="ppo", help="algorithm: ppo, maskable_ppo, a2c, dqn")
    p.add_argument("--env", default="OrbitCloud-v1", help="registered env id (OrbitCloud-*)")
    p.add_argument("-n", "--n-timesteps", type=int, default=None,
                   help="training steps (env decisions, summed over envs), >= 1; not given: n_timesteps from the yml")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the model and of the envs (env i gets seed + i); default: a fresh one, recorded")
    p.add_argument("--n-envs", type=int, default=None, help="parallel training envs; default: n_envs from the yml")
    p.add_argument("--vec-env", choices=("batched", "dummy", "subproc"), default="batched",
                   help="VecEnv class: batched (the copies in one process, agents.vec_env; dummy for ids without it)")
    p.add_argument("--env-procs", type=int, default=1,
                   help="with --vec-env batched: step the copies in this many processes, this one included (one "
                        "per core; same episodes, agents.vec_env.OrbitCloudSubprocVecEnv); 1: all in this process")
    p.add_argument("--vec-env-start-method", choices=("forkserver", "spawn", "fork"), default="forkserver",
                   help="multiprocessing start method for --vec-env subproc and --env-procs > 1")
    p.add_argument("-f", "--log-folder", default="logs", help="root folder of the runs")
    p.add_argument("--eval-freq", type=int, default=10_000,
                   help="evaluate every this many steps (summed over envs); <= 0 disables evaluation")
    p.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    p.add_argument("--n-eval-envs", type=int, default=1, help="envs used for evaluation")
    p.add_argument("--save-freq", type=int, default=-1,
                   help="save a checkpoint every this many steps (summed over envs); <= 0 disables")
    p.add_argument("-tb", "--tensorboard-log", default="", help="TensorBoard log folder (empty: none)")
    p.add_argument("--env-kwargs", nargs="+", default=None, metavar="KEY:VALUE",
                   help="env overrides, e.g. preset:small action_mode:candidates max_jobs:200")
    p.add_argument("-params", "--hyperparams", nargs="+", default=None, metavar="KEY:VALUE",
                   help="hyperparameter overrides (win over --conf-file and the yml), e.g. learning_rate:1e-4")
    p.add_argument("-conf", "--conf-file", default=None,
                   help="YAML hyperparameters overriding the shipped agents/hyperparams/<algo>.yml: keyed by env id "
                        "like it, or flat")
    p.add_argument("-i", "--trained-agent", default="", help="continue training this saved .zip")
    p.add_argument("--trust-model", action=argparse.BooleanOptionalAction, default=False,
                   help="load --trained-agent (and its vecnormalize.pkl) with Stable-Baselines3's own unpickling, "
                        "which runs any code the file holds; only for files whose source you trust (default: safe "
                        "loading, which refuses such files; docs/training.md)")
    p.add_argument("-P", "--progress", action=argparse.BooleanOptionalAction, default=False,
                   help="show a progress bar (tqdm + rich)")
    _add_pretrain_flags(p)
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N, mps, auto")
    p.add_argument("--num-threads", type=int, default=1,
                   help="torch CPU threads; the policy is a small MLP, and more threads were ~6x slower on a busy "
                        "2-core machine (<= 0: torch's default)")
    p.add_argument("--verbose", type=int, default=1, help="SB3 verbosity (0, 1, 2)")
    return p


def _add_pretrain_flags(p: argparse.ArgumentParser) -> None:
    """The warm-start flags (--pretrain*) of :func:`build_parser`."""
    p.add_argument("--pretrain", default=None, metavar="POLICY",
                   help="warm start: clone this heuristic's decisions, or distil a privileged planner ('lookahead', "
                        "'lookahead-long', 'lookahead-admit') "
                        "(and fit the value head to their returns) before RL; see agents/training/pretrain.py, "
                        "agents/training/distill.py")
    p.add_argument("--pretrain-steps", type=int, default=100_000,
                   help="decisions collected for --pretrain")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="passes over the --pretrain data")
    p.add_argument("--pretrain-temperature", type=float, default=0.0,
                   help="> 0: clone lookahead demonstrations against softmax(rollout value / T) over the actions it "
                        "tried (reward units) instead of its choice; 0: its choice")
    p.add_argument("--pretrain-workers", type=int, default=1,
                   help="worker processes collecting --pretrain lookahead decisions (each runs its own env)")
    p.add_argument("--pretrain-demos", default=None, metavar="PATH",
                   help="clone the decisions saved in this .npz (agents/training/distill.py save_demonstrations, "
                        "benchmarks/distill_ablation.py) instead of collecting; observation groups the env lacks "
                        "are dropped")


# ----------------------------------------------------------------------------------------------------------------
# Checks that need the libraries (run before the run folder exists).

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def importable_env_id(env_id: str) -> str:
    """``module:id`` form, so a spawned SubprocVecEnv worker imports the package that registers the id."""
    if ":" in env_id:
        return env_id
    return f"orbitcloud_env:{env_id}" if env_id.startswith("OrbitCloud") else env_id


def probe_env(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any] | None, bool]:
    """Make one env to validate the kwargs; return (observation_space, action_space, scenario config dict,
    whether it has ``action_masks``)."""
    import gymnasium as gym

    try:
        env = gym.make(env_id, **env_kwargs)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"--env-kwargs: {_first_line(exc)}") from None
    try:
        config = getattr(env.unwrapped, "config", None)
        config_dict = config.to_dict() if hasattr(config, "to_dict") else None
        maskable = callable(getattr(env.unwrapped, "action_masks", None))
        return env.observation_space, env.action_space, config_dict, maskable
    finally:
        env.close()


def check_device(device: str) -> None:
    """UsageError for a device torch cannot parse or this machine does not have (SB3 would fall back to the CPU
    without a word for ``cuda`` on a machine without a GPU)."""
    import torch

    allowed = "cpu, cuda, cuda:N, mps, auto"
    if device == "auto":
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise UsageError(f"--device: {device!r} is not a torch device ({_first_line(exc)}); use {allowed}") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device: {device} asked for, but torch sees no CUDA GPU here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"--device: {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device: {device} asked for, but MPS is not available here; use --device cpu")
        return
    raise UsageError(f"--device: unsupported device type {dev.type!r}; use {allowed}")


def _stand_in_vec_env(observation_space: Any, action_space: Any, n_envs: int) -> Any:
    """A DummyVecEnv of ``n_envs`` stand-in envs with the given spaces (and an all-true action mask): enough to
    build a model and run its constructor's checks without building the simulator ``n_envs`` times."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.vec_env import DummyVecEnv

    class StandIn(gym.Env):
        def __init__(self) -> None:
            self.observation_space = observation_space
            self.action_space = action_space

        def reset(self, *, seed: int | None = None, options: Any = None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action: Any):
            return self.observation_space.sample(), 0.0, False, False, {}

        def action_masks(self) -> np.ndarray:
            n = int(getattr(self.action_space, "n", 1))
            return np.ones(n, dtype=bool)

    return DummyVecEnv([StandIn for _ in range(n_envs)])


def probe_model(algo: str, policy: str, algo_kwargs: Mapping[str, Any], obs_space: Any, act_space: Any,
                n_envs: int, device: str, seed: int | None, trained_agent: Path | None, trust: bool = False) -> None:
    """Build the model (or load ``trained_agent``) on a stand-in env with the real spaces: out-of-range
    hyperparameters, a bad ``policy``/``policy_kwargs`` or a trained agent of other spaces become a UsageError here,
    before the run folder is created, not a traceback after it."""
    from agents.acting.rl import ALGOS, load_model

    venv = _stand_in_vec_env(obs_space, act_space, n_envs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if trained_agent is not None:
                reload = {k: v for k, v in algo_kwargs.items() if k != "policy_kwargs"}
                try:
                    load_model(trained_agent, env=venv, device=device, algo=algo, seed=seed, verbose=0, trust=trust,
                               **reload)
                except ValueError as exc:
                    raise UsageError(f"--trained-agent: {_first_line(exc)}") from None
            else:
                ALGOS[algo](policy, venv, seed=seed, device=device, verbose=0, **algo_kwargs)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a bad hyperparameter value
        raise UsageError(f"hyperparameters: {ALGOS[algo].__name__} refused them: {_first_line(exc)}") from None
    finally:
        venv.close()


# ----------------------------------------------------------------------------------------------------------------
# Main.

# The command runs in four stages: parse (main: build_parser), validate (the flags on their own), plan (the
# hyperparameters, the env and a probe model: every check that needs the libraries) and execute (the run folder,
# config.yml, training). Nothing is created before execute, so a usage error leaves no trace.

@dataclass(frozen=True)
class Flags:
    """The flags once validated on their own (:func:`validate`)."""

    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    cloning: bool  # --pretrain or --pretrain-demos
    trained_agent: Path | None


@dataclass
class TrainPlan:
    """Everything a run needs, checked (:func:`plan_run`); :func:`execute` creates the run folder and trains."""

    args: argparse.Namespace
    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    hyperparams: dict[str, Any]
    hyperparams_source: Any
    algo_kwargs: dict[str, Any]
    norm_kwargs: dict[str, Any] | None
    policy: Any
    n_timesteps: int
    n_envs: int
    seed: int | None  # --seed; plan_run draws one when it is not given
    env_config: dict[str, Any] | None
    trained_agent: Path | None = None
    demos: dict[str, Any] | None = None

    @property
    def short_id(self) -> str:
        return self.env_id.split(":", 1)[-1]


def run(args: argparse.Namespace, prog: str, command: str) -> int:
    """Validate ``args``, plan the run and execute it; the exit status (UsageError for a bad input)."""
    return execute(plan_run(args, validate(args)), command)


def validate(args: argparse.Namespace) -> Flags:
    """The checks of the flags on their own (and of the files and folders they name), in the order of the flags'
    help; a UsageError for the first bad one."""
    from agents.acting.rl import resolve_algo

    try:
        algo = resolve_algo(args.algo)
    except ValueError as exc:
        raise UsageError(f"--algo: {exc}") from None
    env_id = resolve_env_id(args.env)
    env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    cloning = args.pretrain is not None or args.pretrain_demos is not None
    _check_counts(args, cloning)
    _check_pretrain_flags(args, algo, cloning)
    trained_agent = _check_trained_agent(args, algo)
    _check_tools_and_folders(args)
    return Flags(algo, env_id, env_kwargs, cloning, trained_agent)


def _check_counts(args: argparse.Namespace, cloning: bool) -> None:
    for flag, value, low in (("-n/--n-timesteps", args.n_timesteps, 0 if cloning else 1), ("--n-envs", args.n_envs, 1),
                             ("--env-procs", args.env_procs, 1),
                             ("--eval-episodes", args.eval_episodes, 1), ("--n-eval-envs", args.n_eval_envs, 1)):
        if value is not None and value < low:
            extra = " (leave -n out to use the yml's n_timesteps)" if flag.startswith("-n/") else ""
            raise UsageError(f"{flag}: must be >= {low}, got {value}{extra}")


def _check_pretrain_flags(args: argparse.Namespace, algo: str, cloning: bool) -> None:
    from orbitcloud_env.suggest import did_you_mean

    if args.pretrain is not None and args.pretrain_demos is not None:
        raise UsageError("--pretrain and --pretrain-demos: give one (collect decisions, or load saved ones)")
    if args.pretrain is not None:
        import agents as _agents
        from agents.acting.lookahead import LOOKAHEAD_VARIANTS

        experts = [*_agents.available(), *LOOKAHEAD_VARIANTS]
        if args.pretrain not in experts:
            raise UsageError(f"--pretrain: unknown policy {args.pretrain!r}"
                             f"{did_you_mean(args.pretrain, experts)} (allowed: {', '.join(experts)})")
        if args.pretrain_steps < 1 or args.pretrain_workers < 1:
            raise UsageError(f"--pretrain-steps and --pretrain-workers: must be >= 1, got {args.pretrain_steps} "
                             f"and {args.pretrain_workers}")
    if not cloning:
        return
    if args.pretrain_epochs < 1:
        raise UsageError(f"--pretrain-epochs: must be >= 1, got {args.pretrain_epochs}")
    if not (args.pretrain_temperature >= 0 and math.isfinite(args.pretrain_temperature)):
        raise UsageError(f"--pretrain-temperature: must be a finite number >= 0, got {args.pretrain_temperature}")
    if args.pretrain_temperature > 0 and args.pretrain is not None and not args.pretrain.startswith("lookahead"):
        raise UsageError("--pretrain-temperature: needs lookahead demonstrations (--pretrain lookahead or "
                         "--pretrain-demos), which carry the rollout values")
    if algo not in ("ppo", "maskable_ppo", "a2c"):
        flag = "--pretrain" if args.pretrain is not None else "--pretrain-demos"
        raise UsageError(f"{flag}: needs an actor-critic algorithm (ppo, maskable_ppo, a2c), not {algo}")


def _check_trained_agent(args: argparse.Namespace, algo: str) -> Path | None:
    """The ``--trained-agent`` file (``.zip`` added when left out), of the same algorithm; None without the flag."""
    from agents.acting.rl import detect_algo

    if not args.trained_agent:
        return None
    trained_agent = Path(args.trained_agent)
    if not trained_agent.is_file() and trained_agent.with_name(trained_agent.name + ".zip").is_file():
        trained_agent = trained_agent.with_name(trained_agent.name + ".zip")
    if not trained_agent.is_file():
        raise UsageError(f"--trained-agent: no such file: {args.trained_agent}")
    try:
        saved_algo = detect_algo(trained_agent)
    except (ValueError, OSError) as exc:
        raise UsageError(f"--trained-agent: {exc}") from None
    if saved_algo is not None and saved_algo != algo:
        raise UsageError(f"--trained-agent: {trained_agent} is a {saved_algo} model, not {algo}; "
                         f"use --algo {saved_algo}")
    return trained_agent


def _check_tools_and_folders(args: argparse.Namespace) -> None:
    """-P's and -tb's optional libraries, the output folders and the device."""
    from agents.common.cli import check_folder_writable

    if args.progress:
        try:
            import rich  # noqa: F401
            import tqdm  # noqa: F401
        except ImportError:
            raise UsageError("-P/--progress needs tqdm and rich (pip install tqdm rich)") from None
    check_folder_writable(args.log_folder, "-f/--log-folder")
    if args.tensorboard_log:
        check_folder_writable(args.tensorboard_log, "-tb/--tensorboard-log")
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UsageError("-tb needs tensorboard (pip install tensorboard)") from None
    check_device(args.device)


def plan_run(args: argparse.Namespace, flags: Flags) -> TrainPlan:
    """Resolve the hyperparameters, probe the env and build a probe model (or load the trained agent) on its
    spaces; a UsageError for anything that would fail once training started. Prints the rollout-rounding notice
    and the drawn seed, as the run would."""
    plan = _resolve_hyperparams(args, flags)
    obs_space, act_space, plan.env_config = _probe_spaces(plan)
    if args.pretrain_demos is not None:
        plan.demos = _check_demos(args, plan, obs_space, act_space)
    if plan.seed is None:
        import numpy as np

        plan.seed = int(np.random.SeedSequence().entropy % (2**31 - 1))  # OS entropy; recorded in config.yml
    probe_model(plan.algo, plan.policy, plan.algo_kwargs, obs_space, act_space, plan.n_envs, args.device, plan.seed,
                plan.trained_agent, args.trust_model)
    _check_trained_statistics(plan)
    if args.seed is None:
        print(f"Seed: {plan.seed} (none given)")
    return plan


def _resolve_hyperparams(args: argparse.Namespace, flags: Flags) -> TrainPlan:
    """The plan's hyperparameters (the yml, --conf-file and --hyperparams), policy, steps and envs."""
    from agents.acting.rl import resolve_policy
    from agents.training.hyperparameters import (
        build_algo_kwargs,
        normalize_kwargs,
        resolve_hyperparams,
        resolve_prior_params,
        rollout_rounding_notice,
    )

    algo, env_id = flags.algo, flags.env_id
    hyperparams, source = resolve_hyperparams(args, algo, env_id)
    algo_kwargs = resolve_prior_params(build_algo_kwargs(algo, hyperparams), env_id)
    norm_kwargs = normalize_kwargs(hyperparams.get("normalize", False))
    try:  # a package policy class by name (agents/acting/policies.py), else SB3's alias
        policy = resolve_policy(hyperparams.get("policy", "MultiInputPolicy"), algo)
    except ValueError as exc:
        raise UsageError(f"hyperparameter policy: {exc}") from None
    n_timesteps = args.n_timesteps if args.n_timesteps is not None else hyperparams.get("n_timesteps")
    if not isinstance(n_timesteps, (int, float)) or isinstance(n_timesteps, bool) or n_timesteps < (
            0 if flags.cloning else 1):
        raise UsageError(f"-n/--n-timesteps: not given, and the yml's n_timesteps is not a number >= 1 "
                         f"({n_timesteps!r}); give -n")
    n_timesteps = int(n_timesteps)
    n_envs = args.n_envs or hyperparams.get("n_envs", 1)
    if not isinstance(n_envs, int) or isinstance(n_envs, bool) or n_envs < 1:
        raise UsageError(f"n_envs (yml): must be an integer >= 1, got {n_envs!r}")
    _check_env_procs(args, env_id, n_envs)
    if notice := rollout_rounding_notice(algo, algo_kwargs, n_envs, n_timesteps):  # SB3 trains whole rollouts
        print(notice)
    return TrainPlan(args=args, algo=algo, env_id=env_id, env_kwargs=flags.env_kwargs, hyperparams=hyperparams,
                     hyperparams_source=source, algo_kwargs=algo_kwargs, norm_kwargs=norm_kwargs, policy=policy,
                     n_timesteps=n_timesteps, n_envs=n_envs, seed=args.seed, env_config=None,
                     trained_agent=flags.trained_agent)


def _check_env_procs(args: argparse.Namespace, env_id: str, n_envs: int) -> None:
    """--env-procs > 1 needs the batched VecEnv of an id that has one, and at least one copy per process."""
    if args.env_procs == 1:
        return
    from agents.training.vec_env import supports_batched

    if args.vec_env != "batched":
        raise UsageError(f"--env-procs: splits the batched env's copies over processes; with --vec-env "
                         f"{args.vec_env} leave it at 1 (--vec-env subproc already runs one process per env)")
    if not supports_batched(importable_env_id(env_id)):
        raise UsageError(f"--env-procs: {env_id} has no batched vector env; use --vec-env subproc instead")
    if args.env_procs > n_envs:
        raise UsageError(f"--env-procs: at most the number of envs ({n_envs}), got {args.env_procs}")


def _probe_spaces(plan: TrainPlan) -> tuple[Any, Any, dict[str, Any] | None]:
    """One env of the run (its kwargs checked): its spaces, which the algorithm must handle, and its config."""
    from agents.acting.rl import IncompatibleSpaceError, check_algo_env

    obs_space, act_space, env_config, maskable = probe_env(plan.env_id, plan.env_kwargs)
    try:
        check_algo_env(plan.algo, obs_space, act_space)
    except IncompatibleSpaceError as exc:
        raise UsageError(str(exc)) from None
    if plan.algo == "maskable_ppo" and not maskable:
        raise UsageError(f"--algo maskable_ppo: {plan.short_id} has no action_masks()")
    return obs_space, act_space, env_config


def _check_demos(args: argparse.Namespace, plan: TrainPlan, obs_space: Any, act_space: Any) -> dict[str, Any]:
    """--pretrain-demos' decisions, loaded and projected onto the env's observation groups."""
    import numpy as np

    if plan.trained_agent is not None:
        raise UsageError("--pretrain-demos: clones into a new model, not into --trained-agent")
    demos = _load_demos(args.pretrain_demos, plan.env_config, obs_space, act_space)
    if args.pretrain_temperature > 0 and not np.isfinite(demos.get("values", np.nan)).any():
        raise UsageError(f"--pretrain-temperature: {args.pretrain_demos} has no rollout values (only "
                         f"lookahead demonstrations do); use --pretrain-temperature 0")
    return demos


def _check_trained_statistics(plan: TrainPlan) -> None:
    """The trained agent's vecnormalize.pkl, read safely here, so a refused file stops the run before its folder
    exists."""
    trained_agent = plan.trained_agent
    stats = trained_agent.parent / "vecnormalize.pkl" if trained_agent is not None else None
    if stats is not None and plan.norm_kwargs is not None and stats.is_file() and not plan.args.trust_model:
        from agents.common.safeload import load_vecnormalize

        try:
            load_vecnormalize(stats)
        except (ValueError, OSError) as exc:
            raise UsageError(f"--trained-agent: {_first_line(exc)}") from None


def execute(plan: TrainPlan, command: str) -> int:
    """Create the run folder (locked until the run ends), write config.yml and command.txt, and train; a failure
    before the first training step removes the folder again."""
    from agents.common.io import write_text_atomic
    from agents.common.locks import lock_folder
    from agents.training.runs import next_run_dir, plain, remove_run_dir

    run_dir, created = next_run_dir(plan.args.log_folder, plan.algo, plan.env_id)
    # Held until the run ends: an evaluate.py -o into this folder meanwhile is refused (agents/common/locks.py).
    lock = lock_folder(run_dir, "run folder", command)
    import yaml

    try:
        write_text_atomic(run_dir / "config.yml", yaml.safe_dump(plain(_config(plan)), sort_keys=False, width=120))
        write_text_atomic(run_dir / "command.txt", command + "\n")
        print(f"Run folder: {run_dir}")
        return train(plan, run_dir)
    except _NotStarted as exc:
        remove_run_dir(run_dir, created)
        if isinstance(exc.cause, UsageError):
            raise exc.cause from None
        raise exc.cause from exc
    finally:
        lock.release()


def _config(plan: TrainPlan) -> dict[str, Any]:
    """config.yml: the run's resolved settings, its flags and the library versions."""
    from agents.training.hyperparameters import SPECIAL_KEYS

    return {
        "algo": plan.algo,
        "env_id": plan.short_id,
        "env_kwargs": plan.env_kwargs,
        "seed": plan.seed,
        "n_timesteps": plan.n_timesteps,
        "n_envs": plan.n_envs,
        "vec_env": plan.args.vec_env,
        "env_procs": plan.args.env_procs,
        "policy": plan.policy if isinstance(plan.policy, str) else plan.policy.__name__,
        "normalize": plan.norm_kwargs if plan.norm_kwargs is not None else False,
        "hyperparams": {k: v for k, v in plan.hyperparams.items() if k not in SPECIAL_KEYS},
        "algo_kwargs": plan.algo_kwargs,
        "hyperparams_source": plan.hyperparams_source,
        "trained_agent": str(plan.trained_agent) if plan.trained_agent else None,
        "args": vars(plan.args),
        "env_config": plan.env_config,
        "versions": environment_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class _NotStarted(Exception):
    """Setting up training failed before the first step (the run folder is removed again)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def train(plan: TrainPlan, run_dir: Path) -> int:
    """Build the envs and the model, warm-start it (--pretrain), learn, and save it in ``run_dir`` (also after
    Ctrl-C / SIGTERM: status 130 / 143). A failure before learning raises :class:`_NotStarted`."""
    env = eval_env = None
    try:
        env, eval_env = _make_envs(plan)
        model = _make_model(plan, env)
    except BaseException as exc:  # noqa: BLE001 - nothing trained yet: the run folder goes (see execute)
        for e in (env, eval_env):
            _close(e)
        raise _NotStarted(exc) from None
    try:
        if (plan.args.pretrain or plan.demos is not None) and plan.trained_agent is None:
            _pretrain(plan, model, env)
        return _learn_and_save(plan, model, _callbacks(plan, run_dir, eval_env), run_dir)
    finally:
        for e in (env, eval_env):
            _close(e)


def _make_envs(plan: TrainPlan) -> tuple[Any, Any]:
    """The training VecEnv (batched, dummy or subproc; VecNormalize'd when ``normalize``) and the evaluation one
    (None when --eval-freq <= 0)."""
    import torch
    from sb3_contrib.common.maskable.utils import is_masking_supported
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from agents.training.vec_env import make_batched_vec_env, supports_batched

    args, seed = plan.args, plan.seed
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    # Evaluating on a DummyVecEnv while training on SubprocVecEnv is intended (no VecNormalize type mismatch).
    warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
    make_id = importable_env_id(plan.env_id)
    vec_cls = SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv
    vec_kwargs = {"start_method": args.vec_env_start_method} if vec_cls is SubprocVecEnv else None
    env = eval_env = None
    try:
        if args.vec_env == "batched" and supports_batched(make_id):
            env = make_batched_vec_env(make_id, n_envs=plan.n_envs, seed=seed, env_kwargs=plan.env_kwargs,
                                       n_procs=args.env_procs, start_method=args.vec_env_start_method)
        else:
            env = make_vec_env(make_id, n_envs=plan.n_envs, seed=seed, env_kwargs=plan.env_kwargs,
                               vec_env_cls=vec_cls, vec_env_kwargs=vec_kwargs)
        if args.eval_freq > 0:
            # Evaluation envs get seeds disjoint from the training envs'.
            eval_env = make_vec_env(make_id, n_envs=args.n_eval_envs, seed=seed + 10_000,
                                    env_kwargs=plan.env_kwargs, vec_env_cls=DummyVecEnv)
        if plan.norm_kwargs is not None:
            env, eval_env = _normalize(plan, env, eval_env)
        if plan.algo == "maskable_ppo" and not is_masking_supported(env):
            raise UsageError(f"maskable_ppo: {plan.short_id} does not expose action_masks() through the VecEnv")
    except BaseException:
        for e in (env, eval_env):
            _close(e)
        raise
    return env, eval_env


def _normalize(plan: TrainPlan, env: Any, eval_env: Any) -> tuple[Any, Any]:
    """VecNormalize around the envs: the trained agent's statistics when it has some, else fresh ones; the
    evaluation env's are not updated and its reward is not normalised."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.common.safeload import load_vecnormalize

    norm_kwargs = plan.norm_kwargs
    stats = plan.trained_agent.parent / "vecnormalize.pkl" if plan.trained_agent else None
    if stats is not None and stats.is_file():
        print(f"Loading normalisation statistics from {stats}")
        env = load_vecnormalize(stats, env, trust=plan.args.trust_model)
    else:
        env = VecNormalize(env, **norm_kwargs)
    if eval_env is not None:
        eval_kwargs = {k: v for k, v in norm_kwargs.items() if k not in ("norm_reward", "training")}
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **eval_kwargs)
    return env, eval_env


def _make_model(plan: TrainPlan, env: Any) -> Any:
    """A new model, or the --trained-agent loaded onto ``env`` (its hyperparameters but policy_kwargs applied)."""
    from agents.acting.rl import ALGOS, load_model

    args = plan.args
    tb = args.tensorboard_log or None
    if plan.trained_agent is not None:
        print(f"Continuing training of {plan.trained_agent}")
        reload = {k: v for k, v in plan.algo_kwargs.items() if k != "policy_kwargs"}
        return load_model(plan.trained_agent, env=env, device=args.device, algo=plan.algo, seed=plan.seed,
                          tensorboard_log=tb, verbose=args.verbose, trust=args.trust_model, **reload)
    return ALGOS[plan.algo](plan.policy, env, seed=plan.seed, device=args.device, tensorboard_log=tb,
                            verbose=args.verbose, **plan.algo_kwargs)


def _pretrain(plan: TrainPlan, model: Any, env: Any) -> None:
    """--pretrain / --pretrain-demos: clone the demonstrations into the model's policy before RL."""
    from agents.training.pretrain import pretrain_policy

    args = plan.args
    demos = plan.demos
    if demos is None:
        demos = _collect_demos(args, env, plan.env_id, plan.env_kwargs, plan.seed)
    print(f"Pretraining: cloning {demos['actions'].size} decisions", flush=True)
    pretrain_policy(model, demos, epochs=args.pretrain_epochs, temperature=args.pretrain_temperature,
                    seed=plan.seed, verbose=args.verbose)


def _callbacks(plan: TrainPlan, run_dir: Path, eval_env: Any) -> list[Any]:
    """Episode metrics, checkpoints (--save-freq) and the evaluation callback (when there is an eval env)."""
    from agents.training.callbacks import (
        AtomicCheckpointCallback,
        MaskableMetricsEvalCallback,
        MetricsEvalCallback,
        TrainEpisodeMetrics,
    )

    args, n_envs = plan.args, plan.n_envs
    callbacks = [TrainEpisodeMetrics()]
    if args.save_freq > 0:
        callbacks.append(AtomicCheckpointCallback(save_freq=max(args.save_freq // n_envs, 1),
                                                  save_path=str(run_dir), name_prefix="rl_model",
                                                  save_vecnormalize=plan.norm_kwargs is not None,
                                                  verbose=args.verbose))
    if eval_env is not None:
        cls = MaskableMetricsEvalCallback if plan.algo == "maskable_ppo" else MetricsEvalCallback
        callbacks.append(cls(eval_env, best_model_save_path=str(run_dir), log_path=str(run_dir),
                             eval_freq=max(args.eval_freq // n_envs, 1), n_eval_episodes=args.eval_episodes,
                             deterministic=True, verbose=args.verbose, eval_seed=plan.seed + 10_000))
    return callbacks


def _learn_and_save(plan: TrainPlan, model: Any, callbacks: list[Any], run_dir: Path) -> int:
    """Learn for -n steps (none: the cloned policy is the result), then save the model and its normalisation
    statistics, also after Ctrl-C (status 130) or SIGTERM (143)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.common.io import atomic_path

    status = 0
    started = time.perf_counter()
    steps_before = model.num_timesteps
    try:
        if plan.n_timesteps > 0:  # 0: the cloned policy is the result (--pretrain / --pretrain-demos)
            model.learn(total_timesteps=plan.n_timesteps, callback=callbacks, progress_bar=plan.args.progress,
                        tb_log_name=f"{plan.algo}_{run_dir.name}", reset_num_timesteps=plan.trained_agent is None)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated): save, then exit 130 / 143
        what = "Terminated (SIGTERM)" if isinstance(exc, Terminated) else "Interrupted"
        print(f"\n{what}: saving the model before exit", file=sys.stderr, flush=True)
        status = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    elapsed = time.perf_counter() - started
    steps = model.num_timesteps - steps_before
    final = run_dir / f"{plan.short_id}.zip"
    with atomic_path(final) as tmp:
        model.save(tmp)
    if isinstance(model.get_vec_normalize_env(), VecNormalize):
        with atomic_path(run_dir / "vecnormalize.pkl") as tmp:
            model.get_vec_normalize_env().save(str(tmp))
    print(f"Saved {final} ({steps} steps in {elapsed:.1f} s, {steps / max(elapsed, 1e-9):.0f} steps/s)")
    return status


def _load_demos(path: str, env_config: Mapping[str, Any] | None, obs_space: Any, act_space: Any) -> dict[str, Any]:
    """The decisions saved in ``path``, projected onto the env's observation groups (UsageError naming the flag)."""
    from agents.training.distill import (
        DemonstrationsError,
        check_demonstrations,
        load_demonstrations,
        project_demonstrations,
    )

    try:
        demos, meta = load_demonstrations(path)
        groups = list(((env_config or {}).get("observation") or {}).get("groups", meta["groups"]))
        demos = project_demonstrations(demos, meta["groups"], groups)
        check_demonstrations(demos, obs_space, int(act_space.n))
    except (DemonstrationsError, ValueError) as exc:
        raise UsageError(f"--pretrain-demos: {exc}") from None
    print(f"Demonstrations: {demos['actions'].size} decisions of {meta.get('expert')} on {meta.get('env_id')} "
          f"from {path}")
    return demos


def _collect_demos(args: argparse.Namespace, vec_env: Any, env_id: str, env_kwargs: Mapping[str, Any],
                   seed: int) -> dict[str, Any]:
    """--pretrain's decisions: a heuristic on the training envs, or the lookahead planner in worker processes."""
    import agents as _agents
    from agents.training.pretrain import collect_demonstrations

    print(f"Pretraining: collecting {args.pretrain_steps} decisions of {args.pretrain}", flush=True)
    if args.pretrain.startswith("lookahead"):  # a privileged planner: worker processes with their own envs
        from agents.training.distill import collect_expert_demonstrations

        return collect_expert_demonstrations(env_id, args.pretrain_steps, env_kwargs=env_kwargs,
                                             expert=args.pretrain, n_workers=args.pretrain_workers, seed=seed,
                                             verbose=args.verbose)
    if args.pretrain == "tuned-admit":  # the id's tuned parameters (a VecEnv has no spec to read them from)
        from agents.acting.heuristics import TunedAdmitPolicy

        expert = TunedAdmitPolicy(seed=seed, env_id=env_id)
    else:
        expert = _agents.make_policy(args.pretrain, seed=seed)
    return collect_demonstrations(vec_env, expert, args.pretrain_steps)


def _close(env: Any) -> None:
    if env is None:
        return
    try:
        env.close()
    except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
        pass


def _command_line(argv: Sequence[str] | None, args_list: Sequence[str], prog: str) -> str:
    """The command as typed: ``python train.py ...`` from a checkout, ``orbitcloud-train ...`` when installed."""
    if argv is None and sys.argv and sys.argv[0]:
        first = sys.argv[0]
        head = f"python {shlex.quote(first)}" if first.endswith(".py") else shlex.quote(Path(first).name)
    else:
        head = f"python {prog}" if prog.endswith(".py") else prog
    return " ".join([head, *(shlex.quote(a) for a in args_list)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (without the program name; default ``sys.argv[1:]``); return the exit status:
    0, 2 for a usage error (one line on stderr, nothing created), 130 after Ctrl-C and 143 after SIGTERM (the
    model is saved in both cases once training has started)."""
    prog = prog_name(PROG, argv)
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(args_list)
    try:
        with sigterm_as_interrupt():
            return run(args, prog, _command_line(argv, args_list, prog))
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # before training started: nothing to save
        terminated = isinstance(exc, Terminated)
        print(f"\n{'Terminated (SIGTERM)' if terminated else 'Interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
