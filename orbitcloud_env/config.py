"""Scenario configuration: typed, frozen dataclasses for every subsystem, YAML presets, validation.

One place holds every default: the dataclass field defaults below (a Starlink-shell-1 scenario). A preset
(``orbitcloud_env/presets/<name>.yaml``) or a user's YAML file changes only what differs, and single fields are
overridden with dotted keys::

    from orbitcloud_env.config import load_config
    cfg = load_config("small", {"altitude_km": 800, "max_jobs": 500})

Every check raises :class:`ConfigError` (a ``ValueError``) whose message names the field and what is allowed; an
unknown key names the nearest valid one. Derived values (satellite count, orbital period) are properties.

Clocks: all times are seconds of simulated time. ``episode.topology_dt_s`` is the topology clock (satellite
positions, links, routes and batteries are refreshed once per bucket of that length); jobs arrive and are placed
on the event clock (one agent step per arriving job).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, MU_EARTH_KM3_S2
from orbitcloud_env.data import NotARegularFileError, read_table, resolve_data_path
from orbitcloud_env.plain import to_plain
from orbitcloud_env.suggest import closest, did_you_mean

__all__ = [
    "ConfigError",
    "UnknownFieldError",
    "ShellConfig",
    "ConstellationConfig",
    "GroundConfig",
    "LinksConfig",
    "ComputeConfig",
    "PowerConfig",
    "JobClassConfig",
    "WorkloadConfig",
    "BackgroundConfig",
    "ObservationConfig",
    "OBSERVATION_GROUPS",
    "V1_OBSERVATION_GROUPS",
    "REWARD_OBJECTIVES",
    "RewardConfig",
    "EpisodeConfig",
    "FaultsConfig",
    "ScenarioConfig",
    "PRESETS",
    "available_presets",
    "load_config",
]

#: Names of the presets shipped in ``orbitcloud_env/presets``: the v1 scenarios (the defaults: congested,
#: time-varying, orbit-scale episodes), then the v0 light-load scenarios of the first release (``*-v0``), then the
#: v1 scenarios under the v2 value objective (``*-v2``).
PRESETS: tuple[str, ...] = ("small", "starlink", "kuiper", "mega", "giga", "starlink2026", "small-v0",
                            "starlink-v0", "kuiper-v0", "mega-v0", "starlink-v2", "small-v2", "kuiper-v2",
                            "starlink2026-v3")
#: Shipped presets that only serve as a ``base:`` of others (``legacy-v0``: every v0 default that v1 changed;
#: ``value-v2``: the v2 objective, merged over a v1 scenario by the ``*-v2`` presets).
_BASE_PRESETS: tuple[str, ...] = ("legacy-v0", "value-v2")

#: Allowed altitude range of a shell [km] (below ~160 km an orbit decays within days; above 2,000 km is not LEO).
MIN_ALTITUDE_KM = 160.0
MAX_ALTITUDE_KM = 2_000.0
#: [-] Default least number of satellites of a catalogue shell that is meshed (``constellation.min_shell_sats``;
#: used by catalogue.infer_structure too). docs/physics_network.md.
MIN_SHELL_SATS = 50
#: [s] Default period at which the +Grid of catalogue shells is re-paired from the current phases (Network's
#: ``regrid_s``): in the shipped catalogue 0.1 % of the pairs change per hour, 2.5 % per day
#: (docs/physics_network.md).
CATALOGUE_REGRID_S = 3_600.0

# Physical and size bounds (decades, not aeons; sizes a 128 GB machine can hold). A value past one is a ConfigError
# naming the field, never a MemoryError, an overflow or a silent loss of time precision.
#: [s] Julian year (IAU): the unit of the time bounds below.
YEAR_S = 365.25 * 86_400.0
#: [s] Longest start-time spread and episode time limit: 10 years. The event clock is a float64 count of seconds
#: since the epoch, resolved to ~0.1 us at 20 years (2^-23 s near 6.3e8 s); at 1e15 s it would be 0.125 s.
MAX_EPISODE_TIME_S = 10 * YEAR_S
#: [s] Longest mean repair / outage time of a fault (30 days).
MAX_REPAIR_TIME_S = 30 * 86_400.0
#: [1/h] Highest failure rate per element (one failure a minute on average).
MAX_FAILURE_RATE_PER_HOUR = 60.0
#: [s] Longest horizon of the "sunlit soon" feature (one day: 15 orbits in LEO).
MAX_LOOKAHEAD_S = 86_400.0
#: [ms] Longest job deadline (7 days).
MAX_DEADLINE_MS = 7 * 86_400.0 * 1e3
#: [-] Most planes, satellites per plane (per shell) and satellites in all shells (~5x the largest preset, giga).
MAX_PLANES = 10_000
MAX_SATS_PER_PLANE = 10_000
MAX_SATELLITES = 100_000
#: [jobs] Most jobs a node may hold, and most decisions per episode.
MAX_QUEUE_LIMIT = 1_000_000
MAX_JOBS = 1_000_000_000
#: [value units / GFLOP] Highest price of a job class's GFLOP (a v2 interactive GFLOP is worth 6e-3).
MAX_PRICE_PER_GFLOP = 1e3


class ConfigError(ValueError):
    """A scenario configuration value is invalid; the message names the field and what is allowed."""


class UnknownFieldError(ConfigError, TypeError):
    """A config field that does not exist. Also a ``TypeError``: ``OrbitCloudEnv(**kwargs)`` (and so
    ``gymnasium.make``) raises it for an unknown keyword, which wrappers probing for optional keywords (TorchRL's
    ``GymEnv`` passes ``frameskip``) expect to be a ``TypeError``. ``field`` is the name as given."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# ----------------------------------------------------------------------------------------------------------------
# Small checking helpers used by every section's __post_init__.


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {message}")


def _check_range(value: float, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    lo = None if low is None else (f"> {low}" if low_open else f">= {low}")
    hi = None if high is None else (f"< {high}" if high_open else f"<= {high}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{name}: must be {' and '.join(x for x in (lo, hi) if x)}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ConfigError(f"{name}: must be {' and '.join(x for x in (hi, lo) if x)}, got {value!r}")


# ----------------------------------------------------------------------------------------------------------------
# Sections.


@dataclass(frozen=True)
class ShellConfig:
    """One Walker shell of satellites.

    Args:
        planes: [-] number of orbital planes (>= 1).
        sats_per_plane: [-] satellites per plane (>= 1).
        altitude_km: [km] circular-orbit altitude above the equatorial radius, 160..2,000.
        inclination_deg: [deg] orbit inclination, 0..180.
        phasing: [-] Walker phasing factor F, 0 <= F < planes.
        raan_spread_deg: [deg] spread of the ascending nodes: 360 for Walker delta (Starlink, Kuiper), 180 for a
            Walker-star/polar layout (Iridium).
    """

    planes: int = 72
    sats_per_plane: int = 22
    altitude_km: float = 550.0
    inclination_deg: float = 53.0
    phasing: int = 1
    raan_spread_deg: float = 360.0

    def __post_init__(self) -> None:
        _validate_shell(self, "")

    @property
    def n_satellites(self) -> int:
        """[-] Satellites in the shell."""
        return self.planes * self.sats_per_plane

    @property
    def period_s(self) -> float:
        """[s] Keplerian orbital period at this altitude."""
        a_km = EARTH_RADIUS_EQ_KM + self.altitude_km
        return 2.0 * math.pi * math.sqrt(a_km**3 / MU_EARTH_KM3_S2)


def _validate_shell(s: Any, prefix: str) -> None:
    _check_range(s.planes, f"{prefix}planes", 1, MAX_PLANES)
    _check_range(s.sats_per_plane, f"{prefix}sats_per_plane", 1, MAX_SATS_PER_PLANE)
    _check_range(s.altitude_km, f"{prefix}altitude_km", MIN_ALTITUDE_KM, MAX_ALTITUDE_KM)
    _check_range(s.inclination_deg, f"{prefix}inclination_deg", 0.0, 180.0)
    _check(0 <= s.phasing < s.planes, f"{prefix}phasing", f"must satisfy 0 <= phasing < planes ({s.planes}), "
           f"got {s.phasing}")
    _check(s.raan_spread_deg in (180.0, 360.0), f"{prefix}raan_spread_deg",
           f"must be 360 (Walker delta) or 180 (Walker star / polar), got {s.raan_spread_deg!r}")


@dataclass(frozen=True)
class ConstellationConfig:
    """The satellites: one primary Walker shell, optional extra shells, or a TLE file.

    The primary shell's fields sit at this level so that ``constellation.altitude_km`` overrides work directly.

    Args:
        planes, sats_per_plane, altitude_km, inclination_deg, phasing, raan_spread_deg: the primary shell, as in
            :class:`ShellConfig` (units: [-], [-], [km], [deg], [-], [deg]).
        extra_shells: further Walker shells (a list of ShellConfig mappings in YAML).
        tle_path: path of a 2- or 3-line TLE file, or ``package:<name>`` for a file shipped in orbitcloud_env/data;
            when set, it replaces the Walker shells and the catalogue's shells, planes and slots are inferred
            (docs/physics_network.md).
        epoch_utc: ISO-8601 UTC time of the constellation epoch (Walker shells are built at this epoch).
        keep_non_operational: keep a catalogue's non-operational satellites (outside their shell's altitude band,
            in no shell or in a shell too small to mesh) as compute nodes without ISLs; False flags them down.
        min_shell_sats: [-] a catalogue shell needs at least this many satellites to be meshed.
    """

    planes: int = 72
    sats_per_plane: int = 22
    altitude_km: float = 550.0
    inclination_deg: float = 53.0
    phasing: int = 1
    raan_spread_deg: float = 360.0
    extra_shells: tuple[ShellConfig, ...] = ()
    tle_path: str | None = None
    epoch_utc: str = "2026-03-20T00:00:00Z"
    keep_non_operational: bool = False
    min_shell_sats: int = MIN_SHELL_SATS

    def __post_init__(self) -> None:
        _validate_shell(self, "")
        try:
            _ = self.epoch  # parses epoch_utc
        except ValueError:
            raise ConfigError(f"epoch_utc: must be an ISO-8601 UTC time such as "
                              f"'2026-03-20T00:00:00Z', got {self.epoch_utc!r}") from None
        if self.tle_path is not None:
            try:
                resolve_data_path(self.tle_path)
            except NotARegularFileError as exc:
                _check(False, "tle_path", str(exc))
            except FileNotFoundError:
                _check(False, "tle_path", f"no such file: {self.tle_path!r} (a path, or package:<name> for a file "
                       f"of orbitcloud_env/data)")
        _check(isinstance(self.keep_non_operational, bool), "keep_non_operational",
               f"expected true or false, got {self.keep_non_operational!r}")
        _check_range(self.min_shell_sats, "min_shell_sats", 2, 100_000)
        _check(len(self.extra_shells) <= 64, "extra_shells", f"at most 64 shells, got {len(self.extra_shells)}")
        _check(self.n_satellites <= MAX_SATELLITES, "planes",
               f"the Walker shells hold {self.n_satellites:,} satellites (planes x sats_per_plane, summed over "
               f"the shells); at most {MAX_SATELLITES:,} are allowed")

    @property
    def shells(self) -> tuple[ShellConfig, ...]:
        """All Walker shells, the primary first."""
        primary = ShellConfig(self.planes, self.sats_per_plane, self.altitude_km, self.inclination_deg,
                              self.phasing, self.raan_spread_deg)
        return (primary, *self.extra_shells)

    @property
    def n_satellites(self) -> int:
        """[-] Satellites in the Walker shells (a TLE constellation is counted when it is loaded)."""
        return sum(s.n_satellites for s in self.shells)

    @property
    def epoch(self) -> datetime:
        """The epoch as an aware UTC datetime."""
        dt = datetime.fromisoformat(self.epoch_utc.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            raise ValueError("naive")
        return dt.astimezone(timezone.utc)


@dataclass(frozen=True)
class GroundConfig:
    """Users' sites, gateways and terrestrial data centres.

    Args:
        n_sites: [-] user sites: the most populous cities of the shipped table, weighted by population.
        data_centres: ids of the terrestrial cloud regions used as placement targets (empty: orbit only).
        fibre_route_factor: [-] terrestrial fibre length / great-circle distance (>= 1; 1.5 by default, see
            docs/physics_ground_power.md).
    """

    n_sites: int = 100
    data_centres: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1",
                                     "ap-southeast-1", "ap-south-1", "sa-east-1", "af-south-1", "ap-southeast-2")
    fibre_route_factor: float = 1.5

    def __post_init__(self) -> None:
        _check_range(self.n_sites, "n_sites", 1, len(read_table("cities.csv")[1]))
        _check(len(set(self.data_centres)) == len(self.data_centres), "data_centres",
               f"ids must be unique, got {list(self.data_centres)}")
        _check_range(self.fibre_route_factor, "fibre_route_factor", 1.0, 5.0)


@dataclass(frozen=True)
class LinksConfig:
    """Inter-satellite (laser) and ground-satellite links.

    Args:
        min_elevation_deg: [deg] minimum elevation for a ground-satellite link (25 for Starlink: SpaceX FCC
            modification SAT-MOD-20181108-00083).
        isl_max_range_km: [km] maximum laser ISL range.
        atmosphere_margin_km: [km] an ISL's line of sight must clear the equatorial radius plus this margin.
        isl_capacity_gbps: [Gbit/s] laser ISL capacity (100 Gbit/s: SpaceX statements on Starlink lasers, 2024).
        gsl_capacity_gbps: [Gbit/s] ground-satellite link capacity (~20 Gbit/s per satellite: del Portillo et al.,
            Acta Astronautica 159, 2019).
        fibre_capacity_gbps: [Gbit/s] capacity of a site's terrestrial path to a data centre.
        isl_failure_rate_per_hour: [1/h] random ISL failure rate per link (0 disables failures).
        isl_repair_time_s: [s] mean repair time of a failed ISL.
        inter_shell_isls: link the free laser terminals of a catalogue's shells to other shells ("bridges",
            recomputed every topology bucket; docs/physics_network.md), so that the operational mesh of a real
            catalogue is one piece. False (the default) keeps each shell's +Grid alone. Walker shells take no
            bridges.
    """

    min_elevation_deg: float = 25.0
    isl_max_range_km: float = 5_000.0
    atmosphere_margin_km: float = 80.0
    isl_capacity_gbps: float = 100.0
    gsl_capacity_gbps: float = 20.0
    fibre_capacity_gbps: float = 10.0
    isl_failure_rate_per_hour: float = 0.0
    isl_repair_time_s: float = 600.0
    inter_shell_isls: bool = False

    def __post_init__(self) -> None:
        _check_range(self.min_elevation_deg, "min_elevation_deg", 0.0, 90.0, high_open=True)
        _check_range(self.isl_max_range_km, "isl_max_range_km", 0.0, 100_000.0, low_open=True)
        _check_range(self.atmosphere_margin_km, "atmosphere_margin_km", 0.0, 1_000.0)
        _check_range(self.isl_capacity_gbps, "isl_capacity_gbps", 0.0, low_open=True)
        _check_range(self.gsl_capacity_gbps, "gsl_capacity_gbps", 0.0, low_open=True)
        _check_range(self.fibre_capacity_gbps, "fibre_capacity_gbps", 0.0, low_open=True)
        _check_range(self.isl_failure_rate_per_hour, "isl_failure_rate_per_hour", 0.0)
        _check_range(self.isl_failure_rate_per_hour, "isl_failure_rate_per_hour", 0.0, MAX_FAILURE_RATE_PER_HOUR)
        _check_range(self.isl_repair_time_s, "isl_repair_time_s", 0.0, MAX_REPAIR_TIME_S, low_open=True)
        _check(isinstance(self.inter_shell_isls, bool), "inter_shell_isls",
               f"expected true or false, got {self.inter_shell_isls!r}")


@dataclass(frozen=True)
class ComputeConfig:
    """Compute nodes: satellites (a configurable share of them) and terrestrial data centres.

    Each node serves its queue first-in first-out over parallel servers that share its capacity (a job runs on
    the server that frees up first). Energy of a job = power of one busy server x compute time.

    Args:
        satellite_fraction: [-] share of satellites carrying compute, 0..1 (every k-th satellite, deterministic).
        satellite_capacity_gflops: [GFLOP/s] per satellite (assumed edge accelerator, ~1 TFLOP/s class).
        satellite_servers: [-] parallel servers (accelerators) per satellite.
        satellite_queue_limit: [jobs] jobs a satellite holds (waiting + in service).
        satellite_power_w: [W] electrical power of a satellite's compute payload with every server busy.
        datacentre_capacity_gflops: [GFLOP/s] per data centre region (the share rented to this service).
        datacentre_servers: [-] parallel servers per region: 4 of 5,000 GFLOP/s by default (assumed: ground servers
            5x faster than the satellites' power-limited accelerators), so one long batch job holds up one server,
            not the region.
        datacentre_queue_limit: [jobs] jobs a data centre holds.
        datacentre_power_w: [W] power drawn by a region's servers with every server busy.
    """

    satellite_fraction: float = 0.05
    satellite_capacity_gflops: float = 1_000.0
    satellite_servers: int = 1
    satellite_queue_limit: int = 16
    satellite_power_w: float = 900.0
    datacentre_capacity_gflops: float = 8_000.0
    datacentre_servers: int = 4
    datacentre_queue_limit: int = 256
    datacentre_power_w: float = 8_000.0

    def __post_init__(self) -> None:
        _check_range(self.satellite_fraction, "satellite_fraction", 0.0, 1.0)
        _check_range(self.satellite_capacity_gflops, "satellite_capacity_gflops", 0.0, low_open=True)
        _check_range(self.satellite_servers, "satellite_servers", 1, 64)
        _check_range(self.satellite_queue_limit, "satellite_queue_limit", 1, MAX_QUEUE_LIMIT)
        _check_range(self.satellite_power_w, "satellite_power_w", 0.0)
        _check_range(self.datacentre_capacity_gflops, "datacentre_capacity_gflops", 0.0, low_open=True)
        _check_range(self.datacentre_servers, "datacentre_servers", 1, 10_000)
        _check_range(self.datacentre_queue_limit, "datacentre_queue_limit", 1, MAX_QUEUE_LIMIT)
        _check_range(self.datacentre_power_w, "datacentre_power_w", 0.0)


@dataclass(frozen=True)
class PowerConfig:
    """Solar power and batteries of the satellites' compute payload (assumed figures; see docs).

    Args:
        panel_power_w: [W] solar power available to the payload when sunlit.
        battery_capacity_wh: [Wh] battery capacity per satellite.
        base_load_w: [W] payload load drawn always (avionics, radios, thermal).
        charge_efficiency: [-] fraction of surplus solar power stored, (0, 1].
        initial_soc_min, initial_soc_max: [-] state of charge at reset, uniform in this range per satellite.
        min_soc_for_compute: [-] below this state of charge a satellite refuses new jobs.
        shadow_model: "cylindrical" or "conical" Earth shadow.
        eclipse_lookahead_s: [s] horizon of the "sunlit soon" observation feature.
        warmup_orbits: [orbits] at reset, the batteries are integrated over this many orbits before the episode
            starts (real sunlight history, base load plus ``warmup_utilisation`` of the compute power), so the
            starting charge reflects each satellite's eclipse phase; 0 starts from the uniform draw directly.
        warmup_utilisation: [-] mean compute utilisation during the warm-up, 0..1; each satellite's is drawn
            uniformly in [0, 2 x mean] (clipped to 1), since satellites over dense regions work more.
        require_energy: a satellite is valid for a job only when its battery, net of the solar surplus while it
            is sunlit, can supply the job's compute energy and stay above ``min_soc_for_compute``; False (v0):
            only the state of charge before the job is checked.
    """

    panel_power_w: float = 1_500.0
    battery_capacity_wh: float = 400.0
    base_load_w: float = 150.0
    charge_efficiency: float = 0.95
    initial_soc_min: float = 0.5
    initial_soc_max: float = 1.0
    min_soc_for_compute: float = 0.2
    shadow_model: str = "cylindrical"
    eclipse_lookahead_s: float = 600.0
    warmup_orbits: float = 1.0
    warmup_utilisation: float = 0.5
    require_energy: bool = True

    def __post_init__(self) -> None:
        _check_range(self.panel_power_w, "panel_power_w", 0.0)
        _check_range(self.battery_capacity_wh, "battery_capacity_wh", 0.0, low_open=True)
        _check_range(self.base_load_w, "base_load_w", 0.0)
        _check_range(self.charge_efficiency, "charge_efficiency", 0.0, 1.0, low_open=True)
        _check_range(self.initial_soc_min, "initial_soc_min", 0.0, 1.0)
        _check_range(self.initial_soc_max, "initial_soc_max", self.initial_soc_min, 1.0)
        _check_range(self.min_soc_for_compute, "min_soc_for_compute", 0.0, 1.0)
        _check(self.shadow_model in ("cylindrical", "conical"), "shadow_model",
               f"must be 'cylindrical' or 'conical', got {self.shadow_model!r}")
        _check_range(self.eclipse_lookahead_s, "eclipse_lookahead_s", 0.0, MAX_LOOKAHEAD_S)
        _check_range(self.warmup_orbits, "warmup_orbits", 0.0, 10.0)
        _check_range(self.warmup_utilisation, "warmup_utilisation", 0.0, 1.0)


@dataclass(frozen=True)
class JobClassConfig:
    """One class of jobs; sizes are log-normal with the given median and log-standard deviation.

    Args:
        name: class name (e.g. "interactive").
        weight: [-] relative share of arrivals (> 0).
        work_gflop: [GFLOP] median compute work; work_sigma: [-] its log-normal sigma.
        input_mb: [MB] median input size; output_mb: [MB] median output size; size_sigma: [-] their sigma.
        deadline_ms: [ms] deadline from arrival to the result back at the user's site.
        price_per_gflop: [value units / GFLOP] what a job of the class is worth per GFLOP of its work, used by the
            value objective (``reward.objective: value``, the v2 ids): a job's value is this x its work. 0 (the
            default): the class carries no value (v0, v1). Price list and sources: docs/scenarios.md.
    """

    name: str = "interactive"
    weight: float = 1.0
    work_gflop: float = 20.0
    work_sigma: float = 0.5
    input_mb: float = 0.5
    output_mb: float = 0.05
    size_sigma: float = 0.5
    deadline_ms: float = 150.0
    price_per_gflop: float = 0.0

    def __post_init__(self) -> None:
        _check(bool(self.name), "job_classes.name", "must be a non-empty string")
        p = ""
        _check_range(self.weight, f"{p}weight", 0.0, low_open=True)
        _check_range(self.work_gflop, f"{p}work_gflop", 0.0, low_open=True)
        _check_range(self.work_sigma, f"{p}work_sigma", 0.0, 3.0)
        _check_range(self.input_mb, f"{p}input_mb", 0.0)
        _check_range(self.output_mb, f"{p}output_mb", 0.0)
        _check_range(self.size_sigma, f"{p}size_sigma", 0.0, 3.0)
        _check_range(self.deadline_ms, f"{p}deadline_ms", 0.0, MAX_DEADLINE_MS, low_open=True)
        _check_range(self.price_per_gflop, f"{p}price_per_gflop", 0.0, MAX_PRICE_PER_GFLOP)


#: The v1 job classes: each job is a city's batch of requests (aggregated), so that ~5 decisions per second carry
#: the load of a congested cloud (docs/scenarios.md). v0's classes are in ``presets/legacy-v0.yaml``.
_DEFAULT_JOB_CLASSES = (
    JobClassConfig("interactive", 0.6, 40.0, 0.5, 1.0, 0.1, 0.5, 150.0),
    JobClassConfig("video", 0.3, 4_000.0, 0.5, 20.0, 1.0, 0.5, 8_000.0),
    JobClassConfig("batch", 0.1, 40_000.0, 0.7, 200.0, 20.0, 0.5, 300_000.0),
)


@dataclass(frozen=True)
class WorkloadConfig:
    """Job arrivals: Poisson, following each city's population and local time of day.

    The rate of site i at UTC time t is ``arrival_rate_per_s * w_i * (1 + A cos(2 pi (h_i(t) - peak) / 24))``
    with w_i the population weight, h_i the local solar hour and A the diurnal amplitude.

    Args:
        arrival_rate_per_s: [1/s] mean global arrival rate (before the regime and episode-level multipliers).
        diurnal_amplitude: [-] A in 0..1.
        peak_local_hour: [h] local hour of peak demand, 0..24.
        job_classes: the job classes (name, weight, sizes, deadline).
        trace_path: CSV trace to replay instead of the generator (columns in docs/workload.md).
        regime_multipliers: [-] load regimes (e.g. quiet, normal, peak): the whole demand (arrivals and the
            data centres' background load) is multiplied by the current regime's factor; the regime changes
            after exponential holding times, to a uniformly drawn other regime. Empty: no regimes.
        regime_mean_duration_s: [s] mean holding time of a regime.
        episode_level_sigma: [-] log-normal sigma of a per-episode demand level (median 1), so that episodes
            differ in load as well as in time of day; 0 disables it.
    """

    arrival_rate_per_s: float = 7.0
    diurnal_amplitude: float = 0.5
    peak_local_hour: float = 20.0
    job_classes: tuple[JobClassConfig, ...] = _DEFAULT_JOB_CLASSES
    trace_path: str | None = None
    regime_multipliers: tuple[float, ...] = (0.5, 1.0, 1.6)
    regime_mean_duration_s: float = 150.0
    episode_level_sigma: float = 0.2

    def __post_init__(self) -> None:
        _check_range(self.arrival_rate_per_s, "arrival_rate_per_s", 0.0, 1e6, low_open=True)
        _check_range(self.diurnal_amplitude, "diurnal_amplitude", 0.0, 1.0)
        _check_range(self.peak_local_hour, "peak_local_hour", 0.0, 24.0)
        _check(len(self.regime_multipliers) <= 16, "regime_multipliers", "at most 16 regimes")
        for i, m in enumerate(self.regime_multipliers):
            _check_range(m, f"regime_multipliers[{i}]", 0.0, 100.0, low_open=True)
        _check_range(self.regime_mean_duration_s, "regime_mean_duration_s", 1.0, 86_400.0)
        _check_range(self.episode_level_sigma, "episode_level_sigma", 0.0, 2.0)
        _check(len(self.job_classes) >= 1, "job_classes", "needs at least one job class")
        names = [c.name for c in self.job_classes]
        _check(len(set(names)) == len(names), "job_classes", f"names must be unique, got {names}")
        if self.trace_path is not None:
            _check(Path(self.trace_path).is_file(), "trace_path", f"no such file: {self.trace_path!r}")

    @property
    def modulated(self) -> bool:
        """True when demand regimes or a per-episode level multiply the arrival rate (v1)."""
        return bool(self.regime_multipliers) or self.episode_level_sigma > 0


@dataclass(frozen=True)
class BackgroundConfig:
    """Other tenants' load on the terrestrial cloud regions (fluid utilisation, no discrete jobs).

    Region r's background utilisation at time t (topology clock, refreshed per bucket)::

        u_r(t) = min(max_utilisation, regime(t) * level * utilisation * (1 + A cos(2 pi (h_r(t) - peak) / 24))
                                      + surge_r(t))

    with h_r the region's local solar hour, A = ``diurnal_amplitude`` and the workload's peak hour,
    ``regime(t)`` and ``level`` the workload's regime and episode-level multipliers, and ``surge_r(t)`` =
    ``surge_utilisation`` while a surge of that region lasts (Poisson starts, exponential durations). Our jobs
    get the remaining ``1 - u`` of a server's capacity: a job's compute time on a region is
    ``work / (per-server rate * (1 - u))`` with u taken when the job is placed. See docs/scenarios.md.

    Args:
        datacentre_utilisation: [-] mean background utilisation of a region, 0..0.95 (0: no background load).
        diurnal_amplitude: [-] A in 0..1.
        surge_rate_per_hour: [1/h] surge starts per region.
        surge_mean_duration_s: [s] mean surge duration.
        surge_utilisation: [-] utilisation added during a surge, 0..1.
        max_utilisation: [-] cap of u, 0..0.99 (our tenant always keeps a share).
    """

    datacentre_utilisation: float = 0.6
    diurnal_amplitude: float = 0.3
    surge_rate_per_hour: float = 2.0
    surge_mean_duration_s: float = 180.0
    surge_utilisation: float = 0.4
    max_utilisation: float = 0.95

    def __post_init__(self) -> None:
        _check_range(self.datacentre_utilisation, "datacentre_utilisation", 0.0, 0.95)
        _check_range(self.diurnal_amplitude, "diurnal_amplitude", 0.0, 1.0)
        _check_range(self.surge_rate_per_hour, "surge_rate_per_hour", 0.0, 3_600.0)
        _check_range(self.surge_mean_duration_s, "surge_mean_duration_s", 1.0, 86_400.0)
        _check_range(self.surge_utilisation, "surge_utilisation", 0.0, 1.0)
        _check_range(self.max_utilisation, "max_utilisation", 0.0, 0.99)

    @property
    def enabled(self) -> bool:
        """True when the regions carry any background load."""
        return self.datacentre_utilisation > 0.0 or (self.surge_rate_per_hour > 0.0 and self.surge_utilisation > 0.0)


#: Observation groups (``observation.groups``) beyond the base node and job features (docs/env_contract.md).
OBSERVATION_GROUPS: tuple[str, ...] = ("backlog", "load", "power", "links", "progress", "ranking", "value", "trend")
#: The groups of the v1 observation (the default): every group but the v2 ones ("value", "trend").
V1_OBSERVATION_GROUPS: tuple[str, ...] = ("backlog", "load", "power", "links", "progress", "ranking")


@dataclass(frozen=True)
class ObservationConfig:
    """Which optional feature groups the observation carries (the base features are always there).

    Args:
        groups: any of ``backlog`` (queued work per node), ``load`` (recent arrival rates, background
            utilisation), ``power`` (time to the next eclipse entry or exit), ``links`` (time until a satellite
            leaves the job site's view), ``progress`` (episode progress), ``ranking`` (each row's estimated finish
            time in deadlines and its rank among the valid rows), ``value`` (the job's value, v2), ``trend``
            (the arrival rate's trend: short against long window, and the long-window rate, v2). Default: the
            v1 groups (every group but ``value`` and ``trend``); empty: the v0 observation.
    """

    groups: tuple[str, ...] = V1_OBSERVATION_GROUPS

    def __post_init__(self) -> None:
        for g in self.groups:
            _check(g in OBSERVATION_GROUPS, "observation.groups",
                   f"unknown group {g!r}{did_you_mean(g, OBSERVATION_GROUPS)} (valid: {', '.join(OBSERVATION_GROUPS)})")
        _check(len(set(self.groups)) == len(self.groups), "observation.groups", f"groups repeat: {list(self.groups)}")


#: Reward objectives (``reward.objective``): "count" (v0, v1) and "value" (v2).
REWARD_OBJECTIVES: tuple[str, ...] = ("count", "value")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the named reward terms (see the env docstring for the formula).

    Args:
        latency_weight: [-] weight of the latency term -min(latency / deadline, latency_clip).
        latency_clip: [-] cap of latency / deadline in the latency term.
        miss_penalty: [-] penalty for a served job that missed its deadline.
        drop_penalty: [-] penalty for a job whose result could not be returned (or node refused it on arrival).
        reject_penalty: [-] penalty for a rejected job.
        invalid_action_penalty: [-] extra penalty when the action was masked out (treated as a rejection).
        energy_weight: [-] weight of the energy term -energy_j / energy_scale_j.
        energy_scale_j: [J] energy scale of the energy term.
        energy_source: what the energy term counts: "satellite_battery" (energy drawn from satellite batteries,
            what eclipse makes scarce; data-centre jobs cost none) or "all" (compute energy wherever spent, v0).
        objective: "count" (v0, v1: every job weighs the same, the terms above) or "value" (v2: each job is worth
            its class's ``price_per_gflop`` x its work; an on-time result earns that value, a late or lost one
            forfeits it and pays ``sla_penalty_fraction`` of it, and the latency term is weighted by it; see
            orbitcloud_env/reward.py and docs/scenarios.md).
        sla_penalty_fraction: [-] objective "value": share of a late or lost job's value paid as an SLA credit,
            0..10 (ignored by "count").
    """

    latency_weight: float = 0.25
    latency_clip: float = 2.0
    miss_penalty: float = 1.0
    drop_penalty: float = 1.0
    reject_penalty: float = 1.0
    invalid_action_penalty: float = 0.5
    energy_weight: float = 0.0
    energy_scale_j: float = 1_000.0
    energy_source: str = "satellite_battery"
    objective: str = "count"
    sla_penalty_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check(self.energy_source in ("satellite_battery", "all"), "energy_source",
               f"must be 'satellite_battery' or 'all', got {self.energy_source!r}")
        _check(self.objective in REWARD_OBJECTIVES, "objective",
               f"must be one of {', '.join(repr(o) for o in REWARD_OBJECTIVES)}, got {self.objective!r}")
        _check_range(self.sla_penalty_fraction, "sla_penalty_fraction", 0.0, 10.0)
        for f in dataclasses.fields(self):
            if f.name not in ("energy_source", "objective"):
                _check_range(getattr(self, f.name), f"{f.name}", 0.0, 1e6)
        _check_range(self.latency_clip, "latency_clip", 0.0, low_open=True)
        _check_range(self.energy_scale_j, "energy_scale_j", 0.0, low_open=True)


@dataclass(frozen=True)
class EpisodeConfig:
    """Episode length, clocks and the action interface.

    Args:
        max_jobs: [jobs] the episode is truncated after this many placement decisions.
        max_time_s: [s] ... or once simulated time since reset reaches this (0: no time limit).
        topology_dt_s: [s] topology clock: positions, links, routes and batteries refresh once per bucket.
        start_time_spread_s: [s] reset starts at epoch + U(0, spread) so episodes see different times of day.
        action_mode: "all_nodes" (one action per node + reject) or "candidates" (one per listed candidate +
            reject).
        candidates_k: [-] candidates listed in "candidates" mode.
        candidates_min_datacentres: [-] data centres always listed among the candidates (the best valid ones by
            estimated latency; at most ``candidates_k - 1``), so that ground placement stays possible at any
            constellation size.
        time_clip: [-] normalised time features (delay / deadline) are clipped to [0, time_clip].
    """

    max_jobs: int = 8_000
    max_time_s: float = 600.0
    topology_dt_s: float = 10.0
    start_time_spread_s: float = 86_400.0
    action_mode: str = "candidates"
    candidates_k: int = 16
    candidates_min_datacentres: int = 2
    time_clip: float = 10.0

    def __post_init__(self) -> None:
        _check_range(self.max_jobs, "max_jobs", 1, MAX_JOBS)
        _check_range(self.max_time_s, "max_time_s", 0.0, MAX_EPISODE_TIME_S)
        _check_range(self.topology_dt_s, "topology_dt_s", 0.0, 3_600.0, low_open=True)
        _check_range(self.start_time_spread_s, "start_time_spread_s", 0.0, MAX_EPISODE_TIME_S)
        _check(self.action_mode in ("all_nodes", "candidates"), "action_mode",
               f"must be 'all_nodes' or 'candidates', got {self.action_mode!r}")
        _check_range(self.candidates_k, "candidates_k", 2, 4_096)
        _check_range(self.candidates_min_datacentres, "candidates_min_datacentres", 0, 4_096)
        _check_range(self.time_clip, "time_clip", 1.0, 1_000.0)


class FaultKind(typing.NamedTuple):
    """One kind of fault (a record of :attr:`FaultsConfig.KINDS`; a tuple, so ``name, rate, repair, _ = kind``).

    Attributes:
        name: the kind, also the field of :class:`orbitcloud_env.faults.FaultState` holding its elements.
        rate_field: the :class:`FaultsConfig` field of its failure rate [1/h].
        repair_field: the :class:`FaultsConfig` field of its mean repair time [s].
        elements: what one element is: "satellite", "datacentre", "site" or "site x datacentre" (one per pair).
    """

    name: str
    rate_field: str
    repair_field: str
    elements: str


@dataclass(frozen=True)
class FaultsConfig:
    """Random faults of nodes and links (off by default: every rate 0). See docs/faults.md.

    Each element (a satellite, a satellite's compute payload, a data centre, a site's ground links, a site's fibre
    path to a data centre) is an independent two-state up/down Markov chain on the topology clock: exponential time
    to failure at ``*_rate_per_hour`` and exponential repair with mean ``*_repair_time_s``. At reset each element
    is drawn from the chain's stationary distribution (down with probability ~ rate x repair / (1 + rate x repair)),
    not simulated from the epoch. The ISL failures of ``links.isl_failure_rate_per_hour`` are not part of this
    section. Faults draw from their own stream of the episode's generator, and only when a rate is > 0.

    A job whose node (satellite, payload or data centre) is down in any topology bucket between its placement and
    the end of its compute is, with ``failed_jobs`` "lost", ``failed`` (it is charged ``reward.drop_penalty``), or
    with "replace", re-placed on a data centre (see docs/faults.md). Down nodes are invalid in the action mask. All
    figures are assumptions (no defaults are used by a shipped preset).

    Args:
        satellite_failure_rate_per_hour: [1/h] per satellite: the whole satellite is down (no compute, no ISLs,
            no ground links).
        satellite_repair_time_s: [s] mean time a failed satellite stays down (reboot / safe-mode recovery).
        payload_failure_rate_per_hour: [1/h] per compute satellite: its compute payload is down (it still routes).
        payload_repair_time_s: [s] mean time a payload stays down.
        datacentre_outage_rate_per_hour: [1/h] per data centre region.
        datacentre_repair_time_s: [s] mean outage duration of a region.
        ground_link_outage_rate_per_hour: [1/h] per user site: weather (rain fade) takes every ground-satellite
            link of the site down.
        ground_link_repair_time_s: [s] mean duration of a site's ground-link outage.
        fibre_cut_rate_per_hour: [1/h] per (site, data centre) terrestrial fibre path.
        fibre_repair_time_s: [s] mean time to repair a cut path.
        failed_jobs: what happens to a job whose node fails before its compute ends: "lost" (the job is
            ``failed``) or "replace" (it is re-sent from its site to the data centre of earliest estimated finish
            that is up at the failure time, and ends there; ``failed`` only when no region can take it).
    """

    satellite_failure_rate_per_hour: float = 0.0
    satellite_repair_time_s: float = 3_600.0
    payload_failure_rate_per_hour: float = 0.0
    payload_repair_time_s: float = 600.0
    datacentre_outage_rate_per_hour: float = 0.0
    datacentre_repair_time_s: float = 3_600.0
    ground_link_outage_rate_per_hour: float = 0.0
    ground_link_repair_time_s: float = 900.0
    fibre_cut_rate_per_hour: float = 0.0
    fibre_repair_time_s: float = 43_200.0
    failed_jobs: str = "lost"

    #: Allowed values of ``failed_jobs``.
    FAILED_JOB_MODES = ("lost", "replace")
    #: The fault kinds, one record each (the order of :data:`orbitcloud_env.faults.FAULT_KINDS`).
    KINDS = (  # a class constant (no annotation: not a dataclass field)
        FaultKind("satellite", "satellite_failure_rate_per_hour", "satellite_repair_time_s", "satellite"),
        FaultKind("payload", "payload_failure_rate_per_hour", "payload_repair_time_s", "satellite"),
        FaultKind("datacentre", "datacentre_outage_rate_per_hour", "datacentre_repair_time_s", "datacentre"),
        FaultKind("ground_link", "ground_link_outage_rate_per_hour", "ground_link_repair_time_s", "site"),
        FaultKind("fibre", "fibre_cut_rate_per_hour", "fibre_repair_time_s", "site x datacentre"),
    )

    def __post_init__(self) -> None:
        for kind in self.KINDS:
            _check_range(getattr(self, kind.rate_field), kind.rate_field, 0.0, MAX_FAILURE_RATE_PER_HOUR)
            _check_range(getattr(self, kind.repair_field), kind.repair_field, 0.0, MAX_REPAIR_TIME_S, low_open=True)
        modes = self.FAILED_JOB_MODES
        _check(self.failed_jobs in modes, "failed_jobs", f"unknown value {self.failed_jobs!r}"
               f"{did_you_mean(self.failed_jobs, modes)} (allowed: {', '.join(repr(m) for m in modes)})")

    @property
    def enabled(self) -> bool:
        """True when any fault kind has a rate > 0."""
        return any(getattr(self, kind.rate_field) > 0.0 for kind in self.KINDS)


@dataclass(frozen=True)
class ScenarioConfig:
    """A whole scenario: every subsystem's configuration."""

    name: str = "starlink"
    constellation: ConstellationConfig = field(default_factory=ConstellationConfig)
    ground: GroundConfig = field(default_factory=GroundConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    observation: ObservationConfig = field(default_factory=ObservationConfig)
    faults: FaultsConfig = field(default_factory=FaultsConfig)

    def __post_init__(self) -> None:
        if self.reward.objective == "value":
            _check(any(c.price_per_gflop > 0 for c in self.workload.job_classes),
                   "workload.job_classes.price_per_gflop",
                   "reward.objective 'value' needs a job class with a price > 0 (every job would be worth 0)")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples), loadable again by :func:`load_config`."""
        return _to_plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, overrides: Mapping[str, Any]) -> "ScenarioConfig":
        """A copy with dotted or nested overrides applied (validated)."""
        return _build(ScenarioConfig, _merge(self.to_dict(), _nest(overrides, ScenarioConfig)), "")


# ----------------------------------------------------------------------------------------------------------------
# Building dataclasses from nested mappings, with precise errors.


_to_plain = to_plain  # dicts and lists all the way down (orbitcloud_env/plain.py)


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _unknown_key_error(key: str, cls: type, prefix: str) -> ConfigError:
    valid = _field_names(cls)
    close = closest(key, valid, cutoff=0.5)
    hint = f"; did you mean '{prefix}{close}'?" if close else ""
    return UnknownFieldError(f"unknown config field '{prefix}{key}'{hint} (valid fields: {', '.join(valid)})",
                             f"{prefix}{key}")


def _all_leaf_paths(cls: type, prefix: str = "") -> dict[str, str]:
    """Map each leaf field name to its dotted path (for short overrides such as ``action_mode``)."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            for leaf, path in _all_leaf_paths(t, f"{prefix}{f.name}.").items():
                out.setdefault(leaf, path) if leaf not in out else out.__setitem__(leaf, "")
        else:
            out[f.name] = "" if f.name in out else f"{prefix}{f.name}"
    return out


def _nest(overrides: Mapping[str, Any] | None, cls: type = None) -> dict[str, Any]:
    """Turn ``{"a.b": 1}`` (or a short unique leaf name ``{"b": 1}``) into ``{"a": {"b": 1}}``."""
    cls = cls or ScenarioConfig
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"config overrides must be a mapping of field -> value, got {type(overrides).__name__}")
    top = set(_field_names(cls))
    leaves = _all_leaf_paths(cls)
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ConfigError(f"config field names must be strings, got {key!r}")
        if "." not in key and key not in top:
            path = leaves.get(key)
            if path == "":
                raise ConfigError(f"config field '{key}' is ambiguous; use its dotted path")
            if path is None:
                all_paths = [p for p in leaves.values() if p]
                close = closest(key, list(leaves) + all_paths, cutoff=0.5)
                hint = f"; did you mean '{leaves.get(close) or close}'?" if close else ""
                raise UnknownFieldError(f"unknown config field '{key}'{hint}", key)
            key = path
        parts = key.split(".")
        node = nested
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config field '{key}': '{p}' is both a value and a section")
        if isinstance(value, Mapping) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = _merge(node[parts[-1]], dict(value))
        else:
            node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value
    return nested


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", str(t).replace("typing.", ""))


def _coerce(value: Any, t: Any, name: str) -> Any:
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {type(value).__name__} {value!r}")
        item_t = args[0]
        return tuple(_coerce(v, item_t, f"{name}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(t):
        if isinstance(value, t):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a mapping of {_type_name(t)} fields, got {value!r}")
        return _build(t, value, f"{name}.")
    if isinstance(value, np.generic) and not isinstance(value, (np.bool_, np.number)):
        value = value.item()  # numpy strings and the like: their Python value
    if t is bool:
        if isinstance(value, np.bool_):
            return bool(value)
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if t is int:
        if isinstance(value, np.integer) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.floating):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if t is float:
        if isinstance(value, (np.integer, np.floating)) and not isinstance(value, np.bool_):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value!r}")
        return value
    if t is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {type(value).__name__} {value!r}")
        return value
    return value


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = set(_field_names(cls))
    for key in data:
        if key not in names:
            raise _unknown_key_error(str(key), cls, prefix)
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if prefix and not str(exc).startswith(prefix):
            raise ConfigError(f"{prefix}{exc}") from None
        raise
    except TypeError as exc:  # pragma: no cover - defensive: a missing required field
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {exc}") from None


# ----------------------------------------------------------------------------------------------------------------
# Presets and loading.


def available_presets() -> tuple[str, ...]:
    """Names of the shipped presets."""
    return PRESETS


class _DuplicateKey(Exception):
    pass


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a mapping that repeats a key is an error (PyYAML keeps the last silently)."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:
            raise _DuplicateKey(f"line {key_node.start_mark.line + 1}: a mapping key must be a name, got "
                                f"{key!r}") from None
        if first is not None:
            raise _DuplicateKey(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first at line "
                                f"{first})")
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _read_yaml_file(path: Path, source: str) -> dict[str, Any]:
    """A user's YAML file as a mapping; a missing, binary, non-UTF-8 or empty file is a ConfigError naming it."""
    if not path.is_file():
        raise ConfigError(f"{source}: config file not found: {str(path)!r}")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise ConfigError(f"{source}: {str(path)!r} is a binary file, not YAML text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: {str(path)!r} is not UTF-8 text (byte {exc.start}); a config file is "
                          f"UTF-8 YAML") from None
    data = _read_yaml(text, str(path))
    if not data:
        raise ConfigError(f"{source}: {str(path)!r} is empty (a config file holds a mapping of sections, e.g. "
                          f"'base: small' and the fields to change)")
    return data


def _preset_dict(name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A shipped preset's mapping, with its ``base:`` presets (a name or a list, applied in order) merged under it."""
    if name not in PRESETS and name not in _BASE_PRESETS:
        close = closest(name, PRESETS + _BASE_PRESETS, cutoff=0.4)
        hint = f"; did you mean '{close}'?" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint} (presets: {', '.join(PRESETS)}; base-only presets: "
                          f"{', '.join(_BASE_PRESETS)}; or a path to a YAML file ending in .yaml or .yml)")
    if name in _seen:
        raise ConfigError(f"preset {name!r}: its base presets form a cycle ({' -> '.join(_seen + (name,))})")
    text = resources.files("orbitcloud_env.presets").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = _read_yaml(text, f"preset {name!r}")
    return _with_bases(data, f"preset {name!r}", _seen + (name,))


def _with_bases(data: dict[str, Any], source: str, seen: tuple[str, ...] = (),
                base_dir: Path | None = None) -> dict[str, Any]:
    """``data`` merged over its ``base`` configs, applied in order: ``base:`` is a preset name, a path to a YAML
    file (relative paths from ``base_dir``, the folder of the file that names it), or a list of them."""
    bases = data.pop("base", None)
    if bases is None:
        return data
    names = [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not all(isinstance(b, str) for b in names):
        raise ConfigError(f"{source}: base must be a preset name, a path to a YAML file, or a list of them, got "
                          f"{bases!r}")
    out: dict[str, Any] = {}
    for b in names:
        out = _merge(out, _base_dict(b, source, seen, base_dir))
    return _merge(out, data)


def _base_dict(name: str, source: str, seen: tuple[str, ...], base_dir: Path | None) -> dict[str, Any]:
    """One ``base:`` entry's mapping (its own bases merged in)."""
    if name in PRESETS or name in _BASE_PRESETS:
        return _preset_dict(name, seen)
    path = Path(name)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.suffix.lower() not in (".yml", ".yaml") and not path.exists():
        try:
            return _preset_dict(name, seen)  # raises with a "did you mean"
        except ConfigError as exc:
            raise ConfigError(f"{source}: base: {exc}") from None
    key = str(path.resolve())
    if key in seen:
        raise ConfigError(f"{source}: its base configs form a cycle ({' -> '.join(seen + (key,))})")
    data = _read_yaml_file(path, f"{source}: base")
    return _with_bases(data, str(path), seen + (key,), path.parent)


def load_config(preset: str | Path | ScenarioConfig | Mapping[str, Any] | None = "starlink",
                overrides: Mapping[str, Any] | None = None) -> ScenarioConfig:
    """Load a scenario.

    Args:
        preset: a preset name (see :data:`PRESETS`), a path to a YAML file (its ``base`` key may name a preset to
            start from; default: the dataclass defaults), a nested mapping, a :class:`ScenarioConfig`, or None
            for the defaults.
        overrides: fields to change, dotted (``{"altitude_km": 600}``), nested
            (``{"constellation": {"altitude_km": 600}}``) or a unique short name (``{"action_mode": "all_nodes"}``).

    Raises:
        ConfigError: naming the offending field and what is allowed.
    """
    if isinstance(preset, ScenarioConfig):
        base = preset.to_dict()
    elif preset is None:
        base = ScenarioConfig().to_dict()
    elif isinstance(preset, Mapping):
        base = _merge(ScenarioConfig().to_dict(), _nest(dict(preset)))
    elif isinstance(preset, (str, Path)):
        text_name = str(preset)
        path = Path(text_name)
        if text_name in PRESETS:
            data = _preset_dict(text_name)
        elif path.suffix.lower() in (".yml", ".yaml") or path.exists():
            if not path.is_file():
                raise ConfigError(f"config file not found: {text_name!r}")
            data = _read_yaml_file(path, "config")
        else:
            _preset_dict(text_name)  # raises with a "did you mean"
            raise AssertionError("unreachable")
        base_name = data.get("base")
        own_name = "name" in data
        if text_name in PRESETS:
            data = _with_bases(data, text_name)
        else:
            data = _with_bases(data, str(path), (str(path.resolve()),), path.parent)
        base = _merge(ScenarioConfig().to_dict(), data)
        if not own_name:
            named_preset = isinstance(base_name, str) and base_name in PRESETS + _BASE_PRESETS
            base["name"] = text_name if text_name in PRESETS else (str(base_name) if named_preset else path.stem)
    else:
        raise ConfigError(f"preset: expected a preset name, a YAML path, a mapping or a ScenarioConfig, got "
                          f"{type(preset).__name__}")
    merged = _merge(base, _nest(overrides))
    return _build(ScenarioConfig, merged, "")
