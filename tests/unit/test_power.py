"""Power: Sun direction, Earth shadow, eclipse fraction, batteries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, MU_EARTH_KM3_S2, SECONDS_PER_DAY
from orbitcloud_env.geometry import gmst_rad, teme_to_ecef
from orbitcloud_env.power import (
    DEFAULT_BASE_LOAD_W,
    DEFAULT_BATTERY_CAPACITY_WH,
    DEFAULT_CHARGE_EFFICIENCY,
    DEFAULT_COMPUTE_POWER_W,
    DEFAULT_PANEL_POWER_W,
    Batteries,
    eclipse_fraction,
    in_shadow,
    sun_direction_ecef,
    sun_direction_eci,
)

_UNIX_EPOCH_JD = 2440587.5


def _jd(*args: int) -> tuple[float, float]:
    """Split Julian date (midnight, fraction) of a UTC date-time, computed independently of the package."""
    t = dt.datetime(*args, tzinfo=dt.timezone.utc)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    jd0 = _UNIX_EPOCH_JD + midnight.timestamp() / SECONDS_PER_DAY
    return jd0, (t - midnight).total_seconds() / SECONDS_PER_DAY


def _declination_deg(u: np.ndarray) -> float:
    return float(np.degrees(np.arcsin(u[..., 2])))


# ----------------------------------------------------------------------------------------------- the Sun
def test_sun_direction_is_unit_and_broadcasts():
    jd0, _ = _jd(2026, 1, 1)
    u = sun_direction_eci(jd0, np.linspace(0.0, 365.0, 50)[:, None] * np.ones((1, 2)))
    assert u.shape == (50, 2, 3)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1.0, atol=1e-12)


def test_sun_declination_at_solstice_and_equinox():
    # 2026 June solstice: 06-21 08:24 UTC; March equinox: 03-20 14:46 UTC (USNO / IMCCE tables).
    assert abs(_declination_deg(sun_direction_eci(*_jd(2026, 6, 21, 8, 24))) - 23.44) < 0.1
    assert abs(_declination_deg(sun_direction_eci(*_jd(2026, 3, 20, 14, 46)))) < 0.1
    assert abs(_declination_deg(sun_direction_eci(*_jd(2026, 12, 21, 20, 50))) + 23.44) < 0.1


def test_sun_ecef_matches_geometry_rotation_and_subsolar_longitude():
    jd, fr = _jd(2026, 3, 20, 12, 0)
    g = gmst_rad(jd, fr)
    s_ecef = sun_direction_ecef(jd, fr, g)
    np.testing.assert_allclose(s_ecef, teme_to_ecef(sun_direction_eci(jd, fr), g), atol=1e-12)
    # At 12:00 UTC the Sun is over longitude ~0, off by the equation of time: on 20 March it is -7.5 min
    # (apparent noon at Greenwich comes at 12:07.5 UTC), so the Sun is still ~1.9 deg east of Greenwich.
    subsolar_lon = np.degrees(np.arctan2(s_ecef[1], s_ecef[0]))
    assert 1.0 < subsolar_lon < 3.0


def test_sun_direction_vs_skyfield_ephemeris():
    """Dev-only: compare with skyfield + the small DE430 excerpt it ships for its own tests (2015-02-26..03-06)."""
    skyfield = pytest.importorskip("skyfield")
    from skyfield.api import load, load_file

    bsp = Path(skyfield.__file__).parent / "tests" / "data" / "de430-2015-03-02.bsp"
    if not bsp.exists():
        pytest.skip(f"skyfield's DE430 excerpt not installed at {bsp}")
    eph = load_file(str(bsp))
    ts = load.timescale(builtin=True)
    hours = np.arange(0, 24 * 6, 7)
    t = ts.utc(2015, 2, 27, hours)
    ra, dec, _ = eph["earth"].at(t).observe(eph["sun"]).apparent().radec(epoch="date")
    ref = np.stack([np.cos(dec.radians) * np.cos(ra.radians), np.cos(dec.radians) * np.sin(ra.radians),
                    np.sin(dec.radians)], axis=-1)
    jd0, fr0 = _jd(2015, 2, 27)
    ours = sun_direction_eci(jd0, fr0 + hours / 24.0)
    err_deg = np.degrees(np.arccos(np.clip(np.sum(ours * ref, axis=-1), -1.0, 1.0)))
    assert err_deg.max() < 0.05


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_sun_direction_rejects_non_finite_dates(bad):
    with pytest.raises(ValueError, match="jd"):
        sun_direction_eci(bad)
    with pytest.raises(ValueError, match="gmst_rad"):
        sun_direction_ecef(2461120.0, 0.0, bad)


# ----------------------------------------------------------------------------------------------- shadow
def _circular_orbit_km(altitude_km: float, sun: np.ndarray, beta_deg: float, n: int) -> np.ndarray:
    """Positions over one circular orbit whose plane makes angle beta with the Sun direction."""
    s = sun / np.linalg.norm(sun)
    e1 = np.cross(s, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(s, e1)  # (s, e1, e2) orthonormal; the plane spanned by e1 and s' contains s tilted by beta
    b = np.radians(beta_deg)
    normal = np.cos(b) * e2 + np.sin(b) * s
    u1 = e1
    u2 = np.cross(normal, u1)
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[:, None]
    return (EARTH_RADIUS_EQ_KM + altitude_km) * (np.cos(theta) * u1 + np.sin(theta) * u2)


def test_equinox_low_beta_eclipse_fraction_550km():
    """Equatorial circular orbit at 550 km, 2026-03-20 12:00 UTC: the Sun is within 0.05 deg of the equator,
    so beta ~ 0. Sample one orbit uniformly in time (uniform in angle for a circular orbit) in ECI."""
    jd, fr = _jd(2026, 3, 20, 12, 0)
    sun = sun_direction_eci(jd, fr)
    r_km = EARTH_RADIUS_EQ_KM + 550.0
    period_s = 2.0 * np.pi * np.sqrt(r_km**3 / MU_EARTH_KM3_S2)
    t = np.linspace(0.0, period_s, 20_000, endpoint=False)
    ang = 2.0 * np.pi * t / period_s
    pos = np.stack([r_km * np.cos(ang), r_km * np.sin(ang), np.zeros_like(ang)], axis=-1)
    beta = np.degrees(np.arcsin(sun[2]))
    numeric = in_shadow(pos, sun).mean()
    analytic = eclipse_fraction(550.0, beta)
    assert 0.3 < numeric < 0.4
    assert abs(numeric - analytic) < 1e-3
    conical = in_shadow(pos, sun, model="conical").mean()
    assert analytic - 0.01 < conical <= numeric  # umbra cone is inside the cylinder near the Earth


@pytest.mark.parametrize("altitude_km, beta_deg", [(550.0, 20.0), (550.0, 55.0), (1200.0, 40.0), (550.0, 75.0)])
def test_eclipse_fraction_matches_numeric_orbit(altitude_km, beta_deg):
    sun = sun_direction_eci(*_jd(2026, 6, 21))
    pos = _circular_orbit_km(altitude_km, sun, beta_deg, 20_000)
    assert abs(in_shadow(pos, sun).mean() - eclipse_fraction(altitude_km, beta_deg)) < 1e-3


def test_eclipse_fraction_limits():
    assert eclipse_fraction(550.0, [70.0, 90.0, -80.0]).tolist() == [0.0, 0.0, 0.0]
    f = eclipse_fraction([300.0, 550.0, 1200.0], 0.0)
    assert np.all(np.diff(f) < 0) and np.all((f > 0.3) & (f < 0.5))
    assert np.isclose(eclipse_fraction(550.0, 30.0), eclipse_fraction(550.0, -30.0))


@pytest.mark.parametrize("h, b, arg", [(0.0, 0.0, "altitude_km"), (-5.0, 0.0, "altitude_km"),
                                       (550.0, 91.0, "beta_deg"), (550.0, float("nan"), "beta_deg")])
def test_eclipse_fraction_validation(h, b, arg):
    with pytest.raises(ValueError, match=arg):
        eclipse_fraction(h, b)


def test_in_shadow_simple_points():
    sun = np.array([2.0, 0.0, 0.0])  # not unit: normalised inside
    r = EARTH_RADIUS_EQ_KM + 550.0
    pts = np.array([[-r, 0, 0], [r, 0, 0], [0, r, 0], [-r, 0.99 * EARTH_RADIUS_EQ_KM, 0], [-4e5, 0, 0],
                    [-2e6, 0, 0]])
    assert in_shadow(pts, sun).tolist() == [True, False, False, True, True, True]
    # Beyond the umbra's apex (~1.38 million km) the conical model is lit; near the Moon's distance still dark.
    assert in_shadow(pts, sun, model="conical").tolist() == [True, False, False, True, True, False]
    assert in_shadow(pts[0], sun).shape == ()


@pytest.mark.parametrize(
    "pos, sun, model, arg",
    [
        (np.zeros((2, 2)), [1, 0, 0], "cylindrical", "sat_ecef_km"),
        (np.full((1, 3), np.nan), [1, 0, 0], "cylindrical", "sat_ecef_km"),
        (np.zeros((1, 3)), [0, 0, 0], "cylindrical", "sun_dir"),
        (np.zeros((1, 3)), [1, 0], "cylindrical", "sun_dir"),
        (np.zeros((1, 3)), [1, 0, 0], "penumbra", "model"),
    ],
)
def test_in_shadow_validation(pos, sun, model, arg):
    with pytest.raises(ValueError, match=arg):
        in_shadow(pos, sun, model=model)


# ----------------------------------------------------------------------------------------------- batteries
def test_battery_defaults_and_soc():
    b = Batteries(3, initial_soc=[0.0, 0.5, 1.0])
    np.testing.assert_allclose(b.soc, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(b.energy_wh, [0.0, 0.5, 1.0] * np.full(3, DEFAULT_BATTERY_CAPACITY_WH))
    assert b.n == 3 and np.all(b.panel_power_w == DEFAULT_PANEL_POWER_W)
    with pytest.raises(ValueError):
        b.energy_wh[0] = 1.0  # read-only view


def test_battery_drains_in_eclipse_and_charges_in_sun():
    b = Batteries(2, capacity_wh=1000.0, initial_soc=0.5, panel_power_w=500.0, base_load_w=200.0,
                  charge_efficiency=0.9)
    unserved = b.advance(1800.0, np.array([False, True]))
    # eclipse: -200 W x 0.5 h = -100 Wh; sun: +0.9 x (500 - 200) W x 0.5 h = +135 Wh
    np.testing.assert_allclose(b.energy_wh, [400.0, 635.0])
    assert unserved.tolist() == [0.0, 0.0]
    b.advance(1800.0, 0.5)  # half the step sunlit: 250 W - 200 W surplus
    np.testing.assert_allclose(b.energy_wh, [400.0 + 22.5, 635.0 + 22.5])


def test_battery_clips_at_bounds_and_reports_unserved_load():
    b = Batteries(2, capacity_wh=100.0, initial_soc=[0.1, 0.9], panel_power_w=1000.0, base_load_w=100.0)
    unserved = b.advance(7200.0, [False, True])
    np.testing.assert_allclose(b.energy_wh, [0.0, 100.0])
    # node 0 needed 200 Wh with 10 Wh stored: 190 Wh = 684 kJ unserved
    np.testing.assert_allclose(unserved, [190.0 * 3600.0, 0.0])
    b.advance(0.0, False)
    np.testing.assert_allclose(b.energy_wh, [0.0, 100.0])


def test_battery_draw_debits_energy():
    b = Batteries(3, capacity_wh=10.0, initial_soc=0.5)
    short = b.draw(1, 3600.0)  # 1 Wh
    np.testing.assert_allclose(b.energy_wh, [5.0, 4.0, 5.0])
    assert short.tolist() == [0.0, 0.0, 0.0]
    short = b.draw(np.array([0, 0, 2]), np.array([3600.0, 3600.0, 36_000.0]))  # repeats accumulate
    np.testing.assert_allclose(b.energy_wh, [3.0, 4.0, 0.0])
    np.testing.assert_allclose(short, [0.0, 0.0, 5.0 * 3600.0])


def test_can_compute_threshold():
    b = Batteries(4, capacity_wh=100.0, initial_soc=[0.0, 0.19, 0.2, 1.0])
    assert b.can_compute(0.2).tolist() == [False, False, True, True]
    assert b.can_compute(0.0).all()
    with pytest.raises(ValueError, match="min_soc"):
        b.can_compute(1.5)


def test_battery_reset():
    b = Batteries(2, initial_soc=0.7)
    b.advance(3600.0, False)
    b.reset()
    np.testing.assert_allclose(b.soc, 0.7)
    b.reset([0.1, 0.2])
    np.testing.assert_allclose(b.soc, [0.1, 0.2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1e4), st.booleans(), st.integers(0, 4), st.floats(0.0, 1e8)),
                max_size=30),
       st.floats(0.0, 1.0))
def test_battery_state_stays_finite_and_in_bounds(steps, soc0):
    b = Batteries(5, capacity_wh=[10.0, 100.0, 1e3, 1e4, 5e3], initial_soc=soc0)
    for dt_s, lit, node, energy_j in steps:
        b.advance(dt_s, np.full(5, lit))
        b.draw(node, energy_j)
        e = b.energy_wh
        assert np.all(np.isfinite(e)) and np.all(e >= 0.0) and np.all(e <= b.capacity_wh)
        assert np.all((b.soc >= 0.0) & (b.soc <= 1.0))


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(n=0), "n"),
        (dict(n=True), "n"),
        (dict(n=2.0), "n"),
        (dict(n=2, capacity_wh=0.0), "capacity_wh"),
        (dict(n=2, capacity_wh=[1.0, 2.0, 3.0]), "capacity_wh"),
        (dict(n=2, initial_soc=1.5), "initial_soc"),
        (dict(n=2, panel_power_w=-1.0), "panel_power_w"),
        (dict(n=2, base_load_w=float("nan")), "base_load_w"),
        (dict(n=2, charge_efficiency=0.0), "charge_efficiency"),
        (dict(n=2, charge_efficiency=1.1), "charge_efficiency"),
    ],
)
def test_battery_constructor_validation(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        Batteries(**kwargs)


def test_battery_method_validation():
    b = Batteries(2)
    with pytest.raises(ValueError, match="dt_s"):
        b.advance(-1.0, True)
    with pytest.raises(ValueError, match="sunlit"):
        b.advance(1.0, [True, False, True])
    with pytest.raises(ValueError, match="sunlit"):
        b.advance(1.0, 1.5)
    with pytest.raises(ValueError, match="node_index"):
        b.draw(2, 1.0)
    with pytest.raises(ValueError, match="node_index"):
        b.draw(0.5, 1.0)
    with pytest.raises(ValueError, match="energy_j"):
        b.draw(0, -1.0)
    with pytest.raises(ValueError, match="energy_j"):
        b.draw(0, float("nan"))


def test_default_battery_covers_an_idle_eclipse_but_not_a_busy_one():
    """Sanity of the v1 defaults: a full battery covers a 36 min eclipse at base load, but not at base load plus
    full compute (a busy satellite runs low on the eclipse side within an episode), and the sun recharges it."""
    eclipse_s = 0.3723 * 95.6 * 60.0
    idle = Batteries(1)
    idle.advance(eclipse_s, False)
    assert 0.2 < idle.soc[0] < 1.0
    busy = Batteries(1)
    busy.advance(eclipse_s, False)
    busy.draw(0, DEFAULT_COMPUTE_POWER_W * eclipse_s)
    assert busy.soc[0] < 0.2
    assert DEFAULT_CHARGE_EFFICIENCY * (DEFAULT_PANEL_POWER_W - DEFAULT_BASE_LOAD_W) > 0
