"""Per-episode metrics of an evaluation episode, from the env's per-step ``info`` dicts (docs/env_contract.md).

The metrics the env also reports (``orbitcloud_env.metrics.METRIC_KEYS``: return, latencies, miss / rejection /
drop / success rates, energy per job, orbital share) come from the one definition,
:func:`orbitcloud_env.metrics.episode_metrics`, fed through the same :class:`~orbitcloud_env.metrics.EpisodeStats`
the simulator keeps; so they equal the env's final-step ``info["episode_metrics"]`` exactly. The evaluation's
extras are computed here: per-region mean latency, Jain's index over the regions, the invalid-action rate and the
sum of each named reward term.

Clocks: latencies are per job on the event clock [ms]; ``time_s`` is simulated seconds since reset.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from agents.evaluating.stats import jain_index
from orbitcloud_env.ground import REGION_NAMES, REGIONS, region_of
from orbitcloud_env.metrics import CLASS_COUNT_KEYS, CLASS_VALUE_KEYS, VALUE_METRIC_KEYS, EpisodeStats, JobOutcome

__all__ = [
    "MetricInfo",
    "METRICS",
    "REGIONS",
    "REGION_NAMES",
    "region_of",
    "region_column",
    "EpisodeResult",
    "EpisodeRecorder",
    "episode_metrics_from_infos",
]


@dataclass(frozen=True)
class MetricInfo:
    """How a per-episode metric is labelled and compared.

    Args:
        label: human-readable name for tables and plots.
        unit: display unit ("" for none; "%" means the stored value is a fraction shown as per cent).
        higher_is_better: direction used by the probability of improvement (None: no preferred direction; treated
            as higher when chosen as the score metric).
        description: one-line definition (written to summary.json).
    """

    label: str
    unit: str
    higher_is_better: bool | None
    description: str


METRICS: dict[str, MetricInfo] = {
    "episode_return": MetricInfo("Return", "", True, "sum of rewards over the episode"),
    "elapsed_s": MetricInfo("Simulated time", "s", None, "simulated seconds from reset to the episode's end"),
    "mean_latency_ms": MetricInfo("Mean latency", "ms", False, "mean total latency of served jobs"),
    "median_latency_ms": MetricInfo("Median latency", "ms", False, "median total latency of served jobs"),
    "p95_latency_ms": MetricInfo("P95 latency", "ms", False, "95th percentile latency of served jobs"),
    "deadline_miss_rate": MetricInfo("Deadline-miss rate", "%", False, "(missed + dropped) / placed"),
    "rejection_rate": MetricInfo("Rejection rate", "%", False, "rejected / jobs"),
    "drop_rate": MetricInfo("Drop rate", "%", False, "dropped / jobs"),
    "success_rate": MetricInfo("Success rate", "%", True, "met / jobs"),
    "energy_j_per_job": MetricInfo("Energy per job", "J", False, "energy of all jobs / placed"),
    "orbital_share": MetricInfo("Orbital share", "%", None, "served on satellites / served"),
    "jain_fairness": MetricInfo("Jain fairness (regions)", "", True,
                                "Jain's index over the regions' mean latencies"),
    "invalid_action_rate": MetricInfo("Invalid-action rate", "%", False, "invalid (masked-out) actions / jobs"),
    "n_jobs": MetricInfo("Jobs", "", None, "jobs decided in the episode"),
    # Value objective only (reward.objective "value", the v2 ids; orbitcloud_env.metrics.VALUE_METRIC_KEYS), each
    # also per job class as "<key>.<class>" with the counts "met.<class>", "late.<class>", "rejected.<class>".
    "value_offered": MetricInfo("Value offered", "", None, "value of every job decided [value units]"),
    "value_earned": MetricInfo("Value earned", "", True, "value of the jobs met [value units]"),
    "value_forfeited": MetricInfo("Value forfeited (late)", "", False,
                                  "value of the jobs late or lost [value units]"),
    "value_rejected": MetricInfo("Value rejected", "", None, "value of the jobs rejected [value units]"),
    "sla_paid": MetricInfo("SLA paid", "", False, "SLA credits paid for late or lost jobs [value units]"),
    "value_earned_share": MetricInfo("Value earned", "%", True, "value earned / value offered"),
}

# ----------------------------------------------------------------------------------------------------------------
# Regions: continent-like latitude/longitude boxes (defined in orbitcloud_env.ground, which the multi-agent env's
# grouping also uses).


def region_column(name: str) -> str:
    """Column name of a region's mean latency in episodes.csv, e.g. ``region_latency_ms.north_america``."""
    return "region_latency_ms." + name.lower().replace(" ", "_")


# ----------------------------------------------------------------------------------------------------------------
# One episode's result


@dataclass
class EpisodeResult:
    """One policy's evaluation episode (or, for a reference row such as the upper bound, its return only).

    Attributes:
        policy: the policy's label; episode: index ``i``; seed: ``seed + i`` passed to ``env.reset``.
        metrics: per-episode scalar metrics (keys of :data:`METRICS`, plus ``reward.<term>`` sums); a reference
            row has ``episode_return`` only.
        region_latency_ms: [ms] mean latency of served jobs per region (NaN where the region had none).
        latencies_ms: [ms] total latency of every served job, in arrival order (for CDFs).
        workload_digest: SHA-1 of the job stream (job id, class, site, deadline, time); equal across policies when
            seeds are paired ("" for a reference row).
        jobs: ``(job_id, site, time_s)`` of every decided job (for tests and debugging).
        wall_s: [s] wall-clock time of the rollout; steps: agent steps.
        reference: True for a reference row (``upper-bound``) that is not a policy.
    """

    policy: str
    episode: int
    seed: int
    metrics: dict[str, float]
    region_latency_ms: dict[str, float]
    latencies_ms: np.ndarray
    workload_digest: str
    jobs: list[tuple[int, int, float]] = field(default_factory=list)
    wall_s: float = 0.0
    steps: int = 0
    reference: bool = False

    def row(self) -> dict[str, Any]:
        """Flat dict for episodes.csv."""
        out: dict[str, Any] = {"policy": self.policy, "episode": self.episode, "seed": self.seed}
        out.update(self.metrics)
        for name in REGION_NAMES:
            out[region_column(name)] = self.region_latency_ms.get(name, math.nan)
        out.update({"steps": self.steps, "wall_s": self.wall_s, "workload_digest": self.workload_digest})
        return out


class EpisodeRecorder:
    """Accumulates ``(reward, info)`` per step and turns them into per-episode metrics.

    The env's own metrics go through :class:`orbitcloud_env.metrics.EpisodeStats` (the simulator's record, fed
    from the same per-step fields), the extras through the lists kept here.
    """

    def __init__(self) -> None:
        self.stats = EpisodeStats()
        self.served_regions: list[str] = []  # region of each served job, aligned with stats.latencies_ms
        self.n_invalid = 0
        self.reward_terms: dict[str, float] = {}
        self.jobs: list[tuple[int, int, float]] = []
        self._digest = hashlib.sha1()
        #: The value objective's totals and per-class keys, from the env's final ``info["episode_metrics"]``.
        self.value_metrics: dict[str, float] = {}

    def add(self, reward: float, info: Mapping[str, Any]) -> None:
        """Record one step: its reward and the env's ``info`` (docs/env_contract.md).

        Raises:
            ValueError: ``info["outcome"]`` is not a :class:`~orbitcloud_env.metrics.JobOutcome` value.
        """
        try:
            outcome = JobOutcome(info["outcome"])
        except ValueError:
            raise ValueError(f"info['outcome'] must be one of {[o.value for o in JobOutcome]}, "
                             f"got {info['outcome']!r}") from None
        self.stats.record(outcome, float(info.get("latency_ms", 0.0)), float(info.get("energy_j", 0.0)),
                          bool(info.get("is_ground", False)), int(info.get("replaced_from", -1)) >= 0)
        self.stats.episode_return += float(reward)
        if "episode_metrics" in info:
            em = info["episode_metrics"]
            self.stats.elapsed_s = float(em.get("elapsed_s", 0.0))
            self.value_metrics = {k: float(v) for k, v in em.items() if _is_value_metric(k)}
        if outcome.served:
            self.served_regions.append(region_of(info["site_lat_deg"], info["site_lon_deg"]))
        self.n_invalid += bool(info.get("invalid_action", False))
        for term, value in (info.get("rewards") or {}).items():
            self.reward_terms[term] = self.reward_terms.get(term, 0.0) + float(value)
        job = (int(info.get("job_id", len(self.jobs))), int(info.get("site", -1)), float(info.get("time_s", 0.0)))
        self.jobs.append(job)
        key = (job[0], str(info.get("job_class", "")), job[1], round(float(info.get("deadline_ms", 0.0)), 6),
               round(job[2], 6))
        self._digest.update(repr(key).encode())

    @property
    def digest(self) -> str:
        """SHA-1 of the job stream so far (hex)."""
        return self._digest.hexdigest()

    def metrics(self) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
        """Returns ``(metrics, region_latency_ms, served_latencies_ms)``; conventions as the env contract."""
        shared = self.stats.metrics()
        lat = np.asarray(self.stats.latencies_ms, dtype=np.float64)
        regions = np.array(self.served_regions, dtype=object)
        region_latency = {name: float(np.mean(lat[regions == name])) if np.any(regions == name) else math.nan
                          for name in REGION_NAMES}
        present = [v for v in region_latency.values() if not math.isnan(v)]
        n = self.stats.n_jobs
        extras = {"jain_fairness": jain_index(present) if present else 1.0,
                  "invalid_action_rate": self.n_invalid / n if n else 0.0}
        m = {k: shared[k] if k in shared else extras[k] for k in METRICS  # columns in METRICS order
             if k not in VALUE_METRIC_KEYS}
        m.update(self.value_metrics)  # value objective only: its totals, then per class
        for term in sorted(self.reward_terms):
            m[f"reward.{term}"] = self.reward_terms[term]
        return m, region_latency, lat


def _is_value_metric(key: str) -> bool:
    """A key of the value objective's episode metrics (a total, or ``<total or count>.<class>``)."""
    return key in VALUE_METRIC_KEYS or key.split(".", 1)[0] in CLASS_VALUE_KEYS + CLASS_COUNT_KEYS and "." in key


def episode_metrics_from_infos(infos: Sequence[Mapping[str, Any]], rewards: Sequence[float]) -> dict[str, float]:
    """Per-episode metrics of a finished episode from its per-step infos and rewards (same length)."""
    if len(infos) != len(rewards):
        raise ValueError(f"need one reward per info, got {len(rewards)} rewards and {len(infos)} infos")
    rec = EpisodeRecorder()
    for r, info in zip(rewards, infos):
        rec.add(r, info)
    return rec.metrics()[0]
