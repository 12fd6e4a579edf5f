"""Benchmark of one topology update: propagation, ISL state, GSL visibility, routing from 100 sites.

Run from the repository root:

    python -m benchmarks.network [--repeats 20] [--sites 100] [--presets small starlink kuiper mega] [--clock wall|cpu]

Prints the median milliseconds per stage for each preset, and the total of a full
``Network.snapshot`` (all stages plus bookkeeping) on a fresh topology bucket. Goals on one core:
starlink total < 30 ms, mega total < 150 ms. ``--clock cpu`` times with ``time.process_time`` (this
process's CPU time; everything here is single-threaded), which is steadier on a machine shared with
other jobs than the default wall clock.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from orbitcloud_env.constellation import Constellation
from orbitcloud_env.network import (
    Network,
    gsl_visibility,
    isl_state,
    shortest_delays,
)


def _presets() -> dict[str, Callable[[], Constellation]]:
    w = Constellation.walker_delta
    return {
        "small": lambda: w(6, 11, 780.0, 86.4, raan_spread_deg=180.0, name_prefix="IRI"),
        "starlink": lambda: w(72, 22, 550.0, 53.0, name_prefix="STL"),
        "kuiper": lambda: w(34, 34, 630.0, 51.9, name_prefix="KPR"),
        # Starlink generation-1 shells (FCC filings), 4,408 satellites.
        "mega": lambda: Constellation.combine(
            w(72, 22, 550.0, 53.0, name_prefix="S1"),
            w(72, 22, 540.0, 53.2, name_prefix="S2"),
            w(36, 20, 570.0, 70.0, name_prefix="S3"),
            w(6, 58, 560.0, 97.6, name_prefix="S4"),
            w(4, 43, 560.0, 97.6, name_prefix="S5"),
        ),
    }


def site_grid(n: int = 100, max_abs_lat_deg: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """[deg] First ``n`` points of a fixed Fibonacci lattice, latitudes within +-``max_abs_lat_deg``."""
    golden = (1.0 + 5.0**0.5) / 2.0
    i = np.arange(n) + 0.5
    z = (1.0 - 2.0 * i / n) * np.sin(np.deg2rad(max_abs_lat_deg))
    lat = np.rad2deg(np.arcsin(z))
    lon = np.mod(360.0 * i / golden + 180.0, 360.0) - 180.0
    return lat, lon


_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _median_ms(fn: Callable[[float], object], times_s: np.ndarray, clock: Callable[[], float]) -> float:
    out = []
    for t in times_s:
        t0 = clock()
        fn(float(t))
        out.append(clock() - t0)
    return 1e3 * float(np.median(out))


def bench(constellation: Constellation, n_sites: int, repeats: int, clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    lat, lon = site_grid(n_sites)
    net = Network(constellation, lat, lon)
    dt = net.topology_dt_s
    times = dt * (np.arange(repeats) + 1)  # distinct buckets, so nothing is served from the cache
    net.snapshot(0.0)  # warm-up (imports, first allocations)

    state: dict[str, tuple] = {}

    def prop(t: float):
        state["prop"] = constellation.propagate(t)

    def isl(t: float):
        pos = state["prop"][0]
        state["isl"] = isl_state(pos, net.pairs, net.isl_max_range_km, net.atmosphere_margin_km)

    def gsl(t: float):
        state["gsl"] = gsl_visibility(lat, lon, state["prop"][0], net.min_elevation_deg)

    def route(t: float):
        up, dist = state["isl"]
        vis, slant = state["gsl"]
        shortest_delays(len(constellation), net.pairs, up, dist, vis, slant)

    res = {}
    # Stages run in pipeline order per time so each sees fresh inputs.
    stage_times: dict[str, list[float]] = {"propagation": [], "isl": [], "gsl": [], "routing": []}
    for t in times:
        for key, fn in (("propagation", prop), ("isl", isl), ("gsl", gsl), ("routing", route)):
            t0 = clock()
            fn(float(t))
            stage_times[key].append(clock() - t0)
    for key, v in stage_times.items():
        res[key] = 1e3 * float(np.median(v))
    res["total"] = _median_ms(net.snapshot, times + repeats * dt, clock)
    res["n_sats"] = len(constellation)
    res["n_isl"] = len(net.pairs)
    return res


def main(argv: list[str] | None = None) -> None:
    presets = _presets()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20, help="topology updates timed per preset (median reported)")
    ap.add_argument("--sites", type=int, default=100, help="ground sites routed from")
    ap.add_argument("--presets", nargs="+", default=list(presets), choices=list(presets))
    ap.add_argument("--clock", choices=list(_CLOCKS), default="wall", help="wall (perf_counter) or cpu (process_time)")
    args = ap.parse_args(argv)
    print(
        f"os.cpu_count() = {os.cpu_count()}; sites = {args.sites}; repeats = {args.repeats}; clock = {args.clock}; "
        "median ms per topology update"
    )
    header = f"{'preset':<9} {'sats':>5} {'ISLs':>5} {'propagate':>9} {'ISL':>7} {'GSL':>7} {'routing':>8} {'total':>7}"
    print(header)
    for name in args.presets:
        r = bench(presets[name](), args.sites, args.repeats, _CLOCKS[args.clock])
        print(
            f"{name:<9} {r['n_sats']:>5d} {r['n_isl']:>5d} {r['propagation']:>9.2f} {r['isl']:>7.2f} "
            f"{r['gsl']:>7.2f} {r['routing']:>8.2f} {r['total']:>7.2f}"
        )


if __name__ == "__main__":
    main()
