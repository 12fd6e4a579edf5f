"""Benchmark of one topology update: propagation, ISL state, GSL visibility, routing from 100 sites.

Run from the repository root:

    python -m benchmarks.network [--repeats 20] [--sites 100] [--presets small starlink ...] [--clock wall|cpu]

The constellations are the scenario presets' (``orbitcloud_env/presets/*.yaml`` through
``Constellation.from_config``), so the shells are typed once, in the presets. Prints the median milliseconds per
stage for each preset, the total of a full ``Network.snapshot`` (all stages plus bookkeeping, routing from every
site) on a fresh topology bucket, and ``lazy``: the same snapshot with lazy routing, which is what the simulator
pays per bucket for constellations of 500 satellites or more (sites are then routed only when a job arrives
there). Goals on one core: starlink total < 30 ms, mega total < 150 ms, giga lazy < 200 ms. ``--clock cpu`` times
with ``time.process_time`` (this process's CPU time; everything here is single-threaded), which is steadier on a
machine shared with other jobs than the default wall clock. ``load s`` is the time to build the constellation
(for a catalogue: parse, infer the structure; the first load in the process) and the ISL candidates.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from orbitcloud_env.config import PRESETS, ConfigError, ScenarioConfig, load_config
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.data import resolve_data_path
from orbitcloud_env.network import (
    Network,
    gsl_visibility,
    isl_state,
    shortest_delays,
)

_PRESET_DIR = Path(__file__).resolve().parent.parent / "orbitcloud_env" / "presets"


def preset_names() -> list[str]:
    """The config's presets, then any other preset YAML shipped in orbitcloud_env/presets (until registered)."""
    extra = sorted(p.stem for p in _PRESET_DIR.glob("*.yaml") if p.stem not in PRESETS)
    return [*PRESETS, *extra]


def preset_config(name: str, overrides: dict | None = None) -> ScenarioConfig:
    """The scenario of preset ``name`` (a config preset, or a YAML file of orbitcloud_env/presets by stem).

    A ``package:`` TLE path is resolved here too, so this works before and after the config module learns it.
    """
    src: str | Path = name if name in PRESETS else _PRESET_DIR / f"{name}.yaml"
    try:
        return load_config(src, overrides)
    except ConfigError as exc:
        if "tle_path" not in str(exc) or name in PRESETS:
            raise
        tle = yaml.safe_load(Path(src).read_text(encoding="utf-8"))["constellation"]["tle_path"]
        return load_config(src, {**(overrides or {}), "constellation.tle_path": str(resolve_data_path(tle))})


def _presets() -> dict[str, Callable[[], Constellation]]:
    return {name: (lambda n=name: Constellation.from_config(preset_config(n).constellation)) for name in preset_names()}


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
    lazy = Network(constellation, lat, lon, lazy_routing=True)
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
    res["lazy"] = _median_ms(lazy.snapshot, times + 2 * repeats * dt, clock)
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
    header = (f"{'preset':<13} {'sats':>6} {'ISLs':>6} {'load s':>6} {'propagate':>9} {'ISL':>7} {'GSL':>7} "
              f"{'routing':>8} {'total':>7} {'lazy':>7}")
    print(header)
    for name in args.presets:
        t0 = time.perf_counter()
        constellation = presets[name]()
        Network(constellation, [0.0], [0.0])  # the ISL candidates (inferred +Grid for a catalogue)
        load_s = time.perf_counter() - t0
        r = bench(constellation, args.sites, args.repeats, _CLOCKS[args.clock])
        print(
            f"{name:<13} {r['n_sats']:>6d} {r['n_isl']:>6d} {load_s:>6.2f} {r['propagation']:>9.2f} {r['isl']:>7.2f} "
            f"{r['gsl']:>7.2f} {r['routing']:>8.2f} {r['total']:>7.2f} {r['lazy']:>7.2f}"
        )


if __name__ == "__main__":
    main()
