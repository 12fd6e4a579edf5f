"""Ground segment of OrbitCloud: users' sites, gateways, terrestrial data centres and fibre delays.

Pure numpy; no Gymnasium. The tables ship as package data (``orbitcloud_env/data/*.csv``, each with its
source in a ``#`` header line) and are read once through :mod:`importlib.resources`, then cached. Every
returned array is read-only, so the cached tables cannot be changed by a caller.

Clocks: nothing here depends on time except :func:`local_hour`, which maps an hour of the UTC day (event
clock, via the simulator) to a solar local hour.

Sources and simplifications are in ``docs/physics_ground_power.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from numbers import Integral
from typing import Callable, Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbitcloud_env.config import GroundConfig
from orbitcloud_env.constants import C_FIBRE_KM_S
from orbitcloud_env.data import read_table
from orbitcloud_env.geometry import great_circle_km
from orbitcloud_env.suggest import did_you_mean

__all__ = [
    "Sites",
    "GroundSegment",
    "load_cities",
    "load_data_centres",
    "load_gateways",
    "user_sites",
    "fibre_delay_ms",
    "site_dc_delay_ms",
    "utc_offset_hours",
    "local_hour",
    "DEFAULT_ROUTE_FACTOR",
    "REGIONS",
    "REGION_NAMES",
    "region_of",
]

#: [-] Terrestrial fibre path length / great-circle distance. Terrestrial fibre paths are typically 1.5-2x
#: the great-circle distance: Bozkurt et al., "Dissecting Latency in the Internet's Fiber Infrastructure"
#: (arXiv:1811.10737, 2018) quote the measurement rule of thumb "line-of-sight distance x 2.1 at the speed
#: of light in fibre" and find 1.3x (median) for the shortest paths through the US long-haul conduits.
#: 1.5 is the optimistic end of the typical range, which favours terrestrial data centres.
DEFAULT_ROUTE_FACTOR: float = GroundConfig.fibre_route_factor


def _readonly(a: ArrayLike, dtype: type = np.float64) -> NDArray:
    out = np.array(a, dtype=dtype)  # always a copy
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Sites:
    """A set of points on the ground, in WGS84 geodetic coordinates; arrays are read-only.

    Args:
        names: human-readable names, one per site.
        lat_deg: [deg] geodetic latitude, (N,), in [-90, 90].
        lon_deg: [deg] longitude, east positive, (N,), in [-180, 180].
        ids: short unique identifiers (data centre region codes, gateway ids); for cities, the names.
        population: [people] urban-agglomeration population, (N,), cities only (else None).
        weight: [-] share of user demand, (N,), non-negative and summing to 1 (``user_sites`` only,
            else None).
        countries: country of each site (cities only, else None).
    """

    names: tuple[str, ...]
    lat_deg: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    ids: tuple[str, ...] | None = None
    population: NDArray[np.float64] | None = None
    weight: NDArray[np.float64] | None = None
    countries: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        n = len(names)
        if n == 0:
            raise ValueError("names: a Sites set needs at least one site, got none")
        object.__setattr__(self, "names", names)
        ids = names if self.ids is None else tuple(str(i) for i in self.ids)
        if len(ids) != n:
            raise ValueError(f"ids: expected {n} ids (one per name), got {len(ids)}")
        if len(set(ids)) != n:
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"ids: must be unique, duplicated: {dup}")
        object.__setattr__(self, "ids", ids)
        for field, lo, hi in (("lat_deg", -90.0, 90.0), ("lon_deg", -180.0, 180.0)):
            a = _readonly(getattr(self, field))
            if a.shape != (n,):
                raise ValueError(f"{field}: expected shape ({n},) to match names, got {a.shape}")
            if not np.all(np.isfinite(a)) or np.any(a < lo) or np.any(a > hi):
                raise ValueError(f"{field}: values must be finite and in [{lo:g}, {hi:g}] deg")
            object.__setattr__(self, field, a)
        if self.population is not None:
            p = _readonly(self.population)
            if p.shape != (n,) or not np.all(np.isfinite(p)) or np.any(p <= 0):
                raise ValueError(f"population: expected ({n},) finite values > 0 [people], got shape {p.shape}")
            object.__setattr__(self, "population", p)
        if self.weight is not None:
            w = _readonly(self.weight)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
                raise ValueError(f"weight: expected ({n},) non-negative finite values summing to 1")
            object.__setattr__(self, "weight", w)
        if self.countries is not None:
            c = tuple(str(x) for x in self.countries)
            if len(c) != n:
                raise ValueError(f"countries: expected {n} entries (one per name), got {len(c)}")
            object.__setattr__(self, "countries", c)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, site_id: str) -> int:
        """Position of ``site_id`` in this set; ValueError naming the nearest valid id if unknown."""
        try:
            return self.ids.index(site_id)  # type: ignore[union-attr]
        except ValueError:
            raise ValueError(_unknown_id_message("site_id", site_id, self.ids)) from None  # type: ignore[arg-type]

    def subset(self, indices: Iterable[int]) -> "Sites":
        """A new Sites with the given positions, in that order (weights, if any, renormalised)."""
        idx = np.asarray(list(indices), dtype=np.intp)
        if idx.ndim != 1 or idx.size == 0:
            raise ValueError("indices: expected a non-empty 1-D sequence of site positions")
        if np.any(idx < -len(self)) or np.any(idx >= len(self)):
            raise ValueError(f"indices: positions must be in [0, {len(self) - 1}], got {idx.tolist()}")

        def pick(t: tuple[str, ...] | None) -> tuple[str, ...] | None:
            return None if t is None else tuple(t[i] for i in idx)

        w = None
        if self.weight is not None:
            w = self.weight[idx]
            total = w.sum()
            w = w / total if total > 0 else np.full(idx.size, 1.0 / idx.size)
        return Sites(
            names=pick(self.names),  # type: ignore[arg-type]
            lat_deg=self.lat_deg[idx],
            lon_deg=self.lon_deg[idx],
            ids=pick(self.ids),
            population=None if self.population is None else self.population[idx],
            weight=w,
            countries=pick(self.countries),
        )


# ----------------------------------------------------------------------------------------------- tables
def _columns(filename: str) -> dict[str, list[str]]:
    header, body = read_table(filename)
    return {h: [r[i] for r in body] for i, h in enumerate(header)}


@functools.lru_cache(maxsize=None)
def load_cities() -> Sites:
    """All cities of the shipped table (``data/cities.csv``), in the table's order (most populous first).

    Source: UN DESA, World Urbanization Prospects 2018, urban agglomerations, 2020 estimates (see the
    file's header for the exact wording and rounding).
    """
    c = _columns("cities.csv")
    return Sites(
        names=tuple(c["name"]),
        lat_deg=np.array(c["lat_deg"], dtype=np.float64),
        lon_deg=np.array(c["lon_deg"], dtype=np.float64),
        population=np.array(c["population"], dtype=np.float64),
        countries=tuple(c["country"]),
    )


def _places(filename: str) -> Sites:
    """Sites from a table with columns id, name, lat_deg, lon_deg."""
    c = _columns(filename)
    return Sites(
        names=tuple(c["name"]),
        ids=tuple(c["id"]),
        lat_deg=np.array(c["lat_deg"], dtype=np.float64),
        lon_deg=np.array(c["lon_deg"], dtype=np.float64),
    )


@functools.lru_cache(maxsize=None)
def _all_data_centres() -> Sites:
    return _places("data_centres.csv")


def _unknown_id_message(arg: str, bad: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    return f"{arg}: unknown id {bad!r}{did_you_mean(bad, valid, cutoff=0.0)} valid ids: {', '.join(valid)}"


def load_data_centres(ids: Iterable[str] | str | None = None) -> Sites:
    """Terrestrial cloud regions (``data/data_centres.csv``: AWS regions, metro-area coordinates).

    Args:
        ids: region ids to keep, in the order given (e.g. ``["us-east-1", "eu-west-1"]``); a single string
            is one id; None keeps every region in the table's order.

    Raises:
        ValueError: an unknown id (the message names the nearest valid id and lists all of them), a
            duplicated id, or an empty selection.
    """
    table = _all_data_centres()
    if ids is None:
        return table
    wanted = (ids,) if isinstance(ids, str) else tuple(ids)
    if not wanted:
        raise ValueError(f"ids: select at least one data centre, or pass None for all of: {', '.join(table.ids)}")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"ids: must be unique, got {list(wanted)}")
    for i in wanted:
        if i not in table.ids:  # type: ignore[operator]
            raise ValueError(_unknown_id_message("ids", i, table.ids))  # type: ignore[arg-type]
    return table.subset(table.ids.index(i) for i in wanted)  # type: ignore[union-attr]


@functools.lru_cache(maxsize=None)
def load_gateways() -> Sites:
    """Representative gateway (ground-station) sites, ``data/gateways.csv``.

    These are places at or near publicly known ground stations and teleports, spread over all continents;
    they are not any operator's actual gateway list.
    """
    return _places("gateways.csv")


def user_sites(n_sites: int) -> Sites:
    """The ``n_sites`` most populous cities, with demand weights proportional to population.

    Args:
        n_sites: [-] number of sites, an integer in [1, len(load_cities())].

    Returns:
        Sites sorted by population, largest first (ties keep table order), with
        ``weight = population / population.sum()``.
    """
    cities = load_cities()
    n_max = len(cities)
    if isinstance(n_sites, bool) or not isinstance(n_sites, Integral) or not 1 <= int(n_sites) <= n_max:
        raise ValueError(f"n_sites: must be an integer in [1, {n_max}] (cities in the table), got {n_sites!r}")
    order = np.argsort(-cities.population, kind="stable")[: int(n_sites)]  # type: ignore[operator]
    pop = cities.population[order]  # type: ignore[index]
    chosen = cities.subset(order)
    return Sites(
        names=chosen.names,
        lat_deg=chosen.lat_deg,
        lon_deg=chosen.lon_deg,
        ids=chosen.ids,
        population=pop,
        weight=pop / pop.sum(),
        countries=chosen.countries,
    )


# ----------------------------------------------------------------------------------------------- continents
#: ``(name, rule)`` with ``rule(lat_deg, lon_deg) -> bool``, tested in order (first match wins); longitudes in
#: [-180, 180), east positive. Approximate continents: the Middle East counts as Asia; Istanbul, Ankara and Baku
#: count as Europe; Central America and the Caribbean count as North America. Every city of
#: ``orbitcloud_env/data/cities.csv`` falls in the continent it belongs to under this grouping. Used by the
#: evaluation's per-region metrics and the multi-agent env's default grouping of sites into agents.
REGIONS: tuple[tuple[str, Callable[[float, float], bool]], ...] = (
    ("North America", lambda lat, lon: lon < -25.0 and lat >= 13.0),
    ("South America", lambda lat, lon: lon < -25.0),
    ("Oceania", lambda lat, lon: lat < -10.0 and lon >= 110.0),
    ("Europe", lambda lat, lon: lat >= 37.0 and lon < 60.0),
    ("Africa", lambda lat, lon: lat < 37.0 and lon < 52.0 and not (lat >= 12.0 and lon >= 34.2)),
    ("Asia", lambda lat, lon: True),
)
REGION_NAMES: tuple[str, ...] = tuple(name for name, _ in REGIONS)


def region_of(lat_deg: float, lon_deg: float) -> str:
    """Continent-like region of a site from its latitude and longitude [deg] (see :data:`REGIONS`)."""
    lon = ((float(lon_deg) + 180.0) % 360.0) - 180.0
    for name, rule in REGIONS:
        if rule(float(lat_deg), lon):
            return name
    raise AssertionError("unreachable: the last region matches everything")  # pragma: no cover


# ----------------------------------------------------------------------------------------------- delays
def _check_route_factor(route_factor: float) -> float:
    rf = float(route_factor)
    if not np.isfinite(rf) or rf < 1.0:
        raise ValueError(
            f"route_factor: fibre path / great-circle distance must be a finite number >= 1, got {route_factor!r}"
        )
    return rf


def fibre_delay_ms(
    lat1_deg: ArrayLike,
    lon1_deg: ArrayLike,
    lat2_deg: ArrayLike,
    lon2_deg: ArrayLike,
    route_factor: float = DEFAULT_ROUTE_FACTOR,
) -> NDArray[np.float64]:
    """One-way propagation delay over terrestrial fibre between ground points; inputs broadcast.

    ``delay = great_circle_km * route_factor / C_FIBRE_KM_S`` (light in silica at ~2/3 c). Queueing,
    switching and serialisation delays are not included.

    Args:
        lat1_deg, lon1_deg: [deg] first point(s).
        lat2_deg, lon2_deg: [deg] second point(s).
        route_factor: [-] fibre path length / great-circle distance, >= 1. Terrestrial fibre paths are
            typically 1.5-2x the great-circle distance (shortest US conduit paths 1.3x in the median,
            measured latency ~2.1x: Bozkurt et al., arXiv:1811.10737); the default 1.5 is optimistic.

    Returns:
        [ms] one-way delay, broadcast shape of the inputs.
    """
    rf = _check_route_factor(route_factor)
    d_km = great_circle_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    return np.asarray(d_km * rf / C_FIBRE_KM_S * 1e3, dtype=np.float64)


def site_dc_delay_ms(sites: Sites, dcs: Sites, route_factor: float = DEFAULT_ROUTE_FACTOR) -> NDArray[np.float64]:
    """[ms] One-way fibre delay from every site to every data centre, shape (S, D); see :func:`fibre_delay_ms`."""
    return fibre_delay_ms(
        sites.lat_deg[:, None], sites.lon_deg[:, None], dcs.lat_deg[None, :], dcs.lon_deg[None, :], route_factor
    )


# ----------------------------------------------------------------------------------------------- local time
def _check_lon(lon_deg: ArrayLike) -> NDArray[np.float64]:
    lon = np.asarray(lon_deg, dtype=np.float64)
    if not np.all(np.isfinite(lon)) or np.any(np.abs(lon) > 180.0):
        raise ValueError("lon_deg: longitudes must be finite and in [-180, 180] deg (east positive)")
    return lon


def utc_offset_hours(lon_deg: ArrayLike) -> NDArray[np.float64]:
    """[h] Offset of mean solar local time from UTC: ``lon_deg / 15``, in [-12, 12].

    This is solar time, not civil time zones (which follow borders and daylight saving, and differ by up
    to ~3 h, e.g. western China); it is what drives a diurnal demand profile.

    Args:
        lon_deg: [deg] longitude, east positive, in [-180, 180].
    """
    return _check_lon(lon_deg) / 15.0


def local_hour(utc_hour: ArrayLike, lon_deg: ArrayLike) -> NDArray[np.float64]:
    """[h] Mean solar local hour of the day in [0, 24) at longitude ``lon_deg``; inputs broadcast.

    Args:
        utc_hour: [h] hour of the UTC day (any finite value; wrapped modulo 24).
        lon_deg: [deg] longitude, east positive, in [-180, 180].
    """
    h = np.asarray(utc_hour, dtype=np.float64)
    if not np.all(np.isfinite(h)):
        raise ValueError("utc_hour: must be finite [h]")
    out = np.mod(h + utc_offset_hours(lon_deg), 24.0)
    # np.mod of a tiny negative number rounds to exactly 24.0; fold it back so the range is [0, 24).
    return np.where(out >= 24.0, 0.0, out)


# ----------------------------------------------------------------------------------------------- bundle
@dataclass(frozen=True, eq=False)
class GroundSegment:
    """Users' sites, gateways and data centres of one scenario.

    Args:
        sites: user sites with demand weights (see :func:`user_sites`).
        gateways: gateway sites linking the constellation to terrestrial networks.
        data_centres: terrestrial cloud regions usable as placement targets.
        route_factor: [-] fibre path / great-circle distance used for :attr:`site_dc_delay_ms`.
    """

    sites: Sites
    gateways: Sites
    data_centres: Sites
    route_factor: float = DEFAULT_ROUTE_FACTOR

    def __post_init__(self) -> None:
        for name in ("sites", "gateways", "data_centres"):
            if not isinstance(getattr(self, name), Sites):
                raise ValueError(f"{name}: expected a Sites instance, got {type(getattr(self, name)).__name__}")
        if self.sites.weight is None:
            raise ValueError("sites: user sites need demand weights (build them with user_sites(n_sites))")
        object.__setattr__(self, "route_factor", _check_route_factor(self.route_factor))

    @classmethod
    def default(
        cls,
        n_sites: int = 100,
        data_centre_ids: Iterable[str] | None = None,
        route_factor: float = DEFAULT_ROUTE_FACTOR,
    ) -> "GroundSegment":
        """The ``n_sites`` most populous cities, all shipped gateways and the chosen data centres (None: all)."""
        return cls(
            sites=user_sites(n_sites),
            gateways=load_gateways(),
            data_centres=load_data_centres(data_centre_ids),
            route_factor=route_factor,
        )

    @property
    def site_dc_delay_ms(self) -> NDArray[np.float64]:
        """[ms] One-way fibre delay from each user site to each data centre, (S, D); derived, not stored."""
        return site_dc_delay_ms(self.sites, self.data_centres, self.route_factor)
