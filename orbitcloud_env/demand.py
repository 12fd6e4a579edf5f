"""Time-varying demand of OrbitCloud v1: load regimes, a per-episode level, and the cloud regions' background load.

Pure numpy (no Gymnasium). Everything here is drawn at reset from its own generator, so that the job stream, the
background and the link failures stay independent streams of the episode's seed.

- :class:`LoadRegimes`: a piecewise-constant multiplier ``m(t)`` on the whole demand. The regime (e.g. quiet,
  normal, peak: ``workload.regime_multipliers``) is held for exponential times of mean
  ``workload.regime_mean_duration_s``, then jumps to a uniformly drawn other regime; the first regime is uniform.
  A per-episode level ``L ~ LogNormal(0, workload.episode_level_sigma)`` scales it, so episodes differ in load as
  well as in time of day. Both the agent's arrivals and the background load follow ``L m(t)``.
- :class:`BackgroundLoad`: other tenants' utilisation ``u_r(t)`` of each cloud region (fluid: no discrete jobs),
  following the region's local time of day, the regimes and random regional surges (formula in
  :class:`~orbitcloud_env.config.BackgroundConfig`). Our jobs get ``1 - u`` of a server.

Clock: seconds of simulated time since the constellation epoch (the event clock); the background is sampled once
per topology bucket.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.config import BackgroundConfig, WorkloadConfig
from orbitcloud_env.constants import SECONDS_PER_HOUR

__all__ = ["LoadRegimes", "BackgroundLoad"]


class LoadRegimes:
    """Regime multiplier ``level * m(t)`` of the demand, generated lazily in time order (so deterministic).

    Args:
        config: the workload section (regime multipliers, mean duration, level sigma).
        rng: the episode's demand generator.
        start_time_s: [s] episode start on the event clock.
    """

    def __init__(self, config: WorkloadConfig, rng: np.random.Generator, start_time_s: float) -> None:
        self.multipliers = np.asarray(config.regime_multipliers or (1.0,), dtype=np.float64)
        self.mean_duration_s = float(config.regime_mean_duration_s)
        sigma = float(config.episode_level_sigma)
        self._rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
        #: [-] the episode's demand level (median 1).
        self.level = float(np.exp(sigma * self._rng.standard_normal())) if sigma > 0 else 1.0
        self.start_time_s = float(start_time_s)
        first = int(self._rng.integers(self.multipliers.size))
        self._starts = [self.start_time_s]  # [s] start of each segment
        self._regime = [first]

    @property
    def max_factor(self) -> float:
        """[-] the largest value ``factor`` can take (thinning bound)."""
        return self.level * float(self.multipliers.max())

    def _extend(self, time_s: float) -> None:
        n = self.multipliers.size
        while self._starts[-1] <= time_s:
            hold = self._rng.exponential(self.mean_duration_s)
            nxt = self._regime[-1]
            if n > 1:
                nxt = (nxt + 1 + int(self._rng.integers(n - 1))) % n  # a uniformly drawn other regime
            self._starts.append(self._starts[-1] + hold)
            self._regime.append(nxt)

    def regime_at(self, time_s: float) -> int:
        """Index of the regime in force at ``time_s`` [s] (times before the start read the first regime)."""
        self._extend(time_s)
        k = int(np.searchsorted(self._starts, time_s, side="right")) - 1
        return self._regime[max(k, 0)]

    def factor(self, time_s: float) -> float:
        """[-] demand multiplier ``level * m(t)`` at ``time_s`` [s]."""
        return self.level * float(self.multipliers[self.regime_at(time_s)])

    def factors(self, times_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """[-] :meth:`factor` at each of ``times_s`` (any order)."""
        t = np.asarray(times_s, dtype=np.float64)
        if t.size:
            self._extend(float(t.max()))
        k = np.maximum(np.searchsorted(self._starts, t, side="right") - 1, 0)
        return self.level * self.multipliers[np.asarray(self._regime)[k]]


class BackgroundLoad:
    """Other tenants' utilisation of each cloud region, ``u_r(t)`` in ``[0, max_utilisation]``.

    Args:
        config: the background section.
        region_lon_deg: [deg] (D,) longitude of each region (for its local time).
        regimes: the episode's demand regimes (shared with the arrivals).
        rng: the episode's background generator (surges).
        start_time_s: [s] episode start; epoch_second_of_day_utc: [s] UTC time of day of the epoch.
        peak_local_hour: [h] local hour of peak demand (the workload's).
    """

    def __init__(self, config: BackgroundConfig, region_lon_deg: NDArray[np.float64], regimes: LoadRegimes,
                 rng: np.random.Generator, start_time_s: float, epoch_second_of_day_utc: float,
                 peak_local_hour: float) -> None:
        self.config = config
        self.regimes = regimes
        self._lon = np.asarray(region_lon_deg, dtype=np.float64)
        self._epoch_s = float(epoch_second_of_day_utc)
        self._peak = float(peak_local_hour)
        self._start = float(start_time_s)
        d = self._lon.size
        # One stream per region, so that each region's surges do not depend on how far ahead others were asked.
        self._rngs = [np.random.default_rng(int(x)) for x in rng.integers(0, 2**63 - 1, size=d)]
        #: per region: list of (start_s, end_s) surges, generated in time order up to ``_horizon``.
        self._surges: list[list[tuple[float, float]]] = [[] for _ in range(d)]
        self._next_start = np.full(d, self._start)
        self._horizon = self._start
        rate = config.surge_rate_per_hour / SECONDS_PER_HOUR
        self._surge_rate_per_s = rate if config.surge_utilisation > 0 else 0.0
        if self._surge_rate_per_s > 0:  # a surge may already be under way at the start (stationary start)
            p_on = rate * config.surge_mean_duration_s / (1 + rate * config.surge_mean_duration_s)
            for r, g in enumerate(self._rngs):
                if g.random() < p_on:
                    self._surges[r].append((self._start, self._start + g.exponential(config.surge_mean_duration_s)))
                self._next_start[r] = self._start + g.exponential(1.0 / rate)

    def _extend(self, time_s: float) -> None:
        if self._surge_rate_per_s <= 0 or time_s <= self._horizon:
            return
        mean_d = self.config.surge_mean_duration_s
        for r, g in enumerate(self._rngs):
            while self._next_start[r] <= time_s:
                s = float(self._next_start[r])
                self._surges[r].append((s, s + g.exponential(mean_d)))
                self._next_start[r] = s + g.exponential(1.0 / self._surge_rate_per_s)
        self._horizon = time_s

    def surging(self, time_s: float) -> NDArray[np.bool_]:
        """(D,) regions in a surge at ``time_s`` [s]."""
        self._extend(time_s)
        return np.array([any(a <= time_s < b for a, b in s) for s in self._surges], dtype=bool)

    def utilisation(self, time_s: float) -> NDArray[np.float64]:
        """[-] (D,) background utilisation of each region at ``time_s`` [s]."""
        c = self.config
        utc_hour = ((self._epoch_s + time_s) / SECONDS_PER_HOUR) % 24.0
        local = utc_hour + self._lon / 15.0
        diurnal = 1.0 + c.diurnal_amplitude * np.cos(2.0 * math.pi * (local - self._peak) / 24.0)
        u = self.regimes.factor(time_s) * c.datacentre_utilisation * diurnal
        if self._surge_rate_per_s > 0:
            u = u + c.surge_utilisation * self.surging(time_s)
        return np.clip(u, 0.0, c.max_utilisation)



class ArrivalRates:
    """Recent arrival rates [1/s], globally and per region: exponentially weighted over ``tau_s``.

    Each arrival adds ``1 / tau_s`` and the sums decay as ``exp(-dt / tau_s)``, so a steady Poisson stream of rate
    lambda reads lambda on average. Regions are the sites' nearest cloud regions (``Simulator.site_region``).

    Args:
        n_regions: D; tau_s: [s] time constant.
    """

    def __init__(self, n_regions: int, tau_s: float) -> None:
        self.tau_s = float(tau_s)
        self._n = max(int(n_regions), 1)
        self.reset(0.0)

    def reset(self, time_s: float) -> None:
        """Forget every arrival; the clock starts at ``time_s`` [s]."""
        self._t = float(time_s)
        self._global = 0.0
        self._region = np.zeros(self._n)

    def _decay(self, time_s: float) -> None:
        if time_s > self._t:
            f = math.exp(-(time_s - self._t) / self.tau_s)
            self._global *= f
            self._region *= f
            self._t = time_s

    def add(self, time_s: float, region: int) -> None:
        """Count one arrival at ``time_s`` [s] in ``region``."""
        self._decay(time_s)
        self._global += 1.0 / self.tau_s
        self._region[region] += 1.0 / self.tau_s

    def rates(self, time_s: float) -> tuple[float, NDArray[np.float64]]:
        """([1/s] global rate, [1/s] (D,) per-region rates) at ``time_s``."""
        self._decay(time_s)
        return self._global, self._region

    def state(self) -> tuple[float, float, NDArray[np.float64]]:
        """A copy of the state (lookahead)."""
        return self._t, self._global, self._region.copy()

    get_state = state  # the name every component's save uses (Simulator.get_state)

    def set_state(self, state: tuple[float, float, NDArray[np.float64]]) -> None:
        self._t, self._global, region = state
        self._region = region.copy()
