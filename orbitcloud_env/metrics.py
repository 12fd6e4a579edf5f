"""What happened to each job, and the episode metrics computed from it: one definition for the env and evaluation.

No Gymnasium here. A job's fate is a :class:`JobOutcome`; its latency is a :class:`LatencyBreakdown` [ms]; the
episode metrics are one pure function, :func:`episode_metrics`, of the per-job records (the env's running
:class:`EpisodeStats` and ``agents``' evaluation both call it). Definitions: docs/env_contract.md.
"""

from __future__ import annotations

import enum
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

__all__ = ["JobOutcome", "LatencyBreakdown", "EpisodeStats", "episode_metrics", "value_metrics", "METRIC_KEYS",
           "FAULT_METRIC_KEYS", "VALUE_METRIC_KEYS", "CLASS_VALUE_KEYS", "CLASS_COUNT_KEYS"]


class JobOutcome(str, enum.Enum):
    """The fate of one job (a ``str`` enum: ``JobOutcome.MET == "met"``).

    - ``MET``: served, result back at the user's site within the deadline;
    - ``MISSED``: served, but after the deadline;
    - ``DROPPED``: computed, but the result could not be returned (no path at the finish time);
    - ``FAILED``: placed, but its node failed before the compute ended and the job is lost (only with the
      ``faults`` section on; with ``faults.failed_jobs`` "replace" a job is lost only when no data centre can take
      it, else its fate is that of its new run; see docs/faults.md);
    - ``REJECTED``: not placed (the reject action, or an invalid one).

    ``met + missed + dropped + failed + rejected = n_jobs``.
    """

    MET = "met"
    MISSED = "missed"
    DROPPED = "dropped"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def served(self) -> bool:
        """True when the job ran and its result came back (met or missed)."""
        return self in (JobOutcome.MET, JobOutcome.MISSED)

    @property
    def placed(self) -> bool:
        """True when the job was placed on a node (everything but a rejection)."""
        return self is not JobOutcome.REJECTED


@dataclass(frozen=True, slots=True)
class LatencyBreakdown:
    """Where a job's time went, each in [ms] (event clock); zeros for a rejected job.

    ``total_ms`` is arrival to result back at the site; 0 when the result was dropped. For a data centre, uplink
    and return are the one-way fibre delay and ``isl_ms`` is 0.
    """

    uplink_ms: float = 0.0
    isl_ms: float = 0.0
    transfer_ms: float = 0.0
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    return_ms: float = 0.0
    total_ms: float = 0.0

    #: Keys of :meth:`as_dict` (``info["latency_breakdown_ms"]``), in order.
    KEYS = ("uplink", "isl", "transfer", "queue", "compute", "return", "total")

    def as_dict(self) -> dict[str, float]:
        """``{"uplink": ms, "isl": ms, ...}``: the env's ``info["latency_breakdown_ms"]``."""
        return {"uplink": self.uplink_ms, "isl": self.isl_ms, "transfer": self.transfer_ms,
                "queue": self.queue_ms, "compute": self.compute_ms, "return": self.return_ms,
                "total": self.total_ms}


#: Keys of :func:`episode_metrics`, in order.
METRIC_KEYS: tuple[str, ...] = (
    "n_jobs", "mean_latency_ms", "median_latency_ms", "p95_latency_ms", "deadline_miss_rate", "rejection_rate",
    "drop_rate", "success_rate", "energy_j_per_job", "orbital_share", "episode_return", "elapsed_s",
)
#: Keys :func:`episode_metrics` adds with ``faults=True`` (scenarios whose ``faults`` section enables a fault
#: kind; kept out of the others so that their metrics stay as they were).
FAULT_METRIC_KEYS: tuple[str, ...] = ("failure_rate", "replaced_rate")
#: Totals :func:`value_metrics` reports under the value objective (``reward.objective: value``, the v2 ids) [value
#: units]; each is also reported per job class as ``<key>.<class>``, with the counts ``met.<class>``,
#: ``late.<class>`` (missed, dropped or failed) and ``rejected.<class>``. Other scenarios' metrics stay as they were.
VALUE_METRIC_KEYS: tuple[str, ...] = ("value_offered", "value_earned", "value_forfeited", "value_rejected",
                                      "sla_paid", "value_earned_share")
#: Per-class value sums (columns of ``EpisodeStats.class_value``) and counts (``class_count``), in order.
CLASS_VALUE_KEYS: tuple[str, ...] = ("value_earned", "value_forfeited", "value_rejected", "sla_paid")
CLASS_COUNT_KEYS: tuple[str, ...] = ("met", "late", "rejected")


def episode_metrics(outcomes: Sequence[JobOutcome | str], served_latency_ms: Iterable[float],
                    placed_energy_j: Iterable[float], orbital_served: int,
                    episode_return: float, elapsed_s: float = 0.0, faults: bool = False,
                    replaced: int = 0) -> dict[str, float]:
    """The episode metrics of docs/env_contract.md from per-job records.

    Args:
        outcomes: every decided job's outcome, in order.
        served_latency_ms: [ms] total latency of each served (met or missed) job.
        placed_energy_j: [J] compute energy of each placed (not rejected) job; summed in order.
        orbital_served: [-] served jobs that ran on a satellite.
        episode_return: [-] sum of the rewards.
        elapsed_s: [s] simulated time from the episode's start to its end.
        faults: add the keys of :data:`FAULT_METRIC_KEYS` (``failure_rate`` = failed / n_jobs, the jobs lost to a
            node failure; ``replaced_rate`` = replaced / n_jobs); failed jobs count in ``deadline_miss_rate``
            either way.
        replaced: [-] jobs whose node failed and that ended on another node (``faults.failed_jobs`` "replace"),
            met, missed or dropped there; each is counted by that outcome too. Jobs hit by a node failure =
            failed + replaced.

    Returns:
        ``{key: float}`` with the keys of :data:`METRIC_KEYS` (then :data:`FAULT_METRIC_KEYS` with ``faults``).
        Rates over no jobs are 0.
    """
    counts = {o: 0 for o in JobOutcome}
    for o in outcomes:
        counts[JobOutcome(o)] += 1
    n_jobs = sum(counts.values())
    met, missed = counts[JobOutcome.MET], counts[JobOutcome.MISSED]
    dropped, rejected = counts[JobOutcome.DROPPED], counts[JobOutcome.REJECTED]
    failed = counts[JobOutcome.FAILED]
    n = max(n_jobs, 1)
    placed = n_jobs - rejected
    served = met + missed
    lat = np.asarray(served_latency_ms if isinstance(served_latency_ms, (array, np.ndarray))
                     else list(served_latency_ms), dtype=np.float64)
    energy_j = sum(placed_energy_j, 0.0)  # in order, as a running sum
    out = {
        "n_jobs": float(n_jobs),
        "mean_latency_ms": float(lat.mean()) if lat.size else 0.0,
        "median_latency_ms": float(np.median(lat)) if lat.size else 0.0,
        "p95_latency_ms": float(np.percentile(lat, 95)) if lat.size else 0.0,
        "deadline_miss_rate": (missed + dropped + failed) / placed if placed else 0.0,
        "rejection_rate": rejected / n,
        "drop_rate": dropped / n,
        "success_rate": met / n,
        "energy_j_per_job": energy_j / placed if placed else 0.0,
        "orbital_share": orbital_served / served if served else 0.0,
        "episode_return": float(episode_return),
        "elapsed_s": float(elapsed_s),
    }
    if faults:
        out["failure_rate"] = failed / n
        out["replaced_rate"] = replaced / n
    return out


def value_metrics(class_names: Sequence[str], class_value: np.ndarray, class_count: np.ndarray) -> dict[str, float]:
    """Per-class value totals of an episode under the value objective (keys in :data:`VALUE_METRIC_KEYS`).

    Args:
        class_names: the job classes' names (C).
        class_value: [value units] (C, 4) per class: value of the jobs met (earned), late or lost (forfeited),
            rejected, and the SLA credits paid (columns :data:`CLASS_VALUE_KEYS`).
        class_count: [jobs] (C, 3) per class: jobs met, late or lost, rejected (columns :data:`CLASS_COUNT_KEYS`).

    Returns:
        The totals (``value_offered`` = earned + forfeited + rejected; ``value_earned_share`` = earned / offered,
        0 with nothing offered), then ``<key>.<class>`` for each per-class sum and count.
    """
    earned, forfeited, rejected, sla = (float(x) for x in class_value.sum(axis=0))
    offered = earned + forfeited + rejected
    out = {"value_offered": offered, "value_earned": earned, "value_forfeited": forfeited,
           "value_rejected": rejected, "sla_paid": sla, "value_earned_share": earned / offered if offered else 0.0}
    for c, name in enumerate(class_names):
        out.update({f"{key}.{name}": float(class_value[c, k]) for k, key in enumerate(CLASS_VALUE_KEYS)})
        out.update({f"{key}.{name}": float(class_count[c, k]) for k, key in enumerate(CLASS_COUNT_KEYS)})
    return out


@dataclass
class EpisodeStats:
    """Running per-job records of an episode (compact arrays), turned into metrics by :func:`episode_metrics`."""

    outcomes: list[JobOutcome] = field(default_factory=list)
    latencies_ms: array = field(default_factory=lambda: array("d"))  # [ms] served jobs
    energies_j: array = field(default_factory=lambda: array("d"))  # [J] placed jobs
    orbital_served: int = 0
    episode_return: float = 0.0
    elapsed_s: float = 0.0  # [s] simulated time since the episode's start (set by the simulator)
    #: Report :data:`FAULT_METRIC_KEYS` too (the simulator sets it when the scenario's faults are on).
    faults: bool = False
    #: [-] jobs whose node failed and that ended on another node (``faults.failed_jobs`` "replace"; not failed).
    replaced: int = 0
    #: Job class names when the scenario's objective is "value" (then :meth:`metrics` adds
    #: :func:`value_metrics`); empty otherwise.
    class_names: tuple[str, ...] = ()
    #: [-] share of a late or lost job's value paid as an SLA credit (``reward.sla_penalty_fraction``).
    sla_penalty_fraction: float = 0.0
    #: [value units] (C, 4) and [jobs] (C, 3): per-class sums and counts (see :func:`value_metrics`).
    class_value: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    class_count: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        n = len(self.class_names)
        if self.class_value.shape[0] != n:
            self.class_value = np.zeros((n, len(CLASS_VALUE_KEYS)))
            self.class_count = np.zeros((n, len(CLASS_COUNT_KEYS)))

    @property
    def n_jobs(self) -> int:
        return len(self.outcomes)

    def record(self, outcome: JobOutcome, latency_ms: float, energy_j: float, is_ground: bool,
               replaced: bool = False, job_class: int = -1, value: float = 0.0) -> None:
        """Add one decided job (``is_ground``: it ended on a data centre; ``replaced``: its node failed and it was
        re-placed, counted when it was not lost after all; ``job_class`` and ``value`` [value units]: its class
        index and value, counted when :attr:`class_names` is set)."""
        self.outcomes.append(outcome)
        if self.class_names:
            k = 0 if outcome is JobOutcome.MET else (2 if outcome is JobOutcome.REJECTED else 1)
            self.class_value[job_class, k] += value
            self.class_count[job_class, k] += 1
            if k == 1:
                self.class_value[job_class, 3] += self.sla_penalty_fraction * value
        self.replaced += bool(replaced) and outcome is not JobOutcome.FAILED
        if outcome is JobOutcome.REJECTED:
            return
        self.energies_j.append(energy_j)
        if outcome is JobOutcome.DROPPED or outcome is JobOutcome.FAILED:
            return
        self.latencies_ms.append(latency_ms)
        if not is_ground:
            self.orbital_served += 1

    def get_state(self) -> tuple:
        """How far the records reach and the running totals, for :meth:`set_state` (records are only appended, so
        a restore truncates them: nothing is copied)."""
        return (len(self.outcomes), len(self.latencies_ms), len(self.energies_j), self.orbital_served,
                self.episode_return, self.replaced, self.class_value.copy(), self.class_count.copy())

    def set_state(self, state: tuple) -> None:
        """Return to a state from :meth:`get_state` of this episode (records added since are dropped)."""
        n_out, n_lat, n_en, self.orbital_served, self.episode_return, self.replaced, value, count = state
        del self.outcomes[n_out:], self.latencies_ms[n_lat:], self.energies_j[n_en:]
        self.class_value, self.class_count = value.copy(), count.copy()

    def metrics(self) -> dict[str, float]:
        """The episode metrics so far (definitions in docs/env_contract.md)."""
        out = episode_metrics(self.outcomes, self.latencies_ms, self.energies_j, self.orbital_served,
                              self.episode_return, self.elapsed_s, faults=self.faults, replaced=self.replaced)
        if self.class_names:
            out.update(value_metrics(self.class_names, self.class_value, self.class_count))
        return out
