"""How much of an env step is the shortest-path search, and what that search alone allows.

Runs ``--steps`` decisions of masked uniform random valid actions (episodes reset as in training) on each id, with
the one call that routes (``orbitcloud_env.routing.route_sites``: scipy.sparse.csgraph's Dijkstra from a site in a
topology bucket, up to a delay limit) timed, and prints per id:

* env steps per second (wall, this process; the timing adds about a microsecond per search);
* searches per step, split by what asked for them: the job's **first** look at its site's bucket, a **widening**
  (the site's limit did not reach its candidate pool), the **return** route of a placed job in the bucket where
  it finishes; and the nodes each search settled (of the graph's satellites and sites);
* the search's share of the step, and the **floor** it sets: ``1 / share``, the most any speed-up of everything
  else can give while the episodes stay bit-identical (the same searches, by the same code).

Eager snapshots (every site routed at once when a bucket is built, the small scenarios) route through
``_route_every_site`` instead: reported as "bucket" searches (one per site, per bucket built).

The figures are for one process on one core; read them with the machine line. Usage:
    python benchmarks/route_floor.py [--ids OrbitCloud-v1 OrbitCloud-Small-v0] [--steps 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
import warnings

import numpy as np

from agents.cli import OneLineParser, UsageError, resolve_env_id


def _caller_kind() -> str:
    """Who asked for the search running now: the return route, a widening, or the first look."""
    frame = sys._getframe(2)
    names = set()
    while frame is not None and len(names) < 12:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    if "_place_on_satellite" in names:
        return "return"
    return "widening" if "_widen_route" in names else "first"


def measure(env_id: str, steps: int, seed: int) -> dict[str, object]:
    """Run ``steps`` decisions of ``env_id`` with the searches timed; the figures of the module docstring."""
    import gymnasium as gym

    from orbitcloud_env import routing, snapshot

    found: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0])
    route_sites, route_every = snapshot.route_sites, snapshot._route_every_site

    def timed_sites(graph, n, sites, limit_ms):
        t0 = time.perf_counter()
        d, pred = route_sites(graph, n, sites, limit_ms)
        row = found[_caller_kind()]
        row[0] += len(sites)
        row[1] += time.perf_counter() - t0
        row[2] += int(np.isfinite(d).sum())
        return d, pred

    def timed_every(graph, n, s_count):
        t0 = time.perf_counter()
        d, pred = route_every(graph, n, s_count)
        row = found["bucket"]
        row[0] += s_count
        row[1] += time.perf_counter() - t0
        row[2] += int(np.isfinite(d).sum()) + s_count
        return d, pred

    snapshot.route_sites, snapshot._route_every_site, routing._route_every_site = timed_sites, timed_every, timed_every
    try:
        env = gym.make(env_id).unwrapped
        env.reset(seed=seed)
        draws = np.random.default_rng(seed).random((steps + 300, env.action_space.n))

        def run(first: int, n: int) -> None:
            for k in range(first, first + n):
                if env.step(int(np.argmax(draws[k] * env.action_masks())))[3]:
                    env.reset()

        run(0, 300)  # the first buckets and route limits, untimed
        found.clear()
        t0 = time.perf_counter()
        run(300, steps)
        wall = time.perf_counter() - t0
        n_graph = env.sim.n_sat + len(env.sim.sites.names)
        env.close()
    finally:
        snapshot.route_sites, snapshot._route_every_site, routing._route_every_site = (route_sites, route_every,
                                                                                       route_every)
    search_s = sum(row[1] for row in found.values())
    return {"steps_per_s": steps / wall, "us_per_step": wall / steps * 1e6, "search_share": search_s / wall,
            "kinds": {k: (row[0] / steps, row[1] / max(row[0], 1) * 1e6, row[2] / max(row[0], 1))
                      for k, row in sorted(found.items())}, "graph_nodes": n_graph}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="benchmarks/route_floor.py", description=__doc__.splitlines()[0])
    p.add_argument("--ids", nargs="+", default=["OrbitCloud-v1", "OrbitCloud-Small-v0"], help="registered env ids")
    p.add_argument("--steps", type=int, default=3000, help="timed decisions per id, >= 1")
    p.add_argument("--seed", type=int, default=0, help="seed of the env and of the random actions")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.steps < 1:
            raise UsageError(f"--steps: must be an integer >= 1, got {args.steps}")
        ids = [resolve_env_id(i).split(":", 1)[-1] for i in args.ids]
    except UsageError as exc:
        parser.error(str(exc).replace("--env:", "--ids:", 1))
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*out of date.*")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"# python {platform.python_version()}, numpy {np.__version__}, nproc={os.cpu_count()}, load average "
          f"before {load}")
    print(f"# command: python benchmarks/route_floor.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("\n| env id | steps/s | us/step | search share | floor (1 / share) | searches per step: kind, "
          "us each, nodes settled (of the graph's) |")
    print("|---|---:|---:|---:|---:|---|")
    for env_id in ids:
        got = measure(env_id, args.steps, args.seed)
        kinds = "; ".join(f"{k} {n:.2f}, {us:,.0f} us, {settled:,.0f} (of {got['graph_nodes']:,})"
                          for k, (n, us, settled) in got["kinds"].items())
        share = got["search_share"]
        floor = f"{1 / share:.2f}x" if share > 0 else "n/a"
        print(f"| {env_id} | {got['steps_per_s']:,.0f} | {got['us_per_step']:,.0f} | {share:.0%} | {floor} | "
              f"{kinds} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
