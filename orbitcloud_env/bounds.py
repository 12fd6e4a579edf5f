"""An upper bound on any policy's episode return: the relaxation in which each job meets an idle cloud.

Relaxation (per job, independently): the job gets the better of rejection and its best reachable node, where every
node has **empty queues** (no wait), **full batteries** (every reachable compute node is valid) and no queue limit;
the background load, the topology and the routes are those of the episode (exogenous: no policy changes them).
A satellite's result is routed back on the topology of the bucket in which its unqueued compute finishes, as in
the simulator. The bound's return is the sum over the episode's jobs of that best reward.

Why it bounds every policy's return on the same seed: the job stream, the topology and the background do not
depend on the policy; for each job and node, queueing only adds wait (latency and miss penalty can only grow) and
the per-node reward terms are otherwise identical; rejection and invalid actions score at most the rejection
reward. One caveat, documented in docs/scenarios.md: a result delayed by queueing returns on a later bucket's
topology, whose path may be shorter by a few ms; in practice the bound's margin dwarfs this.

No Gymnasium import: the function drives the env's simulator and scores each (job, node) with the env's own reward
function (orbitcloud_env/reward.py). Under the value objective (v2) the argument holds too: queueing can only make a
job late (forfeiting its value, paying the SLA credit) and its value-weighted latency share larger.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orbitcloud_env.reward import reward_terms
from orbitcloud_env.reward import total as reward_total

__all__ = ["episode_upper_bound", "job_upper_bound"]


def job_upper_bound(sim: Any, reward: Any) -> float:
    """The relaxed best reward of the simulator's current job (see the module docstring).

    Args:
        sim: a :class:`~orbitcloud_env.simulator.Simulator` after reset, with a current job.
        reward: the scenario's :class:`~orbitcloud_env.config.RewardConfig`.
    """
    job = sim.job
    view = sim.node_view(complete=True)
    n_sat = sim.n_sat
    reachable = np.isfinite(view.inbound_ms) & np.concatenate([sim.topology.sat_ok, np.ones(sim.n_dc, bool)])
    value = sim.job_value(job)
    best = float(reward_total(reward_terms(reward, served=False, missed=False, lost=False, rejected=True,
                                           invalid=False, latency_ratio=0.0, energy_j=0.0, value=value)))
    nodes = np.flatnonzero(reachable)
    if nodes.size == 0:
        return best
    compute_ms = view.compute_ms[nodes]
    finish_ms = view.inbound_ms[nodes] + compute_ms  # arrival to compute done, no wait
    total = np.empty(nodes.size)
    is_sat = nodes < n_sat
    # Data centres: fibre back (the inbound minus the input transfer) plus the output transfer.
    dc = ~is_sat
    if dc.any():
        fibre_ms = sim.site_dc_ms[job.site, nodes[dc] - n_sat]
        total[dc] = finish_ms[dc] + fibre_ms + job.output_mb * sim._fibre_ms_per_mb
    if is_sat.any():
        sats = nodes[is_sat]
        finish_s = sim.time_s + finish_ms[is_sat] * 1e-3
        back = np.empty(sats.size)
        buckets = np.floor(finish_s / sim.config.episode.topology_dt_s)
        for b in np.unique(buckets):
            sel = buckets == b
            snap = sim.network.snapshot(float(finish_s[sel][0]))
            back[sel] = snap.site_delay_ms(job.site)[sats[sel]]
        total[is_sat] = finish_ms[is_sat] + back + job.output_mb * sim._gsl_ms_per_mb
    served = np.isfinite(total)
    w = reward
    energy_j = sim.compute.server_power_w[nodes] * compute_ms * 1e-3
    if w.energy_source != "all":  # battery energy: satellites only, net of the solar surplus while sunlit
        sunlit = np.concatenate([sim.topology.sunlit, np.zeros(sim.n_dc, bool)])[nodes]
        energy_j = np.where(is_sat, sim._battery_need_j(compute_ms, sunlit, sim.compute.server_power_w[nodes]), 0.0)
    ratio = np.where(served, total, 0.0) / job.deadline_ms
    no = np.zeros(nodes.size, dtype=bool)
    r = reward_total(reward_terms(w, served=served, missed=served & (ratio > 1.0), lost=~served, rejected=no,
                                  invalid=no, latency_ratio=ratio, energy_j=energy_j, value=value))
    return float(max(best, r.max()))


def episode_upper_bound(env: Any, seed: int) -> float:
    """Upper bound on the return of any policy on ``env.reset(seed=seed)``'s episode (see the module docstring).

    Resets ``env`` (its current episode is lost) and walks the episode's job stream by rejecting every job, which
    keeps the queues empty and does not change the stream, with the env's own truncation rule.

    Args:
        env: an OrbitCloud env (wrapped or not).
        seed: the episode's seed.
    """
    base = env.unwrapped
    base.reset(seed=seed)
    sim, ep, w = base.sim, base.config.episode, base.config.reward
    total, steps = 0.0, 0
    while sim.job is not None:
        total += job_upper_bound(sim, w)
        sim.observe_arrival()
        sim.place(None)
        steps += 1
        if steps >= ep.max_jobs or (ep.max_time_s > 0 and sim.elapsed_s >= ep.max_time_s):
            break
    return total
