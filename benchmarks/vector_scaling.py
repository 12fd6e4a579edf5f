"""Steps per second of OrbitCloud in subprocess vector envs (1, 2, 4, 8 workers) and of MaskablePPO training on them.

Three measurements per env count ``n``:

* **SubprocVecEnv**: Stable-Baselines3's ``SubprocVecEnv`` (``make_vec_env``, env i seeded ``seed + i``), each step
  asking the workers for their action masks (``env_method("action_masks")``, as MaskablePPO does) and sending a
  uniformly drawn valid action per env; SB3 resets finished envs inside the step.
* **AsyncVectorEnv**: Gymnasium's ``AsyncVectorEnv`` with the same start method, masks through
  ``call("action_masks")``; its autoreset (next-step mode) spends one step per finished episode on the reset.
* **MaskablePPO**: ``sb3_contrib.MaskablePPO.learn`` on a ``SubprocVecEnv`` of ``n`` workers, with the project's
  hyperparameters for the id (agents/hyperparams/maskable_ppo.yml through :mod:`agents.hyperparameters`) except
  ``n_steps`` (``--n-steps``, so a run is short) and ``batch_size`` (at most ``n_steps x n``). "env share" is the
  wall time ``learn()`` spent inside the VecEnv (reset, step, action masks; timed by a ``VecEnvWrapper``) over
  ``learn()``'s wall time; the rest is policy inference, the rollout buffer and the gradient updates.

Steps are env decisions summed over the envs (``--steps`` per measurement, rounded up to a multiple of ``n``);
each vector measurement first runs ``--warmup`` vector steps untimed (worker start-up, first topology buckets).
The first line measures one env in this process with the same policy: the rate without inter-process traffic.
The machine line gives the core count, the CPU model and the load average before and after: on a shared machine
the load says how many cores the run really had.

Usage:
    python benchmarks/vector_scaling.py [--env-id OrbitCloud-v1] [--steps 4000] [--n-envs 1 2 4 8]
        [--train-steps 4096] [--n-steps 128] [--start-method forkserver] [--no-train]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time

import numpy as np

from agents.cli import OneLineParser, UsageError, resolve_env_id

ALGO = "maskable_ppo"


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def _valid_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly drawn valid action per row of ``masks`` (n_envs, n_actions); rejection is always valid."""
    return np.argmax(rng.random(masks.shape) * masks, axis=1)


def _timed_steps(step, masks, n_envs: int, vector_steps: int, warmup: int, seed: int) -> float:
    """Vector steps per second x ``n_envs`` (env steps/s) of ``step(actions)`` with valid actions from ``masks()``."""
    rng = np.random.default_rng(seed)
    for _ in range(warmup):
        step(_valid_actions(masks(), rng))
    t0 = time.perf_counter()
    for _ in range(vector_steps):
        step(_valid_actions(masks(), rng))
    return vector_steps * n_envs / (time.perf_counter() - t0)


def bench_in_process(make_id: str, steps: int, warmup: int, seed: int) -> float:
    """Env steps/s of one env in this process, same policy (the reference without inter-process traffic)."""
    import gymnasium as gym

    env = gym.make(make_id)
    env.reset(seed=seed)

    def step(actions):
        if env.step(int(actions[0]))[3]:
            env.reset()

    try:
        return _timed_steps(step, lambda: env.unwrapped.action_masks()[None], 1, steps, warmup, seed)
    finally:
        env.close()


def bench_subproc(make_id: str, n_envs: int, vector_steps: int, warmup: int, seed: int, start_method: str) -> float:
    """Env steps/s of SB3's SubprocVecEnv with masked random actions."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    venv = make_vec_env(make_id, n_envs=n_envs, seed=seed, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": start_method})
    try:
        venv.reset()
        return _timed_steps(venv.step, lambda: np.stack(venv.env_method("action_masks")), n_envs, vector_steps,
                            warmup, seed)
    finally:
        venv.close()


def bench_async(make_id: str, n_envs: int, vector_steps: int, warmup: int, seed: int, start_method: str) -> float:
    """Env steps/s of Gymnasium's AsyncVectorEnv with masked random actions."""
    import gymnasium as gym

    envs = gym.vector.AsyncVectorEnv([functools.partial(gym.make, make_id)] * n_envs, context=start_method)
    try:
        envs.reset(seed=seed)
        return _timed_steps(envs.step, lambda: np.stack(envs.call("action_masks")), n_envs, vector_steps, warmup,
                            seed)
    finally:
        envs.close()


def _timing_wrapper():
    """A VecEnvWrapper class that adds the wall time spent in the wrapped VecEnv to ``env_s`` (built lazily so that
    ``--help`` and flag errors do not import Stable-Baselines3)."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class EnvTimer(VecEnvWrapper):
        env_s = 0.0

        def _timed(self, fn, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.env_s += time.perf_counter() - t0

        def reset(self):
            return self._timed(self.venv.reset)

        def step_async(self, actions):
            self._timed(self.venv.step_async, actions)

        def step_wait(self):
            return self._timed(self.venv.step_wait)

        def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
            return self._timed(self.venv.env_method, method_name, *method_args, indices=indices, **method_kwargs)

    return EnvTimer


def bench_training(make_id: str, env_id: str, n_envs: int, train_steps: int, n_steps: int, seed: int,
                   start_method: str) -> tuple[float, float, int]:
    """(training steps/s, env share of learn()'s wall time, steps trained) of MaskablePPO on ``n_envs`` workers."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from agents.hyperparameters import build_algo_kwargs, hyperparams_for
    from agents.rl import ALGOS, resolve_policy

    hyperparams, _ = hyperparams_for(ALGO, env_id)
    kwargs = build_algo_kwargs(ALGO, hyperparams)
    kwargs["n_steps"] = n_steps
    kwargs["batch_size"] = min(int(kwargs.get("batch_size", 64)), n_steps * n_envs)
    rollout = n_steps * n_envs
    total = -(-train_steps // rollout) * rollout  # whole rollouts
    venv = _timing_wrapper()(make_vec_env(make_id, n_envs=n_envs, seed=seed, vec_env_cls=SubprocVecEnv,
                                          vec_env_kwargs={"start_method": start_method}))
    try:
        policy = resolve_policy(hyperparams.get("policy", "MultiInputPolicy"), ALGO)
        model = ALGOS[ALGO](policy, venv, seed=seed, device="cpu", verbose=0, **kwargs)
        t0 = time.perf_counter()
        model.learn(total)
        wall = time.perf_counter() - t0
    finally:
        venv.close()
    return total / wall, venv.env_s / wall, total


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vector_scaling.py", description=__doc__.splitlines()[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-v1", help="registered env id")
    p.add_argument("--steps", type=int, default=4000,
                   help="timed env steps (summed over envs) per vector-env measurement, >= 1")
    p.add_argument("--warmup", type=int, default=20, help="untimed vector steps before each measurement, >= 0")
    p.add_argument("--n-envs", type=int, nargs="+", default=[1, 2, 4, 8], help="env counts (worker processes), >= 1")
    p.add_argument("--train-steps", type=int, default=4096,
                   help="MaskablePPO steps per env count (rounded up to whole rollouts of n_steps x n_envs), >= 1")
    p.add_argument("--n-steps", type=int, default=128, help="MaskablePPO n_steps (rollout length per env), >= 2")
    p.add_argument("--no-train", action="store_true", help="skip the MaskablePPO measurement")
    p.add_argument("--start-method", choices=("forkserver", "spawn", "fork"), default="forkserver",
                   help="multiprocessing start method of the workers (train.py's default: forkserver)")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch CPU threads in the training process (train.py's default: 1), >= 1")
    p.add_argument("--seed", type=int, default=0, help="seed of the envs (env i gets seed + i) and the policy")
    return p


def check_args(args: argparse.Namespace) -> None:
    """UsageError naming the flag for a value outside its range (argparse checks the types and choices)."""
    for flag, value, low in (("--steps", args.steps, 1), ("--warmup", args.warmup, 0),
                             ("--train-steps", args.train_steps, 1), ("--n-steps", args.n_steps, 2),
                             ("--torch-threads", args.torch_threads, 1)):
        if value < low:
            raise UsageError(f"{flag}: must be an integer >= {low}, got {value}")
    bad = [n for n in args.n_envs if n < 1]
    if bad:
        raise UsageError(f"--n-envs: every count must be an integer >= 1, got {bad[0]}")
    if len(set(args.n_envs)) != len(args.n_envs):
        raise UsageError(f"--n-envs: a count is given twice in {args.n_envs}")
    try:
        resolve_env_id(args.env_id)
    except UsageError as exc:  # its message names --env (train.py's flag): name ours
        raise UsageError(str(exc).replace("--env:", "--env-id:", 1)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    import gymnasium as gym
    import torch

    from agents.train_cli import importable_env_id

    torch.set_num_threads(args.torch_threads)
    env_id = args.env_id.split(":", 1)[-1]
    make_id = importable_env_id(args.env_id)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# machine: {_cpu_model()}, nproc={affinity} (os.cpu_count()={os.cpu_count()}), load average before "
          f"{_load()}; python {platform.python_version()}, numpy {np.__version__}, gymnasium {gym.__version__}, "
          f"torch {torch.__version__} ({args.torch_threads} thread(s))")
    print(f"# {env_id}: {args.steps} timed steps per vector measurement (masked uniform random valid actions), "
          f"start method {args.start_method}; MaskablePPO: "
          + ("skipped (--no-train)" if args.no_train else f"{args.train_steps} steps, n_steps {args.n_steps}"))
    print(f"# one env in this process (no vector env): "
          f"{bench_in_process(make_id, args.steps, args.warmup, args.seed):,.0f} steps/s", flush=True)
    rows = []
    for n in args.n_envs:
        vector_steps = -(-args.steps // n)
        sub = bench_subproc(make_id, n, vector_steps, args.warmup, args.seed, args.start_method)
        asy = bench_async(make_id, n, vector_steps, args.warmup, args.seed, args.start_method)
        train = (None if args.no_train else
                 bench_training(make_id, env_id, n, args.train_steps, args.n_steps, args.seed, args.start_method))
        rows.append((n, sub, asy, train))
        print(f"# n_envs={n}: SubprocVecEnv {sub:.0f}, AsyncVectorEnv {asy:.0f}"
              + ("" if train is None else f", MaskablePPO {train[0]:.0f} steps/s (env share {train[1]:.0%} "
                                          f"of {train[2]} steps)"), flush=True)
    print(f"# load average after {_load()}\n")
    print("| envs | SubprocVecEnv steps/s (x first row) | AsyncVectorEnv steps/s (x first row) | MaskablePPO steps/s "
          "| env share of learn() |")
    print("|---:|---:|---:|---:|---:|")
    base_sub, base_asy = rows[0][1], rows[0][2]
    for n, sub, asy, train in rows:
        ppo = "n/a" if train is None else f"{train[0]:,.0f}"
        share = "n/a" if train is None else f"{train[1]:.0%}"
        print(f"| {n} | {sub:,.0f} ({sub / base_sub:.2f}x) | {asy:,.0f} ({asy / base_asy:.2f}x) | {ppo} | {share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
