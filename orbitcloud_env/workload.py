"""Job arrivals of OrbitCloud: a diurnal, population-weighted Poisson generator and a CSV trace replayer.

Pure numpy (no gymnasium). Both sources hand out :class:`Job` records one at a time, in arrival order, on the
**event clock**: ``Job.time_s`` is simulated time in seconds since the constellation epoch (the same clock as the
topology clock, which only refreshes in buckets of ``episode.topology_dt_s``).

Time convention: ``epoch_second_of_day_utc`` (0..86400) is the epoch's UTC time of day, so the UTC hour at
simulated time ``t_s`` is ``((epoch_second_of_day_utc + t_s) / 3600) mod 24`` and the mean solar local hour of a
site at longitude ``lon_deg`` is ``(UTC hour + lon_deg / 15) mod 24`` (the same convention as
:func:`orbitcloud_env.ground.local_hour`).

The model, the default job classes and the trace format are described in ``docs/workload.md``.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbitcloud_env.config import MAX_EPISODE_TIME_S, WorkloadConfig
from orbitcloud_env.constants import SECONDS_PER_DAY
from orbitcloud_env.demand import LoadRegimes
from orbitcloud_env.suggest import closest

__all__ = [
    "Job",
    "Workload",
    "PoissonWorkload",
    "TraceWorkload",
    "LookaheadWorkload",
    "TraceError",
    "TRACE_COLUMNS",
    "diurnal_factor",
    "make_workload",
    "load_trace",
]


#: Columns of a trace CSV, in the documented order (any order is accepted; the header is required).
TRACE_COLUMNS: tuple[str, ...] = ("time_s", "site", "job_class", "work_gflop", "input_mb", "output_mb",
                                  "deadline_ms")


@dataclass(frozen=True, slots=True)
class Job:
    """One job arriving at a user site.

    Args:
        job_id: [-] 0-based index of the job in its workload (arrival order).
        time_s: [s] arrival time, simulated seconds since the constellation epoch (event clock).
        site: [-] index of the user site the job arrives from (into the scenario's sites).
        job_class: [-] index into ``WorkloadConfig.job_classes`` (or the class names given to the trace).
        work_gflop: [GFLOP] compute work.
        input_mb: [MB] input data uploaded from the site.
        output_mb: [MB] result returned to the site.
        deadline_ms: [ms] deadline from arrival to the result back at the site.
    """

    job_id: int
    time_s: float
    site: int
    job_class: int
    work_gflop: float
    input_mb: float
    output_mb: float
    deadline_ms: float


class Workload(Protocol):
    """What the simulator needs from a job source."""

    def next_job(self) -> Job | None:
        """The next job in arrival order (None when a finite source is exhausted)."""

    def peek_time_s(self) -> float | None:
        """[s] Arrival time of the job :meth:`next_job` would return, without consuming it (None: exhausted)."""

    def get_state(self) -> Any:
        """The source's position, for :meth:`set_state` (the simulator's save for lookahead)."""

    def set_state(self, state: Any) -> None:
        """Return to a position from :meth:`get_state`: the same jobs come out again, in the same order."""


def diurnal_factor(local_hour: ArrayLike, amplitude: float, peak_local_hour: float) -> NDArray[np.float64]:
    """[-] Diurnal demand multiplier ``1 + A cos(2 pi (h - peak) / 24)``, vectorised over ``local_hour``.

    The curve is a 24 h cosine: ``1 + A`` at the peak hour, ``1 - A`` twelve hours later, and it averages exactly 1
    over any whole day, so the diurnal profile moves demand around the clock without changing the daily total.

    Args:
        local_hour: [h] local solar hour(s); any finite value (the cosine is 24 h periodic).
        amplitude: [-] A in [0, 1].
        peak_local_hour: [h] local hour of peak demand.
    """
    h = np.asarray(local_hour, dtype=np.float64)
    return 1.0 + amplitude * np.cos(2.0 * np.pi * (h - peak_local_hour) / 24.0)


def _site_arrays(site_lon_deg: ArrayLike, site_weight: ArrayLike) -> tuple[NDArray, NDArray]:
    lon = np.asarray(site_lon_deg, dtype=np.float64).reshape(-1)
    w = np.asarray(site_weight, dtype=np.float64).reshape(-1)
    if lon.size == 0:
        raise ValueError("site_lon_deg: needs at least one site, got none")
    if w.shape != lon.shape:
        raise ValueError(f"site_weight: needs one weight per site ({lon.size}), got {w.size}")
    if not np.all(np.isfinite(lon)) or np.any(np.abs(lon) > 180.0):
        raise ValueError("site_lon_deg: longitudes must be finite and in [-180, 180] deg (east positive)")
    if not np.all(np.isfinite(w)) or np.any(w < 0.0) or not w.sum() > 0.0:
        raise ValueError("site_weight: weights must be finite, >= 0 and not all zero")
    return lon, w / w.sum()


class PoissonWorkload:
    """Non-homogeneous Poisson arrivals following each site's population and local time of day.

    Description:
        Site ``i`` emits jobs as an independent Poisson process with rate [1/s]::

            lambda_i(t) = R * w_i * (1 + A cos(2 pi (h_i(t) - h_peak) / 24))
            h_i(t)      = ((epoch_second_of_day_utc + t) / 3600 + lon_i / 15) mod 24      [h, local solar hour]

        with ``R = config.arrival_rate_per_s``, ``w`` the site weights normalised to sum 1, ``A =
        config.diurnal_amplitude`` and ``h_peak = config.peak_local_hour``. The diurnal curve peaks at ``1 + A``
        at ``h_peak`` local time and bottoms at ``1 - A`` twelve hours away; it averages 1 over a day at every
        site, so the global rate averages ``R`` over any whole day. With sites spread in longitude the global
        rate varies less than any single site's (the peaks of different cities cancel).

        Sampling is by thinning (Lewis & Shedler 1979) with the bound ``lambda_max = R (1 + A)`` on the total
        rate, in vectorised batches of ``batch_size`` candidates: exponential gaps of mean ``1 / lambda_max``
        give candidate times; for each, the per-site rates (a B x S matrix, computed as an outer product through
        ``cos(a - b) = cos a cos b + sin a sin b``) are summed cumulatively over the sites, and one uniform ``u``
        in ``[0, lambda_max)`` both thins and chooses the site: the candidate is accepted if ``u`` is below the
        total rate, and its site is the first index whose cumulative rate exceeds ``u``. Accepted jobs then get a
        class drawn by ``JobClassConfig.weight`` and log-normal sizes ``median * exp(sigma * N(0, 1))`` (work
        with ``work_sigma``; input and output with ``size_sigma``); the deadline is the class's fixed
        ``deadline_ms``.

        Randomness: the constructor draws one seed from ``rng`` and runs its own child generator, so the job
        stream depends only on ``rng``'s state at construction and on ``batch_size`` (fixed), never on how
        fast the jobs are consumed or on what else later draws from ``rng``. Never the global ``np.random``.

        Cost: ``next_job`` indexes pre-generated per-batch lists (about a microsecond amortised).

    Args:
        config: arrival rate [1/s], diurnal amplitude [-], peak local hour [h] and job classes.
        site_lon_deg: [deg] longitude of each site, east positive, in [-180, 180], shape (S,).
        site_weight: [-] demand weight of each site, >= 0, not all zero, shape (S,); normalised to sum 1.
        rng: the episode's generator; one seed is drawn from it.
        start_time_s: [s] simulated time (since the constellation epoch) from which arrivals are generated.
        epoch_second_of_day_utc: [s] UTC time of day of the constellation epoch, in [0, 86400].
        batch_size: [-] candidates per thinning batch (part of the stream's definition; keep the default for
            reproducible streams).
    """

    def __init__(self, config: WorkloadConfig, site_lon_deg: ArrayLike, site_weight: ArrayLike,
                 rng: np.random.Generator, start_time_s: float, epoch_second_of_day_utc: float,
                 batch_size: int = 1024, regimes: LoadRegimes | None = None) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: must be an integer >= 1, got {batch_size!r}")
        if not math.isfinite(start_time_s):
            raise ValueError(f"start_time_s: must be a finite number of seconds, got {start_time_s!r}")
        if not (math.isfinite(epoch_second_of_day_utc) and 0.0 <= epoch_second_of_day_utc <= SECONDS_PER_DAY):
            raise ValueError(f"epoch_second_of_day_utc: must be in [0, 86400] s, got {epoch_second_of_day_utc!r}")
        lon, w = _site_arrays(site_lon_deg, site_weight)
        self.config = config
        self.n_sites = lon.size
        self.batch_size = int(batch_size)
        self.start_time_s = float(start_time_s)
        self.epoch_second_of_day_utc = float(epoch_second_of_day_utc)
        self._rate = float(config.arrival_rate_per_s)
        self._amp = float(config.diurnal_amplitude)
        #: Demand regimes (v1): every rate is multiplied by ``regimes.factor(t)``; None: no modulation (v0).
        self.regimes = regimes
        self._lambda_max = self._rate * (1.0 + self._amp) * (regimes.max_factor if regimes is not None else 1.0)
        # Site i's phase offset: local hour = UTC hour + lon/15, so the cosine's argument is a(t) + b_i with
        # a(t) = 2 pi (utc_hour(t) - peak) / 24 and b_i = 2 pi lon_i / 360. Cumulative sums over sites of the
        # three terms of R w_i (1 + A (cos a cos b_i - sin a sin b_i)).
        b = np.deg2rad(lon)
        self._cum_w = self._rate * np.cumsum(w)
        self._cum_wc = self._rate * self._amp * np.cumsum(w * np.cos(b))
        self._cum_ws = self._rate * self._amp * np.cumsum(w * np.sin(b))
        self._phase0 = 2.0 * np.pi * (self.epoch_second_of_day_utc / 3600.0 - config.peak_local_hour) / 24.0
        classes = config.job_classes
        cw = np.array([c.weight for c in classes], dtype=np.float64)
        self._class_cdf = np.cumsum(cw / cw.sum())
        self._work_med = np.array([c.work_gflop for c in classes], dtype=np.float64)
        self._work_sig = np.array([c.work_sigma for c in classes], dtype=np.float64)
        self._in_med = np.array([c.input_mb for c in classes], dtype=np.float64)
        self._out_med = np.array([c.output_mb for c in classes], dtype=np.float64)
        self._size_sig = np.array([c.size_sigma for c in classes], dtype=np.float64)
        self._deadline = np.array([c.deadline_ms for c in classes], dtype=np.float64)
        self._rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
        self._t_candidate = self.start_time_s
        self._next_id = 0
        self._buf: list[Job] = []
        self._scratch = np.empty((self.batch_size, self.n_sites))
        self._pos = 0

    def site_rates_per_s(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """[1/s] Arrival rate of every site at simulated time(s) ``t_s``; shape ``t_s.shape + (S,)``."""
        t = np.asarray(t_s, dtype=np.float64)
        ca, sa = self._phase(t.reshape(-1))
        cum = np.empty((ca.size, self.n_sites))
        self._cumulative_rates(ca, sa, cum)
        rates = np.diff(cum, axis=1, prepend=0.0)
        return rates.reshape(t.shape + (self.n_sites,))

    def _phase(self, t: NDArray) -> tuple[NDArray, NDArray]:
        a = self._phase0 + (2.0 * np.pi / SECONDS_PER_DAY) * t
        return np.cos(a), np.sin(a)

    def _cumulative_rates(self, ca: NDArray, sa: NDArray, out: NDArray) -> None:
        """Cumulative per-site rates [1/s] (n, S) into ``out``, in the operation order of :meth:`_total_rate`."""
        np.multiply(ca[:, None], self._cum_wc, out=out)
        out += self._cum_w
        out -= sa[:, None] * self._cum_ws

    def _total_rate(self, ca: NDArray, sa: NDArray) -> NDArray:
        """Total rate [1/s] over all sites: bit-identical to the last column of :meth:`_cumulative_rates`."""
        return (ca * self._cum_wc[-1] + self._cum_w[-1]) - sa * self._cum_ws[-1]

    def _fill(self) -> None:
        """Generate batches until at least one job is accepted; replaces the buffer."""
        rng = self._rng
        B = self.batch_size
        while True:
            times = self._t_candidate + np.cumsum(rng.exponential(1.0 / self._lambda_max, B))
            self._t_candidate = float(times[-1])
            u = rng.random(B) * self._lambda_max
            ca, sa = self._phase(times)
            if self.regimes is None:
                accept = u < self._total_rate(ca, sa)
            else:  # thin against the modulated rate; the site is then chosen by u / factor on the unmodulated rates
                factor = self.regimes.factors(times)
                u = u / factor
                accept = u < self._total_rate(ca, sa)
            n = int(np.count_nonzero(accept))
            if n:
                break
        times, u = times[accept], u[accept]
        cum = self._scratch[:n]
        self._cumulative_rates(ca[accept], sa[accept], cum)  # (n, S), non-decreasing along the sites
        # First site whose cumulative rate exceeds u; the last column equals the total rate > u, so one exists.
        site = np.argmax(cum > u[:, None], axis=1)
        cls = np.minimum(np.searchsorted(self._class_cdf, rng.random(n), side="right"), len(self._class_cdf) - 1)
        z = rng.standard_normal((3, n))
        work = self._work_med[cls] * np.exp(self._work_sig[cls] * z[0])
        in_mb = self._in_med[cls] * np.exp(self._size_sig[cls] * z[1])
        out_mb = self._out_med[cls] * np.exp(self._size_sig[cls] * z[2])
        first = self._next_id
        self._next_id += n
        self._buf = list(map(Job, range(first, first + n), times.tolist(), site.tolist(), cls.tolist(),
                             work.tolist(), in_mb.tolist(), out_mb.tolist(), self._deadline[cls].tolist()))
        self._pos = 0

    def next_job(self) -> Job:
        """The next arriving job (the generator never runs out)."""
        if self._pos >= len(self._buf):
            self._fill()
        job = self._buf[self._pos]
        self._pos += 1
        return job

    def peek_time_s(self) -> float:
        """[s] Arrival time of the job :meth:`next_job` will return, without consuming it."""
        if self._pos >= len(self._buf):
            self._fill()
        return self._buf[self._pos].time_s

    @property
    def jobs_issued(self) -> int:
        """[-] Jobs returned by :meth:`next_job` so far."""
        return self._next_id - (len(self._buf) - self._pos)

    def get_state(self) -> tuple:
        """The generator's position (its random stream, the drawn batch and the cursor), for :meth:`set_state`.
        The batch list is shared, not copied: a refill replaces it, never changes it."""
        return self._rng.bit_generator.state, self._t_candidate, self._next_id, self._buf, self._pos

    def set_state(self, state: tuple) -> None:
        """Return to a position from :meth:`get_state`: the same jobs come out again."""
        rng_state, self._t_candidate, self._next_id, self._buf, self._pos = state
        self._rng.bit_generator.state = rng_state

    def resample_future(self, seed: int, after_s: float) -> None:
        """Replace the jobs not yet issued by a fresh draw of the same process from ``after_s`` [s] on, with a
        generator seeded by ``seed``: one possible future, for planners that average over futures instead of
        reading the episode's own (agents/acting/lookahead.py, ``n_futures``). Arrivals are Poisson, so drawing
        anew from the latest issued arrival time is a draw of the future given the past. Regimes (the demand
        modulation's schedule) are kept. :meth:`set_state` undoes it."""
        self._next_id = self.jobs_issued
        self._buf, self._pos = [], 0
        self._t_candidate = float(after_s)
        self._rng = np.random.default_rng(int(seed))


# ---------------------------------------------------------------------------------------------------- traces


class TraceError(ValueError):
    """A trace CSV is malformed; the message reads ``"<path>, line <n>: <what is wrong and what is allowed>"``."""


_NONNEG = ("time_s", "input_mb", "output_mb")  # >= 0; work_gflop and deadline_ms must be > 0


class TraceWorkload:
    """Replay of a recorded job trace (see :meth:`from_csv` and ``docs/workload.md`` for the CSV format).

    Jobs come out in the trace's order with ``time_s = start_time_s + trace time``; :meth:`next_job` returns None
    once the trace (or its first ``max_jobs`` rows) is exhausted. Parsed arrays are shared and read-only, so
    :meth:`replay` starts another pass cheaply (e.g. one per episode).

    Args:
        time_s: [s] arrival times relative to the start of the episode, non-decreasing, >= 0, shape (J,).
        site: [-] site index of each job, shape (J,).
        job_class: [-] class index of each job, shape (J,).
        work_gflop: [GFLOP] compute work, > 0.
        input_mb, output_mb: [MB] input and result sizes, >= 0.
        deadline_ms: [ms] deadlines, > 0.
        start_time_s: [s] simulated time (since the constellation epoch) of trace time 0.
        max_jobs: replay at most this many jobs (None: all).
        source: where the jobs came from (for messages).
    """

    def __init__(self, time_s: ArrayLike, site: ArrayLike, job_class: ArrayLike, work_gflop: ArrayLike,
                 input_mb: ArrayLike, output_mb: ArrayLike, deadline_ms: ArrayLike, start_time_s: float = 0.0,
                 max_jobs: int | None = None, source: str = "<arrays>") -> None:
        cols = {
            "time_s": np.asarray(time_s, dtype=np.float64).reshape(-1),
            "work_gflop": np.asarray(work_gflop, dtype=np.float64).reshape(-1),
            "input_mb": np.asarray(input_mb, dtype=np.float64).reshape(-1),
            "output_mb": np.asarray(output_mb, dtype=np.float64).reshape(-1),
            "deadline_ms": np.asarray(deadline_ms, dtype=np.float64).reshape(-1),
        }
        ints = {"site": np.asarray(site).reshape(-1), "job_class": np.asarray(job_class).reshape(-1)}
        n = cols["time_s"].size
        if n == 0:
            raise TraceError(f"{source}: empty trace; it needs at least one job")
        for name, a in {**cols, **ints}.items():
            if a.size != n:
                raise TraceError(f"{source}: column '{name}' has {a.size} values, expected {n} (one per job)")
        for name, a in cols.items():
            if not np.all(np.isfinite(a)):
                raise TraceError(f"{source}: column '{name}' must hold finite numbers")
        for name in _NONNEG:
            if np.any(cols[name] < 0.0):
                raise TraceError(f"{source}: column '{name}' must be >= 0")
        for name in ("work_gflop", "deadline_ms"):
            if np.any(cols[name] <= 0.0):
                raise TraceError(f"{source}: column '{name}' must be > 0")
        if np.any(np.diff(cols["time_s"]) < 0.0):
            raise TraceError(f"{source}: time_s must be non-decreasing (rows sorted by arrival time)")
        if cols["time_s"][-1] > MAX_EPISODE_TIME_S:
            k = int(np.argmax(cols["time_s"] > MAX_EPISODE_TIME_S))
            raise TraceError(f"{source}: time_s must be <= {MAX_EPISODE_TIME_S:.0f} s (10 years), got "
                             f"{float(cols['time_s'][k])!r} in job row {k + 1}")
        for name, a in ints.items():
            if not np.issubdtype(a.dtype, np.integer) or np.any(a < 0):
                raise TraceError(f"{source}: column '{name}' must hold non-negative integer indices")
        if not math.isfinite(start_time_s):
            raise ValueError(f"start_time_s: must be a finite number of seconds, got {start_time_s!r}")
        if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, (int, np.integer))
                                     or max_jobs < 1):
            raise ValueError(f"max_jobs: must be an integer >= 1 or None, got {max_jobs!r}")
        stop = n if max_jobs is None else min(n, int(max_jobs))
        self.source = source
        self.start_time_s = float(start_time_s)
        self.max_jobs = max_jobs
        self._arrays = {k: v[:stop].copy() for k, v in {**cols, **ints}.items()}
        for v in self._arrays.values():
            v.flags.writeable = False
        self._init_cursor()

    #: [jobs] Job records are built from the arrays this many at a time, when the replay reaches them, so a reset
    #: costs the same for a trace of 10^3 or 10^7 rows.
    _CHUNK = 2_048

    def _init_cursor(self) -> None:
        self._n = int(self._arrays["time_s"].shape[0])
        self._chunk: list[Job] = []
        self._chunk_start = 0
        self._pos = 0

    def _load_chunk(self, start: int) -> None:
        """Materialise the :class:`Job` records of rows ``start .. start + _CHUNK`` (the arrays stay the truth)."""
        a = self._arrays
        sl = slice(start, min(start + self._CHUNK, self._n))
        t = (a["time_s"][sl] + self.start_time_s).tolist()
        self._chunk = list(map(Job, range(sl.start, sl.stop), t, a["site"][sl].tolist(),
                               a["job_class"][sl].tolist(), a["work_gflop"][sl].tolist(),
                               a["input_mb"][sl].tolist(), a["output_mb"][sl].tolist(),
                               a["deadline_ms"][sl].tolist()))
        self._chunk_start = start

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], site_names: Sequence[str], class_names: Sequence[str],
                 start_time_s: float = 0.0, max_jobs: int | None = None) -> "TraceWorkload":
        """Read a trace CSV.

        Format: UTF-8 text, a header row naming the columns ``time_s,site,job_class,work_gflop,input_mb,
        output_mb,deadline_ms`` (any order, names case-insensitive), then one row per job. Lines starting with
        ``#`` and blank lines are skipped.

        - ``time_s`` [s]: arrival time relative to the start of the episode, >= 0, non-decreasing.
        - ``site``: a name from ``site_names`` (case-insensitive) or an integer index into it.
        - ``job_class``: a name from ``class_names`` (case-insensitive) or an integer index into it.
        - ``work_gflop`` [GFLOP] > 0, ``input_mb`` [MB] >= 0, ``output_mb`` [MB] >= 0, ``deadline_ms`` [ms] > 0.

        Args:
            path: the CSV file.
            site_names: names of the scenario's sites, in site-index order.
            class_names: names of the job classes, in class-index order.
            start_time_s: [s] simulated time (since the constellation epoch) of trace time 0.
            max_jobs: read at most this many jobs (None: all).

        Raises:
            TraceError: ``"<path>, line <n>: <what is wrong and what is allowed>"``.
        """
        src = str(path)
        columns = _read_trace_columns(path, site_names, class_names, max_jobs, src)
        return cls(*columns, start_time_s=start_time_s, max_jobs=max_jobs, source=src)

    def replay(self, start_time_s: float | None = None) -> "TraceWorkload":
        """A fresh pass over the same jobs (sharing the parsed arrays), optionally starting at another time."""
        new = object.__new__(TraceWorkload)
        new.source = self.source
        new.start_time_s = self.start_time_s if start_time_s is None else float(start_time_s)
        if not math.isfinite(new.start_time_s):
            raise ValueError(f"start_time_s: must be a finite number of seconds, got {start_time_s!r}")
        new.max_jobs = self.max_jobs
        new._arrays = self._arrays
        new._init_cursor()
        return new

    def __len__(self) -> int:
        """[-] Jobs in the replay (after ``max_jobs``)."""
        return self._n

    @property
    def remaining(self) -> int:
        """[-] Jobs not yet returned."""
        return self._n - self._pos

    def next_job(self) -> Job | None:
        """The next job of the trace, or None when it is exhausted."""
        p = self._pos
        if p >= self._n:
            return None
        k = p - self._chunk_start
        if not 0 <= k < len(self._chunk):  # past the built records (or sent back by a saved state)
            self._load_chunk(p)
            k = 0
        self._pos = p + 1
        return self._chunk[k]

    def peek_time_s(self) -> float | None:
        """[s] Arrival time of the next job, or None when the trace is exhausted."""
        p = self._pos
        return float(self._arrays["time_s"][p] + self.start_time_s) if p < self._n else None

    def get_state(self) -> int:
        """The replay's cursor (the parsed arrays never change), for :meth:`set_state`."""
        return self._pos

    def set_state(self, state: int) -> None:
        """Send the cursor back (or forward) to a position from :meth:`get_state`."""
        self._pos = int(state)


#: Rows parsed per block by the trace reader (bounds its transient memory).
_FAST_BLOCK_ROWS = 65_536
_NUMERIC = ("time_s", "work_gflop", "input_mb", "output_mb", "deadline_ms")


def _read_trace_columns(path, site_names: Sequence[str], class_names: Sequence[str], max_jobs: int | None,
                        src: str) -> tuple:
    """The trace's columns as arrays (the one trace parser; format in :meth:`TraceWorkload.from_csv`).

    Rows are read with the C csv reader and converted a block at a time, column-wise (one ``float`` per value, each
    distinct site or class text looked up once); a block in which anything is off is walked again row by row, which
    raises the error of its first bad line. Errors come in file order: a bad value before a short row, a short row
    before undecodable bytes.

    Raises:
        TraceError: ``"<path>, line <n>: <what is wrong and what is allowed>"``.
    """
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"{src}, line 0: cannot open the trace: {exc.strerror or exc}") from None
    reader = _TraceReader(site_names, class_names, src)
    with fh:
        header_line, last_line, n_rows = reader.read_rows(csv.reader(fh), max_jobs)
    if not reader.header:
        raise reader.fail(max(last_line, 1),
                          f"empty trace: no header row; expected the columns {','.join(TRACE_COLUMNS)}")
    if n_rows == 0:
        raise reader.fail(header_line, "empty trace: the header has no job rows after it; add at least one job")
    cols = {c: np.concatenate(reader.parts[c]) for c in TRACE_COLUMNS}
    return (cols["time_s"], cols["site"], cols["job_class"], cols["work_gflop"], cols["input_mb"],
            cols["output_mb"], cols["deadline_ms"])


class _TraceReader:
    """The state of one :func:`_read_trace_columns` pass: the header, the pending block of rows (and their line
    numbers), the site and class texts seen, and the converted columns (``parts``)."""

    def __init__(self, site_names: Sequence[str], class_names: Sequence[str], src: str) -> None:
        self.src = src
        self.lookups = {"site": (_name_lookup(site_names), site_names),
                        "job_class": (_name_lookup(class_names), class_names)}
        self.maps: dict[str, dict[str, int]] = {"site": {}, "job_class": {}}
        self.parts: dict[str, list[NDArray]] = {c: [] for c in TRACE_COLUMNS}
        self.header: list[str] = []
        self.block: list[list[str]] = []
        self.lines: list[int] = []
        self.last_t = -math.inf  # [s] arrival time of the last row of the blocks converted so far

    def fail(self, line: int, what: str) -> TraceError:
        return TraceError(f"{self.src}, line {line}: {what}")

    def read_rows(self, reader: Any, max_jobs: int | None) -> tuple[int, int, int]:
        """Read every row of the csv ``reader`` (up to ``max_jobs`` jobs); returns (header line, last line read,
        job rows)."""
        header_line = last_line = n_rows = 0
        try:
            for row in reader:
                line = last_line = reader.line_num
                c0 = row[0].lstrip() if row else ""
                if not c0 or c0[0] == "#":  # a comment or blank line (tested fully only when it may be one)
                    if not row or c0 or all(not c.strip() for c in row):
                        continue
                if not self.header:
                    self.header, header_line = _check_header(row, f"{self.src}, line {line}: "), line
                    continue
                if max_jobs is not None and n_rows >= max_jobs:
                    break
                if len(row) != len(self.header):
                    self.flush()  # a bad value on an earlier line is reported first
                    raise self.fail(line, f"expected {len(self.header)} comma-separated values "
                                          f"({','.join(self.header)}), got {len(row)}")
                self.block.append(row)
                self.lines.append(line)
                n_rows += 1
                if len(self.block) >= _FAST_BLOCK_ROWS:
                    self.flush()
        except UnicodeDecodeError:
            self.flush()
            raise self.fail(last_line + 1, "not UTF-8 text; save the trace as UTF-8 CSV") from None
        except csv.Error as exc:
            self.flush()
            raise self.fail(reader.line_num, f"malformed CSV: {exc}") from None
        self.flush()
        return header_line, last_line, n_rows

    def columns_of_block(self) -> dict[str, NDArray] | None:
        """The block's columns, or None when any value would fail a row check."""
        cols = list(zip(*self.block))
        header = self.header
        out: dict[str, NDArray] = {}
        try:
            for name in _NUMERIC:
                a = np.array(list(map(float, cols[header.index(name)])), dtype=np.float64)
                if not np.all(np.isfinite(a)) or np.any(a < 0.0) or \
                        (name in ("work_gflop", "deadline_ms") and np.any(a == 0.0)):
                    return None
                out[name] = a
        except ValueError:
            return None
        t = out["time_s"]
        if t[0] < self.last_t or np.any(np.diff(t) < 0.0):
            return None
        for name in ("site", "job_class"):
            col = cols[header.index(name)]
            mapping = self.maps[name]
            lookup, names = self.lookups[name]
            for text in set(col).difference(mapping):
                i = _lookup_index(text.strip(), lookup, len(names))
                if i is None:
                    return None
                mapping[text] = i
            out[name] = np.array([mapping[c] for c in col], dtype=np.int64)
        return out

    def flush(self) -> None:
        """Convert the pending rows; a bad one raises its line's error (row by row, in file order)."""
        if not self.block:
            return
        out = self.columns_of_block()
        if out is None:
            self._raise_first_bad_row()
        for name, a in out.items():
            self.parts[name].append(a)
        self.last_t = float(out["time_s"][-1])
        self.block.clear()
        self.lines.clear()

    def _raise_first_bad_row(self) -> None:
        """Walk the pending block row by row and raise the error of its first bad line."""
        t_before = self.last_t
        for row, line in zip(self.block, self.lines):
            values = dict(zip(self.header, (c.strip() for c in row)))
            t = [_number(values[name], name, self.fail, line) for name in _NUMERIC][0]
            if t < t_before:
                raise self.fail(line, f"time_s goes backwards ({t:g} s after {t_before:g} s); rows must be "
                                      f"sorted by arrival time (non-decreasing time_s)")
            t_before = t
            for name in ("site", "job_class"):
                _index(values[name], name, *self.lookups[name], self.fail, line)
        raise AssertionError(f"{self.src}: a block failed the column checks but no row did")  # pragma: no cover


def _check_header(row: list[str], where: str) -> list[str]:
    names = [c.strip().lower() for c in row]
    expected = ",".join(TRACE_COLUMNS)
    unknown = [n for n in names if n not in TRACE_COLUMNS]
    if unknown:
        hints = []
        for n in unknown:
            close = closest(n, TRACE_COLUMNS)
            hints.append(f"'{n}'" + (f" (did you mean '{close}'?)" if close else ""))
        raise TraceError(f"{where}unknown column{'s' if len(unknown) > 1 else ''} {', '.join(hints)} in the "
                         f"header; expected the columns {expected}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise TraceError(f"{where}column{'s' if len(dup) > 1 else ''} {', '.join(dup)} appear more than once in "
                         f"the header; expected the columns {expected}")
    missing = [c for c in TRACE_COLUMNS if c not in names]
    if missing:
        raise TraceError(f"{where}missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} in the "
                         f"header; expected the columns {expected}")
    return names


def _number(text: str, name: str, fail, line: int) -> float:
    allowed = "> 0" if name in ("work_gflop", "deadline_ms") else ">= 0"
    try:
        x = float(text)
    except ValueError:
        raise fail(line, f"{name} must be a number {allowed}, got {text!r}") from None
    if not math.isfinite(x):
        raise fail(line, f"{name} must be a finite number {allowed}, got {text!r}")
    if x < 0.0 or (allowed == "> 0" and x == 0.0):
        raise fail(line, f"{name} must be {allowed}, got {text!r}")
    return x


def _name_lookup(names: Sequence[str]) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for i, n in enumerate(names):
        lookup.setdefault(str(n).strip().casefold(), i)
    return lookup


def _lookup_index(text: str, lookup: dict[str, int], n_names: int) -> int | None:
    """The index a stripped site or class cell names (an index, or a name in any case), None when it names none."""
    if text.isascii() and text.isdigit():  # an index ("-1" and "1.0" are not indices)
        i = int(text)
        return i if i < n_names else None
    return lookup.get(text.casefold())


def _index(text: str, column: str, lookup: dict[str, int], names: Sequence[str], fail, line: int) -> int:
    """:func:`_lookup_index`, or raise ``fail(line, ...)`` saying what is allowed (and the closest names)."""
    i = _lookup_index(text, lookup, len(names))
    if i is not None:
        return i
    if text.isascii() and text.isdigit():
        raise fail(line, f"{column} index {int(text)} is out of range; allowed: 0..{len(names) - 1} or a name")
    close = difflib.get_close_matches(text.casefold(), list(lookup), n=3, cutoff=0.6)
    if close:
        hint = "; did you mean " + " or ".join(repr(str(names[lookup[c]])) for c in close) + "?"
    else:
        shown = ", ".join(repr(str(n)) for n in list(names)[:8]) + (", ..." if len(names) > 8 else "")
        hint = f"; allowed: a name ({shown}) or an index 0..{len(names) - 1}"
    raise fail(line, f"unknown {column} {text!r}{hint}")


# ------------------------------------------------------------------------------------------------ lookahead


class LookaheadWorkload:
    """A job source that also shows the jobs after the next one, without consuming them.

    Wraps any :class:`Workload`; the jobs and their order are the wrapped source's (peeking draws them earlier,
    never differently). Used by the multi-agent env (:mod:`orbitcloud_env.multiagent`) to gather the arrivals
    that are decided together in one step.
    """

    def __init__(self, inner: Workload) -> None:
        self.inner = inner
        self._ahead: deque[Job] = deque()

    def peek(self, i: int) -> Job | None:
        """The job :meth:`next_job` returns after ``i`` more calls (0: the next one), or None past the end."""
        while len(self._ahead) <= i:
            job = self.inner.next_job()
            if job is None:
                return None
            self._ahead.append(job)
        return self._ahead[i]

    def next_job(self) -> Job | None:
        return self._ahead.popleft() if self._ahead else self.inner.next_job()

    def peek_time_s(self) -> float | None:
        job = self.peek(0)
        return None if job is None else job.time_s

    def get_state(self) -> tuple:
        """The wrapped source's state and the jobs already drawn ahead, for :meth:`set_state`."""
        return self.inner.get_state(), tuple(self._ahead)

    def set_state(self, state: tuple) -> None:
        inner, ahead = state
        self.inner.set_state(inner)
        self._ahead = deque(ahead)


# -------------------------------------------------------------------------------------------------- factory


def make_workload(config: WorkloadConfig, sites_lon_deg: ArrayLike, site_weight: ArrayLike,
                  site_names: Sequence[str], rng: np.random.Generator, start_time_s: float,
                  epoch_second_of_day_utc: float, regimes: LoadRegimes | None = None) -> PoissonWorkload | TraceWorkload:
    """The scenario's job source: a :class:`TraceWorkload` when ``config.trace_path`` is set, else a
    :class:`PoissonWorkload`.

    Args:
        config: the workload section of the scenario.
        sites_lon_deg: [deg] site longitudes, shape (S,).
        site_weight: [-] site demand weights, shape (S,).
        site_names: names of the sites (trace ``site`` column), length S.
        rng: the episode's generator (the Poisson source draws one seed from it; a trace draws nothing).
        start_time_s: [s] simulated time (since the constellation epoch) at which the episode starts.
        epoch_second_of_day_utc: [s] UTC time of day of the constellation epoch, in [0, 86400].
        regimes: the episode's demand regimes (v1), multiplying the generated arrival rate; a trace ignores them.
    """
    if len(site_names) != np.asarray(sites_lon_deg).reshape(-1).size:
        raise ValueError(f"site_names: needs one name per site ({np.asarray(sites_lon_deg).size}), "
                         f"got {len(site_names)}")
    if config.trace_path is not None:
        class_names = [c.name for c in config.job_classes]
        return load_trace(config.trace_path, site_names, class_names).replay(start_time_s)
    return PoissonWorkload(config, sites_lon_deg, site_weight, rng, start_time_s, epoch_second_of_day_utc,
                           regimes=regimes)


_TRACE_CACHE: dict[tuple, TraceWorkload] = {}


def load_trace(path: str, site_names: Sequence[str], class_names: Sequence[str]) -> TraceWorkload:
    """:meth:`TraceWorkload.from_csv`, parsed once per (file version, names): later calls and episodes reuse the
    parsed arrays (replay them with :meth:`TraceWorkload.replay`)."""
    site_names, class_names = tuple(map(str, site_names)), tuple(class_names)
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size, site_names, class_names)
    trace = _TRACE_CACHE.get(key)
    if trace is None:
        trace = TraceWorkload.from_csv(path, site_names, class_names)
        if len(_TRACE_CACHE) >= 8:
            _TRACE_CACHE.pop(next(iter(_TRACE_CACHE)))
        _TRACE_CACHE[key] = trace
    return trace
