"""How much of a synthetic catalogue's truth the structure inference recovers (issue 21's done criteria).

Run from the repository root:

    python -m benchmarks.catalogue_recovery [--seeds 0 1 2 3 4] [--raan-sd-deg 0.2]

For each seed and each layout of ``benchmarks/synthetic_catalogues.py`` (OneWeb-like star with staggered planes,
2023 Starlink-like neighbouring shells, both mixed with junk records) it prints, per true shell: its in-service
satellites, the inferred shell's planes x median per plane and pattern, the share of its satellites operational, the
share operational with at least three +Grid ISLs ("meshed"), the inferred operational count over the truth; and
the junk records made operational (should be 0).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from benchmarks import synthetic_catalogues as sc
from orbitcloud_env.constellation import Constellation
from orbitcloud_env.network import plus_grid_isls


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--raan-sd-deg", type=float, default=0.2, help="[deg] RAAN spread within a plane (OneWeb-like)")
    args = p.parse_args(argv)
    if not (0.0 <= args.raan_sd_deg <= 10.0):
        p.error(f"--raan-sd-deg: must lie in [0, 10] deg, got {args.raan_sd_deg}")
    layouts = (("oneweb_like", lambda s: sc.oneweb_like(s, raan_sd_deg=args.raan_sd_deg)),
               ("starlink2023_like", sc.starlink2023_like))
    for name, make in layouts:
        for seed in args.seeds:
            text, truth = make(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = Constellation.from_tle_text(text, infer=True)
            deg = np.bincount(plus_grid_isls(c).ravel(), minlength=len(c))
            row = [f"{name} seed {seed}: {len(c):,} records"]
            for kind in sorted(k for k in set(truth["kind"].tolist()) if k.startswith("shell")):
                m = truth["kind"] == kind
                shells = np.unique(c.shell[m & c.operational])
                if shells.size != 1:
                    row.append(f"{kind}: {m.sum()} in service, spread over inferred shells {shells.tolist()}")
                    continue
                info = c.shells[int(shells[0])]
                row.append(f"{kind}: {m.sum()} in service, {info.planes} x {info.sats_per_plane} {info.pattern}, "
                           f"operational {100 * c.operational[m].mean():.1f} %, meshed (>= 3 ISLs) "
                           f"{100 * np.mean(c.operational[m] & (deg[m] >= 3)):.1f} %, inferred/true "
                           f"{info.n_operational / m.sum():.4f}")
            junk = ~np.char.startswith(truth["kind"], "shell")
            row.append(f"junk operational {int(c.operational[junk].sum())} of {int(junk.sum())}")
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
