"""Known-answer tests for orbitcloud_env.geometry (frames, WGS84 geodesy, elevation, line of sight)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, EARTH_RADIUS_MEAN_KM, WGS84_FLATTENING
from orbitcloud_env.geometry import (
    datetime_to_jd,
    ecef_to_geodetic,
    elevation_deg,
    geodetic_to_ecef,
    gmst_rad,
    great_circle_km,
    jd_to_datetime,
    segment_clears_earth,
    slant_range_km,
    teme_to_ecef,
    teme_to_ecef_velocity,
)

UTC = dt.timezone.utc


def test_datetime_to_jd_j2000_and_matches_sgp4_jday():
    jd, fr = datetime_to_jd(dt.datetime(2000, 1, 1, 12, tzinfo=UTC))
    assert jd + fr == pytest.approx(2451545.0, abs=1e-12)
    from sgp4.api import jday

    when = dt.datetime(2026, 3, 14, 15, 9, 26, 535898, tzinfo=UTC)
    jd, fr = datetime_to_jd(when)
    jd2, fr2 = jday(2026, 3, 14, 15, 9, 26.535898)
    assert jd == jd2
    assert fr == pytest.approx(fr2, abs=1e-12)
    assert jd_to_datetime(jd, fr) == when


def test_datetime_to_jd_converts_other_zones_and_rejects_naive():
    plus2 = dt.timezone(dt.timedelta(hours=2))
    a = datetime_to_jd(dt.datetime(2026, 1, 1, 2, 0, tzinfo=plus2))
    b = datetime_to_jd(dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert a == b
    with pytest.raises(ValueError, match="dt: naive"):
        datetime_to_jd(dt.datetime(2026, 1, 1))


def test_gmst_vallado_example_3_5():
    # Vallado, Fundamentals of Astrodynamics, Example 3-5: 1992-08-20 12:14 UT1 -> 152.578787886 deg.
    g = gmst_rad(*datetime_to_jd(dt.datetime(1992, 8, 20, 12, 14, tzinfo=UTC)))
    assert math.degrees(g) == pytest.approx(152.578787886, abs=1e-6)


def test_gmst_matches_sgp4_gstime_on_arrays():
    from sgp4.propagation import gstime

    jd = np.array([2451545.0, 2455000.25, 2461041.5, 2461100.9])
    ours = gmst_rad(jd)
    assert ours.shape == (4,)
    assert np.allclose(ours, [gstime(x) for x in jd], atol=1e-12)


def test_teme_to_ecef_rotation_and_velocity():
    r = np.array([[7000.0, 0.0, 100.0]])
    g = np.pi / 2
    # rotating the frame by +90 deg about z maps +x to -y
    assert np.allclose(teme_to_ecef(r, g), [[0.0, -7000.0, 100.0]], atol=1e-9)
    # a TEME-stationary point appears to move westward in the Earth-fixed frame at omega x r
    v = teme_to_ecef_velocity(r, np.zeros((1, 3)), 0.0)
    from orbitcloud_env.constants import EARTH_ROTATION_RAD_S

    assert np.allclose(v, [[0.0, -EARTH_ROTATION_RAD_S * 7000.0, 0.0]], atol=1e-12)
    # time axis broadcast: (T, N, 3) positions with (T, 1) angles
    rr = np.ones((3, 5, 3))
    assert teme_to_ecef(rr, np.zeros((3, 1))).shape == (3, 5, 3)


def test_geodetic_known_points():
    b = EARTH_RADIUS_EQ_KM * (1.0 - WGS84_FLATTENING)
    assert np.allclose(geodetic_to_ecef(0.0, 0.0), [EARTH_RADIUS_EQ_KM, 0.0, 0.0], atol=1e-9)
    assert np.allclose(geodetic_to_ecef(90.0, 0.0), [0.0, 0.0, b], atol=1e-9)
    assert np.allclose(geodetic_to_ecef(0.0, 90.0, 550.0), [0.0, EARTH_RADIUS_EQ_KM + 550.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="lat_deg"):
        geodetic_to_ecef(91.0, 0.0)


def test_geodetic_round_trip_below_one_metre():
    rng = np.random.default_rng(1)
    lat = np.concatenate([rng.uniform(-90, 90, 2000), [90.0, -90.0, 0.0, 89.9999]])
    lon = np.concatenate([rng.uniform(-180, 180, 2000), [0.0, 45.0, 180.0, -12.0]])
    alt = np.concatenate([rng.uniform(-1.0, 2000.0, 2000), [550.0, 0.0, 780.0, 1200.0]])
    la, lo, h = ecef_to_geodetic(geodetic_to_ecef(lat, lon, alt))
    assert np.max(np.abs(h - alt)) < 1e-6  # km
    assert np.max(np.abs(la - lat)) < 1e-8  # deg (~1 mm)
    keep = np.abs(lat) < 89.99  # longitude undefined at the poles
    dlon = np.mod(lo[keep] - lon[keep] + 180.0, 360.0) - 180.0
    assert np.max(np.abs(dlon)) < 1e-8


@pytest.mark.parametrize("lat, lon", [(40.0, -75.0), (0.0, 0.0), (-33.9, 151.2), (89.0, 10.0)])
def test_satellite_straight_overhead_is_at_90_deg(lat, lon):
    sat = geodetic_to_ecef(lat, lon, 550.0)[None, :]
    assert elevation_deg(lat, lon, sat)[0] == pytest.approx(90.0, abs=1e-6)
    assert slant_range_km(lat, lon, sat)[0] == pytest.approx(550.0, abs=1e-6)


def test_far_side_satellite_is_below_horizon():
    sat = geodetic_to_ecef(-40.0, 105.0, 550.0)[None, :]
    assert elevation_deg(40.0, -75.0, sat)[0] < -60.0


def test_elevation_hand_computed_equatorial_case():
    # Site at (0, 0) on the equator; satellite in the equatorial plane at radius r, 10 deg east.
    # Local vertical = +x, so tan(el) = (r cos 10 - a) / (r sin 10).
    a = EARTH_RADIUS_EQ_KM
    r = a + 550.0
    th = math.radians(10.0)
    sat = np.array([[r * math.cos(th), r * math.sin(th), 0.0]])
    expected = math.degrees(math.atan2(r * math.cos(th) - a, r * math.sin(th)))
    assert expected == pytest.approx(20.2883, abs=1e-4)
    assert elevation_deg(0.0, 0.0, sat)[0] == pytest.approx(expected, abs=1e-9)
    assert slant_range_km(0.0, 0.0, sat)[0] == pytest.approx(math.hypot(r * math.cos(th) - a, r * math.sin(th)), rel=1e-12)


def test_elevation_shapes():
    sats = geodetic_to_ecef(np.array([0.0, 10.0, 20.0]), np.array([0.0, 5.0, 7.0]), 600.0)
    assert elevation_deg(0.0, 0.0, sats).shape == (3,)
    assert elevation_deg(np.array([0.0, 1.0]), np.array([0.0, 2.0]), sats).shape == (2, 3)
    assert slant_range_km(np.array([0.0, 1.0]), np.array([0.0, 2.0]), sats).shape == (2, 3)
    with pytest.raises(ValueError, match="sats_ecef_km"):
        elevation_deg(0.0, 0.0, np.zeros(3))


def test_great_circle():
    assert great_circle_km(0.0, 0.0, 90.0, 0.0) == pytest.approx(math.pi / 2 * EARTH_RADIUS_MEAN_KM, rel=1e-12)
    # London - New York, haversine on the 6,371 km sphere
    assert great_circle_km(51.5074, -0.1278, 40.7128, -74.0060) == pytest.approx(5570.2, abs=0.5)
    d = great_circle_km(np.zeros((2, 1)), 0.0, np.zeros((1, 3)), np.array([0.0, 90.0, 180.0]))
    assert d.shape == (2, 3)
    assert np.allclose(d[0], [0.0, math.pi / 2 * EARTH_RADIUS_MEAN_KM, math.pi * EARTH_RADIUS_MEAN_KM])


def test_segment_clears_earth():
    r = EARTH_RADIUS_EQ_KM + 550.0
    a = np.array([[r, 0.0, 0.0], [r, 0.0, 0.0], [r, 0.0, 0.0], [r, 0.0, 0.0]])
    b = np.array([[-r, 0.0, 0.0], [r, 1000.0, 0.0], [r * math.cos(0.6), r * math.sin(0.6), 0.0], [r, 0.0, 0.0]])
    # through the centre; short chord; chord whose midpoint dips to r cos(0.3) = 0.955 r; zero-length
    out = segment_clears_earth(a, b, EARTH_RADIUS_EQ_KM + 80.0)
    assert out.tolist() == [False, True, True, True]
    dip = r * math.cos(0.3)
    assert segment_clears_earth(a[2], b[2], dip - 1.0)
    assert not segment_clears_earth(a[2], b[2], dip + 1.0)
