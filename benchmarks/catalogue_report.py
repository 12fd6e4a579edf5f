"""What OrbitCloud infers from a TLE catalogue: check a catalogue before training on it.

Run from the repository root:

    python -m benchmarks.catalogue_report FILE [--time-s 0] [--min-shell-sats 50] [--keep-non-operational]
    python -m benchmarks.catalogue_report --synthetic oneweb|starlink2023 [--seed 0] [--write PATH]

``FILE`` is a 2- or 3-line TLE file (or ``package:<name>``, e.g. ``package:starlink-2026-05-12.tle``). It prints:

- the catalogue: records, constellation epoch, element epoch span, the loader's warnings;
- per inferred shell: inclination [deg], mean altitude [km] and band, planes x median satellites per plane, the
  pattern (``delta``: planes close a ring; ``star``: one open seam between counter-rotating first and last planes;
  ``partial``: several unlinked gaps), satellites assigned and operational;
- every reason a satellite is not operational, with counts (records set aside: SGP4-rejected, decayed, GEO, MEO,
  stale; satellites outside their shell's band or in no shell);
- the ISL degree histogram of the operational satellites (+Grid candidates, and usable at ``--time-s``);
- the connected pieces of the usable mesh at ``--time-s`` with the shells' +Grid only and with the inter-shell
  bridges of ``links.inter_shell_isls`` (:func:`~orbitcloud_env.network.bridge_isls`).

``--synthetic`` reports on a seeded synthetic catalogue of ``benchmarks/synthetic_catalogues.py`` instead (a
OneWeb-like star or Starlink's 2023 neighbouring shells, both with junk records), and ``--write`` saves its text
(through a temporary file, then renamed).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from orbitcloud_env.catalogue import STATUS_OPERATIONAL, CatalogueShell
from orbitcloud_env.constants import ISL_TERMINALS
from orbitcloud_env.constellation import Constellation, TLEError
from orbitcloud_env.network import Network, plus_grid_isls


def pieces(pairs: np.ndarray, up: np.ndarray, ok: np.ndarray) -> int:
    """Connected pieces of the usable links ``pairs[up]`` among the satellites ``ok``."""
    n = ok.shape[0]
    if not ok.any():
        return 0
    p = pairs[up]
    _, lab = connected_components(coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n)), directed=False)
    return len(np.unique(lab[ok]))


def _histogram(deg: np.ndarray) -> str:
    counts = np.bincount(deg, minlength=ISL_TERMINALS + 1)
    total = max(int(deg.size), 1)
    return "  ".join(f"{k}: {int(c):,} ({100.0 * c / total:.1f} %)" for k, c in enumerate(counts))


def report(c: Constellation, warned: list[str], time_s: float = 0.0, out=sys.stdout) -> None:
    """Print the report of an inferred catalogue ``c`` (``warned``: the loader's warning messages)."""
    say = lambda s="": print(s, file=out)  # noqa: E731
    n = len(c)
    op = c.operational
    span = float(np.ptp(np.asarray(c._elements["epoch_days"])))  # noqa: SLF001 - element epochs [d]
    say(f"{n:,} records, {int(op.sum()):,} operational ({100.0 * op.mean():.1f} %); epoch {c.epoch.isoformat()}, "
        f"element epochs span {span:.2f} days")
    for w in warned:
        say(f"  warning: {w}")
    say()
    say("shell  incl_deg  alt_km  band_km      planes x per_plane  pattern       satellites  operational")
    for s, info in enumerate(c.shells):
        if not isinstance(info, CatalogueShell):
            say(f"{s:>5}  (not inferred: {type(info).__name__ if info is not None else 'raw TLE'})")
            continue
        if info.planes == 0 and math.isnan(info.altitude_km):
            say(f"{s:>5}  {'-':>8}  {'-':>6}  {'-':<11}  {'-':>18}  {'in no shell':<12}  {info.n_satellites:>10,}  "
                f"{info.n_operational:>11,}")
            continue
        lo, hi = info.altitude_band_km
        grid = f"{info.planes} x {info.sats_per_plane}" if info.meshable else "not meshed"
        say(f"{s:>5}  {info.inclination_deg:>8.2f}  {info.altitude_km:>6.0f}  {lo:>4.0f}-{hi:<6.0f}  {grid:>18}  "
            f"{info.pattern:<12}  {info.n_satellites:>10,}  {info.n_operational:>11,}")
    say()
    say("status (why not operational)")
    for reason, k in sorted(c.status_counts().items(), key=lambda x: (x[0] != STATUS_OPERATIONAL, -x[1])):
        say(f"  {k:>7,}  {reason}")
    say()
    pairs = plus_grid_isls(c, time_s)
    deg = np.bincount(pairs.ravel(), minlength=n)
    say(f"ISL degree of the operational satellites, +Grid candidates ({len(pairs):,} pairs):")
    say(f"  {_histogram(deg[op])}")
    grid_net = Network(c, [0.0], [0.0])
    bridge_net = Network(c, [0.0], [0.0], inter_shell_isls=True)
    g = grid_net.snapshot(time_s)
    b = bridge_net.snapshot(time_s)
    ok = g.sat_ok
    used = np.bincount(g.pairs[g.isl_up].ravel(), minlength=n)
    say(f"ISL degree of the usable satellites at t = {time_s:g} s, usable +Grid links "
        f"({int(g.isl_up.sum()):,} of {len(g.pairs):,} up):")
    say(f"  {_histogram(used[ok])}")
    n_bridges = int(b.isl_bridge.sum())
    say(f"mesh pieces at t = {time_s:g} s among {int(ok.sum()):,} usable satellites: +Grid only "
        f"{pieces(g.pairs, g.isl_up, ok)}, with inter-shell bridges {pieces(b.pairs, b.isl_up, b.sat_ok)} "
        f"({n_bridges:,} bridges)")
    meshed = ok & (used > 0)
    say(f"operational and meshed (at least one usable ISL): {int(meshed.sum()):,} of {n:,} records")


def _synthetic(kind: str, seed: int) -> str:
    from benchmarks.synthetic_catalogues import oneweb_like, starlink2023_like

    return (oneweb_like if kind == "oneweb" else starlink2023_like)(seed=seed)[0]


def _write(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".catalogue-", suffix=".tle")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", help="TLE file (2- or 3-line), or package:<name>")
    p.add_argument("--synthetic", choices=("oneweb", "starlink2023"), help="report on a synthetic catalogue")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic catalogue")
    p.add_argument("--write", metavar="PATH", help="save the synthetic catalogue's TLE text here")
    p.add_argument("--time-s", type=float, default=0.0, help="[s] since the catalogue epoch, for the usable mesh")
    p.add_argument("--min-shell-sats", type=int, default=50, help="least satellites of a shell (default 50)")
    p.add_argument("--keep-non-operational", action=argparse.BooleanOptionalAction, default=False,
                   help="keep satellites outside their band or in no shell as compute nodes")
    args = p.parse_args(argv)
    if (args.file is None) == (args.synthetic is None):
        p.error("give a FILE or --synthetic oneweb|starlink2023 (one of them)")
    if args.write and not args.synthetic:
        p.error("--write: only with --synthetic")
    if not (math.isfinite(args.time_s) and args.time_s >= 0.0):
        p.error(f"--time-s: must be a finite number of seconds >= 0, got {args.time_s}")
    if args.min_shell_sats < 2:
        p.error(f"--min-shell-sats: must be >= 2, got {args.min_shell_sats}")
    kw = dict(min_shell_sats=args.min_shell_sats, keep_non_operational=args.keep_non_operational)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            if args.synthetic:
                text = _synthetic(args.synthetic, args.seed)
                if args.write:
                    _write(args.write, text)
                c = Constellation.from_tle_text(text, source=args.write or f"<synthetic {args.synthetic}>",
                                                infer=True, **kw)
            else:
                c = Constellation.from_tle(args.file, **kw)
        except TLEError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    report(c, [str(w.message) for w in rec], args.time_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
