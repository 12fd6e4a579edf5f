"""Which satellites are usable in a topology bucket: the sanity gate on SGP4's output and the reason codes of the
satellites that are down (:func:`satellite_faults`, :class:`SatelliteFault`). Re-exported by
:mod:`orbitcloud_env.network`; a new reason is a :class:`SatelliteFault` member and a :data:`FAULT_REASONS` text.
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM

__all__ = ["satellite_faults", "SatelliteFault", "FAULT_REASONS", "SANE_ALTITUDE_KM", "SANE_SPEED_KM_S"]

#: [km] Sanity band of a satellite's geocentric radius minus the equatorial radius. LEO is 160-2,000 km
#: (config.MIN/MAX_ALTITUDE_KM); the band is wider by the Earth's flattening (21 km at the poles) and SGP4's
#: short-period terms, and catches the 10^5-10^14 km positions SGP4 returns, without an error, for decayed
#: element sets.
SANE_ALTITUDE_KM: tuple[float, float] = (100.0, 2500.0)
#: [km/s] Sanity band of Earth-fixed speed: circular LEO speeds are 6.9-7.85 km/s inertial
#: (sqrt(MU/r) at 2,000-160 km), and Earth rotation changes them by at most 0.6 km/s (omega * r).
SANE_SPEED_KM_S: tuple[float, float] = (5.5, 8.6)


class SatelliteFault(enum.IntEnum):
    """Why a satellite is down in a topology bucket (:func:`satellite_faults` codes; text in :data:`FAULT_REASONS`)."""

    OK = 0
    NOT_OPERATIONAL = 1
    SGP4_ERROR = 2
    ALTITUDE = 3
    SPEED = 4
    RANDOM_FAILURE = 5

    @property
    def text(self) -> str:
        return FAULT_REASONS[self]


#: Reasons of :func:`satellite_faults` codes (index = :class:`SatelliteFault` code); code 0 is a usable satellite.
FAULT_REASONS: tuple[str, ...] = (
    "ok",
    "not operational (catalogue status)",
    "SGP4 error",
    "altitude outside the LEO sanity band",
    "speed outside the LEO sanity band",
    "random satellite failure (faults section)",
)


def satellite_faults(
    sat_ecef_km: NDArray[np.float64],
    sat_vel_ecef_km_s: NDArray[np.float64],
    sgp4_ok: NDArray[np.bool_],
    operational: NDArray[np.bool_] | None = None,
) -> NDArray[np.uint8]:
    """Per-satellite fault code of one topology bucket (index into :data:`FAULT_REASONS`; 0: usable).

    A satellite is down when it is not operational (catalogue status), SGP4 flagged an error, its radius lies
    outside ``EARTH_RADIUS_EQ_KM + SANE_ALTITUDE_KM`` [km] or its Earth-fixed speed outside ``SANE_SPEED_KM_S``
    [km/s]. SGP4 keeps returning positions for decayed or very old element sets, 10^5 km and more away, without an
    error; this gate keeps them out of routing and compute.

    Args:
        sat_ecef_km: [km] (N, 3); sat_vel_ecef_km_s: [km/s] (N, 3); sgp4_ok: (N,) bool;
        operational: (N,) bool, default all.
    """
    r = np.sqrt(np.einsum("nk,nk->n", sat_ecef_km, sat_ecef_km)) - EARTH_RADIUS_EQ_KM
    v = np.sqrt(np.einsum("nk,nk->n", sat_vel_ecef_km_s, sat_vel_ecef_km_s))
    code = np.zeros(r.shape[0], np.uint8)
    code[(v < SANE_SPEED_KM_S[0]) | (v > SANE_SPEED_KM_S[1]) | ~np.isfinite(v)] = SatelliteFault.SPEED
    code[(r < SANE_ALTITUDE_KM[0]) | (r > SANE_ALTITUDE_KM[1]) | ~np.isfinite(r)] = SatelliteFault.ALTITUDE
    code[~np.asarray(sgp4_ok, bool)] = SatelliteFault.SGP4_ERROR
    if operational is not None:
        code[~np.asarray(operational, bool)] = SatelliteFault.NOT_OPERATIONAL
    return code
