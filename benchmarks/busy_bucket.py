"""The topology update an env pays in a bucket where every site sends a job (lazy snapshot + every site's route).

Run from the repository root:

    python -m benchmarks.busy_bucket [--id OrbitCloud-Giga-v1] [--warmup-steps 3000] [--repeats 10] [--clock cpu]

``benchmarks.network`` times the lazy snapshot (no route) and the complete routing of every site; the env does
neither alone. It routes a site when a job arrives from it, in candidates mode up to the reach its candidate pool
needed in its last bucket (x 1.1). This script makes the env, runs ``--warmup-steps`` random steps so that every
site has such a limit, then times, on fresh buckets (never cached), the lazy snapshot and the same snapshot plus
one limited route from each of the sites: the worst case of one bucket, every site busy. Prints the medians [ms]
and the sites' route limits [ms].
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401  (registers the ids)

_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--id", default="OrbitCloud-Giga-v1", help="a registered id in candidates mode")
    p.add_argument("--warmup-steps", type=int, default=3000, help="random steps before timing (route limits)")
    p.add_argument("--repeats", type=int, default=10, help="fresh buckets timed")
    p.add_argument("--clock", choices=list(_CLOCKS), default="cpu", help="cpu (process_time) or wall")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.warmup_steps < 0 or args.repeats < 1:
        p.error("--warmup-steps must be >= 0 and --repeats >= 1")
    env = gym.make(args.id)
    sim = env.unwrapped.sim
    if sim.config.episode.action_mode != "candidates":
        p.error(f"--id {args.id}: the route limits exist in candidates mode only")
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    for _ in range(args.warmup_steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, env.action_space.n)))
        if terminated or truncated:
            env.reset()
    clock, net = _CLOCKS[args.clock], sim.network
    limits = sim._site_route_ms.copy()
    lazy, busy = [], []
    start_s = sim.time_s + 100 * net.topology_dt_s * net.cache_buckets  # beyond every cached bucket
    for k in range(args.repeats):
        t0 = clock()
        snap = net.snapshot(start_s + 37 * k * net.topology_dt_s)
        t1 = clock()
        for site in range(snap.n_sites):
            snap.site_delay_ms(site, float(limits[site]))
        t2 = clock()
        lazy.append((t1 - t0) * 1e3)
        busy.append((t2 - t0) * 1e3)
    print(f"{args.id}: {sim.n_sat} satellites, {snap.n_sites} sites, {args.clock} clock, median of {args.repeats}")
    print(f"lazy snapshot {statistics.median(lazy):.1f} ms; with a limited route from every site "
          f"{statistics.median(busy):.1f} ms; route limits {np.min(limits):.1f}-{np.max(limits):.1f} ms "
          f"(median {np.median(limits):.1f})")


if __name__ == "__main__":
    main()
