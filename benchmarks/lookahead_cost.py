"""Cost per decision of the ``lookahead`` planners (agents/acting/lookahead.py): wall and CPU milliseconds per decision.

Plays the first ``--decisions`` decisions of each seed with each planner (alternating the planners seed by seed, so
drift on a shared machine hits both alike) and prints, per planner, the mean, median and 95th percentile of the
per-decision CPU time (``time.process_time``, less sensitive than wall time to other jobs on the machine) and the
mean wall time, overall and per job class.

Usage::

    python benchmarks/lookahead_cost.py --env OrbitCloud-v1 --seeds 2000 2001 2002 --decisions 300
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np


def _run(env_id: str, name: str, seed: int, decisions: int) -> tuple[list[float], list[float], list[str]]:
    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401

    env = gym.make(env_id)
    policy = agents.make_policy(name, env=env)
    obs, _ = env.reset(seed=seed)
    cpu, wall, classes = [], [], []
    for _ in range(decisions):
        job_class = env.unwrapped.sim.job_class_names[env.unwrapped.sim.job.job_class]
        c0, w0 = time.process_time(), time.perf_counter()
        a, _ = policy.predict(obs)
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
        classes.append(job_class)
        obs, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            break
    env.close()
    return cpu, wall, classes


def main() -> None:
    warnings.filterwarnings("ignore", message=".*is out of date.*")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="OrbitCloud-v1")
    p.add_argument("--policies", nargs="+", default=["lookahead", "lookahead-long"])
    p.add_argument("--seeds", nargs="+", type=int, default=[2000, 2001, 2002])
    p.add_argument("--decisions", type=int, default=300, help="decisions per seed (from the episode's start)")
    args = p.parse_args()
    data: dict[str, tuple[list, list, list]] = {n: ([], [], []) for n in args.policies}
    for i, seed in enumerate(args.seeds):
        order = args.policies if i % 2 == 0 else args.policies[::-1]
        for name in order:
            cpu, wall, cls = _run(args.env, name, seed, args.decisions)
            for dst, src in zip(data[name], (cpu, wall, cls)):
                dst.extend(src)
    print(f"{args.env}, seeds {args.seeds}, first {args.decisions} decisions each; {platform.machine()} "
          f"{platform.python_version()}\n")
    print("| policy | class | decisions | CPU ms mean | CPU ms median | CPU ms p95 | wall ms mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, (cpu, wall, cls) in data.items():
        cpu_a, wall_a, cls_a = np.array(cpu), np.array(wall), np.array(cls)
        for label in ["all", *sorted(set(cls))]:
            sel = np.ones(cpu_a.size, bool) if label == "all" else cls_a == label
            c = cpu_a[sel]
            print(f"| {name} | {label} | {c.size} | {c.mean():.1f} | {np.median(c):.1f} | "
                  f"{np.percentile(c, 95):.1f} | {wall_a[sel].mean():.1f} |")


if __name__ == "__main__":
    main()
