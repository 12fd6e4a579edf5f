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

The capacity bound (:func:`episode_capacity_bound`; ``u_jn``, ``c_jn`` and ``s_n`` as in its docstring).

**The bound.** Let ``f_j`` be the most job ``j`` can score without being on time (:func:`_not_on_time_max`,
from the shared reward function): the larger of its rejection reward (an invalid action adds a penalty), its
reward late at exactly its deadline with no energy (past the deadline the latency term only falls; the energy
term is never positive) and its reward lost with no energy. Count objective (v0, v1): ``f_j = max(-w_rej,
-w_lat min(1, clip) - w_miss, -w_drop)`` for every job; value objective (v2): rejection forgoes the value, a late
or lost result pays the SLA credit, so ``f_j = -w_rej`` (0). Let ``g_jn = u_jn - f_j`` for the on-time pairs
with ``u_jn > f_j``. For capacity rows ``k`` = (node ``n``, arrival window ``[t, t + L)``, deadline level ``d``)
let ``A_k`` = the pairs of jobs arriving in the window with deadline <= ``d`` on node ``n``, and ``cap_k = s_n
(L + d)``. For any prices ``lambda_k >= 0``::

    B(lambda) = sum_j f_j + sum_k lambda_k cap_k + sum_j max(0, max_n (g_jn - sum_{k: (j, n) in A_k} lambda_k c_jn))

The returned bound is ``min(B(lambda*), B(0), episode_upper_bound)`` with ``lambda*`` the capacity rows' dual
prices of the LP ``max sum g x`` subject to ``sum_n x_jn <= 1`` and the capacity rows (solved by HiGHS on the
``_LP_PAIRS_PER_JOB`` best pairs of each job; any prices would do).

**Proof that no policy's return exceeds it** (same seed, so the same job stream, topology and background: none
depends on the policy). Take any policy's episode; let ``S`` be its on-time jobs, job ``j`` in ``S`` on node
``n(j)``. (1) A job not in ``S`` scores at most ``f_j`` (above). (2) A job in ``S`` scores at most
``u_{j n(j)}``: queueing only adds wait, the other terms are those of the relaxation (the caveat of
:func:`job_upper_bound` on a later bucket's return path applies here too), and its relaxed latency is then within
the deadline, so ``(j, n(j))`` is an on-time pair. Hence return <= ``sum_j f_j + sum_{j in S} g_{j n(j)}`` (pairs
with ``g <= 0`` only lower it). (3) An on-time job occupies one server of ``n(j)`` for ``c_{j n(j)}`` seconds
inside ``[a_j, a_j + D_j]`` (it starts after it arrives, and its result is back by its deadline): so the jobs of
``S`` of row ``k`` run inside ``[t, t + L + d]`` on ``s_n`` servers, ``sum_{j in S, (j, n(j)) in A_k} c_{j n(j)}
<= cap_k``: ``x_jn = [j in S, n = n(j)]`` is feasible for the LP. (4) Weak (Lagrangian) duality: for feasible
``x`` and ``lambda >= 0``, ``sum g x <= sum g x + sum_k lambda_k (cap_k - sum_{A_k} c x) = sum_k lambda_k cap_k +
sum_j sum_n x_jn (g_jn - sum lambda c) <= B(lambda) - sum_j f_j`` since each job has at most one ``x_jn = 1``. So
every ``B(lambda)`` bounds the return, whatever the LP solver returned, and so does the minimum of valid bounds.
``B(0)`` is the per-job bound with jobs not on time valued at ``f_j``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orbitcloud_env.reward import reward_terms
from orbitcloud_env.reward import total as reward_total

__all__ = ["episode_upper_bound", "job_upper_bound", "episode_capacity_bound", "CAPACITY_WINDOWS_S"]


def _relaxed_rewards(sim: Any, reward: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The current job under the relaxation (no wait, full batteries) on each reachable node.

    Returns ``(nodes, reward, ratio, busy_s, value)``: the reachable nodes, the job's reward there (the shared
    reward function, orbitcloud_env/reward.py), its latency / deadline (``inf`` where the result cannot come back),
    the seconds of one server of the node it occupies (the simulator's own compute time: work over the per-server
    rate, over the share a data centre's background load leaves; ``NodeView.compute_ms``) and the job's value.
    """
    job = sim.job
    view = sim.node_view(complete=True)
    n_sat = sim.n_sat
    reachable = np.isfinite(view.inbound_ms) & np.concatenate([sim.topology.sat_ok, np.ones(sim.n_dc, bool)])
    value = sim.job_value(job)
    nodes = np.flatnonzero(reachable)
    if nodes.size == 0:
        empty = np.empty(0)
        return nodes, empty, empty, empty, value
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
    return nodes, np.asarray(r, dtype=np.float64), np.where(served, ratio, np.inf), compute_ms * 1e-3, value


def _reject_reward(reward: Any, value: float) -> float:
    """The reward of rejecting a job of this value (the shared reward function)."""
    return float(reward_total(reward_terms(reward, served=False, missed=False, lost=False, rejected=True,
                                           invalid=False, latency_ratio=0.0, energy_j=0.0, value=value)))


def _not_on_time_max(reward: Any, value: float) -> float:
    """``f``: the most a job of this value can score without being on time (see :func:`episode_capacity_bound`).

    Rejected: the rejection reward (an invalid action adds a penalty). Late: at most the reward of a result exactly
    at its deadline with no energy (the latency term only falls as latency grows past the deadline, and the energy
    term is never positive). Lost (dropped or failed): the lost reward with no energy.
    """
    late = reward_terms(reward, served=True, missed=True, lost=False, rejected=False, invalid=False,
                        latency_ratio=1.0, energy_j=0.0, value=value)
    lost = reward_terms(reward, served=False, missed=False, lost=True, rejected=False, invalid=False,
                        latency_ratio=0.0, energy_j=0.0, value=value)
    return max(_reject_reward(reward, value), float(reward_total(late)), float(reward_total(lost)))


def job_upper_bound(sim: Any, reward: Any) -> float:
    """The relaxed best reward of the simulator's current job (see the module docstring).

    Args:
        sim: a :class:`~orbitcloud_env.simulator.Simulator` after reset, with a current job.
        reward: the scenario's :class:`~orbitcloud_env.config.RewardConfig`.
    """
    _, r, _, _, value = _relaxed_rewards(sim, reward)
    best = _reject_reward(reward, value)
    return float(max(best, r.max())) if r.size else best


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


# ----------------------------------------------------------------------------------------------------------------
# A capacity-aware bound: the same per-job relaxation, plus each node's compute-seconds.

#: [s] lengths of the arrival windows of the capacity constraints (besides one window over the whole episode).
CAPACITY_WINDOWS_S: tuple[float, ...] = (10.0, 60.0)
#: Pairs (job, node) per job given to the LP that prices the capacity (the bound itself counts every pair).
_LP_PAIRS_PER_JOB = 8


#: The reward fields whose terms :func:`episode_capacity_bound` models (its proof's ``f_j`` and ``u_jn``).
_MODELLED_REWARD_FIELDS = frozenset({"latency_weight", "latency_clip", "miss_penalty", "drop_penalty", "reject_penalty",
                                     "invalid_action_penalty", "energy_weight", "energy_scale_j", "energy_source",
                                     "objective", "sla_penalty_fraction"})


def _check_reward_terms(reward: Any) -> None:
    """ValueError (one line) when the reward config has a term the capacity bound does not model and it is on."""
    fields = getattr(reward, "__dataclass_fields__", {})
    extra = sorted(k for k in fields if k not in _MODELLED_REWARD_FIELDS and getattr(reward, k))
    if extra:
        raise ValueError(f"episode_capacity_bound models the reward terms {sorted(_MODELLED_REWARD_FIELDS)}; this "
                         f"env's reward also sets {extra}: its proof does not cover them")


def episode_capacity_bound(env: Any, seed: int, windows_s: tuple[float, ...] = CAPACITY_WINDOWS_S,
                           details: bool = False) -> float | dict[str, Any]:
    """Upper bound on the return of any policy on ``env.reset(seed=seed)``'s episode that also counts each node's
    compute-seconds; never above :func:`episode_upper_bound` (it is the smaller of the two).

    Walks the episode like :func:`episode_upper_bound` (rejecting every job, which keeps the queues empty and does
    not change the job stream) and records, for every job ``j`` and reachable node ``n``, the relaxed reward
    ``u_jn`` (no wait, full batteries, as in :func:`job_upper_bound`), whether the job would be on time there
    (relaxed latency <= deadline) and ``c_jn``, the seconds of one of the node's ``s_n`` servers it occupies.

    The bound and the proof that no policy's return exceeds it: the module docstring ("The capacity
    bound").

    Args:
        env: an OrbitCloud env (wrapped or not); reset (its current episode is lost).
        seed: the episode's seed.
        windows_s: [s] arrival-window lengths of the capacity rows (the whole episode is always one window).
        details: return a dict (``bound``, ``relaxation``, ``lagrangian``, ``no_capacity``, ``n_pairs``, ``n_rows``)
            instead of the number.
    """
    base = env.unwrapped
    _check_reward_terms(base.config.reward)
    base.reset(seed=seed)
    sim = base.sim
    walk = _walk_pairs(sim, base.config.episode, base.config.reward)
    row, col, cap = _capacity_rows(walk, sim.compute.servers.astype(np.float64), sim.n_nodes, windows_s)
    no_capacity = _lagrangian(walk, row, col, cap, np.zeros(cap.size))
    lagr = _lagrangian(walk, row, col, cap, _dual_prices(walk, row, col, cap))
    bound = min(lagr, no_capacity, walk.relaxation)
    if details:
        return {"bound": bound, "relaxation": walk.relaxation, "lagrangian": lagr, "no_capacity": no_capacity,
                "n_pairs": int(walk.gain.size), "n_rows": int(cap.size), "n_jobs": walk.n_jobs}
    return bound


class _Pairs:
    """:func:`episode_capacity_bound`'s walk of the episode: per job, the most it scores without being on time
    (``f_sum``, their sum), its arrival [s from the first] and deadline [s]; per on-time pair (job, node) whose
    relaxed reward beats that, its ``gain`` over it and ``busy`` [server-seconds]; ``relaxation``: the per-job
    bound (:func:`job_upper_bound` summed)."""

    __slots__ = ("relaxation", "n_jobs", "f_sum", "arrival", "deadline_s", "job_of", "node_of", "gain", "busy")


def _walk_pairs(sim: Any, ep: Any, w: Any) -> _Pairs:
    """Walk the episode rejecting every job (queues stay empty, the job stream is unchanged); see :class:`_Pairs`."""
    relaxation, steps = 0.0, 0
    f_job: list[float] = []
    p_job, p_node, p_gain, p_busy = [], [], [], []
    arrival, deadline_s = [], []
    t0 = sim.time_s
    while sim.job is not None:
        job = sim.job
        nodes, r, ratio, busy, value = _relaxed_rewards(sim, w)
        best = _reject_reward(w, value)
        relaxation += float(max(best, r.max())) if r.size else best  # job_upper_bound of this job
        f = _not_on_time_max(w, value)
        f_job.append(f)
        keep = (ratio <= 1.0) & (r > f)
        j = len(arrival)
        arrival.append(job.time_s - t0)
        deadline_s.append(job.deadline_ms * 1e-3)
        p_job.append(np.full(int(keep.sum()), j))
        p_node.append(nodes[keep])
        p_gain.append(r[keep] - f)
        p_busy.append(busy[keep])
        sim.observe_arrival()
        sim.place(None)
        steps += 1
        if steps >= ep.max_jobs or (ep.max_time_s > 0 and sim.elapsed_s >= ep.max_time_s):
            break
    out = _Pairs()
    out.relaxation, out.n_jobs, out.f_sum = relaxation, len(arrival), float(np.sum(f_job))
    out.arrival, out.deadline_s = np.asarray(arrival), np.asarray(deadline_s)
    out.job_of, out.node_of = np.concatenate(p_job).astype(np.int64), np.concatenate(p_node).astype(np.int64)
    out.gain, out.busy = np.concatenate(p_gain), np.concatenate(p_busy)
    return out


def _capacity_rows(walk: _Pairs, servers: np.ndarray, n_nodes: int,
                   windows_s: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The capacity rows, one per (window scale, window index, deadline level, node); a pair joins every level >= its
    deadline. Returns (row of each entry, pair of each entry, each row's capacity [server-seconds])."""
    dl, arrival_a, job_of, node_of = walk.deadline_s, walk.arrival, walk.job_of, walk.node_of
    levels = np.unique(dl)  # any levels are valid; a few keep the LP small
    if levels.size > 8:
        levels = np.unique(np.quantile(dl, [0.25, 0.5, 0.75, 1.0]))
    span = float(arrival_a.max(initial=0.0)) + 1e-9
    rows_of_pair, pair_idx, caps = [], [], []
    n_rows = 0
    for scale in (*windows_s, span):
        win = np.floor(arrival_a[job_of] / scale).astype(np.int64)
        for d in levels:
            sel = np.flatnonzero(dl[job_of] <= d)
            key = (win[sel] * n_nodes + node_of[sel])
            uniq, inv = np.unique(key, return_inverse=True)
            rows_of_pair.append(n_rows + inv)
            pair_idx.append(sel)
            caps.append(servers[uniq % n_nodes] * (scale + d))
            n_rows += uniq.size
    row = np.concatenate(rows_of_pair) if rows_of_pair else np.empty(0, np.int64)
    col = np.concatenate(pair_idx) if pair_idx else np.empty(0, np.int64)
    cap = np.concatenate(caps) if caps else np.empty(0)
    return row, col, cap


def _lagrangian(walk: _Pairs, row: np.ndarray, col: np.ndarray, cap: np.ndarray, lam: np.ndarray) -> float:
    """``B(lambda)`` of the module docstring for the row prices ``lam``."""
    gain, busy = walk.gain, walk.busy
    if gain.size == 0:
        return walk.f_sum
    priced = gain - np.bincount(col, weights=lam[row] * busy[col], minlength=gain.size)
    best = np.zeros(walk.n_jobs)
    np.maximum.at(best, walk.job_of, priced)
    return float(walk.f_sum + lam @ cap + best.sum())


def _dual_prices(walk: _Pairs, row: np.ndarray, col: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """The capacity rows' dual prices of the LP on each job's ``_LP_PAIRS_PER_JOB`` best pairs (HiGHS; prices from a
    smaller LP are still valid prices); zeros when there is no pair or row, or the solver fails."""
    from scipy import sparse
    from scipy.optimize import linprog

    n_rows, n_jobs = cap.size, walk.n_jobs
    gain, busy, job_of = walk.gain, walk.busy, walk.job_of
    lam = np.zeros(n_rows)
    if gain.size and n_rows:
        order = np.lexsort((-gain, job_of))
        rank = np.arange(order.size) - np.searchsorted(job_of[order], job_of[order])
        top = np.zeros(gain.size, bool)
        top[order[rank < _LP_PAIRS_PER_JOB]] = True
        keep_cols = np.flatnonzero(top)
        remap = np.full(gain.size, -1)
        remap[keep_cols] = np.arange(keep_cols.size)
        sel = top[col]
        a_cap = sparse.csr_matrix((busy[col[sel]], (row[sel], remap[col[sel]])), shape=(n_rows, keep_cols.size))
        a_job = sparse.csr_matrix((np.ones(keep_cols.size), (job_of[keep_cols], np.arange(keep_cols.size))),
                                  shape=(n_jobs, keep_cols.size))
        res = linprog(-gain[keep_cols], A_ub=sparse.vstack([a_cap, a_job]).tocsr(),
                      b_ub=np.concatenate([cap, np.ones(n_jobs)]), bounds=(0, None), method="highs")
        if res.status == 0 and res.ineqlin is not None:
            lam = np.maximum(-np.asarray(res.ineqlin.marginals[:n_rows], dtype=np.float64), 0.0)
    return lam
