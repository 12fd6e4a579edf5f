"""Is there room to learn? For each id: earliest-finish, the strongest heuristic, lookahead and the upper bound.

For every id and seed the script runs every observation-only heuristic (the strongest is the one with the best mean
return over the seeds), the privileged ``lookahead`` reference policy (agents/acting/lookahead.py) and the per-episode upper
bound (orbitcloud_env/bounds.py: each job on its best node with empty queues and full batteries). It prints a
Markdown table of mean returns and the gaps in per cent of |strongest heuristic| with 95 % paired bootstrap
confidence intervals over the seeds:

- ``EF gap``: (strongest - earliest-finish): what the best fixed rule gains over greedy;
- ``lookahead gain``: (lookahead - strongest): what planning on the real future gains (a learnable share of it);
- ``bound gap``: (bound - strongest): room left under the relaxation (not all of it is reachable);
- ``capacity gap``: (capacity bound - strongest): the same with each node's compute-seconds counted
  (``orbitcloud_env.bounds.episode_capacity_bound``; never above the relaxation; ``--no-capacity-bound`` skips it).

The heuristics include ``tuned-admit`` (its parameters for the id from agents/tuned/, or earliest-finish-admit's
where none ship), so "strongest" is the strongest tuned rule.

Usage (evaluation seeds as in the README, ``--n-jobs`` processes)::

    python benchmarks/headroom.py --ids OrbitCloud-v1 OrbitCloud-v0 --seeds 1000 1001 1002 1003 1004 --n-jobs 2
    python benchmarks/headroom.py --no-lookahead        # every registered id, without the expensive planner
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import platform
import time
import warnings

import numpy as np

#: [-] bootstrap resamples of the gap intervals.
_RESAMPLES = 2000


def _episode(env_id: str, policy: str, seed: int) -> tuple[str, str, int, float, int, float]:
    """(env id, policy, seed, return, decisions, wall seconds) of one episode; ``policy`` "bound" is the bound."""
    warnings.filterwarnings("ignore", message=".*is out of date.*")
    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401  (registers the ids)
    from orbitcloud_env.bounds import episode_capacity_bound, episode_upper_bound

    env = gym.make(env_id)
    t0 = time.perf_counter()
    if policy == "bound":
        ret, steps = episode_upper_bound(env, seed), 0
    elif policy == "capacity":
        ret, steps = float(episode_capacity_bound(env, seed)), 0
    else:
        pol = agents.make_policy(policy, env=env, seed=seed)
        obs, _ = env.reset(seed=seed)
        ret, steps, done = 0.0, 0, False
        while not done:
            action, _ = pol.predict(obs, action_masks=env.unwrapped.action_masks())
            obs, reward, terminated, truncated, _ = env.step(int(action))
            ret += float(reward)
            steps += 1
            done = terminated or truncated
    env.close()
    return env_id, policy, seed, ret, steps, time.perf_counter() - t0


def _gap_ci(a: np.ndarray, b: np.ndarray, scale: float, seed: int = 0) -> tuple[float, float, float]:
    """Mean of (a - b) / scale in per cent, with a 95 % paired bootstrap interval over seeds."""
    from agents.stats import paired_gap_ci

    return paired_gap_ci(a, b, scale, n_resamples=_RESAMPLES, seed=seed)


def main() -> None:
    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ids", nargs="*", default=None, help="env ids (default: every registered OrbitCloud id)")
    p.add_argument("--seeds", nargs="*", type=int, default=[1000, 1001, 1002, 1003, 1004])
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes")
    p.add_argument("--no-lookahead", action="store_true", help="skip the lookahead planner (the slow part)")
    p.add_argument("--capacity-bound", action=argparse.BooleanOptionalAction, default=True,
                   help="also compute the capacity-aware bound (about 4x the CPU of the relaxation)")
    args = p.parse_args()
    ids = args.ids or sorted(k for k in gym.registry if k.startswith("OrbitCloud"))
    policies = (agents.available() + ([] if args.no_lookahead else ["lookahead"]) + ["bound"]
                + (["capacity"] if args.capacity_bound else []))
    tasks = [(i, pol, s) for i in ids for pol in policies for s in args.seeds]
    results: dict[tuple[str, str], dict[int, float]] = {}
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.n_jobs, mp_context=ctx) as pool:
        for env_id, pol, seed, ret, _, _ in pool.map(_episode, *zip(*tasks)):
            results.setdefault((env_id, pol), {})[seed] = ret
    wall = time.perf_counter() - t0
    print(f"Seeds {args.seeds[0]}..{args.seeds[-1]} ({len(args.seeds)} paired episodes per policy); "
          f"{platform.machine()} {platform.python_version()}, {args.n_jobs} worker(s), {wall:.0f} s.\n")
    print("| id | earliest-finish | strongest heuristic | lookahead | upper bound | capacity bound | EF gap % "
          "| lookahead gain % | bound gap % | capacity gap % |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for env_id in ids:
        vec = {pol: np.array([results[(env_id, pol)][s] for s in args.seeds]) for pol in policies}
        heur = agents.available()
        best = max(heur, key=lambda h: vec[h].mean())
        scale = abs(vec[best].mean()) or 1.0

        def fmt(g: tuple[float, float, float]) -> str:
            return f"{g[0]:+.1f} [{g[1]:+.1f}, {g[2]:+.1f}]"

        ef_gap = fmt(_gap_ci(vec[best], vec["earliest-finish"], scale))
        la = f"{vec['lookahead'].mean():.0f}" if "lookahead" in vec else "n/a"
        la_gain = fmt(_gap_ci(vec["lookahead"], vec[best], scale)) if "lookahead" in vec else "n/a"
        bound_gap = fmt(_gap_ci(vec["bound"], vec[best], scale))
        cap = f"{vec['capacity'].mean():.0f}" if "capacity" in vec else "n/a"
        cap_gap = fmt(_gap_ci(vec["capacity"], vec[best], scale)) if "capacity" in vec else "n/a"
        print(f"| {env_id} | {vec['earliest-finish'].mean():.0f} | {best} ({vec[best].mean():.0f}) | {la} | "
              f"{vec['bound'].mean():.0f} | {cap} | {ef_gap} | {la_gain} | {bound_gap} | {cap_gap} |")


if __name__ == "__main__":
    main()
