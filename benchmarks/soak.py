"""Soak test: many masked random steps with every fault kind on, checking invariants all the way.

On ``OrbitCloud-v0`` (override with ``--id``) with satellite, payload, data-centre, ground-link and fibre faults and
ISL failures all on (rates well above any real system's, so that every kind fires within an episode), it runs
``--steps`` masked random steps (a uniformly drawn valid action, resetting at truncation as in training) and checks
at every step:

- no NaN or inf in the observation or the reward, and the observation inside ``observation_space``;
- the action mask allows reject and forbids every node ``info["node_down_reason"]`` lists;
- at every episode end, ``met + missed + dropped + failed + rejected = n_jobs`` and the rates of
  ``info["episode_metrics"]`` match those counts (``replaced_rate`` too: ``--failed-jobs replace`` re-places the
  jobs whose node fails instead of losing them, docs/faults.md);

and prints the resident set size (RSS) at checkpoints, which should stay flat. Exit status 1 on any violation.

Usage:
    python benchmarks/soak.py [--steps 1000000] [--id OrbitCloud-v0] [--seed 0] [--checkpoints 10]
                              [--failed-jobs lost|replace]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
import warnings

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401  (registers the ids)
from orbitcloud_env.metrics import JobOutcome

#: Fault rates of the soak [1/h] and repair times [s]: every kind fires within a 600 s episode.
FAULTS = {
    "faults.satellite_failure_rate_per_hour": 2.0, "faults.satellite_repair_time_s": 600.0,
    "faults.payload_failure_rate_per_hour": 4.0, "faults.payload_repair_time_s": 300.0,
    "faults.datacentre_outage_rate_per_hour": 1.0, "faults.datacentre_repair_time_s": 600.0,
    "faults.ground_link_outage_rate_per_hour": 1.0, "faults.ground_link_repair_time_s": 300.0,
    "faults.fibre_cut_rate_per_hour": 0.2, "faults.fibre_repair_time_s": 1_800.0,
    "links.isl_failure_rate_per_hour": 0.5, "links.isl_repair_time_s": 600.0,
}


def _rss_mb() -> float:
    """[MB] current resident set size (Linux /proc; the peak on other systems)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1_000_000, help="masked random steps in all (default 10^6)")
    p.add_argument("--id", default="OrbitCloud-v0", help="env id (default OrbitCloud-v0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", type=int, default=10, help="RSS reports over the run")
    p.add_argument("--failed-jobs", choices=("lost", "replace"), default="lost",
                   help="faults.failed_jobs: lose or re-place a job whose node fails (default lost)")
    args = p.parse_args()
    if args.steps < 1:
        p.error("--steps must be >= 1")
    warnings.simplefilter("ignore", DeprecationWarning)
    env = gym.make(args.id, **FAULTS, failed_jobs=args.failed_jobs)
    rng = np.random.default_rng(args.seed)
    obs, info = env.reset(seed=args.seed)
    space = env.observation_space
    counts = {o.value: 0 for o in JobOutcome}
    totals = {o.value: 0 for o in JobOutcome}
    episodes = violations = replaced = 0
    every = max(args.steps // args.checkpoints, 1)
    t0 = time.perf_counter()
    print(f"soak: {args.id}, {args.steps:,} masked random steps, faults {FAULTS}, failed jobs {args.failed_jobs}")
    print(f"{'steps':>10} {'episodes':>9} {'RSS MB':>8} {'steps/s':>8}")

    def fail(msg: str) -> None:
        nonlocal violations
        violations += 1
        if violations <= 20:
            print(f"VIOLATION at step {step}: {msg}")

    for step in range(1, args.steps + 1):
        mask = env.unwrapped.action_masks()
        if not mask[-1]:
            fail("reject is masked out")
        down = np.fromiter(info.get("node_down_reason", {}), dtype=np.int64)
        if down.size:  # the current job's view; candidates mode: rows name the listed nodes
            rows = env.unwrapped._action.rows if "candidate_nodes" in info else np.arange(len(mask) - 1)
            allowed = rows[np.isin(rows, down) & mask[:-1]]
            if allowed.size:
                fail(f"nodes {allowed.tolist()} are down ({info['node_down_reason'][int(allowed[0])]}) but allowed")
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        if not math.isfinite(reward):
            fail(f"reward {reward!r}")
        if not all(np.all(np.isfinite(v)) for v in obs.values()):
            fail("NaN or inf in the observation")
        elif not space.contains(obs):
            fail("observation outside observation_space")
        counts[info["outcome"]] += 1
        replaced += info["replaced_from"] >= 0 and info["outcome"] != "failed"
        if terminated or truncated:
            m = info["episode_metrics"]
            n = sum(counts.values())
            if n != m["n_jobs"]:
                fail(f"outcomes {counts} sum to {n}, metrics say {m['n_jobs']}")
            for key, outcome in (("rejection_rate", "rejected"), ("drop_rate", "dropped"),
                                 ("failure_rate", "failed"), ("success_rate", "met")):
                if abs(m[key] - counts[outcome] / max(n, 1)) > 1e-12:
                    fail(f"{key} {m[key]} != {counts[outcome]} / {n}")
            if abs(m["replaced_rate"] - replaced / max(n, 1)) > 1e-12:
                fail(f"replaced_rate {m['replaced_rate']} != {replaced} / {n}")
            replaced = 0
            for k, v in counts.items():
                totals[k] += v
            counts = {o.value: 0 for o in JobOutcome}
            episodes += 1
            obs, info = env.reset()
        if step % every == 0 or step == args.steps:
            print(f"{step:>10,} {episodes:>9} {_rss_mb():>8.1f} {step / (time.perf_counter() - t0):>8.0f}",
                  flush=True)
    for k, v in counts.items():
        totals[k] += v
    jobs = sum(totals.values())
    print(f"jobs {jobs:,}: " + ", ".join(f"{k} {v:,} ({v / max(jobs, 1):.2%})" for k, v in totals.items()))
    print(f"met + missed + dropped + failed + rejected = {jobs:,} = steps {args.steps:,}: {jobs == args.steps}")
    print(f"violations: {violations}  (NaN/inf, outside the space, down node allowed, metrics not adding up)")
    env.close()
    return 0 if violations == 0 and jobs == args.steps else 1


if __name__ == "__main__":
    sys.exit(main())
