"""Future positions and sunlight on a time grid: when each satellite next enters or leaves eclipse, and when it
leaves a site's view (observation groups "power" and "links").

Pure numpy (no Gymnasium). One vectorised SGP4 call (sgp4's SatrecArray, through
:meth:`Constellation.propagate`) per chunk of the grid; chunks are added as the episode's clock advances, so the
cost is a few SGP4 samples per minute of simulated time. Resolution: the grid step (``STEP_S``); an event is placed
at the first grid time at which it has happened (so times are late by less than one step).

Memory follows the work, not the configured horizon: the first chunk spans at most ``MAX_CHUNK_S`` (a ten-year
``max_time_s`` does not allocate ten years of grid), and once more than ``KEEP_ROWS`` rows are held, the rows before
the time of the current query are dropped (the simulator's clock only advances; a query before the kept rows
recomputes them). Grid times and values do not depend on the chunking, so neither changes any result.

Only the satellites a policy can see need the grid: the timeline may track a subset (``tracked``; the simulator
passes the compute satellites in candidates mode, whose rows list valid nodes only), propagated through
:meth:`Constellation.subset`, whose rows are bit-identical to the whole set's. Untracked satellites read as no
change within the horizon.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.constellation import Constellation
from orbitcloud_env.geometry import elevation_deg

__all__ = ["OrbitTimeline", "STEP_S", "LIGHT_HORIZON_S", "VIEW_HORIZON_S", "MAX_CHUNK_S", "KEEP_ROWS"]

#: [s] grid step: +-15 s on eclipse and pass times (a LEO pass above 25 deg lasts a few minutes).
STEP_S = 30.0
#: [s] how far ahead sunlight changes are looked for (beyond: reported as this horizon).
LIGHT_HORIZON_S = 3_600.0
#: [s] how far ahead the end of a pass is looked for.
VIEW_HORIZON_S = 600.0
#: [s] largest span computed at once (the first chunk is ``min(horizon_s, MAX_CHUNK_S)``).
MAX_CHUNK_S = 3_600.0
#: [-] rows held before the rows behind the current query time are dropped (4 light horizons of grid).
KEEP_ROWS = 4 * int(LIGHT_HORIZON_S / STEP_S)


class OrbitTimeline:
    """Positions and sunlight of the tracked satellites on a grid of ``STEP_S`` from the episode's start.

    Args:
        constellation: the satellites (N); with ``tracked``, the subset to propagate (n satellites:
            ``whole.subset(tracked)``, built once per scenario by the caller).
        sunlit_fn: ``(pos_km (T, n, 3), times_s (T,)) -> (T, n) bool``, the simulator's sunlight model.
        start_time_s: [s] episode start (event clock).
        horizon_s: [s] first chunk's span (grown on demand), at most ``MAX_CHUNK_S``.
        tracked: (n,) sorted global indices of the satellites ``constellation`` holds, out of ``n_sat``; None:
            every satellite (``constellation`` is the whole set).
        n_sat: [-] N, the whole set's size (with ``tracked``).
    """

    def __init__(self, constellation: Constellation, sunlit_fn: Callable[[NDArray, NDArray], NDArray[np.bool_]],
                 start_time_s: float, horizon_s: float, tracked: NDArray[np.int64] | None = None,
                 n_sat: int | None = None) -> None:
        self.constellation = constellation
        self._sunlit_fn = sunlit_fn
        self.start_time_s = float(start_time_s)
        n = len(constellation)
        self.n_sat = n if tracked is None else int(n_sat)
        #: (n,) global indices of the tracked satellites (None: all).
        self.tracked = None if tracked is None else np.asarray(tracked, dtype=np.int64)
        if self.tracked is not None and self.tracked.shape != (n,):
            raise ValueError(f"tracked: expected {n} indices (the subset's size), got shape {self.tracked.shape}")
        #: (N,) column of each satellite in the grid, -1 when untracked.
        self._column = np.arange(n) if tracked is None else np.full(self.n_sat, -1, dtype=np.int64)
        if self.tracked is not None:
            self._column[self.tracked] = np.arange(n)
        self._chunk_s = min(float(horizon_s), MAX_CHUNK_S)
        self._clear(0)
        self._ensure(self.start_time_s + self._chunk_s + LIGHT_HORIZON_S)

    def _clear(self, k0: int) -> None:
        """Hold no rows; the next one computed is grid index ``k0``."""
        n = len(self.constellation)
        #: grid index of the first row held (rows before it were dropped)
        self._k0 = int(k0)
        self._times = np.zeros(0)
        self._pos = np.zeros((0, n, 3))
        self._ok = np.zeros((0, n), dtype=bool)
        self._lit = np.zeros((0, n), dtype=bool)

    def tracks(self, sats: NDArray[np.int64]) -> NDArray[np.bool_]:
        """(len(sats),) True for the satellites (global indices) this timeline tracks."""
        return self._column[sats] >= 0

    def _keep_from(self, time_s: float) -> None:
        """Make the rows held start at or before ``time_s``'s row: drop earlier rows when more than ``KEEP_ROWS``
        are held; recompute from ``time_s`` when it lies before the rows held (a clock that went back)."""
        if self._k0 > 0 and (not self._times.size or time_s < self._times[0]):
            self._clear(max(0, int(np.floor((time_s - self.start_time_s) / STEP_S)) - 1))
        elif self._times.size > KEEP_ROWS:
            drop = int(np.searchsorted(self._times, time_s, side="left"))
            if drop:
                self._k0 += drop
                self._times, self._pos = self._times[drop:].copy(), self._pos[drop:].copy()
                self._ok, self._lit = self._ok[drop:].copy(), self._lit[drop:].copy()

    def _ensure(self, until_s: float) -> None:
        if self._times.size and self._times[-1] >= until_s:
            return
        k0 = self._k0 + self._times.size  # grid times are start + k * STEP_S, whatever the chunking
        k1 = max(int(np.ceil((until_s - self.start_time_s) / STEP_S)), k0 + int(self._chunk_s / STEP_S)) + 1
        times = self.start_time_s + STEP_S * np.arange(k0, k1)
        pos, _, ok = self.constellation.propagate(times)
        lit = self._sunlit_fn(pos, times) & ok
        self._times = np.concatenate([self._times, times])
        self._pos = np.concatenate([self._pos, pos])
        self._ok = np.concatenate([self._ok, ok])
        self._lit = np.concatenate([self._lit, lit])

    def _index(self, time_s: float) -> int:
        """First grid index at or after ``time_s``."""
        return int(np.searchsorted(self._times, time_s, side="left"))

    def time_to_light_change_s(self, time_s: float, sunlit_now: NDArray[np.bool_]) -> NDArray[np.float64]:
        """[s] (N,) time from ``time_s`` until each satellite's sunlight differs from ``sunlit_now`` (N,) (eclipse
        entry for a sunlit satellite, exit for one in shadow), capped at ``LIGHT_HORIZON_S`` (untracked
        satellites: ``LIGHT_HORIZON_S``)."""
        self._keep_from(time_s)
        self._ensure(time_s + LIGHT_HORIZON_S)
        k0 = self._index(time_s)
        k1 = self._index(time_s + LIGHT_HORIZON_S) + 1
        now = sunlit_now if self.tracked is None else sunlit_now[self.tracked]
        changed = self._lit[k0:k1] != now[None, :]
        first = np.argmax(changed, axis=0)
        dt = self._times[k0:k1][first] - time_s
        out = np.where(changed.any(axis=0), np.clip(dt, 0.0, LIGHT_HORIZON_S), LIGHT_HORIZON_S)
        if self.tracked is None:
            return out
        full = np.full(self.n_sat, LIGHT_HORIZON_S)
        full[self.tracked] = out
        return full

    def time_in_view_s(self, time_s: float, lat_deg: float, lon_deg: float, sats: NDArray[np.int64],
                       min_elevation_deg: float) -> NDArray[np.float64]:
        """[s] time from ``time_s`` until each of ``sats`` (global indices of tracked satellites visible now) drops
        below ``min_elevation_deg`` seen from the site, capped at ``VIEW_HORIZON_S``."""
        if sats.size == 0:
            return np.zeros(0)
        cols = self._column[sats]
        if cols.min() < 0:
            raise ValueError(f"sats: satellite {int(sats[np.argmin(cols)])} is not tracked by this timeline")
        self._keep_from(time_s)
        self._ensure(time_s + VIEW_HORIZON_S)
        k0 = self._index(time_s)
        k1 = self._index(time_s + VIEW_HORIZON_S) + 1
        pos = self._pos[k0:k1][:, cols]  # (T, n, 3)
        el = elevation_deg(lat_deg, lon_deg, pos.reshape(-1, 3)).reshape(pos.shape[:2])
        gone = (el < min_elevation_deg) | ~self._ok[k0:k1][:, cols]
        first = np.argmax(gone, axis=0)
        dt = self._times[k0:k1][first] - time_s
        return np.where(gone.any(axis=0), np.clip(dt, 0.0, VIEW_HORIZON_S), VIEW_HORIZON_S)
