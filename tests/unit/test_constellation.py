"""Tests for orbitcloud_env.constellation: Walker shells, TLE parsing/export, SGP4 propagation to ECEF."""

from __future__ import annotations

import datetime as dt
import math
import pickle

import numpy as np
import pytest

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, MU_EARTH_KM3_S2
from orbitcloud_env.constellation import DEFAULT_EPOCH, Constellation, PropagationError, TLEError

UTC = dt.timezone.utc

# ISS element set from the sgp4 package documentation (valid checksums).
ISS_L1 = "1 25544U 98067A   19343.69339541  .00001764  00000-0  38792-4 0  9991"
ISS_L2 = "2 25544  51.6439 211.2001 0007417  17.6667  85.6398 15.50103472202482"


def _checksum(line: str) -> str:
    return str(sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10)


def _with_checksum(line: str, digit: str) -> str:
    return line[:68] + digit


def _kepler_period_s(altitude_km: float) -> float:
    a = EARTH_RADIUS_EQ_KM + altitude_km
    return 2.0 * math.pi * math.sqrt(a**3 / MU_EARTH_KM3_S2)


# ------------------------------------------------------------------------------------------ Walker
@pytest.mark.parametrize(
    "planes, spp, alt, inc, spread",
    [(72, 22, 550.0, 53.0, 360.0), (34, 34, 630.0, 51.9, 360.0), (6, 11, 780.0, 86.4, 180.0)],
)
def test_walker_period_and_altitude_over_one_orbit(planes, spp, alt, inc, spread):
    c = Constellation.walker_delta(planes, spp, alt, inc, raan_spread_deg=spread)
    assert len(c) == planes * spp
    kepler = _kepler_period_s(alt)
    assert np.all(np.abs(c.period_s / kepler - 1.0) < 0.01)
    times = np.linspace(0.0, kepler, 60)
    pos = c.positions_ecef(times)
    assert pos.shape == (60, len(c), 3)
    altitude = np.linalg.norm(pos, axis=-1) - EARTH_RADIUS_EQ_KM
    assert np.max(np.abs(altitude - alt)) < 15.0
    # after one period the satellites are back near their start in inertial space; in ECEF the Earth has
    # turned under them, so compare radii and latitudes rather than positions.
    lat0, _, _ = c.subpoints(0.0)
    lat1, _, _ = c.subpoints(float(c.period_s[0]))
    assert np.max(np.abs(lat1 - lat0)) < 1.0


def test_walker_layout_raan_phase_and_inclination():
    c = Constellation.walker_delta(4, 3, 550.0, 53.0, phasing=1)
    assert c.plane.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert c.slot.tolist() == [0, 1, 2] * 4
    assert c.shell.tolist() == [0] * 12
    assert c.names[4] == "SAT-1-1"
    info = c.shells[0]
    assert (info.planes, info.sats_per_plane, info.phasing, info.raan_spread_deg) == (4, 3, 1, 360.0)
    # maximum |latitude| reached over an orbit equals the inclination (geodetic vs geocentric < 0.2 deg)
    lat = np.stack([c.subpoints(t)[0] for t in np.linspace(0, c.period_s[0], 240)])
    assert np.max(np.abs(lat)) == pytest.approx(53.0, abs=0.5)
    # consecutive planes are 90 deg apart in RAAN, so adjacent orbit normals are
    # acos(cos^2 i + sin^2 i cos 90deg) apart (osculating J2 wobble of a few hundredths of a degree)
    r, v, _ = c.propagate(0.0)
    normals = np.cross(r, v + np.cross([0, 0, 7.292115e-5], r))  # inertial velocity, ECEF axes
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    plane_n = normals[::3]
    assert np.allclose(np.degrees(np.arccos(plane_n[:, 2])), 53.0, atol=0.1)
    angles = [np.degrees(np.arccos(np.clip(plane_n[i] @ plane_n[(i + 1) % 4], -1, 1))) for i in range(4)]
    ci, si = math.cos(math.radians(53.0)), math.sin(math.radians(53.0))
    assert np.allclose(angles, math.degrees(math.acos(ci * ci + si * si * math.cos(math.pi / 2))), atol=0.1)


def test_time_arguments_agree_and_velocity_matches_finite_difference():
    c = Constellation.walker_delta(3, 4, 600.0, 70.0)
    when = DEFAULT_EPOCH + dt.timedelta(seconds=1234.5)
    assert np.allclose(c.positions_ecef(when), c.positions_ecef(1234.5), atol=1e-6)
    v = c.velocities_ecef(1234.5)
    fd = (c.positions_ecef(1235.0) - c.positions_ecef(1234.0)) / 1.0
    assert np.max(np.abs(v - fd)) < 1e-3
    p, vv, ok = c.propagate(np.array([0.0, 10.0]))
    assert p.shape == (2, 12, 3) and vv.shape == (2, 12, 3) and ok.shape == (2, 12) and ok.all()
    with pytest.raises(ValueError, match="naive"):
        c.positions_ecef(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="on_error"):
        c.positions_ecef(0.0, on_error="ignore")


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(planes=0), "planes"),
        (dict(sats_per_plane=0), "sats_per_plane"),
        (dict(altitude_km=150.0), "altitude_km"),
        (dict(altitude_km=2500.0), "altitude_km"),
        (dict(inclination_deg=-1.0), "inclination_deg"),
        (dict(inclination_deg=181.0), "inclination_deg"),
        (dict(phasing=6), "phasing"),
        (dict(phasing=-1), "phasing"),
        (dict(raan_spread_deg=0.0), "raan_spread_deg"),
        (dict(epoch=dt.datetime(2026, 1, 1)), "naive"),
        (dict(planes=2.5), "planes"),
    ],
)
def test_walker_validation(kwargs, arg):
    base = dict(planes=6, sats_per_plane=11, altitude_km=780.0, inclination_deg=86.4)
    base.update(kwargs)
    with pytest.raises(ValueError, match=arg):
        Constellation.walker_delta(**base)


def test_combine_keeps_shells_and_is_immutable():
    a = Constellation.walker_delta(2, 3, 550.0, 53.0, name_prefix="A")
    b = Constellation.walker_delta(3, 2, 600.0, 97.6, name_prefix="B")
    c = a + b
    assert len(c) == 12
    assert c.shell.tolist() == [0] * 6 + [1] * 6
    assert [s.altitude_km for s in c.shells] == [550.0, 600.0]
    assert c.names[6] == "B-0-0"
    assert np.allclose(c.positions_ecef(100.0)[6:], b.positions_ecef(100.0))
    assert len(Constellation.combine(a, b, a)) == 18
    with pytest.raises(ValueError):
        c.plane[0] = 5
    with pytest.raises(ValueError, match="constellations"):
        Constellation.combine()


def test_pickle_round_trip():
    c = Constellation.walker_delta(3, 3, 550.0, 53.0)
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.names == c.names and c2.epoch == c.epoch
    assert np.array_equal(c2.positions_ecef(500.0), c.positions_ecef(500.0))


def _decaying_constellation() -> Constellation:
    a = EARTH_RADIUS_EQ_KM + 200.0
    n = math.sqrt(MU_EARTH_KM3_S2 / a**3) * 60.0  # rad/min
    epoch_days = 2461041.5 - 2433281.5  # 2026-01-01 in sgp4init's days since 1949-12-31
    elements = dict(
        satnum=[1, 2], epoch_days=[epoch_days] * 2, bstar=[0.0, 0.5], ndot=[0.0] * 2, nddot=[0.0] * 2,
        ecco=[0.0] * 2, argpo=[0.0] * 2, inclo=[0.9] * 2, mo=[0.0, 1.0], no_kozai=[n] * 2, nodeo=[0.0] * 2,
    )
    return Constellation(elements, ["fine", "draggy"], [0, 0], [-1, -1], [-1, -1], [None], DEFAULT_EPOCH)


def test_propagation_errors_raise_or_mask():
    c = _decaying_constellation()
    t = 2 * 86400.0
    with pytest.raises(PropagationError, match="draggy") as info:
        c.positions_ecef(t)
    assert "eccentricity" in str(info.value) or "decayed" in str(info.value)
    masked = c.positions_ecef(t, on_error="mask")
    assert np.all(masked[1] == 0.0) and np.linalg.norm(masked[0]) > EARTH_RADIUS_EQ_KM
    pos, vel, ok = c.propagate(t)
    assert ok.tolist() == [True, False]
    assert np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))
    assert np.all(pos[1] == 0.0) and np.all(vel[1] == 0.0)


# ------------------------------------------------------------------------------------------ TLE
def test_parse_two_line_and_three_line(tmp_path):
    two = f"{ISS_L1}\n{ISS_L2}\n"
    c2 = Constellation.from_tle_text(two)
    assert len(c2) == 1 and c2.names == ["25544"]
    assert c2.plane.tolist() == [-1] and c2.slot.tolist() == [-1] and c2.shells == [None]
    assert c2.epoch == dt.datetime(2019, 12, 9, 16, 38, 29, 363424, tzinfo=UTC)
    assert c2.period_s[0] == pytest.approx(86400.0 / 15.50103472, rel=1e-9)

    walker = Constellation.walker_delta(2, 2, 550.0, 53.0, epoch=dt.datetime(2020, 1, 1, tzinfo=UTC))
    three = f"0 ISS (ZARYA)\n{ISS_L1}\n{ISS_L2}\n\n" + walker.to_tle()
    path = tmp_path / "mixed.tle"
    path.write_text(three)
    c3 = Constellation.from_tle(path, infer=False)  # five satellites: no shell to infer
    assert c3.names == ["ISS (ZARYA)", "SAT-0-0", "SAT-0-1", "SAT-1-0", "SAT-1-1"]
    assert c3.epoch == dt.datetime(2020, 1, 1, tzinfo=UTC)  # latest TLE epoch
    assert np.allclose(c3.positions_ecef(0.0)[1:], walker.positions_ecef(0.0), atol=0.05)


def test_to_tle_round_trip_and_checksums():
    c = Constellation.walker_delta(5, 4, 630.0, 51.9, phasing=2) + Constellation.walker_delta(
        3, 3, 780.0, 86.4, raan_spread_deg=180.0, name_prefix="IRI"
    )
    text = c.to_tle()
    lines = text.splitlines()
    assert len(lines) == 3 * len(c)
    for ln in lines[1::3] + lines[2::3]:
        assert len(ln) == 69 and ln[68] == _checksum(ln)
    back = Constellation.from_tle_text(text)
    assert back.names == c.names
    for t in (0.0, 3600.0, 86400.0):
        assert np.max(np.linalg.norm(back.positions_ecef(t) - c.positions_ecef(t), axis=1)) < 1.0


@pytest.mark.parametrize(
    "text, line, what",
    [
        (f"{ISS_L1}\n{_with_checksum(ISS_L2, '0')}\n", 2, "checksum"),
        (f"ISS\n{ISS_L1[:50]}\n{ISS_L2}\n", 2, "truncated"),
        (f"{ISS_L1[:50]}\n{ISS_L2}\n", 1, "truncated"),
        (f"{ISS_L1}\nISS\n", 2, "expected TLE line 2"),
        (f"ISS\n{ISS_L1}\n", 3, "truncated"),
        (f"{ISS_L1}\n{ISS_L2[:2]}25545{ISS_L2[7:68]}{_checksum(ISS_L2[:2] + '25545' + ISS_L2[7:])}\n", 2, "mismatch"),
        (f"{ISS_L2}\n", 1, "line 2 without"),
        ("\n\n", 3, "no satellites"),
    ],
)
def test_tle_errors_name_source_and_line(text, line, what):
    with pytest.raises(TLEError, match=what) as info:
        Constellation.from_tle_text(text, source="sats.tle")
    assert info.value.line == line
    assert f"sats.tle, line {line}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_empty_tle_file_names_the_file(tmp_path):
    path = tmp_path / "empty.tle"
    path.write_text("")
    with pytest.raises(TLEError, match="no satellites") as info:
        Constellation.from_tle(path)
    assert str(path) in str(info.value) and "line 1" in str(info.value)


# ------------------------------------------------------------------------------------------ skyfield
def test_positions_agree_with_skyfield_itrs():
    skyfield_api = pytest.importorskip("skyfield.api")
    from skyfield.framelib import itrs

    ts = skyfield_api.load.timescale(builtin=True)
    walker = Constellation.walker_delta(3, 2, 550.0, 53.0, epoch=dt.datetime(2019, 12, 9, tzinfo=UTC))
    text = f"ISS (ZARYA)\n{ISS_L1}\n{ISS_L2}\n" + walker.to_tle()
    c = Constellation.from_tle_text(text)
    lines = text.splitlines()
    sats = [skyfield_api.EarthSatellite(lines[3 * i + 1], lines[3 * i + 2], lines[3 * i], ts) for i in range(len(c))]
    for seconds in (0.0, 1800.0, 6 * 3600.0):
        when = c.epoch + dt.timedelta(seconds=seconds)
        ours = c.positions_ecef(when)
        t = ts.from_datetime(when)
        theirs = np.array([s.at(t).frame_xyz(itrs).km for s in sats])
        # skyfield uses UT1, polar motion off and a full precession-nutation model; we use UTC and GMST.
        # |UT1-UTC| < 0.9 s is at most ~0.5 km of Earth rotation at LEO radius.
        assert np.max(np.linalg.norm(ours - theirs, axis=1)) < 1.0
