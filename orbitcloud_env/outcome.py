"""What happened to one job: the event clock's record (:class:`Outcome`), shared by the simulator and its fault
handling (:mod:`orbitcloud_env.fault_effects`); ``orbitcloud_env.simulator`` re-exports :class:`Outcome`."""

from __future__ import annotations

from dataclasses import dataclass, field

from orbitcloud_env.metrics import JobOutcome, LatencyBreakdown
from orbitcloud_env.workload import Job

__all__ = ["Outcome", "deadline_outcome"]


@dataclass
class Outcome:
    """What happened to one job (the event clock's record)."""

    job: Job
    node: int  # global node index, -1 when rejected
    outcome: JobOutcome
    latency_ms: float  # [ms] arrival to result back at the site; 0 when rejected or dropped
    breakdown: LatencyBreakdown
    energy_j: float  # [J] compute energy drawn
    route: list[int] = field(default_factory=list)  # satellites from the first hop to the node (render)
    battery_j: float = 0.0  # [J] the part of the energy a satellite's battery had to supply (net of solar surplus)
    #: The node that failed under the job when it was re-placed (``faults.failed_jobs`` "replace"; ``node`` is then
    #: where it ended), else -1.
    replaced_from: int = -1

    @property
    def met_deadline(self) -> bool:
        return self.outcome is JobOutcome.MET


def deadline_outcome(total_ms: float, job: Job) -> JobOutcome:
    """MET when the result is back within ``job``'s deadline (``total_ms`` [ms] from arrival), else MISSED."""
    return JobOutcome.MET if total_ms <= job.deadline_ms else JobOutcome.MISSED
