"""A constellation's network over time (:class:`Network`): the topology clock, link failures and the cache of
per-bucket snapshots.

Two clocks (both in seconds):

- the topology clock: links, visibility and routes are recomputed once per time bucket of
  ``topology_dt_s`` and held constant within it (:class:`Network` caches the snapshots);
- the event clock of the simulator (job arrivals) reads the snapshot of the bucket it falls in.

Delays are one-way propagation delays [ms] at the vacuum speed of light ``C_KM_S`` (laser ISLs and radio
GSLs alike); queueing and processing delays are not modelled here. Terrestrial fibre paths live in
``ground.py``.

The pieces live in modules of their own, one concern each, and this module re-exports every name it had before
they moved (code and pickles import them from here):

- :mod:`orbitcloud_env.links`: +Grid topology (:func:`plus_grid_isls`), ISL geometry (:func:`isl_state`), ground-link
  visibility (:func:`gsl_visibility`), the cited link defaults;
- :mod:`orbitcloud_env.bridges`: inter-shell bridge ISLs (:func:`bridge_isls`);
- :mod:`orbitcloud_env.routing`: the routing graph and Dijkstra (:func:`shortest_delays`);
- :mod:`orbitcloud_env.snapshot`: one bucket's :class:`NetworkSnapshot` and :func:`build_snapshot`;
- :mod:`orbitcloud_env.sanity`: usable satellites and the reasons of the others (:func:`satellite_faults`);
- :mod:`orbitcloud_env.faults`: the ISL failure process (:class:`LinkFailures`, and the chains behind it).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, MutableMapping

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from orbitcloud_env.bridges import _BRIDGE_NEIGHBOURS, bridge_isls  # noqa: F401  (re-exported)
from orbitcloud_env.catalogue import CatalogueShell
from orbitcloud_env.config import CATALOGUE_REGRID_S, LinksConfig
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.faults import LinkFailures, TwoStateChains
from orbitcloud_env.links import (  # noqa: F401  (re-exported: the names this module had before the split)
    _MAX_ISL_DEGREE,
    _MIN_EDGE_MS,
    _MS_PER_KM,
    DEFAULT_GSL_CAPACITY_GBPS,
    DEFAULT_ISL_CAPACITY_GBPS,
    DEFAULT_MIN_ELEVATION_DEG,
    _check_gsl_inputs,
    _check_sites,
    _edge_ms,
    _gsl_near,
    _max_slant_km,
    _tle_shell_pairs,
    gsl_visibility,
    isl_state,
    plus_grid_isls,
)
from orbitcloud_env.routing import (  # noqa: F401  (re-exported)
    _LAYOUTS,
    _IslLayout,
    _layout_for,
    _route_every_site,
    _routing_graph,
    routing_graph,
    shortest_delays,
)
from orbitcloud_env.sanity import (  # noqa: F401  (re-exported)
    FAULT_REASONS,
    SANE_ALTITUDE_KM,
    SANE_SPEED_KM_S,
    SatelliteFault,
    satellite_faults,
)
from orbitcloud_env.snapshot import NetworkSnapshot, _readonly, build_snapshot

__all__ = [
    "plus_grid_isls",
    "bridge_isls",
    "isl_state",
    "gsl_visibility",
    "LinkFailures",
    "NetworkSnapshot",
    "build_snapshot",
    "shortest_delays",
    "Network",
    "satellite_faults",
    "FAULT_REASONS",
    "SatelliteFault",
    "DEFAULT_ISL_CAPACITY_GBPS",
    "DEFAULT_GSL_CAPACITY_GBPS",
    "DEFAULT_MIN_ELEVATION_DEG",
]


def _check_link_figures(min_elevation_deg: float, isl_max_range_km: float, atmosphere_margin_km: float,
                        isl_capacity_gbps: float, gsl_capacity_gbps: float, topology_dt_s: float) -> None:
    """:class:`Network`'s checks of its link figures ([deg], [km], [km], [Gbit/s], [Gbit/s], [s])."""
    if not (0.0 <= min_elevation_deg < 90.0):
        raise ValueError(f"min_elevation_deg: must lie in [0, 90) deg, got {min_elevation_deg}")
    if not (isl_max_range_km > 0):
        raise ValueError(f"isl_max_range_km: must be > 0 km, got {isl_max_range_km}")
    if not (atmosphere_margin_km >= 0):
        raise ValueError(f"atmosphere_margin_km: must be >= 0 km, got {atmosphere_margin_km}")
    if not (isl_capacity_gbps > 0):
        raise ValueError(f"isl_capacity_gbps: must be > 0 Gbit/s, got {isl_capacity_gbps}")
    if not (gsl_capacity_gbps > 0):
        raise ValueError(f"gsl_capacity_gbps: must be > 0 Gbit/s, got {gsl_capacity_gbps}")
    if not (math.isfinite(topology_dt_s) and topology_dt_s > 0):
        raise ValueError(f"topology_dt_s: must be finite and > 0 s, got {topology_dt_s}")


def _check_cache_and_bridges(cache_buckets: int, regrid_s: float | None, inter_shell_isls: bool) -> None:
    """:class:`Network`'s checks of its snapshot cache size, regrid period [s] and bridge switch."""
    if isinstance(cache_buckets, bool) or not isinstance(cache_buckets, int) or cache_buckets < 1:
        raise ValueError(f"cache_buckets: must be an integer >= 1, got {cache_buckets!r}")
    if regrid_s is not None and not (math.isfinite(regrid_s) and regrid_s > 0):
        raise ValueError(f"regrid_s: must be None or finite and > 0 s, got {regrid_s}")
    if not isinstance(inter_shell_isls, (bool, np.bool_)):
        raise ValueError(f"inter_shell_isls: expected True or False, got {inter_shell_isls!r}")


# ------------------------------------------------------------------------------------------ Network
class Network:
    """A constellation's network over time: +Grid ISLs, ground sites, link failures, cached snapshots.

    Clock: ``time_s`` is [s] since ``constellation.epoch``. The topology is piecewise constant on buckets
    ``floor(time_s / topology_dt_s)``; the snapshot of a bucket is computed at the bucket start and the
    last few are cached. Link failures evolve bucket by bucket, in order, from all-up at bucket 0:
    asking for a later bucket first steps the failure process through the buckets in between. Step b
    draws from its own stream ``default_rng([seed, b])``, where ``seed`` is drawn once from ``rng`` at
    construction / :meth:`reset`; the failure state is checkpointed every few buckets, so going back to
    an earlier bucket replays it exactly. The result depends only on ``rng``, never on the query order.

    Args:
        constellation: the satellites.
        site_lat_deg, site_lon_deg: [deg] (S,) ground sites (on the WGS84 ellipsoid).
        min_elevation_deg: [deg] GSL elevation mask (25 deg: SpaceX FCC SAT-MOD-20181108-00083).
        isl_max_range_km: [km] longest usable laser link.
        atmosphere_margin_km: [km] ISLs must pass this far above the equatorial radius.
        isl_capacity_gbps: [Gbit/s] per laser ISL (100: SpaceX statements on Starlink lasers, 2024).
        gsl_capacity_gbps: [Gbit/s] ground-link capacity per satellite (20: del Portillo et al. 2019).
        failure_rate_per_hour: [1/h] ISL failure rate (0: no failures).
        repair_time_s: [s] mean ISL repair time.
        rng: numpy Generator for failures; required when ``failure_rate_per_hour > 0``.
        topology_dt_s: [s] topology bucket length.
        lazy_routing: route a site only when its delays are first used (see :func:`build_snapshot`).
        cache_buckets: [-] snapshots kept (the current bucket and those ahead in which jobs finish; see
            :meth:`snapshot` for which go first).
        regrid_s: [s] period at which the +Grid of catalogue shells is re-paired from the current phases
            (satellites of one plane at slightly different altitudes overtake each other: in the shipped catalogue
            0.1 % of the pairs change per hour, 2.5 % per day); None keeps the epoch's pairs. Walker shells never
            change. Re-pairing needs the link-failure process off (its state is per link): with
            ``failure_rate_per_hour > 0`` the epoch's pairs are kept. :attr:`pairs` are those of the latest
            snapshot returned (each snapshot carries its own ``pairs``).
        inter_shell_isls: add each bucket's inter-shell bridges (:func:`bridge_isls`) after the +Grid pairs of
            its snapshot (``isl_bridge`` marks them): operational satellites of meshed catalogue shells
            (:class:`CatalogueShell`) link their free laser terminals (4 minus their usable +Grid links) to
            satellites of other shells. Recomputed every bucket (shells of different inclination drift apart at
            km/s). With ``failure_rate_per_hour > 0`` each bridge is up with the failure chain's stationary
            availability ``p_repair / (p_fail + p_repair)``, one independent draw per bridge and bucket from
            ``default_rng([seed, bucket, 2])`` (``seed`` as for the +Grid failures). Walker and raw TLE shells
            never take part, so Walker constellations get no bridges.
    """

    _FAILURE_HISTORY = 64  # [buckets] recent link-failure states kept (TwoStateChains checkpoints the rest)

    def __init__(
        self,
        constellation: Constellation,
        site_lat_deg: ArrayLike,
        site_lon_deg: ArrayLike,
        *,
        min_elevation_deg: float = LinksConfig.min_elevation_deg,
        isl_max_range_km: float = LinksConfig.isl_max_range_km,
        atmosphere_margin_km: float = LinksConfig.atmosphere_margin_km,
        isl_capacity_gbps: float = LinksConfig.isl_capacity_gbps,
        gsl_capacity_gbps: float = LinksConfig.gsl_capacity_gbps,
        failure_rate_per_hour: float = LinksConfig.isl_failure_rate_per_hour,
        repair_time_s: float = LinksConfig.isl_repair_time_s,
        rng: np.random.Generator | None = None,
        topology_dt_s: float = 10.0,
        lazy_routing: bool = False,
        cache_buckets: int = 4,
        regrid_s: float | None = CATALOGUE_REGRID_S,
        inter_shell_isls: bool = False,
    ):
        if not isinstance(constellation, Constellation):
            raise ValueError(f"constellation: expected a Constellation, got {type(constellation).__name__}")
        self.site_lat_deg, self.site_lon_deg = _check_sites(site_lat_deg, site_lon_deg)
        self.site_lat_deg.flags.writeable = False
        self.site_lon_deg.flags.writeable = False
        _check_link_figures(min_elevation_deg, isl_max_range_km, atmosphere_margin_km, isl_capacity_gbps,
                            gsl_capacity_gbps, topology_dt_s)
        self.constellation = constellation
        self.min_elevation_deg = float(min_elevation_deg)
        self.isl_max_range_km = float(isl_max_range_km)
        self.atmosphere_margin_km = float(atmosphere_margin_km)
        self.isl_capacity_gbps = float(isl_capacity_gbps)
        self.gsl_capacity_gbps = float(gsl_capacity_gbps)
        self.topology_dt_s = float(topology_dt_s)
        _check_cache_and_bridges(cache_buckets, regrid_s, inter_shell_isls)
        self.lazy_routing = bool(lazy_routing)
        self.cache_buckets = cache_buckets
        self.inter_shell_isls = bool(inter_shell_isls)
        meshed = np.array([isinstance(info, CatalogueShell) and info.meshable for info in constellation.shells])
        member = constellation.operational & (constellation.plane >= 0) & meshed[constellation.shell]
        #: (N,) satellites that may take bridges (operational, in a plane of a meshed catalogue shell); None: none.
        self._bridge_member = _readonly(member) if self.inter_shell_isls and member.any() else None
        self._pairs0 = _readonly(plus_grid_isls(constellation))
        self.pairs = self._pairs0
        self.regrid_s = float(regrid_s) if (regrid_s is not None and meshed.any() and failure_rate_per_hour == 0.0) \
            else None
        self._grids: OrderedDict[int, NDArray[np.int64]] = OrderedDict({0: self._pairs0})
        self._operational = constellation.operational
        self.failures = LinkFailures(len(self._pairs0), failure_rate_per_hour, repair_time_s, rng)
        self._cache: OrderedDict[int, NetworkSnapshot] = OrderedDict()
        self._now_bucket = -1  # the clock's bucket (snapshot(..., current=True)); earlier ones are evicted first
        #: Optional hook of the ``faults`` section: bucket -> (satellites down (N,), sites whose ground links are
        #: down (S,)) (set by the simulator when faults are on; None: no such faults).
        self.fault_hook: Callable[[int], tuple[NDArray[np.bool_], NDArray[np.bool_]]] | None = None
        #: Optional bucket -> snapshot mapping shared with other networks of the same scenario (the batched vector
        #: env's copies, :mod:`orbitcloud_env.vector`): a bucket one of them built is reused, not built again. Only
        #: for networks whose snapshots are a function of the bucket alone (no random link failures, no fault hook).
        self.shared_snapshots: MutableMapping[int, NetworkSnapshot] | None = None
        self._restart_failures()

    @classmethod
    def from_config(
        cls,
        constellation: Constellation,
        site_lat_deg: ArrayLike,
        site_lon_deg: ArrayLike,
        links: LinksConfig,
        *,
        rng: np.random.Generator | None = None,
        topology_dt_s: float = 10.0,
        lazy_routing: bool = False,
        cache_buckets: int = 4,
    ) -> "Network":
        """A network whose link figures come from a validated :class:`~orbitcloud_env.config.LinksConfig`.

        Args:
            constellation: the satellites; site_lat_deg, site_lon_deg: [deg] (S,) ground sites.
            links: the scenario's ``links`` section (elevation mask, ISL range, margin, capacities, failures,
                inter-shell bridges).
            rng, topology_dt_s, lazy_routing, cache_buckets: as in :class:`Network` ([s] for the bucket length).
        """
        if not isinstance(links, LinksConfig):
            raise ValueError(f"links: expected a LinksConfig, got {type(links).__name__}")
        return cls(
            constellation, site_lat_deg, site_lon_deg, min_elevation_deg=links.min_elevation_deg,
            isl_max_range_km=links.isl_max_range_km, atmosphere_margin_km=links.atmosphere_margin_km,
            isl_capacity_gbps=links.isl_capacity_gbps, gsl_capacity_gbps=links.gsl_capacity_gbps,
            failure_rate_per_hour=links.isl_failure_rate_per_hour, repair_time_s=links.isl_repair_time_s,
            rng=rng, topology_dt_s=topology_dt_s, lazy_routing=lazy_routing, cache_buckets=cache_buckets,
            inter_shell_isls=links.inter_shell_isls,
        )

    @property
    def n_sites(self) -> int:
        return self.site_lat_deg.shape[0]

    def reset(self, rng: np.random.Generator | None = None, start_time_s: float | None = None) -> None:
        """Forget cached snapshots and restart the failure process.

        Args:
            rng: new generator for failures (default: keep the current one). A fresh stream seed is drawn
                from it when the failure rate is > 0, so the same generator state gives the same history.
            start_time_s: [s since epoch] the episode's start. None: the process starts all-up at bucket 0 and
                is stepped up to any bucket asked for (the cost grows with the time since the epoch). Given (and
                the failure rate > 0): the start bucket is drawn from the chain's stationary distribution (each
                link failed with probability p_fail / (p_fail + p_repair) per step), one draw however late.
        """
        self.failures.reset(rng)
        self._cache.clear()
        self._now_bucket = -1
        self._restart_failures(start_time_s)

    #: Buckets before the clock's that :meth:`snapshot` keeps cached.
    _PAST_KEPT = 2

    def _restart_failures(self, start_time_s: float | None = None) -> None:
        lf = self.failures
        self._failure_seed = int(lf.rng.integers(2**63)) if lf.failure_rate_per_hour > 0.0 else 0
        #: Stationary start (the simulator's episodes): long gaps are crossed with one exact k-step draw.
        stationary = start_time_s is not None and lf.failure_rate_per_hour > 0.0
        b0 = self.bucket(start_time_s) if stationary else 0
        p_fail, p_repair = lf.step_probabilities(self.topology_dt_s)
        #: The links' failure chains (orbitcloud_env.faults.TwoStateChains, as the node faults'); one per link.
        self._link_chains = TwoStateChains(np.full(lf.n_links, p_fail), np.full(lf.n_links, p_repair),
                                           history=self._FAILURE_HISTORY, packed=True)
        self._link_chains.reset(self._failure_seed, b0, stationary)

    @property
    def _failure_b0(self) -> int:
        """The failure chains' first bucket."""
        return self._link_chains.b0

    @property
    def _failure_bucket(self) -> int:
        """The latest bucket the failure chains were stepped to."""
        return self._link_chains.latest

    def get_state(self) -> tuple:
        """The topology cache's state, for :meth:`set_state`: the link-failure chains' computed buckets (None while
        the failure rate is 0: nothing is drawn), the clock's bucket of the snapshot cache and :attr:`pairs`.

        The cached snapshots themselves are shared, not copied: a snapshot is a function of its bucket (positions,
        links and routes), so one built by a lookahead is the one the episode would build. The exception, a bucket
        the failure chains reached by a long-gap jump (:data:`orbitcloud_env.faults.MAX_STEP_GAP` buckets ahead),
        is dropped by :meth:`set_state`."""
        chains = self._link_chains.get_state() if self.failures.failure_rate_per_hour > 0.0 else None
        return chains, self._now_bucket, self.pairs

    def set_state(self, state: tuple) -> None:
        """Return to a state from :meth:`get_state` of this episode (it can be restored many times)."""
        chains, self._now_bucket, self.pairs = state
        if chains is None:
            return
        latest, gaps = chains[0], chains[4]
        if len(self._link_chains.gaps) != len(gaps):  # a jump since: its snapshots depend on the query order
            for k in [k for k in self._cache if k > latest]:
                del self._cache[k]
        self._link_chains.set_state(chains)

    def bucket(self, time_s: float) -> int:
        """Topology bucket index ``floor(time_s / topology_dt_s)`` of ``time_s`` [s] >= 0."""
        t = float(time_s)
        if not (math.isfinite(t) and t >= 0.0):
            raise ValueError(f"time_s: must be finite and >= 0 s since the epoch, got {time_s}")
        return int(math.floor(t / self.topology_dt_s))

    def _failed_at(self, b: int) -> NDArray[np.bool_]:
        if self.failures.failure_rate_per_hour == 0.0:
            return np.zeros(len(self._pairs_at(b)), dtype=bool)
        return self._link_chains.down(b)

    def snapshot(self, time_s: float, current: bool = False) -> NetworkSnapshot:
        """The :class:`NetworkSnapshot` of the bucket containing ``time_s`` [s since epoch].

        ``current=True`` marks that bucket as the clock's (the simulator's current bucket): snapshots more than
        ``_PAST_KEPT`` buckets before it are dropped (a clock that moves forward does not read them again; a
        lookahead that restores an earlier state finds the last few), and when the cache is full, earlier buckets go
        first, then the least recently used. Snapshots are deterministic, so this only decides what is computed
        twice.
        """
        b = self.bucket(time_s)
        if current and b != self._now_bucket:
            self._now_bucket = b
            for k in [k for k in self._cache if k < b - self._PAST_KEPT]:
                del self._cache[k]  # routed from many sites, these are the big ones
        snap = self._cache.get(b)
        if snap is not None:
            self._cache.move_to_end(b)
            self.pairs = snap.pairs
            return snap
        shared = self.shared_snapshots
        snap = shared.get(b) if shared is not None else None
        if snap is None:
            snap = self._build_snapshot(b)
            if shared is not None:
                shared[b] = snap
        self._cache[b] = snap
        if len(self._cache) > self.cache_buckets:
            past = [k for k in self._cache if k < self._now_bucket]
            if past:
                del self._cache[min(past)]
            else:
                self._cache.popitem(last=False)
        self.pairs = snap.pairs
        return snap

    def _build_snapshot(self, b: int) -> NetworkSnapshot:
        """Propagate, link and (unless lazy) route bucket ``b``."""
        failed = self._failed_at(b)
        t0 = b * self.topology_dt_s
        pairs = self._pairs_at(b)
        pos, vel, sgp4_ok = self.constellation.propagate(t0)
        fault = satellite_faults(pos, vel, sgp4_ok, self._operational)
        site_down = None
        if self.fault_hook is not None:
            sat_down, site_down = self.fault_hook(b)
            fault[(fault == SatelliteFault.OK) & sat_down] = SatelliteFault.RANDOM_FAILURE
        ok = fault == SatelliteFault.OK
        up, dist = isl_state(pos, pairs, self.isl_max_range_km, self.atmosphere_margin_km)
        n_grid = len(pairs)
        if self._bridge_member is not None:
            pairs, up, dist, failed = self._with_bridges(b, pos, ok, pairs, up, dist, failed)
        return build_snapshot(
            t0, pos, ok, pairs, up & ~failed, dist, self.site_lat_deg, self.site_lon_deg,
            self.min_elevation_deg, self.isl_capacity_gbps, self.gsl_capacity_gbps,
            lazy_routing=self.lazy_routing, sat_fault=fault, site_gsl_down=site_down,
            isl_bridge=np.arange(len(pairs)) >= n_grid,
        )

    def _with_bridges(
        self, b: int, pos: NDArray[np.float64], ok: NDArray[np.bool_], pairs: NDArray[np.int64],
        up: NDArray[np.bool_], dist: NDArray[np.float64], failed: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.bool_]]:
        """Bucket ``b``'s +Grid ``pairs`` (with their geometric ``up``, ``dist`` [km] and ``failed``) followed by its
        bridges (:func:`bridge_isls`), which join the pieces of the +Grid's usable links."""
        n = len(self.constellation)
        used = pairs[up & ok[pairs[:, 0]] & ok[pairs[:, 1]]]  # +Grid links whose terminals are pointed
        links = np.bincount(used.ravel(), minlength=n)
        free = np.where(self._bridge_member & ok, np.maximum(_MAX_ISL_DEGREE - links, 0), 0)
        _, piece = connected_components(csr_matrix((np.ones(len(used)), (used[:, 0], used[:, 1])), shape=(n, n)),
                                        directed=False)
        bridges = bridge_isls(pos, self.constellation.shell, free, ok, self.isl_max_range_km,
                              self.atmosphere_margin_km, component=piece)
        b_up, b_dist = isl_state(pos, bridges, self.isl_max_range_km, self.atmosphere_margin_km)
        b_failed = np.zeros(len(bridges), dtype=bool)
        lf = self.failures
        if lf.failure_rate_per_hour > 0.0:  # stationary availability, one independent draw per bridge and bucket
            p_fail, p_repair = lf.step_probabilities(self.topology_dt_s)
            u = np.random.default_rng([self._failure_seed, b, 2]).random(len(bridges))
            b_failed = u >= p_repair / (p_fail + p_repair)
        return (np.concatenate([pairs, bridges]), np.concatenate([up, b_up]), np.concatenate([dist, b_dist]),
                np.concatenate([failed, b_failed]))

    def _pairs_at(self, b: int) -> NDArray[np.int64]:
        """Candidate ISLs of bucket ``b``: the epoch's, or those of its regrid period (catalogue shells)."""
        if self.regrid_s is None:
            return self._pairs0
        k = int(math.floor(b * self.topology_dt_s / self.regrid_s))
        grid = self._grids.get(k)
        if grid is None:
            grid = _readonly(plus_grid_isls(self.constellation, k * self.regrid_s))
            self._grids[k] = grid
            if len(self._grids) > 4:
                self._grids.popitem(last=False)
        return grid

    def network_graph(self, time_s: float) -> nx.Graph:
        """networkx view (:meth:`NetworkSnapshot.to_networkx`) of the snapshot at ``time_s`` [s].

        Satellite nodes also carry ``shell`` and ``plane`` (-1 when unknown or not operational) and
        ``operational`` (catalogue status; ``ok`` is whether the satellite is usable in this bucket).
        """
        g = self.snapshot(time_s).to_networkx()
        c = self.constellation
        for i, (sh, pl, op) in enumerate(zip(c.shell.tolist(), c.plane.tolist(), c.operational.tolist())):
            node = g.nodes[i]
            node["shell"] = sh
            node["plane"] = pl
            node["operational"] = op
        return g
