"""Solar illumination and batteries of OrbitCloud's satellites.

Pure numpy; no Gymnasium. Three parts:

- Sun direction: the Astronomical Almanac's low-precision solar coordinates (section C, "low-precision
  formulas for the Sun": ~0.01 deg between 1950 and 2050), in the mean equator and equinox of date. We use
  those axes as TEME's (SGP4's frame): TEME differs from mean-of-date only by the nutation in right
  ascension of the equinox and the nutation in obliquity, both below 0.006 deg, so the total error stays
  below ~0.01 deg. The time argument is a UTC Julian date; the formula is defined on TT/UT, and the
  ~70 s offset moves the Sun by < 0.001 deg.
- Earth shadow: a cylinder of the Earth's equatorial radius behind the Earth, or the umbra cone (conical),
  from the Sun's radius and the astronomical unit. Penumbra counts as sunlit in both models.
- Batteries: an energy bucket per satellite, vectorised over N nodes, charged by the solar surplus over a
  constant base load and debited by compute jobs.

Clocks: illumination and :meth:`Batteries.advance` run on the topology clock (once per ``topology_dt_s``
bucket); :meth:`Batteries.draw` runs on the event clock, when a job's energy is committed.

Assumed payload figures (documented with their reference points in ``docs/physics_ground_power.md``):
``DEFAULT_PANEL_POWER_W``, ``DEFAULT_BATTERY_CAPACITY_WH``, ``DEFAULT_BASE_LOAD_W``,
``DEFAULT_COMPUTE_POWER_W``, ``DEFAULT_CHARGE_EFFICIENCY``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbitcloud_env.config import ComputeConfig, PowerConfig
from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, SECONDS_PER_HOUR
from orbitcloud_env.geometry import JD_J2000, teme_to_ecef

__all__ = [
    "SUN_RADIUS_KM",
    "AU_KM",
    "SHADOW_MODELS",
    "DEFAULT_PANEL_POWER_W",
    "DEFAULT_BATTERY_CAPACITY_WH",
    "DEFAULT_BASE_LOAD_W",
    "DEFAULT_COMPUTE_POWER_W",
    "DEFAULT_CHARGE_EFFICIENCY",
    "sun_direction_eci",
    "sun_direction_ecef",
    "in_shadow",
    "eclipse_fraction",
    "EnergyLedger",
    "Batteries",
]

#: [km] Nominal solar radius (IAU 2015 Resolution B3: 695,700 km; 696,000 km is the classic value used here,
#: the difference changes the umbra length by 0.04 %).
SUN_RADIUS_KM: float = 696_000.0
#: [km] Astronomical unit, exact by IAU 2012 Resolution B2.
AU_KM: float = 149_597_870.7
#: Names accepted by :func:`in_shadow`'s ``model``.
SHADOW_MODELS: tuple[str, ...] = ("cylindrical", "conical")

# Assumed compute payload of one satellite (hypothetical). The values live in one place, the scenario config
# (PowerConfig, ComputeConfig); these names re-export them for code that uses this module on its own. Reference
# points in docs/physics_ground_power.md: Li-ion packs at 150-250 Wh/kg (NASA Small Spacecraft Technology State
# of the Art 2023, Power chapter); Starlink v1 solar array of the order of kW.
#: [W] Solar power available to the compute payload when sunlit (assumption).
DEFAULT_PANEL_POWER_W: float = PowerConfig.panel_power_w
#: [Wh] Battery energy reserved for the payload (assumption).
DEFAULT_BATTERY_CAPACITY_WH: float = PowerConfig.battery_capacity_wh
#: [W] Payload load drawn always: avionics share, radios, thermal control (assumption).
DEFAULT_BASE_LOAD_W: float = PowerConfig.base_load_w
#: [W] Electrical power of the compute payload at full load (assumption, e.g. a few embedded GPUs).
DEFAULT_COMPUTE_POWER_W: float = ComputeConfig.satellite_power_w
#: [-] Fraction of surplus solar energy stored (charge-side efficiency of Li-ion with its regulator).
DEFAULT_CHARGE_EFFICIENCY: float = PowerConfig.charge_efficiency


# ----------------------------------------------------------------------------------------------- the Sun
def sun_direction_eci(jd: ArrayLike, fr: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Unit vector from the Earth's centre to the Sun, mean equator and equinox of date (used as TEME axes).

    Astronomical Almanac, section C, low-precision formulas for the Sun (accuracy ~0.01 deg, 1950-2050)::

        n = jd + fr - 2451545.0
        L = 280.460 + 0.9856474 n          mean longitude [deg]
        g = 357.528 + 0.9856003 n          mean anomaly [deg]
        lambda = L + 1.915 sin g + 0.020 sin 2g     ecliptic longitude [deg]
        eps = 23.439 - 0.0000004 n         obliquity [deg]
        u = (cos lambda, cos eps sin lambda, sin eps sin lambda)

    Args:
        jd: [d] Julian date (UTC; split form as sgp4's ``jday``), scalar or array.
        fr: [d] fraction of a day added to ``jd``; broadcasts with it.

    Returns:
        [-] unit vectors, shape broadcast(jd, fr) + (3,).
    """
    j = np.asarray(jd, dtype=np.float64)
    f = np.asarray(fr, dtype=np.float64)
    if not (np.all(np.isfinite(j)) and np.all(np.isfinite(f))):
        raise ValueError("jd, fr: Julian date parts must be finite [d]")
    n = (j - JD_J2000) + f
    mean_lon = np.deg2rad(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.deg2rad(np.mod(357.528 + 0.9856003 * n, 360.0))
    lam = mean_lon + np.deg2rad(1.915) * np.sin(g) + np.deg2rad(0.020) * np.sin(2.0 * g)
    eps = np.deg2rad(23.439 - 0.0000004 * n)
    x = np.cos(lam)
    y = np.cos(eps) * np.sin(lam)
    z = np.sin(eps) * np.sin(lam)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def sun_direction_ecef(jd: ArrayLike, fr: ArrayLike, gmst_rad: ArrayLike) -> NDArray[np.float64]:
    """Unit Sun vector in the Earth-fixed frame: :func:`sun_direction_eci` rotated about z by -GMST.

    The rotation is :func:`orbitcloud_env.geometry.teme_to_ecef` (polar motion ignored), the one the satellites'
    positions go through.

    Args:
        jd: [d] Julian date (UTC).
        fr: [d] fraction of a day.
        gmst_rad: [rad] Greenwich mean sidereal time at ``jd + fr`` (``geometry.gmst_rad(jd, fr)``).

    Returns:
        [-] unit vectors, shape broadcast(jd, fr, gmst_rad) + (3,).
    """
    s = sun_direction_eci(jd, fr)
    th = np.asarray(gmst_rad, dtype=np.float64)
    if not np.all(np.isfinite(th)):
        raise ValueError("gmst_rad: must be finite [rad]")
    return teme_to_ecef(s, th)


# ----------------------------------------------------------------------------------------------- shadow
def in_shadow(sat_ecef_km: ArrayLike, sun_dir: ArrayLike, model: str = "cylindrical") -> NDArray[np.bool_]:
    """Whether satellites are in the Earth's shadow.

    Works in any Earth-centred frame, as long as positions and Sun direction share it (ECEF with
    :func:`sun_direction_ecef`, TEME/ECI with :func:`sun_direction_eci`). The Earth is a sphere of the
    WGS84 equatorial radius; atmospheric refraction and the penumbra (partly lit: counted as sunlit) are
    ignored.

    - ``"cylindrical"``: shadow is the cylinder of radius R_E behind the Earth, i.e. ``r . s < 0`` and the
      distance from the Earth-Sun axis ``|r - (r . s) s| < R_E``.
    - ``"conical"``: the umbra cone (Vallado, *Fundamentals of Astrodynamics and Applications*, 4th ed.,
      Algorithm 34, umbra part) with half-angle ``asin((R_sun - R_E) / AU)``, R_sun = ``SUN_RADIUS_KM``,
      AU = ``AU_KM``; the cone narrows behind the Earth, so where a 550 km orbit crosses the shadow
      edge its radius is ~13 km below R_E, which shortens a low-beta eclipse by about 8 s (of ~36 min).

    Args:
        sat_ecef_km: [km] satellite positions, shape (N, 3) (or (..., 3)).
        sun_dir: [-] Sun direction from the Earth's centre, shape (3,); normalised here.
        model: one of ``SHADOW_MODELS``.

    Returns:
        bool array of shape (N,) (the leading shape of ``sat_ecef_km``): True in shadow.
    """
    if model not in SHADOW_MODELS:
        raise ValueError(f"model: unknown shadow model {model!r}; allowed: {', '.join(SHADOW_MODELS)}")
    r = np.asarray(sat_ecef_km, dtype=np.float64)
    if r.ndim < 1 or r.shape[-1] != 3:
        raise ValueError(f"sat_ecef_km: expected shape (N, 3) in km, got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("sat_ecef_km: positions must be finite [km]")
    s = np.asarray(sun_dir, dtype=np.float64)
    if s.shape != (3,):
        raise ValueError(f"sun_dir: expected shape (3,), got {s.shape}")
    norm = float(np.linalg.norm(s))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("sun_dir: must be a finite, non-zero vector")
    s = s / norm
    along = r @ s  # [km] component towards the Sun
    perp = np.linalg.norm(r - along[..., None] * s, axis=-1)  # [km] distance from the Earth-Sun axis
    behind = along < 0.0
    if model == "cylindrical":
        return behind & (perp < EARTH_RADIUS_EQ_KM)
    sin_a = (SUN_RADIUS_KM - EARTH_RADIUS_EQ_KM) / AU_KM
    apex_km = EARTH_RADIUS_EQ_KM / sin_a  # distance from the Earth's centre to the umbra's apex
    umbra_radius_km = np.tan(np.arcsin(sin_a)) * (apex_km - (-along))
    return behind & (perp < umbra_radius_km)


def eclipse_fraction(altitude_km: ArrayLike, beta_deg: ArrayLike) -> NDArray[np.float64]:
    """Fraction of a circular orbit spent in the cylindrical Earth shadow (analytic).

    ``f = acos( sqrt(h^2 + 2 R_E h) / ((R_E + h) cos beta) ) / pi`` when ``|beta| < asin(R_E / (R_E + h))``,
    else 0 (e.g. Wertz & Larson, *Space Mission Analysis and Design*; the cylinder of radius R_E =
    ``EARTH_RADIUS_EQ_KM``, matching :func:`in_shadow`'s cylindrical model).

    Args:
        altitude_km: [km] orbit altitude above the equatorial radius, > 0.
        beta_deg: [deg] beta angle (Sun elevation above the orbit plane), in [-90, 90].

    Returns:
        [-] eclipse fraction in [0, 0.5), broadcast shape of the inputs.
    """
    h = np.asarray(altitude_km, dtype=np.float64)
    b = np.asarray(beta_deg, dtype=np.float64)
    if not np.all(np.isfinite(h)) or np.any(h <= 0.0):
        raise ValueError("altitude_km: must be finite and > 0 [km]")
    if not np.all(np.isfinite(b)) or np.any(np.abs(b) > 90.0):
        raise ValueError("beta_deg: must be finite and in [-90, 90] deg")
    r = EARTH_RADIUS_EQ_KM + h
    cos_b = np.cos(np.deg2rad(b))
    beta_star = np.arcsin(EARTH_RADIUS_EQ_KM / r)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = np.sqrt(h * h + 2.0 * EARTH_RADIUS_EQ_KM * h) / (r * cos_b)
        f = np.arccos(np.clip(arg, -1.0, 1.0)) / np.pi
    return np.where(np.abs(np.deg2rad(b)) < beta_star, f, 0.0)


# ----------------------------------------------------------------------------------------------- batteries
class EnergyLedger:
    """Where the batteries' energy went since :meth:`Batteries.start_ledger`, per node, each (N,) [Wh] >= 0.

    Bookkeeping only: it never changes the stored energy. The balance, exact up to rounding::

        energy_wh = initial_wh + harvested_wh - base_wh + base_unserved_wh - clipped_wh - compute_wh

    Attributes:
        initial_wh: stored energy when the ledger started.
        harvested_wh: solar surplus stored (after the charge efficiency), before clipping at capacity.
        base_wh: base load the panel could not cover, asked of the battery (in eclipse, or a panel below the load).
        base_unserved_wh: the part of ``base_wh`` an empty battery could not supply.
        clipped_wh: stored surplus lost because the battery was full.
        compute_wh: compute energy drawn by jobs (:meth:`Batteries.draw`, :meth:`Batteries.draw_one`), served part.
        compute_unserved_wh: compute energy asked of an empty battery and not supplied (not in the balance).
    """

    FIELDS = ("initial_wh", "harvested_wh", "base_wh", "base_unserved_wh", "clipped_wh", "compute_wh",
              "compute_unserved_wh")

    def __init__(self, energy_wh: NDArray[np.float64]) -> None:
        n = energy_wh.shape[0]
        self.initial_wh = np.array(energy_wh, dtype=np.float64)
        self.harvested_wh = np.zeros(n)
        self.base_wh = np.zeros(n)
        self.base_unserved_wh = np.zeros(n)
        self.clipped_wh = np.zeros(n)
        self.compute_wh = np.zeros(n)
        self.compute_unserved_wh = np.zeros(n)

    def balance_wh(self) -> NDArray[np.float64]:
        """[Wh] (N,) the stored energy the ledger accounts for (equals ``Batteries.energy_wh`` up to rounding)."""
        return (self.initial_wh + self.harvested_wh - self.base_wh + self.base_unserved_wh - self.clipped_wh
                - self.compute_wh)

    def copy(self) -> "EnergyLedger":
        out = EnergyLedger.__new__(EnergyLedger)
        for f in self.FIELDS:
            setattr(out, f, getattr(self, f).copy())
        return out

    def totals_wh(self) -> dict[str, float]:
        """[Wh] each field summed over the nodes."""
        return {f: float(np.sum(getattr(self, f))) for f in self.FIELDS}


def _per_node(value: ArrayLike, n: int, name: str, unit: str, low: float, high: float = np.inf,
              low_open: bool = False) -> NDArray[np.float64]:
    a = np.asarray(value, dtype=np.float64)
    try:
        a = np.broadcast_to(a, (n,)).astype(np.float64, copy=True)
    except ValueError:
        raise ValueError(f"{name}: expected a scalar or shape ({n},) [{unit}], got shape {a.shape}") from None
    bad_low = np.any(a <= low) if low_open else np.any(a < low)
    if not np.all(np.isfinite(a)) or bad_low or np.any(a > high):
        lo = "(" if low_open else "["
        raise ValueError(f"{name}: values must be finite and in {lo}{low:g}, {high:g}] [{unit}]")
    return a


class Batteries:
    """Batteries of N satellites' compute payloads, vectorised; energy in Wh, never NaN, never negative.

    Energy balance per node over a topology step of ``dt_s`` with sunlit fraction ``x`` in [0, 1]::

        surplus_w = x * panel_power_w - base_load_w
        energy_wh += dt_s / 3600 * (charge_efficiency * surplus_w  if surplus_w > 0  else surplus_w)

    clipped to [0, capacity_wh]: the panel feeds the load first and only the surplus is stored (with the
    charge efficiency); a deficit is drawn from the battery. Compute jobs debit their energy with
    :meth:`draw`. Discharge losses, depth-of-discharge limits, temperature and ageing are ignored.

    Args:
        n: [-] number of nodes (satellites), >= 1.
        capacity_wh: [Wh] battery capacity, > 0; scalar or (n,).
        initial_soc: [-] state of charge at construction and :meth:`reset`, in [0, 1]; scalar or (n,).
        panel_power_w: [W] solar power to the payload when sunlit, >= 0; scalar or (n,).
        base_load_w: [W] payload load drawn always, >= 0; scalar or (n,).
        charge_efficiency: [-] fraction of the solar surplus stored, in (0, 1]; scalar or (n,).

    Defaults are assumptions (``DEFAULT_*`` in this module; reference points in the docs).
    """

    def __init__(
        self,
        n: int,
        capacity_wh: ArrayLike = DEFAULT_BATTERY_CAPACITY_WH,
        initial_soc: ArrayLike = 1.0,
        panel_power_w: ArrayLike = DEFAULT_PANEL_POWER_W,
        base_load_w: ArrayLike = DEFAULT_BASE_LOAD_W,
        charge_efficiency: ArrayLike = DEFAULT_CHARGE_EFFICIENCY,
    ) -> None:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n: number of nodes must be an integer >= 1, got {n!r}")
        self._n = int(n)
        self._capacity_wh = _per_node(capacity_wh, self._n, "capacity_wh", "Wh", 0.0, low_open=True)
        self._panel_power_w = _per_node(panel_power_w, self._n, "panel_power_w", "W", 0.0)
        self._base_load_w = _per_node(base_load_w, self._n, "base_load_w", "W", 0.0)
        self._charge_efficiency = _per_node(charge_efficiency, self._n, "charge_efficiency", "-", 0.0, 1.0,
                                            low_open=True)
        for a in (self._capacity_wh, self._panel_power_w, self._base_load_w, self._charge_efficiency):
            a.setflags(write=False)
        self._initial_soc = _per_node(initial_soc, self._n, "initial_soc", "-", 0.0, 1.0)
        self._energy_wh = self._initial_soc * self._capacity_wh
        #: Energy accounting since construction, :meth:`reset` or :meth:`start_ledger` (:class:`EnergyLedger`).
        self.ledger = EnergyLedger(self._energy_wh)

    def start_ledger(self) -> None:
        """Restart the energy accounting from the current stored energy (e.g. after a warm-up)."""
        self.ledger = EnergyLedger(self._energy_wh)

    # -- read-only views
    @property
    def n(self) -> int:
        """[-] Number of nodes."""
        return self._n

    @property
    def capacity_wh(self) -> NDArray[np.float64]:
        """[Wh] Capacity per node, (N,), read-only."""
        return self._capacity_wh

    @property
    def panel_power_w(self) -> NDArray[np.float64]:
        """[W] Solar power to the payload when sunlit, (N,), read-only."""
        return self._panel_power_w

    @property
    def base_load_w(self) -> NDArray[np.float64]:
        """[W] Always-on payload load, (N,), read-only."""
        return self._base_load_w

    @property
    def charge_efficiency(self) -> NDArray[np.float64]:
        """[-] Fraction of surplus solar energy stored, (N,), read-only."""
        return self._charge_efficiency

    @property
    def energy_wh(self) -> NDArray[np.float64]:
        """[Wh] Stored energy per node, (N,), in [0, capacity_wh]; a read-only view."""
        v = self._energy_wh.view()
        v.setflags(write=False)
        return v

    @property
    def soc(self) -> NDArray[np.float64]:
        """[-] State of charge ``energy_wh / capacity_wh`` per node, (N,), in [0, 1]; derived."""
        return self._energy_wh / self._capacity_wh

    def soc_at(self, nodes: NDArray[np.int64] | int) -> NDArray[np.float64] | float:
        """[-] :attr:`soc` of ``nodes`` only (indices or one index)."""
        return self._energy_wh[nodes] / self._capacity_wh[nodes]

    # -- dynamics
    def reset(self, initial_soc: ArrayLike | None = None) -> None:
        """Set the state of charge to ``initial_soc`` ([-], scalar or (N,), in [0, 1]); None: the constructor's."""
        if initial_soc is not None:
            self._initial_soc = _per_node(initial_soc, self._n, "initial_soc", "-", 0.0, 1.0)
        self._energy_wh = self._initial_soc * self._capacity_wh
        self.ledger = EnergyLedger(self._energy_wh)

    def get_state(self) -> tuple[NDArray[np.float64], "EnergyLedger"]:
        """A copy of the stored energy [Wh] and the energy ledger, for :meth:`set_state`."""
        return self._energy_wh.copy(), self.ledger.copy()

    def set_state(self, state: tuple[NDArray[np.float64], "EnergyLedger"]) -> None:
        """Return to a state from :meth:`get_state` (copied again: it can be restored many times)."""
        energy_wh, ledger = state
        self._energy_wh = energy_wh.copy()
        self.ledger = ledger.copy()

    def advance(self, dt_s: float, sunlit: ArrayLike) -> NDArray[np.float64]:
        """Integrate solar charging and the base load over ``dt_s`` (topology clock).

        Args:
            dt_s: [s] time step, finite and >= 0.
            sunlit: (N,) bool (sunlit for the whole step), or float in [0, 1] (sunlit fraction of the
                step); a scalar applies to every node.

        Returns:
            [J] base-load energy the empty battery could not supply during the step, (N,) (0 where served).
        """
        dt = float(dt_s)
        if not np.isfinite(dt) or dt < 0.0:
            raise ValueError(f"dt_s: time step must be finite and >= 0 [s], got {dt_s!r}")
        lit = _per_node(sunlit, self._n, "sunlit", "fraction of the step, or bool", 0.0, 1.0)
        surplus_w = lit * self._panel_power_w - self._base_load_w
        delta_wh = np.where(surplus_w > 0.0, self._charge_efficiency * surplus_w, surplus_w) * (
            dt / SECONDS_PER_HOUR
        )
        new = self._energy_wh + delta_wh
        unserved_j = np.maximum(-new, 0.0) * SECONDS_PER_HOUR
        self._energy_wh = np.clip(new, 0.0, self._capacity_wh)
        led = self.ledger
        led.harvested_wh += np.maximum(delta_wh, 0.0)
        led.base_wh += np.maximum(-delta_wh, 0.0)
        led.base_unserved_wh += np.maximum(-new, 0.0)
        led.clipped_wh += np.maximum(new - self._capacity_wh, 0.0)
        return unserved_j

    def draw(self, node_index: ArrayLike, energy_j: ArrayLike) -> NDArray[np.float64]:
        """Debit compute energy from nodes (event clock); the stored energy never goes below 0.

        Args:
            node_index: node position(s) in [0, N), int or int array; repeats accumulate.
            energy_j: [J] energy per index, >= 0, broadcast against ``node_index``.

        Returns:
            [J] energy that could not be supplied, per node, (N,) (0 where fully served).
        """
        idx = np.asarray(node_index)
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"node_index: expected integer node positions in [0, {self._n - 1}], got dtype {idx.dtype}")
        if np.any(idx < 0) or np.any(idx >= self._n):
            raise ValueError(f"node_index: positions must be in [0, {self._n - 1}], got {np.ravel(idx).tolist()}")
        e = np.asarray(energy_j, dtype=np.float64)
        try:
            idx_b, e_b = np.broadcast_arrays(idx, e)
        except ValueError:
            raise ValueError(f"energy_j: shape {e.shape} does not broadcast with node_index {idx.shape}") from None
        if not np.all(np.isfinite(e_b)) or np.any(e_b < 0.0):
            raise ValueError("energy_j: energies must be finite and >= 0 [J]")
        demand_wh = np.zeros(self._n)
        np.add.at(demand_wh, np.ravel(idx_b), np.ravel(e_b) / SECONDS_PER_HOUR)
        served_wh = np.minimum(demand_wh, self._energy_wh)
        self._energy_wh = np.maximum(self._energy_wh - served_wh, 0.0)
        self.ledger.compute_wh += served_wh
        self.ledger.compute_unserved_wh += demand_wh - served_wh
        return (demand_wh - served_wh) * SECONDS_PER_HOUR

    def draw_one(self, node: int, energy_j: float) -> float:
        """Debit ``energy_j`` [J] (finite, >= 0) from one node: the per-job fast path of :meth:`draw`.

        Returns:
            [J] energy that could not be supplied (0 when the battery held enough).
        """
        e = float(energy_j)
        if not (e >= 0.0 and e != float("inf")):
            raise ValueError(f"energy_j: energy must be finite and >= 0 [J], got {energy_j!r}")
        if not 0 <= node < self._n:
            raise ValueError(f"node: position must be in [0, {self._n - 1}], got {node!r}")
        demand_wh = e / SECONDS_PER_HOUR
        have_wh = float(self._energy_wh[node])
        served_wh = demand_wh if demand_wh <= have_wh else have_wh
        self._energy_wh[node] = have_wh - served_wh
        self.ledger.compute_wh[node] += served_wh
        self.ledger.compute_unserved_wh[node] += demand_wh - served_wh
        return (demand_wh - served_wh) * SECONDS_PER_HOUR

    def can_compute(self, min_soc: float) -> NDArray[np.bool_]:
        """Nodes whose state of charge is at least ``min_soc`` ([-], in [0, 1]); (N,) bool."""
        m = float(min_soc)
        if not np.isfinite(m) or not 0.0 <= m <= 1.0:
            raise ValueError(f"min_soc: state-of-charge threshold must be in [0, 1], got {min_soc!r}")
        return self.soc >= m

    def __repr__(self) -> str:
        return f"Batteries(n={self._n}, mean_soc={float(self.soc.mean()):.3f})"
