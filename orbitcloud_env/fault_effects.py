"""What the faults of the ``faults`` section do to the simulation (docs/faults.md): nodes and paths out of reach,
queued jobs lost when their node goes down, a job's failure before its compute ends, and the re-placing of failed
jobs (``faults.failed_jobs`` "replace").

The chains themselves (which element is down in which topology bucket) are :class:`orbitcloud_env.faults.FaultProcess`;
this module reads them on behalf of the :class:`~orbitcloud_env.simulator.Simulator`, which holds one
:class:`FaultEffects` when the section enables something (None otherwise, so nothing here runs on a scenario
without faults).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.faults import FaultProcess
from orbitcloud_env.metrics import JobOutcome, LatencyBreakdown
from orbitcloud_env.outcome import Outcome, deadline_outcome
from orbitcloud_env.workload import Job

if TYPE_CHECKING:
    from orbitcloud_env.simulator import Simulator, TopologyState

__all__ = ["FaultEffects", "ran_ms"]


def ran_ms(start_s: float, finish_s: float, fail_s: float) -> float:
    """[ms] compute done between ``start_s`` and ``finish_s`` before a failure at ``fail_s``."""
    return min(max(fail_s - start_s, 0.0), finish_s - start_s) * 1e3


class FaultEffects:
    """The effects of ``process``'s faults on ``sim`` (the simulator that holds this; its clock, queues, ground
    geometry and current topology bucket are read at each call).

    Args:
        sim: the simulator.
        process: its fault chains (``sim.faults``).
    """

    def __init__(self, sim: Simulator, process: FaultProcess) -> None:
        self.sim = sim
        self.process = process
        self.dt_s = sim.config.episode.topology_dt_s

    def hook(self, bucket: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """For the network's snapshot of ``bucket`` (``Network.fault_hook``): (satellites down (N,), sites whose
        ground links are down (S,))."""
        fs = self.process.state(bucket)
        return fs.satellite, fs.ground_link

    def restrict_reach(self, site: int, reach: NDArray[np.bool_]) -> None:
        """Data centres in an outage, or behind a cut fibre path from ``site``, are unreachable (in place)."""
        fs = self.sim.topology.faults
        reach[self.sim.n_sat:] &= ~(fs.datacentre | fs.fibre[site])

    def flush(self, previous: TopologyState | None, bucket_start_s: float) -> None:
        """Nodes that went down on entering the current bucket lose the jobs they hold (those jobs are ``failed`` or,
        with ``faults.failed_jobs`` "replace", re-placed: both settled when they were placed)."""
        down = self.sim.topology.faults.node_down()
        if previous is not None and previous.faults is not None:
            down &= ~previous.faults.node_down()
        if down.any():
            self.sim.compute.fail_nodes(np.flatnonzero(down), bucket_start_s)

    def node_fails(self, node: int, finish_s: float) -> bool:
        """True when ``node`` is down in any topology bucket from now to the one in which the job's compute ends."""
        return self.failure_s(node, finish_s) is not None

    def failure_s(self, node: int, finish_s: float, from_s: float | None = None) -> float | None:
        """[s] when ``node`` fails before the compute it finishes at ``finish_s`` ends: the start of the first bucket
        from ``from_s`` (default now) in which it is down, or ``from_s`` itself when it is down in that bucket;
        None when it stays up."""
        dt = self.dt_s
        from_s = self.sim.time_s if from_s is None else from_s
        b = self.process.first_down_bucket(node, math.floor(from_s / dt), math.floor(finish_s / dt))
        return None if b is None else max(b * dt, from_s)

    def replace(self, job: Job, failed_node: int, fail_s: float, energy_j: float, battery_j: float) -> Outcome:
        """``faults.failed_jobs`` "replace": ``failed_node`` failed at ``fail_s`` [s] under ``job``; re-send the job
        from its site to the data centre of earliest estimated finish among those up, reachable from the site and
        not full at that time, and run it there from scratch (again if that region fails too; each region once).
        ``energy_j`` / ``battery_j`` [J]: what the failed node drew; the new runs add theirs. FAILED when no
        region can take the job. docs/faults.md."""
        sim = self.sim
        n, site, dt = sim.n_sat, job.site, self.dt_s
        comp = sim.compute
        fibre_ms = sim.site_dc_ms[site]
        tx_in, tx_out = job.input_mb * sim._fibre_ms_per_mb, job.output_mb * sim._fibre_ms_per_mb
        tried = np.zeros(sim.n_dc, bool)
        node = failed_node
        while True:
            bucket = math.floor(fail_s / dt)
            fs = self.process.state(bucket)
            ok = ~(fs.datacentre | fs.fibre[site] | tried) & (comp.held[n:] < comp.queue_limit[n:])
            if not ok.any():
                return Outcome(job, node, JobOutcome.FAILED, 0.0, LatencyBreakdown(), energy_j, battery_j=battery_j,
                               replaced_from=failed_node if node != failed_node else -1)
            share = 1.0 - (sim.background.utilisation(bucket * dt) if sim.background is not None
                           else np.zeros(sim.n_dc))  # our share of a region's server (as in the view)
            arrival_s = fail_s + (fibre_ms + tx_in) * 1e-3
            start_s = np.maximum(arrival_s, comp.free_at_s[n:])
            est_s = start_s + job.work_gflop / share * comp.seconds_per_gflop[n:] + (fibre_ms + tx_out) * 1e-3
            d = int(np.argmin(np.where(ok, est_s, np.inf)))
            node, share_d, tried[d] = n + d, float(share[d]), True
            start_s, finish_s = comp.place(node, float(arrival_s[d]), job.work_gflop / share_d)
            failed_again_s = self.failure_s(node, finish_s, fail_s)
            if failed_again_s is not None:
                energy_j += comp.energy_j(node, ran_ms(start_s, finish_s, failed_again_s) * 1e-3 * share_d)
                fail_s = failed_again_s
                continue
            energy_j += comp.energy_j(node, (finish_s - start_s) * share_d)
            return self._replaced_run(job, node, failed_node, d, fail_s, float(arrival_s[d]), start_s, finish_s,
                                      energy_j, battery_j)

    def _replaced_run(self, job: Job, node: int, failed_node: int, d: int, fail_s: float, arrival_s: float,
                      start_s: float, finish_s: float, energy_j: float, battery_j: float) -> Outcome:
        """The outcome of :meth:`replace`'s run on region ``d`` (global ``node``), which stays up until its compute
        ends; the time from arrival to the failure (spent on the failed node) counts as queue."""
        sim = self.sim
        t, site = sim.time_s, job.site
        fibre_d = float(sim.site_dc_ms[site][d])
        tx_in, tx_out = job.input_mb * sim._fibre_ms_per_mb, job.output_mb * sim._fibre_ms_per_mb
        parts = dict(uplink_ms=fibre_d, transfer_ms=tx_in + tx_out,
                     queue_ms=(fail_s - t) * 1e3 + (start_s - arrival_s) * 1e3,
                     compute_ms=(finish_s - start_s) * 1e3)
        if self.process.state(math.floor(finish_s / self.dt_s)).fibre[site, d]:
            return Outcome(job, node, JobOutcome.DROPPED, 0.0, LatencyBreakdown(**parts), energy_j,
                           battery_j=battery_j, replaced_from=failed_node)
        total = (finish_s - t) * 1e3 + fibre_d + tx_out
        return Outcome(job, node, deadline_outcome(total, job), total,
                       LatencyBreakdown(**parts, return_ms=fibre_d, total_ms=total), energy_j,
                       battery_j=battery_j, replaced_from=failed_node)

    def datacentre_outcome(self, job: Job, node: int, finish_s: float) -> JobOutcome | None:
        """FAILED (region outage before the compute ends), DROPPED (the site's fibre path to the region is cut when
        the result returns), or None (neither)."""
        if self.node_fails(node, finish_s):
            return JobOutcome.FAILED
        fs = self.process.state(math.floor(finish_s / self.dt_s))
        if fs.fibre[job.site, node - self.sim.n_sat]:
            return JobOutcome.DROPPED
        return None
