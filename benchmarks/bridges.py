"""Inter-shell bridge ISLs on the shipped catalogue: pieces of the operational mesh, bridges and cost per bucket.

Run from the repository root:

    python -m benchmarks.bridges [--times 0 600 3600 21600 86400] [--repeats 20] [--clock wall|cpu]

For each time [s since the catalogue epoch] it prints: the connected pieces of the usable ISLs among the usable
satellites with the shells' own +Grid only (``grid``), with bridges taken shortest first only (``greedy``: no
spanning pass) and with :func:`~orbitcloud_env.network.bridge_isls` as the ``links.inter_shell_isls`` switch runs it
(``bridges``); the number of bridges, the free laser terminals they use, the share of operational satellites with
four usable ISLs, the longest bridge [km]; and the median milliseconds of ``bridge_isls`` alone and of the whole
per-bucket addition (``Network._with_bridges``: free terminals, pieces of the +Grid, bridges, their ISL state);
then the median milliseconds of a whole snapshot of a fresh bucket as the simulator builds it (lazy routing, 100
sites, none routed) without and with the switch. ``--clock cpu`` times with ``time.process_time`` (steadier on a
shared machine).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from orbitcloud_env.catalogue import CatalogueWarning
from orbitcloud_env.constants import ISL_TERMINALS
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.network import Network, bridge_isls

CATALOGUE = "package:starlink-2026-05-12.tle"


def pieces(pairs: np.ndarray, up: np.ndarray, ok: np.ndarray) -> int:
    """Connected pieces of the usable links ``pairs[up]`` among the satellites ``ok``."""
    n = ok.shape[0]
    p = pairs[up]
    _, lab = connected_components(coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n)), directed=False)
    return len(np.unique(lab[ok]))


def median_ms(fn, repeats: int, clock) -> float:
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--times", nargs="*", type=float, default=[0.0, 600.0, 3600.0, 21600.0, 86400.0],
                   help="[s] since the catalogue epoch")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args()
    if args.repeats < 1:
        p.error(f"--repeats: must be >= 1, got {args.repeats}")
    bad = [t for t in args.times if not (math.isfinite(t) and t >= 0.0)]
    if bad or not args.times:
        p.error(f"--times: need one or more finite times >= 0 s since the catalogue epoch, got {args.times}")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        c = Constellation.from_tle(CATALOGUE)
    grid_net = Network(c, [47.6], [-122.3])
    net = Network(c, [47.6], [-122.3], inter_shell_isls=True)
    op = c.operational
    print(f"{len(c):,} satellites, {int(op.sum()):,} operational; clock {args.clock}, median of {args.repeats}")
    print("time_s  grid  greedy  bridges  n_bridges  terminals_used  four_isls  longest_km  bridge_isls_ms  "
          "per_bucket_ms")
    for t in args.times:
        g = grid_net.snapshot(t)
        s = net.snapshot(t)
        ok = s.sat_ok
        pos = s.sat_ecef_km
        n_grid = len(g.pairs)
        used = g.pairs[g.isl_up]  # +Grid failures are off here: geometric state and both ends ok
        free = np.where(net._bridge_member & ok,  # noqa: SLF001 - the satellites the switch lets take bridges
                        np.maximum(ISL_TERMINALS - np.bincount(used.ravel(), minlength=len(c)), 0), 0)
        greedy = bridge_isls(pos, c.shell, free, ok, net.isl_max_range_km, net.atmosphere_margin_km,
                             component=np.zeros(len(c), int))
        up_greedy = np.ones(len(greedy), bool)
        n_greedy = pieces(np.concatenate([g.pairs, greedy]), np.concatenate([g.isl_up, up_greedy]), ok)
        bridges = s.pairs[n_grid:]
        degree = np.bincount(s.pairs[s.isl_up].ravel(), minlength=len(c))
        ms_fn = median_ms(lambda: bridge_isls(pos, c.shell, free, ok, net.isl_max_range_km,
                                              net.atmosphere_margin_km), args.repeats, clock)
        failed = np.zeros(n_grid, bool)
        with_bridges = net._with_bridges  # noqa: SLF001 - the per-bucket addition on its own
        ms_all = median_ms(lambda: with_bridges(0, pos, ok, g.pairs, g.isl_up, g.isl_distance_km, failed),
                           args.repeats, clock)
        print(f"{t:>6.0f}  {pieces(g.pairs, g.isl_up, ok):>4}  {n_greedy:>6}  {pieces(s.pairs, s.isl_up, ok):>7}  "
              f"{len(bridges):>9}  {2 * len(bridges):>7} of {int(free.sum()):>4}  "
              f"{np.mean(degree[op] == ISL_TERMINALS):>9.3f}  {s.isl_distance_km[n_grid:].max():>10.0f}  "
              f"{ms_fn:>14.2f}  {ms_all:>13.2f}", flush=True)
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-60.0, 60.0, 100), rng.uniform(-180.0, 180.0, 100)
    for on in (False, True):
        lazy = Network(c, lat, lon, lazy_routing=True, inter_shell_isls=on)
        ms = []
        for k in range(args.repeats):
            t0 = clock()
            lazy.snapshot(10.0 * k)  # a new bucket each time
            ms.append((clock() - t0) * 1e3)
        print(f"lazy snapshot, 100 sites, inter_shell_isls={on}: {np.median(ms):.2f} ms", flush=True)


if __name__ == "__main__":
    main()
