"""Out-of-distribution check of a learned policy: the same comparison on loads and constellations it was not trained on.

One command prints, for each setting, the learned policy against ``tuned-admit`` and ``earliest-finish-admit`` on
paired seeds: mean return per policy, and for the model against each baseline the mean per-seed gap in per cent of
|baseline mean| with its 95 % paired bootstrap interval, the median per-seed gap and the wins (agents/evaluating/stats.py).
Both the model and ``tuned-admit`` were fitted on ``--train-id`` (default ``OrbitCloud-v2``): ``tuned-admit`` keeps
that id's tuned parameters on every setting (``agents/tuned/<train-id>.json``), as the model keeps its weights.

Settings (``--settings``, default all):

| name | env |
|---|---|
| ``load-x0.7`` | ``--train-id`` with the arrival rate x 0.7 |
| ``load-x1.3`` | ``--train-id`` with the arrival rate x 1.3 |
| ``kuiper`` | ``OrbitCloud-Kuiper-v2`` (another Walker constellation: 34 x 34 at 630 km) |
| ``starlink2026`` | ``OrbitCloud-Starlink2026-v3`` (the shipped public catalogue with bridges, value objective) |

Usage (the README's generalisation table)::

    python benchmarks/generalisation.py --model models/OrbitCloud-v2/maskable_ppo.zip --episodes 10 --seed 1000 --n-jobs 2

Seeds ``--seed`` .. ``--seed + episodes - 1`` (the test range 1000-1999 of agents/common/seeds.py by default). A model
evaluated on an id other than the one its ``config.yml`` names prints a one-line notice naming both.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from agents.provenance import trained_on_notice  # noqa: E402
from benchmarks.paired_gaps import gap_cells  # noqa: E402

#: name -> (env id or None for --train-id, arrival-rate multiplier)
SETTINGS: dict[str, tuple[str | None, float]] = {
    "load-x0.7": (None, 0.7),
    "load-x1.3": (None, 1.3),
    "kuiper": ("OrbitCloud-Kuiper-v2", 1.0),
    "starlink2026": ("OrbitCloud-Starlink2026-v3", 1.0),
}
BASELINES = ("tuned-admit", "earliest-finish-admit")


def _env(env_id: str, rate_factor: float) -> Any:
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401  (registers the ids)

    env = gym.make(env_id)
    if rate_factor != 1.0:
        rate = env.unwrapped.config.workload.arrival_rate_per_s * rate_factor
        env.close()
        env = gym.make(env_id, arrival_rate_per_s=rate)
    return env


def _episode(task: tuple[str, float, str, str, str, int]) -> tuple[str, str, int, float, float]:
    """(setting, policy, seed, return, wall s) of one episode; run in a worker process."""
    setting, rate_factor, env_id, policy_name, model, seed = task
    warnings.filterwarnings("ignore")
    import agents
    from agents.heuristics import TunedAdmitPolicy
    from agents.rollouts import run_episode

    env = _env(env_id, rate_factor)
    if policy_name == "tuned-admit":
        policy = TunedAdmitPolicy(env=env, env_id=_episode.train_id)  # type: ignore[attr-defined]
    elif policy_name == "model":
        policy = agents.load(model, env=env, device="cpu")
    else:
        policy = agents.make_policy(policy_name, env=env, seed=seed)
    t0 = time.perf_counter()
    result = run_episode(env, policy, seed=seed, label=policy_name)
    env.close()
    return setting, policy_name, seed, float(result.metrics["episode_return"]), time.perf_counter() - t0


def _init(train_id: str) -> None:
    _episode.train_id = train_id  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="generalisation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the learned policy's .zip")
    p.add_argument("--train-id", default="OrbitCloud-v2", help="the id the model and tuned-admit were fitted on")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--episodes", type=int, default=10, help="seeds per setting (>= 2)")
    p.add_argument("--seed", type=int, default=1000, help="first seed (test range 1000-1999)")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes (>= 1)")
    args = p.parse_args(argv)
    if args.episodes < 2:
        p.error(f"--episodes: at least 2 (a paired interval needs 2 seeds), got {args.episodes}")
    if args.n_jobs < 1:
        p.error(f"--n-jobs: at least 1, got {args.n_jobs}")
    model = Path(args.model)
    if not model.is_file():
        p.error(f"--model: {model}: no such file")
    from agents.heuristics import load_tuned_params

    if load_tuned_params(args.train_id) is None:
        p.error(f"--train-id: {args.train_id} has no tuned parameters (agents/tuned/{args.train_id}.json)")
    seeds = list(range(args.seed, args.seed + args.episodes))
    tasks = []
    for name in args.settings:
        env_id, factor = SETTINGS[name]
        env_id = env_id or args.train_id
        notice = trained_on_notice(model, env_id)
        if notice:
            print(f"{name}: {notice}")
        for policy in ("model", *BASELINES):
            tasks += [(name, factor, env_id, policy, str(model.resolve()), s) for s in seeds]
    returns: dict[tuple[str, str], dict[int, float]] = {}
    t0 = time.perf_counter()
    if args.n_jobs == 1:
        _init(args.train_id)
        done = map(_episode, tasks)
    else:
        pool = cf.ProcessPoolExecutor(args.n_jobs, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init, initargs=(args.train_id,))
        done = pool.map(_episode, tasks)
    for setting, policy, seed, ret, _ in done:
        returns.setdefault((setting, policy), {})[seed] = ret
    print(f"\n{len(tasks)} episodes in {time.perf_counter() - t0:.0f} s; seeds {seeds[0]}-{seeds[-1]}; model "
          f"{model} and tuned-admit fitted on {args.train_id}\n")
    print("| setting | model | tuned-admit | earliest-finish-admit | model vs tuned-admit: mean gap % [95 % CI] | "
          "median % | wins | model vs earliest-finish-admit: mean gap % [95 % CI] | median % | wins |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.settings:
        r = {pol: np.array([returns[(name, pol)][s] for s in seeds]) for pol in ("model", *BASELINES)}
        print(f"| {name} | {r['model'].mean():.0f} | {r['tuned-admit'].mean():.0f} | "
              f"{r['earliest-finish-admit'].mean():.0f} | {gap_cells(r['model'], r['tuned-admit'])} | "
              f"{gap_cells(r['model'], r['earliest-finish-admit'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
