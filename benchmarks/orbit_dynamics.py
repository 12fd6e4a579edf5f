"""Do power and motion matter within an episode? Measured figures for docs/scenarios.md.

Runs ``earliest-finish-admit`` on an id's episodes and reports, per episode:

- the simulated span (``elapsed_s``) and the decisions taken;
- **power**: satellites that served jobs and whose battery fell below the compute threshold during the episode
  (``power.min_soc_for_compute``), how many of them were in eclipse at that moment, and the satellite placements the
  energy mask refused (a satellite valid by route and queue but unable to power the job);
- **motion**: satellite-served jobs whose satellite was in direct view of the user's site at arrival but no longer
  at the finish time (the pass ended while the job ran), and how much longer their return path was than their
  uplink path (ms, mean).

Usage::

    python benchmarks/orbit_dynamics.py --env OrbitCloud-v1 --seeds 1000 1001 1002
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np


def main() -> None:
    warnings.filterwarnings("ignore", message=".*is out of date.*")
    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="OrbitCloud-v1")
    p.add_argument("--seeds", nargs="*", type=int, default=[1000, 1001, 1002])
    p.add_argument("--policy", default="earliest-finish-admit")
    args = p.parse_args()
    env = gym.make(args.env)
    base = env.unwrapped
    print(f"{args.env}, policy {args.policy}\n")
    print("| seed | elapsed s | decisions | served by satellites | satellites that served | ran low | "
          "of which in eclipse | refused by the energy mask | pass ended during the job | extra return ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed in args.seeds:
        pol = agents.make_policy(args.policy, env=env, seed=seed)
        obs, _ = env.reset(seed=seed)
        sim = base.sim
        threshold = base.config.power.min_soc_for_compute
        served_by = set()
        low: dict[int, bool] = {}
        refused = pass_ended = sat_jobs = 0
        extra_ms: list[float] = []
        done = False
        while not done:
            view = base._view
            mask = base.action_masks()
            if base.config.power.require_energy:
                # refused by energy only: reachable with compute, queue room, but no energy for this job
                ok = view.valid.copy()
                reach = np.isfinite(view.inbound_ms[: sim.n_sat]) & sim.topology.sat_ok
                room = sim.compute.held[: sim.n_sat] < sim.compute.queue_limit[: sim.n_sat]
                refused += int(np.count_nonzero(reach & room & ~ok[: sim.n_sat]))
            site = sim.job.site
            direct_now = view.direct[: sim.n_sat].copy()
            action, _ = pol.predict(obs, action_masks=mask)
            obs, _, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
            node = info["node"]
            if 0 <= node < sim.n_sat and info["outcome"] in ("met", "missed"):
                sat_jobs += 1
                served_by.add(node)
                b = info["latency_breakdown_ms"]
                finish_s = sim.start_time_s + info["time_s"] + (b["total"] - b["return"]) / 1e3
                snap = sim.network.snapshot(finish_s)
                if direct_now[node] and not snap.gsl_visible[site, node]:
                    pass_ended += 1
                    extra_ms.append(b["return"] - (b["uplink"] + b["isl"]))
            soc = sim.batteries.soc
            for s in served_by:
                if s not in low and soc[s] < threshold:
                    low[s] = not bool(sim.topology.sunlit[s])
        m = info["episode_metrics"]
        print(f"| {seed} | {sim.elapsed_s:.0f} | {int(m['n_jobs'])} | {sat_jobs} | {len(served_by)} | {len(low)} | "
              f"{sum(low.values())} | {refused} | {pass_ended} | "
              f"{(np.mean(extra_ms) if extra_ms else 0.0):.1f} |")


if __name__ == "__main__":
    main()
