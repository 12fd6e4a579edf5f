"""Synthetic "real-looking" TLE catalogues for the structure inference (tests and ``benchmarks/catalogue_report.py``).

Catalogues cannot be downloaded here, so these are built from :meth:`Constellation.walker_delta` written with
:meth:`Constellation.to_tle`, then edited field by field as a public catalogue looks (one seeded
``np.random.Generator``, so the same seed gives the same text):

- **jitter**: RAAN and mean anomaly noise (``raan_sd_deg``, ``anomaly_sd_deg``), station-keeping spread of the mean
  motion (``altitude_sd_km``), inclination noise (``inclination_sd_deg``); **missing slots** (``fill``).
- **junk records** (:func:`junk_records`): orbit-raising satellites below the shell (same inclination, any RAAN and
  phase), decayed records (mean motion 17.5 rev/day: SGP4 error 6, "mrt is less than 1.0 which indicates the
  satellite has decayed"), GEO (1.0027 rev/day), MEO (2.0056 rev/day, a GPS-like orbit at 55 deg), records SGP4
  rejects (eccentricity 0.999 at 0.5 rev/day: error 4, "semilatus rectum is less than zero") and stale element sets
  (a shell satellite's elements 60 days old).

Two layouts stand for the catalogues of issue 21:

- :func:`oneweb_like`: a Walker star of 12 planes over 180 deg of RAAN at 87.9 deg and 1,200 km (OneWeb's first
  generation: 1,200 km, 87.9 deg, planes over ~180 deg; del Portillo, Cameron & Crawley, Acta Astronautica 159,
  2019), 49-58 satellites per plane, each plane at its own altitude (``stagger_km`` apart; polar planes all cross
  over the poles, so a polar star constellation separates them in altitude). That a public OneWeb file shows a
  1 km altitude peak per plane is an assumption: it is what makes the 2026 inference read such a file as one plane
  of 58, as issue 21 reports; nothing here checks it against the real file.
- :func:`starlink2023_like`: Starlink's shells 1 (72 x 22 at 550 km, 53.0 deg) and 4 (72 x 22 at 540 km,
  53.2 deg), 10 km and 0.2 deg apart (FCC filings SAT-MOD-20200417-00037; mid-2023 about 1,500 satellites each).

Each returns ``(text, truth)``: the 3-line TLE text and, per record in file order, ``truth["kind"]`` (``"shell0"``,
``"shell1"``, ... or a junk kind), ``truth["plane"]`` / ``truth["slot"]`` (-1 for junk) and ``truth["name"]``.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from orbitcloud_env.constants import (
    EARTH_RADIUS_EQ_KM,
    MU_EARTH_KM3_S2,
    SECONDS_PER_DAY,
)
from orbitcloud_env.constellation import Constellation

__all__ = ["EPOCH", "JUNK_KINDS", "junk_records", "oneweb_like", "shell_records", "starlink2023_like", "to_text"]

#: Epoch of the synthetic element sets.
EPOCH = dt.datetime(2026, 5, 12, tzinfo=dt.timezone.utc)
#: Junk record kinds, in the order :func:`junk_records` writes them.
JUNK_KINDS = ("raising", "decayed", "geo", "meo", "rejected", "stale")

Record = tuple[str, str, str]  # name, line 1, line 2


def _checksum(line: str) -> str:
    return str(sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10)


def _put(line: str, start: int, text: str) -> str:
    """``line`` with ``text`` at 0-based column ``start`` and its checksum recomputed."""
    out = line[:start] + text + line[start + len(text):]
    return out[:68] + _checksum(out)


def mean_motion_rev_day(altitude_km: float) -> float:
    """[rev/day] Kepler mean motion at ``EARTH_RADIUS_EQ_KM + altitude_km``, as :meth:`Constellation.walker_delta`."""
    n_rad_s = math.sqrt(MU_EARTH_KM3_S2 / (EARTH_RADIUS_EQ_KM + altitude_km) ** 3)
    return n_rad_s * SECONDS_PER_DAY / (2.0 * math.pi)


def _angle(deg: float) -> str:
    return f"{deg % 360.0:8.4f}"


def _epoch_field(when: dt.datetime) -> str:
    start = dt.datetime(when.year, 1, 1, tzinfo=dt.timezone.utc)
    day = 1.0 + (when - start).total_seconds() / SECONDS_PER_DAY
    return f"{when.year % 100:02d}{day:012.8f}"


def shell_records(
    walker: Constellation,
    rng: np.random.Generator,
    *,
    fill: tuple[int, int] | None = None,
    raan_sd_deg: float = 0.2,
    anomaly_sd_deg: float = 0.5,
    altitude_sd_km: float = 0.5,
    inclination_sd_deg: float = 0.005,
    plane_altitude_km: np.ndarray | None = None,
) -> tuple[list[Record], np.ndarray, np.ndarray]:
    """One Walker shell's records with jitter and missing slots.

    Args:
        walker: a one-shell :meth:`Constellation.walker_delta` result.
        rng: the generator.
        fill: (least, most) satellites kept per plane, drawn per plane; None keeps every slot.
        raan_sd_deg, anomaly_sd_deg: [deg] normal noise on RAAN and mean anomaly.
        altitude_sd_km: [km] normal noise on the altitude the mean motion is written for.
        inclination_sd_deg: [deg] normal noise on the inclination.
        plane_altitude_km: [km] (P,) altitude of each plane (staggered planes); default the shell's.

    Returns:
        (records, plane, slot) of the kept satellites.
    """
    info = walker.shells[0]
    P, S = info.planes, info.sats_per_plane
    keep = np.ones(P * S, bool)
    if fill is not None:
        for p in range(P):
            n = int(rng.integers(fill[0], fill[1] + 1))
            drop = rng.choice(S, size=S - n, replace=False)
            keep[p * S + drop] = False
    alt_p = np.full(P, info.altitude_km) if plane_altitude_km is None else np.asarray(plane_altitude_km, float)
    lines = walker.to_tle().splitlines()
    recs: list[Record] = []
    for i in np.nonzero(keep)[0].tolist():
        name, l1, l2 = lines[3 * i: 3 * i + 3]
        p = int(walker.plane[i])
        raan = float(l2[17:25]) + rng.normal(0.0, raan_sd_deg)
        m = float(l2[43:51]) + rng.normal(0.0, anomaly_sd_deg)
        inc = float(l2[8:16]) + rng.normal(0.0, inclination_sd_deg)
        n = mean_motion_rev_day(float(alt_p[p]) + rng.normal(0.0, altitude_sd_km))
        l2 = _put(l2, 8, f"{min(max(inc, 0.0), 180.0):8.4f}")
        l2 = _put(l2, 17, _angle(raan))
        l2 = _put(l2, 43, _angle(m))
        l2 = _put(l2, 52, f"{n:11.8f}")
        recs.append((name, l1, l2))
    return recs, walker.plane[keep].copy(), walker.slot[keep].copy()


def junk_records(
    rng: np.random.Generator,
    counts: dict[str, int],
    *,
    inclination_deg: float,
    raising_km: tuple[float, float],
    stale_from: list[Record] | None = None,
    epoch: dt.datetime = EPOCH,
) -> tuple[list[Record], list[str]]:
    """Records of the kinds in ``counts`` (keys from :data:`JUNK_KINDS`) and the kind of each.

    Args:
        counts: number of records per kind.
        inclination_deg: [deg] inclination of the raising satellites (their shell's).
        raising_km: [km] (low, high) altitude range of the raising satellites.
        stale_from: shell records to copy for stale element sets (their epoch set 60 days back).
    """
    proto = Constellation.walker_delta(1, 1, 550.0, 53.0, phasing=0, epoch=epoch, name_prefix="J").to_tle().splitlines()
    recs: list[Record] = []
    kinds: list[str] = []
    for kind in JUNK_KINDS:
        for j in range(int(counts.get(kind, 0))):
            l1, l2 = proto[1], proto[2]
            name = f"{kind.upper()}-{j}"
            if kind == "raising":
                l2 = _put(l2, 8, f"{inclination_deg + rng.normal(0.0, 0.005):8.4f}")
                l2 = _put(l2, 17, _angle(rng.uniform(0.0, 360.0)))
                l2 = _put(l2, 43, _angle(rng.uniform(0.0, 360.0)))
                l2 = _put(l2, 52, f"{mean_motion_rev_day(rng.uniform(*raising_km)):11.8f}")
            elif kind == "decayed":
                l2 = _put(l2, 52, "17.50000000")
            elif kind == "geo":
                l2 = _put(_put(l2, 8, f"{rng.uniform(0.0, 0.1):8.4f}"), 52, " 1.00270000")
            elif kind == "meo":
                l2 = _put(_put(l2, 8, "055.0000"), 52, " 2.00560000")
            elif kind == "rejected":
                l2 = _put(_put(l2, 26, "9990000"), 52, " 0.50000000")
            elif kind == "stale":
                if not stale_from:
                    raise ValueError("stale_from: stale records copy shell records; give some")
                _, l1, l2 = stale_from[int(rng.integers(len(stale_from)))]
                l1 = _put(l1, 18, _epoch_field(epoch - dt.timedelta(days=60)))
            l2 = _put(l2, 43, _angle(rng.uniform(0.0, 360.0))) if kind != "raising" else l2
            recs.append((name, l1, l2))
            kinds.append(kind)
    return recs, kinds


def to_text(records: list[Record]) -> str:
    """3-line TLE text of ``records``, numbered 1..N in order (catalogue numbers are unique)."""
    out = []
    for k, (name, l1, l2) in enumerate(records, start=1):
        num = f"{k:05d}"
        out.append(f"{name}\n{_put(l1, 2, num)}\n{_put(l2, 2, num)}")
    return "\n".join(out) + "\n"


def _assemble(shells: list[tuple[list[Record], np.ndarray, np.ndarray]], junk: tuple[list[Record], list[str]],
              rng: np.random.Generator) -> tuple[str, dict]:
    recs: list[Record] = []
    kind: list[str] = []
    plane: list[int] = []
    slot: list[int] = []
    for s, (r, p, k) in enumerate(shells):
        recs += r
        kind += [f"shell{s}"] * len(r)
        plane += p.tolist()
        slot += k.tolist()
    recs += junk[0]
    kind += junk[1]
    plane += [-1] * len(junk[0])
    slot += [-1] * len(junk[0])
    order = rng.permutation(len(recs))  # a catalogue lists satellites by number, not by plane
    recs = [recs[i] for i in order]
    truth = {"kind": np.array(kind)[order], "plane": np.array(plane)[order], "slot": np.array(slot)[order],
             "name": [r[0] for r in recs]}
    return to_text(recs), truth


DEFAULT_JUNK = {"raising": 40, "decayed": 4, "geo": 3, "meo": 3, "rejected": 3, "stale": 5}


def oneweb_like(
    seed: int = 0,
    *,
    planes: int = 12,
    sats_per_plane: int = 58,
    fill: tuple[int, int] = (49, 58),
    stagger_km: float = 3.0,
    altitude_sd_km: float = 0.25,
    raan_sd_deg: float = 0.2,
    raan_offset_deg: float = 0.0,
    junk: dict[str, int] | None = None,
) -> tuple[str, dict]:
    """A OneWeb-like polar star catalogue (see the module docstring) and its truth.

    Args:
        seed: of the generator.
        planes, sats_per_plane: [-] the Walker star's P x S (12 x 58 at 87.9 deg, 1,200 km, over 180 deg).
        fill: (least, most) satellites kept per plane.
        stagger_km: [km] altitude step between consecutive planes (centred on 1,200 km); 0: one altitude.
        altitude_sd_km: [km] station-keeping spread within a plane (with 3 km steps each plane is its own 1 km peak).
        raan_sd_deg: [deg] RAAN spread within a plane.
        raan_offset_deg: [deg] RAAN of plane 0 (355: plane 0 straddles 0/360 deg).
        junk: records per junk kind (default :data:`DEFAULT_JUNK`; raising satellites between 450 and 1,100 km).
    """
    rng = np.random.default_rng(seed)
    w = Constellation.walker_delta(planes, sats_per_plane, 1200.0, 87.9, phasing=0, epoch=EPOCH,
                                   raan_spread_deg=180.0, raan_offset_deg=raan_offset_deg, name_prefix="ONEWEB")
    alts = 1200.0 + stagger_km * (np.arange(planes) - 0.5 * (planes - 1))
    shell = shell_records(w, rng, fill=fill, plane_altitude_km=alts, altitude_sd_km=altitude_sd_km,
                           raan_sd_deg=raan_sd_deg)
    j = junk_records(rng, DEFAULT_JUNK if junk is None else junk, inclination_deg=87.9, raising_km=(450.0, 1100.0),
                     stale_from=shell[0])
    return _assemble([shell], j, rng)


def starlink2023_like(
    seed: int = 0,
    *,
    planes: int = 72,
    sats_per_plane: int = 22,
    fill: tuple[int, int] | None = (20, 22),
    altitudes_km: tuple[float, float] = (550.0, 540.0),
    altitude_sd_km: float = 0.5,
    junk: dict[str, int] | None = None,
) -> tuple[str, dict]:
    """Two neighbouring Starlink shells, 550 km / 53.0 deg and 540 km / 53.2 deg (see the module docstring).

    Args:
        seed: of the generator.
        planes, sats_per_plane: [-] P x S of each shell (72 x 22 as filed).
        fill: (least, most) satellites kept per plane.
        altitudes_km: [km] altitudes of the 53.0 and 53.2 deg shells (equal: two shells apart only in inclination).
        altitude_sd_km: [km] station-keeping spread (3 km makes the two shells' altitudes overlap).
        junk: records per junk kind (default :data:`DEFAULT_JUNK` x 4 raising; raising satellites of the 53.0 deg
            shell between 350 and 530 km).
    """
    rng = np.random.default_rng(seed)
    a = Constellation.walker_delta(planes, sats_per_plane, altitudes_km[0], 53.0, phasing=1, epoch=EPOCH,
                                   name_prefix="SL1")
    b = Constellation.walker_delta(planes, sats_per_plane, altitudes_km[1], 53.2, phasing=1, epoch=EPOCH,
                                   name_prefix="SL4", raan_offset_deg=2.5)
    s0 = shell_records(a, rng, fill=fill, altitude_sd_km=altitude_sd_km)
    s1 = shell_records(b, rng, fill=fill, altitude_sd_km=altitude_sd_km)
    counts = dict(DEFAULT_JUNK, raising=4 * DEFAULT_JUNK["raising"]) if junk is None else junk
    j = junk_records(rng, counts, inclination_deg=53.0, raising_km=(350.0, 530.0), stale_from=s0[0] + s1[0])
    return _assemble([s0, s1], j, rng)
