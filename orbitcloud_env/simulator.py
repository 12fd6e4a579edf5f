"""The event-driven simulator core: constellation + network + ground + power + workload + compute.

No Gymnasium here: :mod:`orbitcloud_env.env` is the thin facade over this class, and benchmarks and unit tests drive
it directly.

Two clocks, both in seconds of simulated time since the constellation epoch:

- the **event clock**: one decision per arriving job. :meth:`Simulator.place` queues the current job (or rejects
  it), then the clock advances to the next arrival, releasing the jobs that finished in between;
- the **topology clock**: satellite positions, link states, routes, sunlight and batteries are refreshed once per
  bucket of ``episode.topology_dt_s`` (the routing snapshot is reused within a bucket).

Job latency (all in ms) = uplink (site to first satellite) + ISL route to the node + transfer of the input
(size / bottleneck capacity) + queue wait + compute + return of the result to the user's site, routed on the
topology of the bucket in which the compute finishes (the satellite has moved by then). A result that cannot be
returned then (no path) is *dropped*. Data centres are reached over terrestrial fibre both ways.

Reset order (one place, one order): clock and constellation epoch offset -> link state -> power -> workload -> faults
-> queues.

The Simulator composes components that live in modules of their own, each saving its own state for
:meth:`Simulator.get_state`: the network and its topology cache (:mod:`orbitcloud_env.network`), batteries, compute
queues, workload, demand, the fault chains (:mod:`orbitcloud_env.faults`) and what they do to nodes, paths and jobs
(:class:`~orbitcloud_env.fault_effects.FaultEffects`); the view of the nodes it hands a policy is
:class:`~orbitcloud_env.nodeview.NodeView` and a job's record an :class:`~orbitcloud_env.outcome.Outcome` (both
re-exported here).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.compute import ComputeNodes
from orbitcloud_env.config import MAX_ALTITUDE_KM, ScenarioConfig, load_config
from orbitcloud_env.constants import C_KM_S, EARTH_RADIUS_EQ_KM, ISL_TERMINALS, SECONDS_PER_DAY
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.demand import ArrivalRates, BackgroundLoad, LoadRegimes
from orbitcloud_env.fault_effects import FaultEffects, ran_ms
from orbitcloud_env.faults import NODE_DOWN_REASONS, FaultProcess, FaultState
from orbitcloud_env.geometry import datetime_to_jd, geodetic_to_ecef, gmst_rad
from orbitcloud_env.ground import load_data_centres, site_dc_delay_ms, user_sites
from orbitcloud_env.metrics import EpisodeStats, JobOutcome, LatencyBreakdown
from orbitcloud_env.network import Network, NetworkSnapshot
from orbitcloud_env.nodeview import NodeView, _Scaled, _ViewParts
from orbitcloud_env.outcome import Outcome, deadline_outcome
from orbitcloud_env.power import Batteries, in_shadow, sun_direction_ecef
from orbitcloud_env.timeline import OrbitTimeline
from orbitcloud_env.workload import Job, PoissonWorkload, TraceWorkload, load_trace, make_workload

__all__ = ["Simulator", "NodeView", "Outcome", "TopologyState", "build_constellation", "POSITION_SCALE_KM"]

#: [km] scale of normalised positions: the top of LEO (equatorial radius + the config's highest shell altitude).
POSITION_SCALE_KM: float = EARTH_RADIUS_EQ_KM + MAX_ALTITUDE_KM
#: Route each site lazily (only sites that send jobs, one Dijkstra call each) from this many satellites up; below
#: it, one batched call for every site is cheaper because scipy's per-call overhead dominates on small graphs.
#: Measured (env steps per CPU-second, one core, this repo's benchmarks): small 8.7k lazy vs 12.4k batched;
#: starlink 3.5k lazy vs 3.3k batched; mega 2.5k lazy vs 2.0k batched.
_LAZY_ROUTING_MIN_SATS = 500
#: [ms] In candidates mode a site is first routed only this far (one-way; Dijkstra with a limit): the listed
#: candidates are the satellites nearest the site, and any later lookup beyond the limit completes the route, so
#: results are the same as with complete routes, for less work. This is each site's first limit; afterwards a site
#: starts from the reach its candidate pool needed in its last routed bucket (times ``_ROUTE_LIMIT_MARGIN``), and a
#: limit that holds too few compute satellites is widened by ``_ROUTE_LIMIT_GROWTH`` (the work of a limited
#: Dijkstra grows with the area it covers, so a limit near the need saves most: a complete route over Giga's 20,716
#: satellites costs ~7x a 25 ms one and ~15x a 15 ms one).
_PARTIAL_ROUTE_MS = 25.0
#: [-] A site's next first limit: the delay of the farthest satellite of its candidate pool times this (the
#: constellation moves ~75 km, a quarter of a millisecond of light time, per 10 s bucket).
_ROUTE_LIMIT_MARGIN = 1.1
#: [-] Factor by which a limit holding too few compute satellites is widened (then, past ``_ROUTE_LIMIT_MAX_MS``,
#: the route is completed).
_ROUTE_LIMIT_GROWTH = 1.5
#: [ms] Widest partial limit (one-way 100 ms is 30,000 km of path, three quarters of the way round the Earth).
_ROUTE_LIMIT_MAX_MS = 100.0
#: [s] Time step of the battery warm-up before an episode (sunlight sampled at each step's midpoint): eclipse entry
#: and exit are resolved to +-120 s, about +-33 Wh (3 % of the default battery) per transition at full load, for
#: 24 SGP4 samples per orbit (the warm-up's main cost).
_WARMUP_STEP_S = 240.0
#: [s] time constant of the recent arrival rates (observation group "load").
_RATE_WINDOW_S = 60.0
#: [s] time constant of the long-window arrival rate (observation group "trend": the short window above against
#: this one; 600 s, one v1 episode, four mean regime holding times).
TREND_WINDOW_S = 600.0
#: Topology snapshots kept: the current bucket and the buckets ahead in which queued jobs finish (on Giga-v1 a random
#: policy's jobs finish up to 34 buckets ahead; with 12 kept, 49 of 139 snapshots were built twice per 4,000 steps).
_CACHE_BUCKETS = 32
#: Nodes from which a candidates-mode view computes its arrays only where read (below, all at once is cheaper). On
#: v1's 1,594 nodes the lazy view is ~1.1x faster per step (it reads ~80 nodes per job instead of all).
_LAZY_VIEW_MIN_NODES = 1_000
#: [ms per (MB / (Gbit/s))] transfer time of 1 MB over 1 Gbit/s: 8 Mbit / 1 Gbit/s = 8 ms.
_MS_PER_MB_PER_GBPS = 8.0


def build_constellation(config: ScenarioConfig) -> Constellation:
    """The scenario's constellation: the TLE catalogue when given (structure inferred), else its Walker shells."""
    return Constellation.from_config(config.constellation)


#: Per-node bases of the job view for one site in one bucket: (one-way delay [ms], round-trip estimate [ms],
#: reachable with compute, direct access), each (M,), and whether the route is complete.
SiteRow = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_], bool]


@dataclass
class TopologyState:
    """Everything that changes once per topology bucket (positions, links, sunlight), with its per-site caches.

    Built by :meth:`Simulator._topology_state`; replaced whole when the clock enters a new bucket.
    """

    bucket: int
    snapshot: NetworkSnapshot
    sunlit: NDArray[np.bool_]  # (N,) satellites in sunlight at the bucket start
    sunlit_soon: NDArray[np.bool_]  # (N,) ... ``power.eclipse_lookahead_s`` later (never-rows: as at the start)
    isl_up_fraction: NDArray[np.float64]  # (N,) share of the ISL terminals whose link is up
    node_ecef_km: NDArray[np.float64]  # (M, 3) [km] Earth-fixed positions, satellites then data centres
    sat_ok: NDArray[np.bool_]  # (N,) carries compute and propagated without error (and, with faults, is up)
    utilisation: NDArray[np.float64]  # (M,) [-] background utilisation (data centres; 0 for satellites)
    compute_ms_per_gflop: NDArray[np.float64]  # (M,) [ms/GFLOP] our jobs' compute time, background included
    site_rows: dict[int, SiteRow] = field(default_factory=dict)
    satellite_order: dict[int, NDArray[np.int64]] = field(default_factory=dict)
    faults: FaultState | None = None  # the bucket's faults (None when the faults section is off)
    node_down_reason: dict[int, str] | None = None  # Simulator.node_down_reason's cache


class Simulator:
    """The orbital edge cloud, advanced one job placement at a time.

    Args:
        config: a :class:`~orbitcloud_env.config.ScenarioConfig`, a preset name, or None (defaults).

    Nodes are indexed globally: satellites ``0..N-1``, then data centres ``N..N+D-1``.
    """

    def __init__(self, config: ScenarioConfig | str | None = None) -> None:
        self.config = config if isinstance(config, ScenarioConfig) else load_config(config)
        cfg = self.config
        self.constellation = build_constellation(cfg)
        self.sites = user_sites(cfg.ground.n_sites)
        self.data_centres = load_data_centres(cfg.ground.data_centres) if cfg.ground.data_centres else None
        self.n_sat = len(self.constellation)
        self.n_dc = len(self.data_centres) if self.data_centres is not None else 0
        self.n_nodes = self.n_sat + self.n_dc
        # The failure generator is replaced at each reset (Network.reset), from the episode's seed.
        self.network = Network.from_config(
            self.constellation, self.sites.lat_deg, self.sites.lon_deg, cfg.links, rng=np.random.default_rng(0),
            topology_dt_s=cfg.episode.topology_dt_s, lazy_routing=self.n_sat >= _LAZY_ROUTING_MIN_SATS,
            cache_buckets=_CACHE_BUCKETS)
        self._init_ground()
        self._init_compute()
        self._init_job_figures()
        self._init_episode_state()
        self._init_row_satellites()
        self._init_faults()

    def _init_ground(self) -> None:
        """Static ground geometry: fibre delays from the sites to the regions, the regions' positions."""
        cfg = self.config
        if self.n_dc:
            self.site_dc_ms = site_dc_delay_ms(self.sites, self.data_centres, cfg.ground.fibre_route_factor)
            self.dc_ecef_km = geodetic_to_ecef(self.data_centres.lat_deg, self.data_centres.lon_deg, 0.0)
        else:
            self.site_dc_ms = np.zeros((len(self.sites), 0))
            self.dc_ecef_km = np.zeros((0, 3))
        #: (S,) the cloud region nearest each site (by fibre delay; 0 without regions): the site's "region".
        self.site_region = (np.argmin(self.site_dc_ms, axis=1) if self.n_dc else np.zeros(len(self.sites), int))

    def _init_compute(self) -> None:
        """Compute nodes: every k-th satellite carries compute (deterministic, evenly spread), then the DCs."""
        cfg = self.config
        comp = cfg.compute
        i = np.arange(self.n_sat)
        self.sat_has_compute = np.floor((i + 1) * comp.satellite_fraction) > np.floor(i * comp.satellite_fraction)
        #: The compute satellites: indices, or a slice when every satellite computes.
        self._compute_sats: NDArray[np.int64] | slice = (slice(0, self.n_sat) if self.sat_has_compute.all()
                                                          else np.flatnonzero(self.sat_has_compute))
        #: (M,) each node's index in the compute satellites (-1: a satellite without compute, or a data centre).
        self._compute_pos = np.full(self.n_sat + self.n_dc, -1, dtype=np.int64)
        self._compute_pos[: self.n_sat][self.sat_has_compute] = np.arange(int(self.sat_has_compute.sum()))
        self.is_ground = np.concatenate([np.zeros(self.n_sat, bool), np.ones(self.n_dc, bool)])
        self.compute = ComputeNodes(
            capacity_gflops=np.concatenate([np.full(self.n_sat, comp.satellite_capacity_gflops),
                                            np.full(self.n_dc, comp.datacentre_capacity_gflops)]),
            queue_limit=np.concatenate([np.full(self.n_sat, comp.satellite_queue_limit),
                                        np.full(self.n_dc, comp.datacentre_queue_limit)]),
            power_w=np.concatenate([np.full(self.n_sat, comp.satellite_power_w),
                                    np.full(self.n_dc, comp.datacentre_power_w)]),
            servers=np.concatenate([np.full(self.n_sat, comp.satellite_servers),
                                    np.full(self.n_dc, comp.datacentre_servers)]),
        )

    def _init_job_figures(self) -> None:
        """The epoch's time of day, the job classes, the routing limits and the transfer and compute rates."""
        cfg = self.config
        links = cfg.links
        jd, fr = datetime_to_jd(self.constellation.epoch)
        self._epoch_jd = (jd, fr)
        epoch = self.constellation.epoch
        self.epoch_second_of_day_utc = epoch.hour * 3600.0 + epoch.minute * 60.0 + epoch.second + \
            epoch.microsecond * 1e-6
        self.job_class_names = tuple(c.name for c in cfg.workload.job_classes)
        #: [value units / GFLOP] (C,) each class's price (objective "value"; zeros otherwise).
        self.class_price_per_gflop = np.array([c.price_per_gflop for c in cfg.workload.job_classes])
        self._value_objective = cfg.reward.objective == "value"
        #: Satellites examined first when listing candidates (the 4K nearest the job's site).
        self.candidate_pool_size = min(4 * cfg.episode.candidates_k, self.n_sat)
        self._partial_route_ms = _PARTIAL_ROUTE_MS if cfg.episode.action_mode == "candidates" else np.inf
        #: [ms] (S,) each site's first route limit in its next bucket (speed only: results never depend on it).
        self._site_route_ms = np.full(len(self.sites.names), self._partial_route_ms)
        #: (S,) sites whose complete route still lacked the candidate pool (fewer compute satellites in reach than
        #: the pool, e.g. Kuiper's 57 for a pool of 64): their next first looks route completely at once instead of
        #: widening a partial route step by step to the same complete row (speed only, like the limits).
        self._site_first_complete = np.zeros(len(self.sites.names), dtype=bool)
        if cfg.workload.trace_path is not None:  # parse now: a malformed trace fails at construction, not reset
            load_trace(cfg.workload.trace_path, self.sites.names, self.job_class_names)
        self._gsl_ms_per_mb = _MS_PER_MB_PER_GBPS / links.gsl_capacity_gbps
        self._fibre_ms_per_mb = _MS_PER_MB_PER_GBPS / links.fibre_capacity_gbps
        #: [ms/MB] (M,) transfer time per MB on each node's access path (GSL for satellites, fibre for DCs).
        self._ms_per_mb = np.concatenate([np.full(self.n_sat, self._gsl_ms_per_mb),
                                          np.full(self.n_dc, self._fibre_ms_per_mb)])
        #: [ms/GFLOP] (M,) compute time per GFLOP.
        self._compute_ms_per_gflop = self.compute.seconds_per_gflop * 1e3

    def _init_episode_state(self) -> None:
        """Episode state (set by reset(); declared here so that every attribute has one home)."""
        cfg = self.config
        #: Version of the topology-bucket caches; observers refresh their per-bucket features when it changes.
        self.topology_version = 0
        #: [s] event clock: simulated time since the constellation epoch.
        self.time_s = 0.0
        #: [s] the episode's start on the event clock.
        self.start_time_s = 0.0
        #: The job awaiting a decision (None before reset and once a trace is exhausted).
        self.job: Job | None = None
        self.batteries = Batteries(max(self.n_sat, 1), capacity_wh=cfg.power.battery_capacity_wh)
        #: [s] time up to which the batteries have been integrated (topology clock).
        self._power_time_s = 0.0
        self.workload: PoissonWorkload | TraceWorkload | None = None
        self.stats = EpisodeStats()
        self.last_outcome: Outcome | None = None
        #: The current topology bucket's state (None before reset).
        self.topology: TopologyState | None = None
        #: (M,) batteries above the compute threshold (data centres always).
        self._power_ok = np.ones(self.n_nodes, dtype=bool)
        # v1 demand: regimes and the regions' background load (None when the config turns them off).
        self.regimes: LoadRegimes | None = None
        self.background: BackgroundLoad | None = None
        #: Recent arrival rates (observation group "load"; kept only with that group).
        self.arrival_rates = ArrivalRates(self.n_dc, tau_s=_RATE_WINDOW_S)
        self._track_arrivals = bool({"load", "trend"} & set(cfg.observation.groups))
        #: Long-window arrival rate (observation group "trend"; None without it).
        self.arrival_trend = (ArrivalRates(1, tau_s=TREND_WINDOW_S) if "trend" in cfg.observation.groups
                              else None)

    def _init_row_satellites(self) -> None:
        """The orbit timeline's switch, the satellites that can be observation rows and the solar surplus."""
        cfg = self.config
        #: Future positions and sunlight on a grid (observation groups "power" and "links"; None when unused).
        self.timeline: OrbitTimeline | None = None
        groups = set(cfg.observation.groups)
        self._needs_timeline = bool(groups & {"power", "links"}) and self.n_sat > 0
        #: Satellites that can be rows of the observation: in candidates mode the rows list valid nodes only, so
        #: the compute satellites; else every satellite (None). Their future (the timeline, ``sunlit_soon``) is
        #: propagated as one subset, built once (it depends only on the catalogue): bit-identical rows.
        self._row_sats: NDArray[np.int64] | None = None
        self._row_constellation = self.constellation
        if cfg.episode.action_mode == "candidates" and self.sat_has_compute.any():
            self._row_sats = np.flatnonzero(self.sat_has_compute)
            self._row_constellation = self.constellation.subset(self._row_sats)
        #: [W] (N,) solar surplus over the base load while sunlit (what a sunlit job does not take from the battery).
        self._surplus_w = max(cfg.power.panel_power_w - cfg.power.base_load_w, 0.0)

    def _init_faults(self) -> None:
        """Random node and link faults (the ``faults`` section), and what they do (:class:`FaultEffects`)."""
        cfg = self.config
        #: Random node and link faults (the ``faults`` section; None when it enables nothing). docs/faults.md.
        self.faults: FaultProcess | None = None
        #: What the faults do to nodes, paths and jobs (:mod:`orbitcloud_env.fault_effects`; None without faults).
        self.fault_effects: FaultEffects | None = None
        #: Re-place the jobs whose node fails (``faults.failed_jobs`` "replace") instead of losing them.
        self._replace_failed = cfg.faults.enabled and cfg.faults.failed_jobs == "replace"
        if cfg.faults.enabled:
            self.faults = FaultProcess(cfg.faults, self.n_sat, self.n_dc, len(self.sites), cfg.episode.topology_dt_s,
                                       compute_sats=self.sat_has_compute)
            self.fault_effects = FaultEffects(self, self.faults)
            self.network.fault_hook = self.fault_effects.hook

    # ------------------------------------------------------------------------------------------------------------
    # Reset.

    def reset(self, rng: np.random.Generator) -> Job:
        """Start a new episode drawing every random quantity from ``rng``; return the first job.

        Order: clock -> link state -> power -> workload -> faults (when enabled) -> queues.
        """
        cfg = self.config
        # Independent child streams, so that e.g. link failures don't shift the workload's draws.
        seeds = rng.integers(0, 2**63 - 1, size=3)
        link_rng, power_rng, work_rng = (np.random.default_rng(int(s)) for s in seeds)
        # 1. Clock: start somewhere in the day so that episodes see different times of day and orbit phases.
        spread = cfg.episode.start_time_spread_s
        self.start_time_s = float(rng.uniform(0.0, spread)) if spread > 0 else 0.0
        self.time_s = self.start_time_s
        # 2. Link state (failure process and cached snapshots).
        self.network.reset(link_rng, start_time_s=self.start_time_s)
        self.topology = None
        # 3. Power.
        p = cfg.power
        soc0 = power_rng.uniform(p.initial_soc_min, p.initial_soc_max, size=self.n_sat)
        self.batteries = Batteries(self.n_sat, capacity_wh=p.battery_capacity_wh, initial_soc=soc0,
                                   panel_power_w=p.panel_power_w, base_load_w=p.base_load_w,
                                   charge_efficiency=p.charge_efficiency)
        self._warm_up_batteries(power_rng)
        self.batteries.start_ledger()  # energy accounting of the episode (bookkeeping only)
        self._power_time_s = self.time_s
        # 4. Demand (v1 regimes and background load: their own stream, drawn only when enabled) and workload.
        w = cfg.workload
        self.regimes = self.background = None
        if w.modulated or cfg.background.enabled:
            demand_rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
            self.regimes = LoadRegimes(w, demand_rng, self.start_time_s)
            if cfg.background.enabled and self.n_dc:
                self.background = BackgroundLoad(cfg.background, self.data_centres.lon_deg, self.regimes,
                                                 demand_rng, self.start_time_s, self.epoch_second_of_day_utc,
                                                 w.peak_local_hour)
        self.workload = make_workload(w, self.sites.lon_deg, self.sites.weight, self.sites.names,
                                      work_rng, self.start_time_s, self.epoch_second_of_day_utc,
                                      regimes=self.regimes if w.modulated else None)
        if self.faults is not None:  # own stream, drawn only when the faults section enables something
            self.faults.reset(np.random.default_rng(int(rng.integers(0, 2**63 - 1))), self.start_time_s)
        self.arrival_rates.reset(self.start_time_s)
        if self.arrival_trend is not None:
            self.arrival_trend.reset(self.start_time_s)
        self.timeline = (OrbitTimeline(self._row_constellation, self._sunlit_many, self.start_time_s,
                                       horizon_s=max(cfg.episode.max_time_s, 600.0), tracked=self._row_sats,
                                       n_sat=self.n_sat)
                         if self._needs_timeline else None)
        # 5. Queues.
        self.compute.reset()
        self.stats = EpisodeStats(faults=self.faults is not None,
                                  class_names=self.job_class_names if self._value_objective else (),
                                  sla_penalty_fraction=cfg.reward.sla_penalty_fraction)
        self.last_outcome = None
        self.job = self.workload.next_job()
        if self.job is None:
            raise ValueError("workload.trace_path: the trace has no jobs")
        self._advance_clock(self.job.time_s)
        return self.job

    def _sunlit_many(self, pos_km: NDArray[np.float64], times_s: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(T, N) sunlight of positions ``pos_km`` (T, N, 3) at ``times_s`` (T,) [s]."""
        return np.stack([self._sunlit(pos_km[k], float(times_s[k])) for k in range(len(times_s))])

    def _warm_up_batteries(self, rng: np.random.Generator) -> None:
        """Integrate the batteries over ``power.warmup_orbits`` orbits before the episode's start.

        The uniform draw of ``initial_soc_*`` is the state one warm-up span before the start; the batteries then
        see the satellites' real sunlight history (sampled every ``_WARMUP_STEP_S``), the base load and
        a utilisation drawn per satellite uniformly in [0, 2 x ``power.warmup_utilisation``] (clipped to 1) of the
        compute power. A satellite that has just left eclipse thus starts the episode lower than one about to enter
        it, and a busy one lower than an idle one. One vectorised SGP4 call covers every sample time.

        In candidates mode only the satellites that can be observation rows (those with compute) are warmed up: the
        others keep their initial draw, since their battery is never drawn by a job nor observed (on Giga this is
        1,036 of 20,716 satellites, and the warm-up was most of a reset's cost).
        """
        p = self.config.power
        if p.warmup_orbits <= 0 or self.n_sat == 0:
            return
        span_s = p.warmup_orbits * float(np.max(self.constellation.period_s))
        n_steps = max(2, math.ceil(span_s / _WARMUP_STEP_S))
        dt_s = span_s / n_steps
        times_s = self.start_time_s - span_s + dt_s * (np.arange(n_steps) + 0.5)
        utilisation = np.minimum(rng.uniform(0.0, 2.0 * p.warmup_utilisation, size=self.n_sat), 1.0)
        compute_j = utilisation * self.compute.power_w[: self.n_sat] * self.sat_has_compute * dt_s
        every = np.arange(self.n_sat)
        rows = self._row_sats
        pos_km, _, ok = self._row_constellation.propagate(times_s)
        if rows is not None:
            kept_wh = self.batteries.energy_wh.copy()
        lit = np.ones(self.n_sat, dtype=bool)
        for k in range(n_steps):
            sunlit = self._sunlit(pos_km[k], float(times_s[k])) & ok[k]
            if rows is None:
                lit = sunlit
            else:
                lit[rows] = sunlit
            self.batteries.advance(dt_s, lit)
            self.batteries.draw(every, compute_j)
        if rows is not None:  # satellites without compute: back to their initial draw
            others = np.ones(self.n_sat, dtype=bool)
            others[rows] = False
            self.batteries._energy_wh[others] = kept_wh[others]

    # ------------------------------------------------------------------------------------------------------------
    # Topology clock.

    def _jd(self, time_s: float) -> tuple[float, float]:
        jd, fr = self._epoch_jd
        return jd, fr + time_s / SECONDS_PER_DAY

    def sun_direction_ecef(self, time_s: float) -> NDArray[np.float64]:
        """Unit vector to the Sun in the Earth-fixed frame at ``time_s`` [s since epoch]."""
        jd, fr = self._jd(time_s)
        return sun_direction_ecef(jd, fr, gmst_rad(jd, fr))

    def _sunlit(self, sat_ecef_km: NDArray[np.float64], time_s: float) -> NDArray[np.bool_]:
        return ~in_shadow(sat_ecef_km, self.sun_direction_ecef(time_s), model=self.config.power.shadow_model)

    def _sync_topology(self, time_s: float) -> None:
        """Enter the bucket of ``time_s``: integrate the batteries to its start, then build its state."""
        bucket = math.floor(time_s / self.config.episode.topology_dt_s)
        if self.topology is not None and bucket == self.topology.bucket:
            return
        bucket_start_s = bucket * self.config.episode.topology_dt_s
        # Batteries: integrate from the last update to this bucket's start with the sunlight of the bucket we leave.
        if self.topology is not None:
            elapsed = max(bucket_start_s - self._power_time_s, 0.0)
            if elapsed > 0:
                self.batteries.advance(elapsed, self.topology.sunlit)
            self._power_time_s = max(bucket_start_s, self._power_time_s)
        previous = self.topology
        self.topology = self._topology_state(bucket, time_s)
        if self.faults is not None:
            self.fault_effects.flush(previous, bucket_start_s)
        self._refresh_power_ok()
        self.topology_version += 1

    def _topology_state(self, bucket: int, time_s: float) -> TopologyState:
        """The :class:`TopologyState` of ``bucket`` (``time_s`` lies in it)."""
        bucket_start_s = bucket * self.config.episode.topology_dt_s
        snap = self.network.snapshot(time_s, current=True)
        ok = snap.sat_ok
        sunlit = self._sunlit(snap.sat_ecef_km, bucket_start_s) & ok
        lookahead = self.config.power.eclipse_lookahead_s
        if lookahead > 0 and self._row_sats is None:
            future_ecef, _, _ = self.constellation.propagate(bucket_start_s + lookahead)
            sunlit_soon = self._sunlit(future_ecef, bucket_start_s + lookahead) & ok
        elif lookahead > 0:  # only the satellites that can be rows; the others read as no change
            rows = self._row_sats
            future_ecef, _, _ = self._row_constellation.propagate(bucket_start_s + lookahead)
            sunlit_soon = sunlit.copy()
            sunlit_soon[rows] = self._sunlit(future_ecef, bucket_start_s + lookahead) & ok[rows]
        else:
            sunlit_soon = sunlit
        up = snap.isl_up
        up_count = np.bincount(self.network.pairs[up].ravel(), minlength=self.n_sat) if up.any() else \
            np.zeros(self.n_sat, int)
        utilisation = np.zeros(self.n_nodes)
        ms_per_gflop = self._compute_ms_per_gflop
        if self.background is not None:
            utilisation[self.n_sat:] = self.background.utilisation(bucket_start_s)
            ms_per_gflop = ms_per_gflop / (1.0 - utilisation)
        faults = self.faults.state(bucket) if self.faults is not None else None
        sat_ok = self.sat_has_compute & ok
        if faults is not None:
            sat_ok &= ~faults.payload
        return TopologyState(
            bucket=bucket, snapshot=snap, sunlit=sunlit, sunlit_soon=sunlit_soon,
            isl_up_fraction=np.minimum(up_count / float(ISL_TERMINALS), 1.0),
            node_ecef_km=np.concatenate([snap.sat_ecef_km, self.dc_ecef_km]),
            sat_ok=sat_ok, utilisation=utilisation, compute_ms_per_gflop=ms_per_gflop, faults=faults)

    # Read-only views of the current bucket (render, observations, agents' lookahead).
    @property
    def snapshot(self) -> NetworkSnapshot:
        """The current bucket's :class:`~orbitcloud_env.network.NetworkSnapshot`."""
        return self.topology.snapshot

    @property
    def sunlit(self) -> NDArray[np.bool_]:
        """(N,) satellites in sunlight in the current bucket."""
        return self.topology.sunlit

    @property
    def sunlit_soon(self) -> NDArray[np.bool_]:
        """(N,) satellites in sunlight ``power.eclipse_lookahead_s`` after the current bucket's start (in candidates
        mode, satellites without compute, which are never rows, read as sunlit now)."""
        return self.topology.sunlit_soon

    @property
    def isl_up_fraction(self) -> NDArray[np.float64]:
        """(N,) share of each satellite's ISL terminals whose link is up."""
        return self.topology.isl_up_fraction

    @property
    def node_ecef_km(self) -> NDArray[np.float64]:
        """[km] (M, 3) Earth-fixed node positions, satellites then data centres."""
        return self.topology.node_ecef_km

    def _site_row(self, site: int, complete: bool = False) -> SiteRow:
        """Per-node bases of the job view for ``site`` in this bucket, routed on first use and cached:
        (one-way delay [ms], round-trip estimate [ms], reachable with compute, direct access), each (M,), and
        whether the route is complete (else exact only within the partial-route limit)."""
        topo = self.topology
        row = topo.site_rows.get(site)
        if row is None or (complete and not row[4]):
            snap = topo.snapshot
            at_once = not complete and bool(self._site_first_complete[site])
            delay = snap.site_delay_ms(site, np.inf if complete or at_once else self._site_route_ms[site])
            if snap.route_limit_ms(site) < np.inf:
                delay = self._widen_route(snap, site, delay, topo.sat_ok)
            elif at_once:  # the pool may be back within reach (an outage over): then partial routes again
                self._learn_route_limit(site, delay, topo.sat_ok, complete=True)
            inbound = np.concatenate([delay, self.site_dc_ms[site]])
            reach = np.isfinite(inbound)
            reach[: self.n_sat] &= topo.sat_ok
            if topo.faults is not None:
                self.fault_effects.restrict_reach(site, reach)
            direct = np.concatenate([snap.gsl_visible_row(site), np.ones(self.n_dc, bool)])
            row = (inbound, 2.0 * inbound, reach, direct, snap.route_limit_ms(site) == np.inf)
            topo.site_rows[site] = row
        return row

    def _widen_route(self, snap: NetworkSnapshot, site: int, delay: NDArray[np.float64],
                     sat_ok: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Widen ``site``'s partial route until it holds the candidate pool (``candidate_pool_size`` compute
        satellites), completing it past ``_ROUTE_LIMIT_MAX_MS``; remember the reach the pool needed as the site's
        next first limit. Returns the site's delay row."""
        while True:
            limit = snap.route_limit_ms(site)
            if self._learn_route_limit(site, delay, sat_ok, complete=limit == np.inf) or limit == np.inf:
                break  # the pool is held, or the route is complete and still short of it
            wider = limit * _ROUTE_LIMIT_GROWTH
            delay = snap.site_delay_ms(site, wider if wider <= _ROUTE_LIMIT_MAX_MS else np.inf)
        return delay

    def _learn_route_limit(self, site: int, delay: NDArray[np.float64], sat_ok: NDArray[np.bool_],
                           complete: bool) -> bool:
        """Whether ``site``'s delay row (``complete`` or partial) holds the candidate pool (``candidate_pool_size``
        compute satellites); if so, remember the reach it needed as the site's next first limit, and if a complete
        row does not, mark the site to be routed completely at once next time (widening would end there too)."""
        pool = self.candidate_pool_size
        sats = self._compute_sats  # sat_ok holds only satellites with compute: the others never count
        near = delay[sats][sat_ok[sats]]
        near = near[near < np.inf]
        if near.size < pool:
            self._site_first_complete[site] |= complete
            return False
        if pool > 0:
            self._site_route_ms[site] = float(np.partition(near, pool - 1)[pool - 1]) * _ROUTE_LIMIT_MARGIN
        self._site_first_complete[site] = False
        return True

    def share_route_limits(self, other: Simulator) -> None:
        """Use ``other``'s per-site first route limits (a simulator of the same scenario; the batched vector env's
        copies): what one copy learnt about the reach a site needs saves the others the widening searches. The
        limits set only the work, never a result."""
        if other.config.constellation != self.config.constellation or len(other.sites.names) != len(self.sites.names):
            raise ValueError("other: share_route_limits needs a simulator of the same constellation and sites")
        self._site_route_ms = other._site_route_ms
        self._site_first_complete = other._site_first_complete

    def _back_route_ms(self, site: int, route_ms: float) -> float:
        """[ms] Limit of the route from ``site`` in a later bucket, to read the return delay of a satellite whose
        one-way route takes ``route_ms`` now: the site's usual reach, or that route plus 25 % (it has moved a little
        since; a satellite beyond the limit then completes the route, so this only sets the work)."""
        if self._partial_route_ms == np.inf:
            return np.inf
        return max(float(self._site_route_ms[site]), route_ms * 1.25)

    def satellite_order(self, site: int) -> NDArray[np.int64]:
        """The ``candidate_pool_size`` satellites of lowest estimated latency from ``site`` in the current bucket,
        sorted. Cached per bucket and site. Unreachable satellites and those without working compute sort last."""
        count = self.candidate_pool_size
        topo = self.topology
        orders = topo.satellite_order
        order = orders.get(site)
        if order is None:
            latency = self._site_row(site)[1]
            order = self._order_among_compute(latency, topo.sat_ok, count)
            if order is None:
                base = np.where(topo.sat_ok, latency[: self.n_sat], np.inf)
                if count < base.shape[0]:
                    part = np.argpartition(base, count - 1)[:count]
                    order = part[np.argsort(base[part], kind="stable")]
                else:
                    order = np.argsort(base, kind="stable")
            orders[site] = order
        return order

    def _order_among_compute(self, latency: NDArray[np.float64], sat_ok: NDArray[np.bool_],
                             count: int) -> NDArray[np.int64] | None:
        """:meth:`satellite_order` from the compute satellites alone (only they can be ok), or None where that
        might not give the same order: fewer than ``count`` + 1 finite latencies, or equal latencies among the
        ``count`` + 1 lowest (ties, and which of the unreachable satellites fill the list, depend on the search)."""
        sats = self._compute_sats
        if isinstance(sats, slice) or sats.shape[0] <= count:
            return None
        base = np.where(sat_ok[sats], latency[sats], np.inf)
        part = base.argpartition(count)[: count + 1]
        ranked = part[base[part].argsort(kind="stable")]
        low = base[ranked]
        if not np.isfinite(low[-1]) or not (low[1:] > low[:-1]).all():
            return None
        return sats[ranked[:count]]

    def _refresh_power_ok(self) -> None:
        """(M,) batteries above the compute threshold (data centres always)."""
        ok = np.ones(self.n_nodes, dtype=bool)
        ok[: self.n_sat] = self.batteries.soc >= self.config.power.min_soc_for_compute
        self._power_ok = ok

    def _advance_clock(self, time_s: float) -> None:
        self.time_s = time_s
        self.compute.advance(time_s)
        self._sync_topology(time_s)

    # ------------------------------------------------------------------------------------------------------------
    # Event clock.

    def node_view(self, complete: bool = False) -> NodeView:
        """What the nodes look like for the current job.

        In candidates mode the view may be partial (``view.complete`` False): satellites beyond the partial-route
        limit then read as unreachable. ``complete=True`` routes the site completely first. In candidates mode on
        ``_LAZY_VIEW_MIN_NODES`` nodes or more, the view's arrays are computed where first read (:class:`NodeView`),
        from the state of this moment; else (all-nodes mode reads every node) at once.
        """
        job = self.job
        inbound_base, latency_base, reach, direct, is_complete = self._site_row(job.site, complete)
        comp = self.compute
        p = _ViewParts()
        p.inbound_base, p.latency_base, p.reach = inbound_base, latency_base, reach
        p.in_ms_per_mb = _Scaled(self._ms_per_mb, job.input_mb)
        p.io_ms_per_mb = _Scaled(self._ms_per_mb, job.input_mb + job.output_mb)
        p.time_s, p.ms_per_gflop, p.work_gflop = self.time_s, self.topology.compute_ms_per_gflop, job.work_gflop
        p.queue_limit = comp.queue_limit
        p.energy = ((self._compute_pos, self.batteries.energy_wh[self._compute_sats], self.topology.sunlit)
                    if self.config.power.require_energy else None)
        p.sim = self
        if self._row_sats is None or self.n_nodes < _LAZY_VIEW_MIN_NODES:  # all-nodes mode, or few nodes: at once
            p.free_at_s, p.power_ok, p.held = comp.free_at_s, self._power_ok, comp.held
            return p.take(slice(None), direct, is_complete)
        p.free_at_s, p.power_ok, p.held = comp.free_at_s.copy(), self._power_ok.copy(), comp.held.copy()
        return NodeView._of(p, direct, is_complete)

    def _battery_need_j(self, compute_ms: NDArray[np.float64] | float, sunlit: NDArray[np.bool_] | bool,
                        power_w: NDArray[np.float64] | float) -> NDArray[np.float64] | float:
        """[J] energy a satellite's battery supplies for a job of ``compute_ms``: the compute power net of the
        solar surplus while sunlit (never negative)."""
        return np.maximum((power_w - self._surplus_w * sunlit) * (np.asarray(compute_ms) * 1e-3), 0.0)

    def _energy_ok(self, compute_ms: NDArray[np.float64], sats: NDArray[np.int64], energy_wh: NDArray[np.float64],
                   sunlit: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Whether satellites ``sats``, whose jobs take ``compute_ms`` [ms] each and whose batteries hold
        ``energy_wh`` [Wh] each, can supply the job and stay at or above the threshold, under the (N,) ``sunlit``
        of the view's bucket."""
        need_wh = self._battery_need_j(compute_ms, sunlit[sats], self.compute.server_power_w[sats]) / 3_600.0
        return energy_wh - need_wh >= self.config.power.min_soc_for_compute * self.batteries.capacity_wh[sats]

    def place(self, node: int | None, view: NodeView | None = None) -> Outcome:
        """Place the current job on global ``node`` (None: reject), then advance to the next arrival.

        The caller guarantees ``node`` is valid in ``view`` (the env turns invalid actions into rejections).
        """
        job = self.job
        view = view if view is not None else self.node_view()
        if node is not None and not view.complete and view.inbound_at(node) == np.inf:
            view = self.node_view(complete=True)  # a node beyond the partial route: look at it completely
        if node is None:
            out = Outcome(job, -1, JobOutcome.REJECTED, 0.0, LatencyBreakdown(), 0.0)
        elif node < self.n_sat:
            out = self._place_on_satellite(job, int(node), view)
        else:
            out = self._place_on_datacentre(job, int(node), view)
        if self._value_objective:
            self.stats.record(out.outcome, out.latency_ms, out.energy_j, out.node >= self.n_sat,
                              out.replaced_from >= 0, job.job_class, self.job_value(job))
        else:
            self.stats.record(out.outcome, out.latency_ms, out.energy_j, out.node >= self.n_sat,
                              out.replaced_from >= 0)
        self.last_outcome = out
        nxt = self.workload.next_job()
        self.job = nxt
        if nxt is not None:
            self._advance_clock(nxt.time_s)
        self.stats.elapsed_s = self.elapsed_s
        return out

    def observe_arrival(self) -> None:
        """Count the current job in the recent arrival rates (observation groups "load", "trend"; called by the
        env). Without those groups nothing reads the rates, and they are not kept."""
        if self._track_arrivals:
            self.arrival_rates.add(self.job.time_s, int(self.site_region[self.job.site]))
        if self.arrival_trend is not None:
            self.arrival_trend.add(self.job.time_s, 0)

    def job_value(self, job: Job) -> float:
        """[value units] ``job``'s value: its class's ``price_per_gflop`` x its work (0 outside the value
        objective's scenarios, whose prices are 0)."""
        return float(self.class_price_per_gflop[job.job_class]) * job.work_gflop

    @property
    def exhausted(self) -> bool:
        """True when a replayed trace has no more jobs."""
        return self.job is None

    def _place_on_satellite(self, job: Job, node: int, view: NodeView) -> Outcome:
        s = job.site
        t = self.time_s
        inbound_ms = view.inbound_at(node)
        start_s, finish_s = self.compute.place(node, t + inbound_ms * 1e-3, job.work_gflop)
        compute_ms = (finish_s - start_s) * 1e3
        # "replace": a job whose node fails ran (and drew energy) only until the failure.
        fail_s = self.fault_effects.failure_s(node, finish_s) if self._replace_failed else None
        run_ms = compute_ms if fail_s is None else ran_ms(start_s, finish_s, fail_s)
        energy_j = self.compute.energy_j(node, run_ms * 1e-3)
        self.batteries.draw_one(node, energy_j)
        if self.batteries.soc_at(node) < self.config.power.min_soc_for_compute:
            self._power_ok[node] = False
        # _battery_need_j of one job, in Python floats (np.maximum's 0.0 for a -0.0 product included).
        battery_j = ((float(self.compute.server_power_w[node]) - self._surplus_w * bool(self.topology.sunlit[node]))
                     * (run_ms * 1e-3))
        battery_j = battery_j if battery_j > 0.0 else 0.0
        if fail_s is not None:
            return self.fault_effects.replace(job, node, fail_s, energy_j, battery_j)
        route = self.snapshot.path(s, node)
        tx_in = job.input_mb * self._gsl_ms_per_mb
        route_ms = inbound_ms - tx_in
        uplink_ms = self.snapshot.gsl_slant_to(s, route[0]) / C_KM_S * 1e3 if route else route_ms
        back = self.network.snapshot(finish_s).delay_ms(s, node, self._back_route_ms(s, route_ms))
        parts = dict(uplink_ms=uplink_ms, isl_ms=route_ms - uplink_ms,
                     transfer_ms=tx_in + job.output_mb * self._gsl_ms_per_mb,
                     queue_ms=(start_s - (t + inbound_ms * 1e-3)) * 1e3, compute_ms=compute_ms)
        if self.faults is not None and not self._replace_failed and self.fault_effects.node_fails(node, finish_s):
            return Outcome(job, node, JobOutcome.FAILED, 0.0, LatencyBreakdown(**parts), energy_j, route,
                           battery_j)
        if back == np.inf:
            return Outcome(job, node, JobOutcome.DROPPED, 0.0, LatencyBreakdown(**parts), energy_j, route,
                           battery_j)
        total = (finish_s - t) * 1e3 + back + job.output_mb * self._gsl_ms_per_mb
        return Outcome(job, node, self._deadline_outcome(total, job), total,
                       LatencyBreakdown(**parts, return_ms=back, total_ms=total), energy_j, route, battery_j)

    _deadline_outcome = staticmethod(deadline_outcome)

    def _place_on_datacentre(self, job: Job, node: int, view: NodeView) -> Outcome:
        t = self.time_s
        fibre_ms = float(self.site_dc_ms[job.site, node - self.n_sat])
        tx_in = job.input_mb * self._fibre_ms_per_mb
        tx_out = job.output_mb * self._fibre_ms_per_mb
        arrival_s = t + view.inbound_at(node) * 1e-3  # fibre + input transfer
        # Background load: our share of a server is 1 - u, fixed when the job is placed (as in the view).
        share = 1.0 - float(self.topology.utilisation[node])
        start_s, finish_s = self.compute.place(node, arrival_s, job.work_gflop / share)
        compute_ms = (finish_s - start_s) * 1e3
        fail_s = self.fault_effects.failure_s(node, finish_s) if self._replace_failed else None
        if fail_s is not None:  # "replace": the region ran the job only until its outage
            energy_j = self.compute.energy_j(node, ran_ms(start_s, finish_s, fail_s) * 1e-3 * share)
            return self.fault_effects.replace(job, node, fail_s, energy_j, 0.0)
        energy_j = self.compute.energy_j(node, compute_ms * 1e-3 * share)
        total = (finish_s - t) * 1e3 + fibre_ms + tx_out
        breakdown = LatencyBreakdown(uplink_ms=fibre_ms, transfer_ms=tx_in + tx_out, queue_ms=(start_s - arrival_s) * 1e3,
                                     compute_ms=compute_ms, return_ms=fibre_ms, total_ms=total)
        if self.faults is not None:
            fate = self.fault_effects.datacentre_outcome(job, node, finish_s)
            if fate is not None:
                return Outcome(job, node, fate, 0.0, dataclasses.replace(breakdown, return_ms=0.0, total_ms=0.0),
                               energy_j)
        return Outcome(job, node, self._deadline_outcome(total, job), total, breakdown, energy_j)

    def node_down_reason(self) -> dict[int, str]:
        """Global nodes down by a fault in the current bucket -> why (:data:`~orbitcloud_env.faults.NODE_DOWN_REASONS`);
        empty when the faults section is off. Such nodes are invalid in every view."""
        topo = self.topology
        if topo is None or topo.faults is None:
            return {}
        if topo.node_down_reason is None:  # once per bucket
            code = topo.faults.node_reason()
            idx = np.flatnonzero(code)
            topo.node_down_reason = dict(zip(idx.tolist(), (NODE_DOWN_REASONS[c] for c in code[idx].tolist())))
        return dict(topo.node_down_reason)

    # ------------------------------------------------------------------------------------------------------------
    # Saving and restoring the episode state (lookahead policies, what-if analysis).

    def get_state(self) -> dict[str, Any]:
        """A snapshot of everything a placement changes, for :meth:`set_state` (cheap: no topology copies).

        Each component saves its own state (``get_state``: batteries, compute queues, workload, episode records,
        arrival rates, faults, the network's topology cache); this composes them with the simulator's clock. The
        current bucket's :class:`TopologyState`, regimes, background surges and the orbit timeline are
        deterministic functions of the episode's seed and time, generated lazily in time order, so they are shared
        rather than copied.
        """
        return {
            "time_s": self.time_s, "job": self.job, "power_time_s": self._power_time_s,
            "power_ok": self._power_ok.copy(), "topology": self.topology, "last_outcome": self.last_outcome,
            "batteries": self.batteries.get_state(), "compute": self.compute.get_state(),
            "stats": self.stats.get_state(), "arrival_rates": self.arrival_rates.get_state(),
            "workload": None if self.workload is None else self.workload.get_state(),
            "faults": None if self.faults is None else self.faults.get_state(),
            "arrival_trend": None if self.arrival_trend is None else self.arrival_trend.get_state(),
            "network": self.network.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Return to a state from :meth:`get_state` of this episode (observers refresh their bucket rows)."""
        self.time_s, self.job = state["time_s"], state["job"]
        self._power_time_s = state["power_time_s"]
        self._power_ok = state["power_ok"].copy()
        self.topology, self.last_outcome = state["topology"], state["last_outcome"]
        self.batteries.set_state(state["batteries"])
        self.compute.set_state(state["compute"])
        self.stats.set_state(state["stats"])
        self.arrival_rates.set_state(state["arrival_rates"])
        if self.workload is not None:
            self.workload.set_state(state["workload"])
        if self.faults is not None:
            self.faults.set_state(state["faults"])
        if self.arrival_trend is not None:
            self.arrival_trend.set_state(state["arrival_trend"])
        self.network.set_state(state["network"])
        self.topology_version += 1  # never reuse a version: observers rebuild their per-bucket rows

    # ------------------------------------------------------------------------------------------------------------
    # Views for users.

    def network_graph(self) -> Any:
        """The current topology snapshot as a ``networkx.Graph`` (see :meth:`Network.network_graph`)."""
        return self.network.network_graph(self.time_s)

    @property
    def elapsed_s(self) -> float:
        """[s] simulated time since reset."""
        return self.time_s - self.start_time_s

