"""Steps per second of OrbitCloud vector envs (the batched env against N single envs) and of MaskablePPO training.

Per env count ``n`` (``--n-envs``, default 1 4 16 64), in rounds that alternate the kinds (``--rounds``, default 3;
the table gives the median and the range of each kind, and the ratios of the medians, all from this one run):

* **batched**: :class:`agents.training.vec_env.OrbitCloudVecEnv`, the ``n`` copies stepped in this process by the batched
  vector env (``orbitcloud_env.vector``; shared topology snapshots and route limits where the scenario allows);
* **batched-procs**: :class:`agents.training.vec_env.OrbitCloudSubprocVecEnv`, the ``n`` copies split over
  ``--procs`` processes (default 2, one per core of this machine: this one and ``--procs`` - 1 workers), each
  stepping its share as the batched env (what ``train.py --env-procs K`` builds); only for ``n`` >= ``--procs``;
* **dummy**: SB3's ``DummyVecEnv`` of ``n`` ``gym.make`` envs in this process (what ``train.py --vec-env dummy``
  builds): N single envs, one after the other;
* **subproc**: SB3's ``SubprocVecEnv`` of ``n`` worker processes (``--start-method``), only up to
  ``--max-workers`` (default 16: each worker holds its own simulator);
* **async** (``--async``): Gymnasium's ``AsyncVectorEnv``, masks through ``call("action_masks")``; its autoreset
  (next-step mode) spends one step per finished episode on the reset.

Every kind gets masked uniform random valid actions, the masks asked for each step as MaskablePPO does
(``env_method("action_masks")``); env i is seeded ``seed + i``. Steps are env decisions summed over the envs
(``--steps`` per measurement, rounded up to a multiple of ``n``); each measurement first runs ``--warmup`` vector
steps untimed (resets, first topology buckets, worker start-up).

**MaskablePPO** (unless ``--no-train``): ``sb3_contrib.MaskablePPO.learn`` with the shipped hyperparameters for the
id (agents/hyperparams/maskable_ppo.yml through :mod:`agents.training.hyperparameters`: for OrbitCloud-v1 8 envs, n_steps
2,048, batch 1,024, 4 epochs, ``RowScoringPolicy``) on each ``--train-vec`` VecEnv (default batched and
batched-procs), for ``--train-steps`` steps rounded up to whole rollouts (default: one rollout, 16,384 steps on v1).
``--n-steps`` / ``--train-n-envs`` override the yml for short runs. "env share" is the wall time ``learn()`` spent
inside the VecEnv (reset, step, action masks; timed by a ``VecEnvWrapper``) over ``learn()``'s wall time; the rest
is policy inference, the rollout buffer and the gradient updates.

The first line measures one env in this process with the same policy, outside any vector env. The machine line
gives the core count, the CPU model and the load average before and after: on a shared machine the load says how
many cores the run really had. Pin to one core for per-core figures: ``taskset -c 0 python ...`` (the subprocess
workers then share that core).

Usage:
    python benchmarks/vector_scaling.py [--env-id OrbitCloud-v1] [--steps 4000] [--n-envs 1 4 16 64] [--rounds 3]
        [--max-workers 16] [--async] [--procs 2] [--train-vec batched batched-procs subproc] [--train-steps N]
        [--n-steps N] [--train-n-envs N] [--start-method forkserver] [--no-train]
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


def bench_batched(make_id: str, n_envs: int, vector_steps: int, warmup: int, seed: int, procs: int = 1,
                  start_method: str | None = None) -> float:
    """Env steps/s of the batched vector env behind SB3's VecEnv API (agents.vec_env) with masked random actions,
    in this process (``procs`` 1) or split over ``procs`` processes (this one and ``procs`` - 1 workers)."""
    from agents.vec_env import make_batched_vec_env

    venv = make_batched_vec_env(make_id, n_envs, seed=seed, n_procs=procs, start_method=start_method)
    try:
        venv.reset()
        return _timed_steps(venv.step, lambda: np.stack(venv.env_method("action_masks")), n_envs, vector_steps,
                            warmup, seed)
    finally:
        venv.close()


def bench_dummy(make_id: str, n_envs: int, vector_steps: int, warmup: int, seed: int) -> float:
    """Env steps/s of SB3's DummyVecEnv (N single envs in this process) with masked random actions."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = make_vec_env(make_id, n_envs=n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    try:
        venv.reset()
        return _timed_steps(venv.step, lambda: np.stack(venv.env_method("action_masks")), n_envs, vector_steps,
                            warmup, seed)
    finally:
        venv.close()


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


def bench_training(make_id: str, env_id: str, vec: str, train_steps: int | None, n_steps: int | None,
                   n_envs: int | None, seed: int, start_method: str, procs: int = 2) -> tuple[float, float, int, int]:
    """(training steps/s, env share of learn()'s wall time, steps trained, envs) of MaskablePPO with the shipped
    hyperparameters of ``env_id`` on a ``vec`` VecEnv (batched, batched-procs over ``procs`` processes, dummy or
    subproc); ``n_steps`` / ``n_envs`` override the yml's when given, and ``train_steps`` (default one rollout) is
    rounded up to whole rollouts."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from agents.hyperparameters import build_algo_kwargs, hyperparams_for
    from agents.rl import ALGOS, resolve_policy
    from agents.vec_env import make_batched_vec_env

    hyperparams, _ = hyperparams_for(ALGO, env_id)
    kwargs = build_algo_kwargs(ALGO, hyperparams)
    n_envs = n_envs or int(hyperparams.get("n_envs", 1))
    if n_steps is not None:
        kwargs["n_steps"] = n_steps
    n_steps = int(kwargs.get("n_steps", 2048))
    kwargs["batch_size"] = min(int(kwargs.get("batch_size", 64)), n_steps * n_envs)
    rollout = n_steps * n_envs
    total = -(-(train_steps or rollout) // rollout) * rollout  # whole rollouts
    if vec in ("batched", "batched-procs"):
        inner = make_batched_vec_env(make_id, n_envs, seed=seed, n_procs=procs if vec == "batched-procs" else 1,
                                     start_method=start_method)
    else:
        inner = make_vec_env(make_id, n_envs=n_envs, seed=seed,
                             vec_env_cls=SubprocVecEnv if vec == "subproc" else DummyVecEnv,
                             vec_env_kwargs={"start_method": start_method} if vec == "subproc" else None)
    venv = _timing_wrapper()(inner)
    try:
        policy = resolve_policy(hyperparams.get("policy", "MultiInputPolicy"), ALGO)
        model = ALGOS[ALGO](policy, venv, seed=seed, device="cpu", verbose=0, **kwargs)
        t0 = time.perf_counter()
        model.learn(total)
        wall = time.perf_counter() - t0
    finally:
        venv.close()
    return total / wall, venv.env_s / wall, total, n_envs


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vector_scaling.py", description=__doc__.splitlines()[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-v1", help="registered env id")
    p.add_argument("--steps", type=int, default=4000,
                   help="timed env steps (summed over envs) per vector-env measurement, >= 1")
    p.add_argument("--warmup", type=int, default=20, help="untimed vector steps before each measurement, >= 0")
    p.add_argument("--n-envs", type=int, nargs="+", default=[1, 4, 16, 64], help="env counts, >= 1")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of every kind per env count (median and range reported), >= 1")
    p.add_argument("--max-workers", type=int, default=16,
                   help="largest env count measured with SubprocVecEnv (one process per env), >= 0")
    p.add_argument("--async", dest="async_", action="store_true", help="also measure Gymnasium's AsyncVectorEnv")
    p.add_argument("--procs", type=int, default=2,
                   help="processes of the batched-procs kind, this one included, >= 2 (one per core)")
    p.add_argument("--train-vec", nargs="+", choices=("batched", "batched-procs", "dummy", "subproc"),
                   default=["batched", "batched-procs"],
                   help="VecEnvs of the MaskablePPO measurement")
    p.add_argument("--train-steps", type=int, default=None,
                   help="MaskablePPO steps per VecEnv (rounded up to whole rollouts), >= 1; default: one rollout")
    p.add_argument("--n-steps", type=int, default=None,
                   help="MaskablePPO n_steps (rollout length per env), >= 2; default: the yml's (shipped)")
    p.add_argument("--train-n-envs", type=int, default=None, help="MaskablePPO envs, >= 1; default: the yml's")
    p.add_argument("--no-train", action="store_true", help="skip the MaskablePPO measurement")
    p.add_argument("--start-method", choices=("forkserver", "spawn", "fork"), default="forkserver",
                   help="multiprocessing start method of the workers (train.py's default: forkserver)")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch CPU threads in the training process (train.py's default: 1), >= 1")
    p.add_argument("--seed", type=int, default=0, help="seed of the envs (env i gets seed + i) and the policy")
    return p


def check_args(args: argparse.Namespace) -> None:
    """UsageError naming the flag for a value outside its range (argparse checks the types and choices)."""
    for flag, value, low in (("--steps", args.steps, 1), ("--warmup", args.warmup, 0), ("--rounds", args.rounds, 1),
                             ("--max-workers", args.max_workers, 0), ("--train-steps", args.train_steps, 1),
                             ("--n-steps", args.n_steps, 2), ("--train-n-envs", args.train_n_envs, 1),
                             ("--torch-threads", args.torch_threads, 1), ("--procs", args.procs, 2)):
        if value is not None and value < low:
            raise UsageError(f"{flag}: must be an integer >= {low}, got {value}")
    bad = [n for n in args.n_envs if n < 1]
    if bad:
        raise UsageError(f"--n-envs: every count must be an integer >= 1, got {bad[0]}")
    if len(set(args.n_envs)) != len(args.n_envs):
        raise UsageError(f"--n-envs: a count is given twice in {args.n_envs}")
    if len(set(args.train_vec)) != len(args.train_vec):
        raise UsageError(f"--train-vec: a VecEnv is given twice in {args.train_vec}")
    try:
        resolve_env_id(args.env_id)
    except UsageError as exc:  # its message names --env (train.py's flag): name ours
        raise UsageError(str(exc).replace("--env:", "--env-id:", 1)) from None


def _cell(values: list[float]) -> str:
    """``median (low-high)`` of a kind's rounds, or n/a."""
    if not values:
        return "n/a"
    med = float(np.median(values))
    return f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else f"{med:,.0f}"


def _ratio(a: list[float], b: list[float]) -> str:
    return f"{np.median(a) / np.median(b):.2f}x" if a and b else "n/a"


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
    from agents.vec_env import supports_batched

    torch.set_num_threads(args.torch_threads)
    env_id = args.env_id.split(":", 1)[-1]
    make_id = importable_env_id(args.env_id)
    if not supports_batched(make_id):
        parser.error(f"--env-id: {env_id} has no batched vector env (vector_entry_point)")
    t_start = time.perf_counter()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# machine: {_cpu_model()}, nproc={affinity} (os.cpu_count()={os.cpu_count()}), load average before "
          f"{_load()}; python {platform.python_version()}, numpy {np.__version__}, gymnasium {gym.__version__}, "
          f"torch {torch.__version__} ({args.torch_threads} thread(s))")
    print(f"# command: {' '.join(['python', 'benchmarks/vector_scaling.py'] + (sys.argv[1:] if argv is None else argv))}")
    print(f"# {env_id}: {args.steps} timed steps per measurement, {args.rounds} alternating rounds (masked uniform "
          f"random valid actions), start method {args.start_method}")
    print(f"# one env in this process (no vector env): "
          f"{bench_in_process(make_id, args.steps, args.warmup, args.seed):,.0f} steps/s", flush=True)
    kinds = ["batched", "batched-procs", "dummy", "subproc"] + (["async"] if args.async_ else [])
    rows = []
    for n in args.n_envs:
        vector_steps = -(-args.steps // n)
        got: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(args.rounds):
            got["batched"].append(bench_batched(make_id, n, vector_steps, args.warmup, args.seed))
            if n >= args.procs:
                got["batched-procs"].append(bench_batched(make_id, n, vector_steps, args.warmup, args.seed,
                                                          args.procs, args.start_method))
            got["dummy"].append(bench_dummy(make_id, n, vector_steps, args.warmup, args.seed))
            if n <= args.max_workers:
                got["subproc"].append(bench_subproc(make_id, n, vector_steps, args.warmup, args.seed,
                                                    args.start_method))
                if args.async_:
                    got["async"].append(bench_async(make_id, n, vector_steps, args.warmup, args.seed,
                                                    args.start_method))
        rows.append((n, got))
        print(f"# n_envs={n}: " + ", ".join(f"{k} {_cell(v)}" for k, v in got.items()), flush=True)
    trains = []
    if not args.no_train:
        for vec in args.train_vec:
            sps, share, total, n = bench_training(make_id, env_id, vec, args.train_steps, args.n_steps,
                                                  args.train_n_envs, args.seed, args.start_method, args.procs)
            vec = f"batched in {args.procs} processes" if vec == "batched-procs" else vec
            trains.append((vec, sps, share, total, n))
            print(f"# MaskablePPO on {vec} x{n}: {sps:,.0f} steps/s, env share {share:.0%} of {total} steps",
                  flush=True)
    print(f"# load average after {_load()}; {time.perf_counter() - t_start:.0f} s\n")
    print(f"| envs | batched steps/s | batched in {args.procs} processes | N single envs in one process (DummyVecEnv) "
          "| SubprocVecEnv | " + ("AsyncVectorEnv | " if args.async_ else "")
          + f"batched / single | batched in {args.procs} processes / single | batched / subproc |")
    print("|---:|---:|---:|---:|---:|" + ("---:|" if args.async_ else "") + "---:|---:|---:|")
    for n, got in rows:
        print(f"| {n} | {_cell(got['batched'])} | {_cell(got['batched-procs'])} | {_cell(got['dummy'])} | "
              f"{_cell(got['subproc'])} | " + (f"{_cell(got['async'])} | " if args.async_ else "")
              + f"{_ratio(got['batched'], got['dummy'])} | {_ratio(got['batched-procs'], got['dummy'])} | "
              f"{_ratio(got['batched'], got['subproc'])} |")
    if trains:
        print("\n| MaskablePPO VecEnv | envs | steps | steps/s | env share of learn() |")
        print("|---|---:|---:|---:|---:|")
        for vec, sps, share, total, n in trains:
            print(f"| {vec} | {n} | {total:,} | {sps:,.0f} | {share:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
