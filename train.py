#!/usr/bin/env python
"""Train an RL agent on OrbitCloud with rl-baselines3-zoo's flags and output layout.

    python train.py --algo maskable_ppo --env OrbitCloud-Small-v0 -n 100000 --seed 0 --n-envs 4 \\
        --env-kwargs max_jobs:200 --hyperparams learning_rate:3e-4 -P

Runs go to ``<log-folder>/<algo>/<env>_<N>/`` (N = 1 + the highest existing run; an earlier run is never
overwritten) with ``config.yml`` and ``command.txt`` (written before training starts), ``<env>.zip`` (final model),
``best_model.zip`` and ``evaluations.npz`` (EvalCallback), ``rl_model_<steps>_steps.zip`` checkpoints
(``--save-freq``) and ``vecnormalize.pkl`` (when ``normalize`` is on). See docs/training.md.

Flag errors (unknown algo / env id, malformed key:value, a config value the env rejects, a missing
``--trained-agent``) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import inspect
import re
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

from agents.cli import UsageError, environment_versions, parse_key_values, resolve_env_id
from agents.io import atomic_path, write_text_atomic
from orbitcloud_env.suggest import did_you_mean

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: rl-zoo3 keys that configure the run rather than the algorithm.
SPECIAL_KEYS = ("n_timesteps", "policy", "n_envs", "normalize", "policy_kwargs")
#: rl-zoo3 keys we do not support (named so a user's zoo file fails clearly instead of being half-applied).
UNSUPPORTED_KEYS = ("env_wrapper", "vec_env_wrapper", "frame_stack", "callback", "normalize_kwargs")
#: Arguments train.py sets itself from flags.
FLAG_KEYS = {"env": "--env", "seed": "--seed", "device": "--device", "tensorboard_log": "-tb", "verbose": "--verbose"}
#: Hyperparameters that accept "lin_<x>" (linear decay from x to 0).
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")


# ----------------------------------------------------------------------------------------------------------------
# Argument parsing.

class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump): ``train.py: error: ... (see train.py --help)``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="train.py", description="Train an RL agent on an OrbitCloud env (rl-baselines3-zoo flags).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--algo", default="ppo", help="algorithm: ppo, maskable_ppo, a2c, dqn")
    p.add_argument("--env", default="OrbitCloud-v1", help="registered env id (OrbitCloud-*)")
    p.add_argument("-n", "--n-timesteps", type=int, default=-1,
                   help="training steps (env decisions, summed over envs); -1: n_timesteps from the yml")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the model and of the envs (env i gets seed + i); default: a fresh one, recorded")
    p.add_argument("--n-envs", type=int, default=None, help="parallel training envs; default: n_envs from the yml")
    p.add_argument("--vec-env", choices=("dummy", "subproc"), default="dummy", help="VecEnv class")
    p.add_argument("--vec-env-start-method", choices=("forkserver", "spawn", "fork"), default="forkserver",
                   help="multiprocessing start method for --vec-env subproc")
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
                   help="YAML hyperparameters overriding hyperparams/<algo>.yml: keyed by env id like it, or flat")
    p.add_argument("-i", "--trained-agent", default="", help="continue training this saved .zip")
    p.add_argument("-P", "--progress", action=argparse.BooleanOptionalAction, default=False,
                   help="show a progress bar (tqdm + rich)")
    p.add_argument("--pretrain", default=None, metavar="HEURISTIC",
                   help="warm start: clone this heuristic's decisions (and fit the value head to its returns) "
                        "before RL; see agents/pretrain.py")
    p.add_argument("--pretrain-steps", type=int, default=100_000,
                   help="decisions of the heuristic collected for --pretrain")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="passes over the --pretrain data")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, auto")
    p.add_argument("--num-threads", type=int, default=1,
                   help="torch CPU threads; the policy is a small MLP, and more threads were ~6x slower on a busy "
                        "2-core machine (<= 0: torch's default)")
    p.add_argument("--verbose", type=int, default=1, help="SB3 verbosity (0, 1, 2)")
    return p


# ----------------------------------------------------------------------------------------------------------------
# Env and hyperparameter resolution.

def importable_env_id(env_id: str) -> str:
    """``module:id`` form, so a spawned SubprocVecEnv worker imports the package that registers the id."""
    if ":" in env_id:
        return env_id
    return f"orbitcloud_env:{env_id}" if env_id.startswith("OrbitCloud") else env_id


def probe_env(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any] | None]:
    """Make one env to validate the kwargs; return (observation_space, action_space, scenario config dict)."""
    import gymnasium as gym

    try:
        env = gym.make(env_id, **env_kwargs)
    except (ValueError, TypeError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--env-kwargs: {msg}") from None
    try:
        config = getattr(env.unwrapped, "config", None)
        config_dict = config.to_dict() if hasattr(config, "to_dict") else None
        return env.observation_space, env.action_space, config_dict
    finally:
        env.close()


def load_conf_file(path: str, env_id: str) -> dict[str, Any]:
    """Hyperparameters from a --conf-file: the env id's entry (or 'default') when keyed like the yml, else flat."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--conf-file: no such file: {p}")
    try:
        with open(p, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"--conf-file: cannot parse {p}: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--conf-file: {p} must hold a mapping, got {type(doc).__name__}")
    short = env_id.split(":", 1)[-1]
    for key in (env_id, short, "default"):
        if isinstance(doc.get(key), dict):
            return dict(doc[key])
    return doc


def resolve_hyperparams(args: argparse.Namespace, algo: str, env_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge yml < --conf-file < --hyperparams; return (merged raw values, provenance)."""
    from agents.rl import HYPERPARAMS_DIR, hyperparams_for

    try:
        hyperparams, key = hyperparams_for(algo, env_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    yml = HYPERPARAMS_DIR / f"{algo}.yml"
    if key == "default":
        print(f"Notice: {yml.name} has no entry for {env_id.split(':', 1)[-1]}; using its 'default' hyperparameters")
    source: dict[str, Any] = {"file": str(yml), "key": key}
    if args.conf_file:
        conf = load_conf_file(args.conf_file, env_id)
        hyperparams.update(conf)
        source["conf_file"] = {"path": args.conf_file, "keys": sorted(conf)}
    overrides = parse_key_values(args.hyperparams, "--hyperparams")
    hyperparams.update(overrides)
    if overrides:
        source["overrides"] = sorted(overrides)
    return hyperparams, source


def build_algo_kwargs(algo: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """Turn merged values into constructor kwargs: parse policy_kwargs, schedules, ints; reject unknown keys."""
    from agents.rl import ALGOS, linear_schedule, parse_policy_kwargs

    cls = ALGOS[algo]
    params = inspect.signature(cls.__init__).parameters
    valid = [k for k in params if k not in ("self", "policy", "env", *FLAG_KEYS)]
    kwargs: dict[str, Any] = {}
    for key, value in hyperparams.items():
        if key in SPECIAL_KEYS:
            continue
        if key in UNSUPPORTED_KEYS:
            raise UsageError(f"hyperparameter '{key}' (rl-zoo3) is not supported by train.py")
        if key in FLAG_KEYS:
            raise UsageError(f"hyperparameter '{key}' is set by the {FLAG_KEYS[key]} flag, not in hyperparameters")
        if key not in params:
            raise UsageError(f"unknown {cls.__name__} hyperparameter '{key}'{did_you_mean(key, valid)}")
        if key in SCHEDULE_KEYS and isinstance(value, str):
            match = re.fullmatch(r"lin_([-+0-9.eE]+)", value)
            if not match:
                raise UsageError(f"hyperparameter {key}: expected a number or 'lin_<number>', got {value!r}")
            value = linear_schedule(float(match.group(1)))
        default = params[key].default
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) \
                and value.is_integer():
            value = int(value)
        kwargs[key] = value
    try:
        kwargs["policy_kwargs"] = parse_policy_kwargs(hyperparams.get("policy_kwargs"))
    except ValueError as exc:
        raise UsageError(f"hyperparameter policy_kwargs: {exc}") from None
    return kwargs


def normalize_kwargs(value: Any) -> dict[str, Any] | None:
    """``normalize``: false/true, or VecNormalize kwargs as a mapping or a "dict(...)" string; None when off."""
    from agents.rl import parse_policy_kwargs

    if value in (None, False):
        return None
    if value is True:
        return {}
    try:
        return parse_policy_kwargs(value)
    except ValueError as exc:
        raise UsageError(f"normalize: {exc}") from None


# ----------------------------------------------------------------------------------------------------------------
# Run folder and config.

def next_run_dir(log_folder: str, algo: str, env_id: str) -> Path:
    """Create and return ``<log_folder>/<algo>/<env>_<N>`` with N = 1 + the highest existing N (race-safe)."""
    base = Path(log_folder) / algo
    base.mkdir(parents=True, exist_ok=True)
    short = env_id.split(":", 1)[-1]
    pattern = re.compile(rf"^{re.escape(short)}_(\d+)$")
    n = max((int(m.group(1)) for d in base.iterdir() if (m := pattern.match(d.name))), default=0) + 1
    while True:
        run_dir = base / f"{short}_{n}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            n += 1


def _plain(value: Any) -> Any:
    """YAML-safe copy: containers recursively, numbers/strings/bools as they are, anything else as its repr."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None:
        return None
    for kind in (bool, int, float, str):  # exact builtins: safe_dump rejects subclasses (numpy, TorchVersion)
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return getattr(value, "__qualname__", None) or repr(value)


# ----------------------------------------------------------------------------------------------------------------
# Callbacks.

def _metrics_callback_classes():
    """EvalCallback / MaskableEvalCallback subclasses that also average ``info["episode_metrics"]``."""
    from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback

    class EpisodeMetricsMixin:
        #: Metrics printed after each evaluation (all numeric ones go to the logger / TensorBoard as eval/<key>).
        printed = (("mean_latency_ms", "mean latency {:.1f} ms"), ("deadline_miss_rate", "deadline-miss rate {:.3f}"),
                   ("rejection_rate", "rejection rate {:.3f}"), ("success_rate", "success rate {:.3f}"))

        def _init_callback(self) -> None:
            super()._init_callback()
            self._episode_metrics: list[dict[str, Any]] = []

        def _log_success_callback(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
            super()._log_success_callback(locals_, globals_)
            if not locals_["done"]:
                return
            metrics = locals_["info"].get("episode_metrics")
            if isinstance(metrics, Mapping):
                self._episode_metrics.append(dict(metrics))
                for key, value in metrics.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        # record_mean averages over the episodes; EvalCallback dumps at the eval timestep.
                        self.logger.record_mean(f"eval/{key}", float(value))

        def _on_step(self) -> bool:
            evaluating = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
            if evaluating:
                self._episode_metrics = []
            keep_going = super()._on_step()
            if evaluating:
                eps = self._episode_metrics
                if eps:
                    parts = [fmt.format(sum(float(e.get(k, 0.0)) for e in eps) / len(eps)) for k, fmt in self.printed]
                    print(f"Eval at {self.num_timesteps} steps ({len(eps)} episodes): {', '.join(parts)}", flush=True)
                else:
                    print(f"Eval at {self.num_timesteps} steps: no info['episode_metrics'] in the eval episodes",
                          flush=True)
            return keep_going

    class MetricsEvalCallback(EpisodeMetricsMixin, EvalCallback):
        pass

    class MaskableMetricsEvalCallback(EpisodeMetricsMixin, MaskableEvalCallback):
        pass

    return MetricsEvalCallback, MaskableMetricsEvalCallback


def _train_metrics_callback():
    """Logs the mean of the training episodes' ``info["episode_metrics"]`` as episode/<key> (each rollout dump)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class TrainEpisodeMetrics(BaseCallback):
        def _on_step(self) -> bool:
            for done, info in zip(self.locals.get("dones", []), self.locals.get("infos", [])):
                metrics = info.get("episode_metrics") if done else None
                if isinstance(metrics, Mapping):
                    for key, value in metrics.items():
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            self.logger.record_mean(f"episode/{key}", float(value))
            return True

    return TrainEpisodeMetrics()


# ----------------------------------------------------------------------------------------------------------------
# Main.

def run(args: argparse.Namespace, argv: list[str]) -> int:
    from agents.rl import IncompatibleSpaceError, check_algo_env, detect_algo, resolve_algo
    from orbitcloud_env.suggest import did_you_mean

    try:
        algo = resolve_algo(args.algo)
    except ValueError as exc:
        raise UsageError(f"--algo: {exc}") from None
    env_id = resolve_env_id(args.env)
    env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    for flag, value, low in (("--n-envs", args.n_envs, 1), ("--eval-episodes", args.eval_episodes, 1),
                             ("--n-eval-envs", args.n_eval_envs, 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag}: must be >= {low}, got {value}")
    if args.pretrain is not None:
        import agents as _agents

        if args.pretrain not in _agents.available():
            raise UsageError(f"--pretrain: unknown heuristic {args.pretrain!r}"
                             f"{did_you_mean(args.pretrain, _agents.available())} (heuristics: "
                             f"{', '.join(_agents.available())})")
        if args.pretrain_steps < 1 or args.pretrain_epochs < 1:
            raise UsageError(f"--pretrain-steps and --pretrain-epochs: must be >= 1, got {args.pretrain_steps} "
                             f"and {args.pretrain_epochs}")
        if algo not in ("ppo", "maskable_ppo", "a2c"):
            raise UsageError(f"--pretrain: needs an actor-critic algorithm (ppo, maskable_ppo, a2c), not {algo}")
    trained_agent = None
    if args.trained_agent:
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
    if args.progress:
        try:
            import rich  # noqa: F401
            import tqdm  # noqa: F401
        except ImportError:
            raise UsageError("-P/--progress needs tqdm and rich (pip install tqdm rich)") from None
    if args.tensorboard_log:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UsageError("-tb needs tensorboard (pip install tensorboard)") from None

    hyperparams, source = resolve_hyperparams(args, algo, env_id)
    algo_kwargs = build_algo_kwargs(algo, hyperparams)
    norm_kwargs = normalize_kwargs(hyperparams.get("normalize", False))
    policy = hyperparams.get("policy", "MultiInputPolicy")
    n_timesteps = int(args.n_timesteps if args.n_timesteps > 0 else hyperparams.get("n_timesteps", 0))
    if n_timesteps <= 0:
        raise UsageError("-n/--n-timesteps: give a positive number (the yml has no n_timesteps)")
    n_envs = int(args.n_envs or hyperparams.get("n_envs", 1))
    if n_envs < 1:
        raise UsageError(f"n_envs must be >= 1, got {n_envs}")

    obs_space, act_space, env_config = probe_env(env_id, env_kwargs)
    try:
        check_algo_env(algo, obs_space, act_space)
    except IncompatibleSpaceError as exc:
        raise UsageError(str(exc)) from None

    seed = args.seed
    if seed is None:
        import numpy as np

        seed = int(np.random.SeedSequence().entropy % (2**31 - 1))  # OS entropy; recorded in config.yml
        print(f"Seed: {seed} (none given)")

    # ---- run folder, config and command, before anything trains ----
    short = env_id.split(":", 1)[-1]
    run_dir = next_run_dir(args.log_folder, algo, env_id)
    import yaml

    config = {
        "algo": algo,
        "env_id": short,
        "env_kwargs": env_kwargs,
        "seed": seed,
        "n_timesteps": n_timesteps,
        "n_envs": n_envs,
        "vec_env": args.vec_env,
        "policy": policy,
        "normalize": norm_kwargs if norm_kwargs is not None else False,
        "hyperparams": {k: v for k, v in hyperparams.items() if k not in SPECIAL_KEYS},
        "algo_kwargs": algo_kwargs,
        "hyperparams_source": source,
        "trained_agent": str(trained_agent) if trained_agent else None,
        "args": vars(args),
        "env_config": env_config,
        "versions": environment_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(run_dir / "config.yml", yaml.safe_dump(_plain(config), sort_keys=False, width=120))
    write_text_atomic(run_dir / "command.txt", "python " + shlex.join(argv) + "\n")
    print(f"Run folder: {run_dir}")

    return train(args, algo, env_id, env_kwargs, algo_kwargs, norm_kwargs, policy, n_timesteps, n_envs, seed,
                 run_dir, trained_agent, hyperparams)


def train(args, algo, env_id, env_kwargs, algo_kwargs, norm_kwargs, policy, n_timesteps, n_envs, seed, run_dir,
          trained_agent, hyperparams) -> int:
    import torch
    from sb3_contrib.common.maskable.utils import is_masking_supported
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    from agents.rl import ALGOS, load_model

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    # Evaluating on a DummyVecEnv while training on SubprocVecEnv is intended (no VecNormalize type mismatch here).
    warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
    make_id = importable_env_id(env_id)
    short = env_id.split(":", 1)[-1]
    vec_cls = SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv
    vec_kwargs = {"start_method": args.vec_env_start_method} if vec_cls is SubprocVecEnv else None
    env = make_vec_env(make_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs, vec_env_cls=vec_cls,
                       vec_env_kwargs=vec_kwargs)
    eval_env = None
    if args.eval_freq > 0:
        # Evaluation envs get seeds disjoint from the training envs'.
        eval_env = make_vec_env(make_id, n_envs=args.n_eval_envs, seed=seed + 10_000, env_kwargs=env_kwargs,
                                vec_env_cls=DummyVecEnv)
    try:
        if norm_kwargs is not None:
            stats = trained_agent.parent / "vecnormalize.pkl" if trained_agent else None
            if stats is not None and stats.is_file():
                print(f"Loading normalisation statistics from {stats}")
                env = VecNormalize.load(str(stats), env)
            else:
                env = VecNormalize(env, **norm_kwargs)
            if eval_env is not None:
                eval_kwargs = {k: v for k, v in norm_kwargs.items() if k not in ("norm_reward", "training")}
                eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **eval_kwargs)
        if algo == "maskable_ppo" and not is_masking_supported(env):
            raise UsageError(f"maskable_ppo: {short} does not expose action_masks() through the VecEnv")

        tb = args.tensorboard_log or None
        if trained_agent is not None:
            print(f"Continuing training of {trained_agent}")
            reload = {k: v for k, v in algo_kwargs.items() if k != "policy_kwargs"}
            model = load_model(trained_agent, env=env, device=args.device, algo=algo, seed=seed,
                               tensorboard_log=tb, verbose=args.verbose, **reload)
        else:
            model = ALGOS[algo](policy, env, seed=seed, device=args.device, tensorboard_log=tb,
                                verbose=args.verbose, **algo_kwargs)

        if args.pretrain and trained_agent is None:
            from agents.pretrain import collect_demonstrations, pretrain_policy

            import agents as _agents

            print(f"Pretraining: cloning {args.pretrain} over {args.pretrain_steps} decisions", flush=True)
            demos = collect_demonstrations(env, _agents.make_policy(args.pretrain, seed=seed), args.pretrain_steps)
            pretrain_policy(model, demos, epochs=args.pretrain_epochs, seed=seed, verbose=args.verbose)

        callbacks = [_train_metrics_callback()]
        if args.save_freq > 0:
            callbacks.append(CheckpointCallback(save_freq=max(args.save_freq // n_envs, 1), save_path=str(run_dir),
                                                name_prefix="rl_model", save_vecnormalize=norm_kwargs is not None,
                                                verbose=args.verbose))
        if eval_env is not None:
            plain_cls, masked_cls = _metrics_callback_classes()
            cls = masked_cls if algo == "maskable_ppo" else plain_cls
            callbacks.append(cls(eval_env, best_model_save_path=str(run_dir), log_path=str(run_dir),
                                 eval_freq=max(args.eval_freq // n_envs, 1), n_eval_episodes=args.eval_episodes,
                                 deterministic=True, verbose=args.verbose))

        status = 0
        started = time.perf_counter()
        steps_before = model.num_timesteps
        try:
            model.learn(total_timesteps=n_timesteps, callback=callbacks, progress_bar=args.progress,
                        tb_log_name=f"{algo}_{run_dir.name}", reset_num_timesteps=trained_agent is None)
        except KeyboardInterrupt:
            print("\nInterrupted: saving the model before exit", file=sys.stderr, flush=True)
            status = EXIT_INTERRUPTED
        elapsed = time.perf_counter() - started
        steps = model.num_timesteps - steps_before
        final = run_dir / f"{short}.zip"
        with atomic_path(final) as tmp:
            model.save(tmp)
        if isinstance(model.get_vec_normalize_env(), VecNormalize):
            with atomic_path(run_dir / "vecnormalize.pkl") as tmp:
                model.get_vec_normalize_env().save(str(tmp))
        print(f"Saved {final} ({steps} steps in {elapsed:.1f} s, {steps / max(elapsed, 1e-9):.0f} steps/s)")
        return status
    finally:
        for e in (env, eval_env):
            if e is None:
                continue
            try:
                e.close()
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
                pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv[1:])
    try:
        return run(args, argv)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before training started: nothing to save
        print("\nInterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
