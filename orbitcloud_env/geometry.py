"""Earth geometry for OrbitCloud: time, frames, WGS84 geodesy and line-of-sight tests.

Pure numpy and vectorised; every function accepts arrays and broadcasts. Units are in the names:
``_km`` kilometres, ``_deg`` degrees, ``_rad`` radians, ``_s`` seconds.

Frames
------
- TEME: the True Equator, Mean Equinox frame that SGP4 outputs.
- ECEF: Earth-fixed (ITRF/WGS84 axes). TEME -> ECEF is the rotation by the Greenwich mean sidereal
  time (IAU-1982 GMST, Vallado's ``gstime``). Polar motion (< 20 m at the surface) is ignored, and UTC is
  used in place of UT1 (|UT1 - UTC| < 0.9 s, i.e. < ~0.4 km along-track error at LEO speeds once the Earth's
  rotation under the orbit is accounted for); both are below what this simulation resolves.

The ellipsoid is WGS84 (``EARTH_RADIUS_EQ_KM``, ``WGS84_FLATTENING`` from :mod:`orbitcloud_env.constants`);
great-circle distances use the IUGG mean radius ``EARTH_RADIUS_MEAN_KM``.
"""

from __future__ import annotations

import datetime as _dt
import functools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbitcloud_env.constants import (
    EARTH_RADIUS_EQ_KM,
    EARTH_RADIUS_MEAN_KM,
    EARTH_ROTATION_RAD_S,
    SECONDS_PER_DAY,
    WGS84_FLATTENING,
)

__all__ = [
    "JD_J2000",
    "datetime_to_jd",
    "jd_to_datetime",
    "gmst_rad",
    "teme_to_ecef",
    "teme_to_ecef_velocity",
    "geodetic_to_ecef",
    "ecef_to_geodetic",
    "site_up_vectors",
    "elevation_deg",
    "slant_range_km",
    "great_circle_km",
    "segment_clears_earth",
]

#: [-] WGS84 first eccentricity squared, derived from the flattening.
_E2: float = WGS84_FLATTENING * (2.0 - WGS84_FLATTENING)
#: [km] WGS84 polar semi-minor axis, derived.
_B_KM: float = EARTH_RADIUS_EQ_KM * (1.0 - WGS84_FLATTENING)
#: [-] WGS84 second eccentricity squared, derived.
_EP2: float = _E2 / (1.0 - _E2)
#: [d] Julian date of the J2000.0 epoch (2000-01-01T12:00 TT; used here on the UTC scale, as sgp4 does).
#: The one definition: power.py's solar coordinates count days from it too.
JD_J2000: float = 2451545.0
_J2000_DATETIME = _dt.datetime(2000, 1, 1, 12, 0, 0, tzinfo=_dt.timezone.utc)


# ----------------------------------------------------------------------------------------------- time
def datetime_to_jd(dt: _dt.datetime) -> tuple[float, float]:
    """Split Julian date of an aware datetime, on the UTC scale.

    Args:
        dt: timezone-aware datetime (any zone; converted to UTC). Naive datetimes are rejected because
            their zone is ambiguous.

    Returns:
        (jd, fr): [d] Julian date of the preceding midnight (ends in .5) and [d] fraction of the day, so
        that ``jd + fr`` is the Julian date; the split keeps microsecond precision (as sgp4's ``jday``).
    """
    if not isinstance(dt, _dt.datetime):
        raise ValueError(f"dt: expected a timezone-aware datetime.datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(
            f"dt: naive datetime {dt.isoformat()} is not allowed; pass a timezone-aware datetime, "
            "e.g. datetime(..., tzinfo=timezone.utc)"
        )
    u = dt.astimezone(_dt.timezone.utc)
    y, m, d = u.year, u.month, u.day
    # Vallado's jday (valid 1900-2100), integer part only.
    jd = 367.0 * y - (7 * (y + (m + 9) // 12)) // 4 + (275 * m) // 9 + d + 1721013.5
    fr = (u.hour * 3600.0 + u.minute * 60.0 + u.second + u.microsecond * 1e-6) / SECONDS_PER_DAY
    return float(jd), float(fr)


def jd_to_datetime(jd: float, fr: float = 0.0) -> _dt.datetime:
    """Aware UTC datetime for a split Julian date ``jd + fr`` [d], rounded to the microsecond."""
    days = (float(jd) - JD_J2000) + float(fr)
    whole = np.floor(days)
    micro = round((days - whole) * SECONDS_PER_DAY * 1e6)
    return _J2000_DATETIME + _dt.timedelta(days=int(whole), microseconds=int(micro))


def gmst_rad(jd_ut1: ArrayLike, fr: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Greenwich mean sidereal time, IAU-1982 model (Vallado, *Fundamentals of Astrodynamics*, ``gstime``).

    Args:
        jd_ut1: [d] Julian date on the UT1 scale (UTC is used by callers; see the module docstring).
        fr: [d] fraction of a day added to ``jd_ut1`` (split form keeps precision).

    Returns:
        [rad] GMST in [0, 2*pi), broadcast shape of the inputs (0-d array for scalars).
    """
    jd = np.asarray(jd_ut1, dtype=np.float64)
    f = np.asarray(fr, dtype=np.float64)
    tut1 = ((jd - JD_J2000) + f) / 36525.0
    temp_s = (
        -6.2e-6 * tut1**3
        + 0.093104 * tut1**2
        + (876600.0 * 3600.0 + 8640184.812866) * tut1
        + 67310.54841
    )
    # seconds of time -> radians: 360 deg / 86400 s = 1/240 deg per second.
    return np.mod(np.deg2rad(temp_s / 240.0), 2.0 * np.pi)


# ----------------------------------------------------------------------------------------------- frames
def teme_to_ecef(r_teme_km: ArrayLike, gmst: ArrayLike) -> NDArray[np.float64]:
    """Rotate TEME positions into the Earth-fixed frame by GMST (polar motion ignored).

    Args:
        r_teme_km: [km] positions, shape (..., 3).
        gmst: [rad] Greenwich mean sidereal time, broadcastable against ``r_teme_km[..., 0]``
            (e.g. shape (T, 1) for positions of shape (T, N, 3)).

    Returns:
        [km] Earth-fixed positions, shape of the broadcast.
    """
    r = np.asarray(r_teme_km, dtype=np.float64)
    g = np.asarray(gmst, dtype=np.float64)
    c, s = np.cos(g), np.sin(g)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    return np.stack(np.broadcast_arrays(c * x + s * y, -s * x + c * y, z), axis=-1)


def teme_to_ecef_velocity(
    r_teme_km: ArrayLike, v_teme_km_s: ArrayLike, gmst: ArrayLike
) -> NDArray[np.float64]:
    """Earth-fixed velocity: ``v_ecef = R(gmst) v_teme - omega x r_ecef``.

    Args:
        r_teme_km: [km] TEME positions, shape (..., 3).
        v_teme_km_s: [km/s] TEME velocities, shape (..., 3).
        gmst: [rad] GMST, broadcastable against ``r_teme_km[..., 0]``.

    Returns:
        [km/s] velocity relative to the rotating Earth, Earth-fixed axes. ``omega`` is the WGS84 rotation
        rate ``EARTH_ROTATION_RAD_S`` about +z (length-of-day variations ignored).
    """
    r_ecef = teme_to_ecef(r_teme_km, gmst)
    v_rot = teme_to_ecef(v_teme_km_s, gmst)
    w = EARTH_ROTATION_RAD_S
    # omega x r with omega = (0, 0, w): (-w*y, w*x, 0)
    out = v_rot.copy()
    out[..., 0] += w * r_ecef[..., 1]
    out[..., 1] -= w * r_ecef[..., 0]
    return out


# ----------------------------------------------------------------------------------------------- geodesy
def geodetic_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_km: ArrayLike = 0.0) -> NDArray[np.float64]:
    """WGS84 geodetic coordinates to Earth-fixed Cartesian.

    Args:
        lat_deg: [deg] geodetic latitude, in [-90, 90].
        lon_deg: [deg] longitude, east positive.
        alt_km: [km] height above the WGS84 ellipsoid.

    Returns:
        [km] positions, shape broadcast(lat, lon, alt) + (3,).
    """
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))
    h = np.asarray(alt_km, dtype=np.float64)
    if np.any(np.abs(lat) > np.pi / 2 + 1e-12):
        raise ValueError("lat_deg: geodetic latitude must lie in [-90, 90] deg")
    slat, clat = np.sin(lat), np.cos(lat)
    n = EARTH_RADIUS_EQ_KM / np.sqrt(1.0 - _E2 * slat * slat)
    x = (n + h) * clat * np.cos(lon)
    y = (n + h) * clat * np.sin(lon)
    z = (n * (1.0 - _E2) + h) * slat
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(
    ecef_km: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Earth-fixed Cartesian to WGS84 geodetic coordinates.

    Bowring's parametric-latitude formula, iterated three times (error well below 1 mm from the surface up
    to GEO; the altitude formula is stable at the poles).

    Args:
        ecef_km: [km] positions, shape (..., 3).

    Returns:
        (lat_deg, lon_deg, alt_km): [deg] geodetic latitude, [deg] longitude in (-180, 180],
        [km] height above the ellipsoid; each of shape (...).
    """
    r = np.asarray(ecef_km, dtype=np.float64)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    p = np.hypot(x, y)
    a, b = EARTH_RADIUS_EQ_KM, _B_KM
    lat = np.arctan2(z, p * (1.0 - _E2))  # start
    for _ in range(3):
        u = np.arctan2(b * np.sin(lat), a * np.cos(lat))  # parametric latitude
        lat = np.arctan2(z + _EP2 * b * np.sin(u) ** 3, p - _E2 * a * np.cos(u) ** 3)
    slat = np.sin(lat)
    n = a / np.sqrt(1.0 - _E2 * slat * slat)
    alt = p * np.cos(lat) + z * slat - a * a / n
    return np.rad2deg(lat), np.rad2deg(np.arctan2(y, x)), alt


def site_up_vectors(lat_deg: ArrayLike, lon_deg: ArrayLike) -> NDArray[np.float64]:
    """Unit local-vertical (WGS84 ellipsoid normal) vectors, Earth-fixed axes; shape broadcast + (3,)."""
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))
    clat = np.cos(lat)
    return np.stack(np.broadcast_arrays(clat * np.cos(lon), clat * np.sin(lon), np.sin(lat)), axis=-1)


def _site_sat_vectors(
    lat_deg: ArrayLike, lon_deg: ArrayLike, sats_ecef_km: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    if lat.shape != lon.shape or lat.ndim > 1:
        raise ValueError(
            f"lat_deg, lon_deg: must both be scalars or 1-D arrays of equal shape, got {lat.shape} and {lon.shape}"
        )
    sats = np.asarray(sats_ecef_km, dtype=np.float64)
    if sats.ndim != 2 or sats.shape[1] != 3:
        raise ValueError(f"sats_ecef_km: expected shape (N, 3) in km, got {sats.shape}")
    scalar = lat.ndim == 0
    if scalar:  # one site, asked again and again (per job and bucket): its frame is cached
        site, up = _site_frame(float(lat), float(lon))
    else:
        site = geodetic_to_ecef(lat, lon)  # (S, 3)
        up = site_up_vectors(lat, lon)  # (S, 3)
    d = sats[None, :, :] - site[:, None, :]  # (S, N, 3)
    return d, up, scalar


@functools.lru_cache(maxsize=4096)
def _site_frame(lat_deg: float, lon_deg: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """[km] (1, 3) Earth-fixed position and (1, 3) unit up vector of one site (read-only, cached)."""
    lat, lon = np.atleast_1d(np.float64(lat_deg)), np.atleast_1d(np.float64(lon_deg))
    site, up = geodetic_to_ecef(lat, lon), site_up_vectors(lat, lon)
    site.flags.writeable = False
    up.flags.writeable = False
    return site, up


def elevation_deg(lat_deg: ArrayLike, lon_deg: ArrayLike, sats_ecef_km: ArrayLike) -> NDArray[np.float64]:
    """Elevation of satellites above the local horizon of ground sites on the WGS84 ellipsoid.

    The local vertical is the ellipsoid normal (geodetic), so a satellite straight above a site on its
    normal has elevation 90 deg. Computed as ``atan2(up . d, |d - (up . d) up|)`` for full precision near
    the zenith.

    Args:
        lat_deg: [deg] site geodetic latitude(s), scalar or (S,).
        lon_deg: [deg] site longitude(s), scalar or (S,).
        sats_ecef_km: [km] satellite Earth-fixed positions, (N, 3).

    Returns:
        [deg] elevation in [-90, 90]: (N,) for a scalar site, (S, N) for site arrays.
    """
    d, up, scalar = _site_sat_vectors(lat_deg, lon_deg, sats_ecef_km)
    u = np.einsum("snk,sk->sn", d, up)
    horiz = np.linalg.norm(d - u[..., None] * up[:, None, :], axis=-1)
    el = np.rad2deg(np.arctan2(u, horiz))
    return el[0] if scalar else el


def slant_range_km(lat_deg: ArrayLike, lon_deg: ArrayLike, sats_ecef_km: ArrayLike) -> NDArray[np.float64]:
    """[km] Straight-line distance from ground sites (on the ellipsoid) to satellites.

    Same argument conventions as :func:`elevation_deg`; returns (N,) for a scalar site, else (S, N).
    """
    d, _, scalar = _site_sat_vectors(lat_deg, lon_deg, sats_ecef_km)
    rng = np.linalg.norm(d, axis=-1)
    return rng[0] if scalar else rng


def great_circle_km(lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike) -> NDArray[np.float64]:
    """[km] Haversine great-circle distance on a sphere of the mean Earth radius; inputs broadcast."""
    p1 = np.deg2rad(np.asarray(lat1_deg, dtype=np.float64))
    p2 = np.deg2rad(np.asarray(lat2_deg, dtype=np.float64))
    dl = np.deg2rad(np.asarray(lon2_deg, dtype=np.float64) - np.asarray(lon1_deg, dtype=np.float64))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_MEAN_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def segment_clears_earth(a_ecef_km: ArrayLike, b_ecef_km: ArrayLike, min_radius_km: float) -> NDArray[np.bool_]:
    """Whether straight segments a-b stay farther than ``min_radius_km`` from the Earth's centre.

    Args:
        a_ecef_km: [km] segment start points, (..., 3).
        b_ecef_km: [km] segment end points, (..., 3) (broadcast with ``a_ecef_km``).
        min_radius_km: [km] radius of the sphere to clear (e.g. ``EARTH_RADIUS_EQ_KM`` + an atmosphere
            margin for laser links).

    Returns:
        bool array of shape (...): True where the closest approach of the segment (not the infinite line)
        to the origin exceeds ``min_radius_km``. A zero-length segment reduces to its point.
    """
    a = np.asarray(a_ecef_km, dtype=np.float64)
    b = np.asarray(b_ecef_km, dtype=np.float64)
    d = b - a
    dd = np.einsum("...k,...k->...", d, d)
    ad = np.einsum("...k,...k->...", a, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(dd > 0.0, -ad / np.where(dd > 0.0, dd, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    closest = a + t[..., None] * d
    return np.einsum("...k,...k->...", closest, closest) > float(min_radius_km) ** 2
