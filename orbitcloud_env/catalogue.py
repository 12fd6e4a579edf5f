"""Structure of a real satellite catalogue (TLE set): shells, orbital planes, slots, operational flags, +Grid.

A catalogue lists satellites, not their layout. This module infers the layout from the SGP4 mean elements, all
brought to one common epoch (the constellation epoch, the latest epoch of the records SGP4 accepts) with SGP4's
secular rates (``nodedot``, ``argpdot``, ``mdot`` of each ``Satrec``), so that the RAAN drift of up to ~4.8 deg/day
at 53 deg between element epochs does not smear the planes:

1. **Shells** as dense clusters in (altitude, inclination). Inclinations are grouped where sorted values leave a gap
   larger than ``INCLINATION_GAP_DEG``; within a group, the mean altitudes (``Satrec.a``, the un-Kozai'd mean
   semi-major axis, minus the WGS72 equatorial radius) are histogrammed in 1 km bins, each run of bins holding at
   least ``DENSE_BIN_SATS`` satellites is a run, split in two when it holds two dense inclination runs more than
   ``SHELL_INC_SEP_DEG`` apart (two shells at one altitude). A run with at least ``min_shell_sats`` satellites is a
   peak; of peaks of one inclination within ``MERGE_KM``, the largest is a shell whose altitude band is the peak's
   bins widened by ``BAND_MARGIN_KM``, and the smaller ones belong to it but lie outside its band (satellites
   pausing while raising or lowering, as Starlink's satellites wait at an intermediate altitude for differential
   RAAN precession to reach their target plane). Peaks further apart in inclination are separate shells however
   close in altitude (Starlink 2023: 550 km / 53.0 deg and 540 km / 53.2 deg). A peak that is one plane
   (``STAGGER_MAX_PLANES``) gathers the runs of its inclination in a chain of ``STAGGER_STEP_KM`` steps: the
   staggered planes of a polar star constellation (OneWeb), each at its own altitude.
2. **Planes** within a shell by RAAN at the common epoch: circular gap clustering, the cut being the largest ratio
   between consecutive sorted gaps (the jump from the spread within a plane to the spacing between planes), so
   partly filled planes and missing planes need no plane count; when that cut would fall on the widest gap alone,
   the open arc is cut at the next clear jump (``OPEN_ARC_RATIO``; a star shell's seam). Planes are numbered by
   increasing RAAN after the widest gap.
3. **Slots** within a plane by argument of latitude ``u = argp + M`` (near-circular orbits) at the common epoch.
4. **Seam**: consecutive planes (cyclically) are adjacent when their RAAN gap is at most
   ``MAX_ADJACENT_RAAN_GAP_DEG``; a Walker delta shell (planes over 360 deg) closes the ring, a polar star shell
   (OneWeb, Iridium: planes over ~180 deg) leaves a gap of ~180 deg between its first and last planes, which
   counter-rotate, so no cross-seam links are made.

Satellites not used as mesh or compute nodes (``operational`` False) carry their reason in ``status``: outside
their shell's altitude band, in no shell, in a shell that cannot be meshed (one satellite per plane), eccentric
orbit; and the records set aside (``SET_ASIDE``: a real catalogue always carries some, the file still loads, one
warning per reason with the count and the first record's name and line): elements SGP4 rejects, decayed, other
SGP4 errors at the epoch, element set older than ``STALE_DAYS``, GEO, MEO, other orbits outside LEO. No Gymnasium
import: this is simulation core.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.config import MIN_SHELL_SATS as _MIN_SHELL_SATS

__all__ = [
    "CatalogueShell",
    "CatalogueStructure",
    "CatalogueWarning",
    "infer_structure",
    "plus_grid_pairs",
    "SET_ASIDE",
    "STATUS_OPERATIONAL",
]

#: [deg] Inclination groups are split where sorted inclinations leave a larger gap.
INCLINATION_GAP_DEG = 0.5
#: [km] Altitude histogram bin.
ALTITUDE_BIN_KM = 1.0
#: [-] A 1 km altitude bin with at least this many satellites is part of a peak.
DENSE_BIN_SATS = 5
#: [km] A shell's altitude band is its peak's bins widened by this margin on both sides. Station-kept Starlink
#: satellites of one shell sit within ~2 km of each other in the shipped catalogue (docs/physics_network.md).
BAND_MARGIN_KM = 3.0
#: [deg] Members of a shell whose inclination differs from the shell's median by more are outside its band (their
#: RAAN drifts at another rate: d(RAAN)/dt is proportional to cos i). In the shipped catalogue the operational
#: members lie within 0.13 deg of their shell's median, while six 97.6 deg satellites pausing in the band of the
#: 97.28 deg shell at 462 km differ by 0.32 deg.
INCLINATION_TOL_DEG = 0.15
#: [km] A smaller altitude peak within this distance of a shell belongs to it (outside its band: raising/lowering).
MERGE_KM = 30.0
#: [-] Default least number of satellites of a shell (its home is config.py: every default lives there).
MIN_SHELL_SATS = _MIN_SHELL_SATS
#: [deg] Two altitude peaks whose median inclinations differ by more are two shells however close in altitude
#: (Starlink in 2023: shell 1 at 550 km / 53.0 deg and shell 4 at 540 km / 53.2 deg), and an altitude peak holding
#: two dense inclination runs of ``min_shell_sats`` each, with medians further apart, is split into two. The
#: shells of the shipped catalogue have members within 0.01 deg of their median (5th-95th percentile), and its two
#: nearest peaks of one inclination group differ by 0.06 deg but lie 65 km apart.
SHELL_INC_SEP_DEG = 0.1
#: [deg] Inclination histogram bin for splitting one altitude peak into shells of different inclination.
INCLINATION_BIN_DEG = 0.02
#: [-] A kept altitude peak whose operational satellites form at most this many RAAN planes is a plane, not a shell:
#: it gathers the other altitude runs of its inclination within ``MERGE_KM`` into one shell (staggered planes: polar
#: star constellations such as OneWeb fly each plane at its own altitude, so that planes crossing over the poles
#: keep apart; a 1 km histogram then shows one peak per plane). Every shell of the shipped catalogue has 12 or more.
STAGGER_MAX_PLANES = 2
#: [km] Such a one-plane peak gathers the runs of its inclination that lie at most this far beyond the altitudes
#: gathered so far (a chain: staggered planes a few km apart, over more than ``MERGE_KM`` in all).
STAGGER_STEP_KM = 10.0
#: [-] When the widest RAAN gap alone would cut a shell (one plane over an open arc), the other gaps are cut where the
#: ratio between consecutive sorted gaps is at least this (a star shell's planes; within one plane the largest gaps
#: are of similar size).
OPEN_ARC_RATIO = 5.0
#: [deg] Consecutive planes whose RAAN gap is at most this are adjacent: missing planes are bridged (whether a long
#: link is in range is decided per bucket by the ISL range check), while the ~180 deg seam of a star shell, between
#: counter-rotating planes, is not.
MAX_ADJACENT_RAAN_GAP_DEG = 90.0
#: [-] Least median satellites per plane of a meshable shell (an intra-plane ring needs three).
MIN_MEDIAN_PER_PLANE = 3
#: [-] Most eccentricity of a mesh node (LEO shells are near circular, e < 0.002 in the shipped catalogue).
MAX_ECCENTRICITY = 0.01
#: [d] Element sets older than this at the constellation epoch are flagged stale (SGP4 errors grow by ~1-3 km/day
#: for LEO; Vallado et al., "Revisiting Spacetrack Report #3", AIAA 2006-6753).
STALE_DAYS = 30.0
#: [d] A catalogue whose element epochs span more than this gets a warning (mixed epochs, RAAN drift).
EPOCH_SPAN_WARN_DAYS = 7.0
#: [km] LEO band of a mesh node (mean altitude). Below it: decayed (re-entering); above it: MEO or GEO.
LEO_MIN_KM, LEO_MAX_KM = 150.0, 2000.0
#: [km] Mean altitude band of a geosynchronous orbit: 35,786 km (period one sidereal day) +- 1,000 km, which takes in
#: GEO drift and graveyard orbits (IADC space debris mitigation guidelines: re-orbit ~300 km above GEO).
GEO_BAND_KM = (34_786.0, 36_786.0)
#: SGP4 error code of a decayed orbit (``sgp4.api.SGP4_ERRORS[6]``: "mrt is less than 1.0 which indicates the
#: satellite has decayed").
_SGP4_DECAYED = 6

#: [-] Laser terminals per satellite.
_MAX_DEGREE = 4
#: [deg] Most phase difference of a link added to fill a free terminal (a quarter orbit: beyond it the partner is
#: on the far side of the adjacent plane).
_FILL_MAX_PHASE_DEG = 45.0

STATUS_OPERATIONAL = "operational"
STATUS_OUT_OF_BAND = "outside its shell's altitude or inclination band (raising, lowering or changing plane)"
STATUS_NO_SHELL = "in no shell (no dense inclination/altitude group)"
STATUS_SMALL_SHELL = "in a shell too small to mesh"
STATUS_ONE_PER_PLANE = "in a shell with one satellite per plane (cannot mesh)"
STATUS_SGP4 = "SGP4 error at the epoch"
STATUS_ECCENTRIC = "eccentric orbit"
STATUS_STALE = "stale element set"
STATUS_NOT_LEO = "outside the LEO altitude band"
STATUS_SGP4_REJECTED = "elements SGP4 rejects at their own epoch"
STATUS_DECAYED = "decayed (SGP4: below the Earth's surface, or mean altitude under 150 km)"
STATUS_GEO = "geosynchronous orbit (not LEO)"
STATUS_MEO = "medium Earth orbit (not LEO)"
#: Reasons a record is set aside (never a mesh node; only eccentric orbits may be kept as compute nodes by
#: ``keep_non_operational``); loading warns once per reason present, with the count and the first record.
SET_ASIDE = (STATUS_SGP4_REJECTED, STATUS_DECAYED, STATUS_SGP4, STATUS_STALE, STATUS_GEO, STATUS_MEO, STATUS_NOT_LEO,
             STATUS_ECCENTRIC)


class CatalogueWarning(UserWarning):
    """A catalogue is usable but something in it deserves attention (stale, decaying, mixed epochs)."""


@dataclass(frozen=True)
class CatalogueShell:
    """One shell inferred from a catalogue.

    Attributes:
        planes: [-] number of inferred planes P (0 for the pseudo-shell of satellites in no shell).
        sats_per_plane: [-] median satellites per plane (planes may be partly filled).
        altitude_km: [km] median mean altitude of the shell's in-band satellites (above the WGS72 equatorial radius).
        inclination_deg: [deg] median inclination of the in-band satellites.
        altitude_band_km: [km] (low, high) band of operational members.
        n_satellites: [-] satellites assigned to the shell (in and out of band).
        n_operational: [-] satellites used as mesh and compute nodes.
        closed_seam: whether plane P-1 links to plane 0 (Walker delta); False for a star shell or a partial ring.
        plane_links: per plane p, whether p and p+1 (cyclic) are adjacent and carry inter-plane ISLs.
        meshable: False for the pseudo-shell and for shells that cannot be meshed.
        plane_raan_deg: [deg] circular mean RAAN of each plane at the constellation epoch (plane order).
    """

    planes: int
    sats_per_plane: int
    altitude_km: float
    inclination_deg: float
    altitude_band_km: tuple[float, float]
    n_satellites: int
    n_operational: int
    closed_seam: bool
    plane_links: tuple[bool, ...]
    meshable: bool = True
    plane_raan_deg: tuple[float, ...] = ()

    @property
    def pattern(self) -> str:
        """``"delta"`` (planes close a ring over 360 deg of RAAN), ``"star"`` (one open seam: first and last planes
        counter-rotate, e.g. OneWeb or Iridium over ~180 deg), ``"partial"`` (more than one unlinked gap),
        ``"single plane"`` or ``"none"`` (not meshed)."""
        if not self.meshable:
            return "none"
        if self.planes == 1:
            return "single plane"
        if self.closed_seam:
            return "delta"
        return "star" if sum(not x for x in self.plane_links) == 1 else "partial"

    @property
    def size(self) -> int:
        """[-] Satellites assigned to the shell."""
        return self.n_satellites

    @property
    def is_delta(self) -> bool:
        """Whether the planes close a ring over 360 deg of RAAN (Walker delta)."""
        return self.closed_seam


@dataclass(frozen=True)
class CatalogueStructure:
    """Result of :func:`infer_structure`; arrays are (N,).

    Attributes:
        shell: shell index (the last index is a pseudo-shell for satellites in no shell, when there are any).
        plane, slot: plane index within the shell and slot within the plane; -1 for non-operational satellites.
        operational: bool; status: str reason (``STATUS_OPERATIONAL`` when operational).
        raan_deg, u_deg: [deg] mean RAAN and argument of latitude at the common epoch.
        altitude_km: [km] mean altitude; inclination_deg: [deg].
        shells: per-shell summaries.
    """

    shell: NDArray[np.int64]
    plane: NDArray[np.int64]
    slot: NDArray[np.int64]
    operational: NDArray[np.bool_]
    status: tuple[str, ...]
    raan_deg: NDArray[np.float64]
    u_deg: NDArray[np.float64]
    altitude_km: NDArray[np.float64]
    inclination_deg: NDArray[np.float64]
    shells: tuple[CatalogueShell, ...]


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) index runs where ``mask`` is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def _split_sorted(values: NDArray[np.float64], gap: float) -> list[NDArray[np.int64]]:
    """Index groups of ``values`` (any order) split where the sorted values leave a gap > ``gap``."""
    order = np.argsort(values, kind="stable")
    cuts = np.nonzero(np.diff(values[order]) > gap)[0] + 1
    return np.split(order, cuts)


def _inclination_parts(inc_deg: NDArray[np.float64], min_shell_sats: int) -> list[NDArray[np.int64]]:
    """Index groups of ``inc_deg`` that are shells of their own: runs of dense ``INCLINATION_BIN_DEG`` bins (at
    least ``DENSE_BIN_SATS`` each, so that a few satellites changing plane between two shells do not join them)
    holding ``min_shell_sats`` each, runs whose medians lie within ``SHELL_INC_SEP_DEG`` joined."""
    lo = math.floor(inc_deg.min() / INCLINATION_BIN_DEG) - 1
    edges = (np.arange(lo, math.ceil(inc_deg.max() / INCLINATION_BIN_DEG) + 2)) * INCLINATION_BIN_DEG
    hist, _ = np.histogram(inc_deg, bins=edges)
    parts: list[NDArray[np.int64]] = []
    for a, b in _runs(hist >= DENSE_BIN_SATS):
        q = np.nonzero((inc_deg >= edges[a]) & (inc_deg < edges[b]))[0]
        if parts and abs(float(np.median(inc_deg[q])) - float(np.median(inc_deg[parts[-1]]))) <= SHELL_INC_SEP_DEG:
            parts[-1] = np.concatenate([parts[-1], q])
        else:
            parts.append(q)
    return [q for q in parts if q.size >= min_shell_sats]


def _altitude_peaks(
    alt_km: NDArray[np.float64],
    inc_deg: NDArray[np.float64],
    raan_deg: NDArray[np.float64],
    min_shell_sats: int,
) -> list[tuple[float, float, int, float]]:
    """Shell bands (low_km, high_km, count, inclination_deg) found in one inclination group: dense clusters in
    (altitude, inclination).

    Runs of dense 1 km altitude bins are split into the shells of different inclination they hold
    (:func:`_inclination_parts`); of the peaks (runs with ``min_shell_sats``)
    of one inclination (within ``SHELL_INC_SEP_DEG``) closer than ``MERGE_KM``, the largest is a shell and the others
    are raising or lowering satellites, unless the largest is one plane (``STAGGER_MAX_PLANES``): then it gathers
    the runs of its inclination in a chain of steps of at most ``STAGGER_STEP_KM`` (staggered planes).
    """
    runs = _dense_runs(alt_km, inc_deg, min_shell_sats)
    peaks = [r for r in runs if r[2] >= min_shell_sats]
    # Of peaks of one inclination closer than MERGE_KM, the largest is the shell; the others are raising or lowering.
    # A shell's peak that is one plane gathers its staggered planes.
    peaks.sort(key=lambda p: -p[2])
    kept: list[_Run] = []
    gathered: set[int] = set()  # ids of runs gathered into a staggered shell
    for p in peaks:
        if id(p) in gathered or any(_runs_near(p, k) for k in kept):
            continue
        labels, _ = _cluster_circular(raan_deg[p[4]])
        if int(labels.max()) + 1 > STAGGER_MAX_PLANES:
            kept.append(p)
            continue
        kept.append(_gather_staggered(p, runs, kept, gathered))
    others = [p for p in peaks if id(p) not in gathered]
    return _widened_bands(kept, others)


#: A run of dense altitude bins: (low_km, high_km, count, inclination_deg, member indices into the group's altitudes).
_Run = tuple[float, float, int, float, NDArray[np.int64]]


def _dense_runs(alt_km: NDArray[np.float64], inc_deg: NDArray[np.float64], min_shell_sats: int) -> list[_Run]:
    """:func:`_altitude_peaks`' runs of dense 1 km altitude bins, each split into the shells of different
    inclination it holds (:func:`_inclination_parts`)."""
    lo = math.floor(alt_km.min()) - 1
    edges = np.arange(lo, math.ceil(alt_km.max()) + 2 * ALTITUDE_BIN_KM, ALTITUDE_BIN_KM)
    hist, _ = np.histogram(alt_km, bins=edges)
    runs: list[_Run] = []
    for a, b in _runs(hist >= DENSE_BIN_SATS):
        r_lo, r_hi = float(edges[a]), float(edges[b])
        m = np.nonzero((alt_km >= r_lo) & (alt_km < r_hi))[0]  # the last edge lies above the largest altitude
        parts = _inclination_parts(inc_deg[m], min_shell_sats)
        if len(parts) >= 2:  # two shells at one altitude, apart in inclination
            runs.extend((r_lo, r_hi, int(q.size), float(np.median(inc_deg[m[q]])), m[q]) for q in parts)
        else:
            runs.append((r_lo, r_hi, int(hist[a:b].sum()), float(np.median(inc_deg[m])), m))
    return runs


def _run_centre(r: _Run) -> float:
    return 0.5 * (r[0] + r[1])


def _runs_near(r: _Run, k: _Run) -> bool:
    """Same inclination (within ``SHELL_INC_SEP_DEG``), centres within ``MERGE_KM``."""
    return abs(_run_centre(r) - _run_centre(k)) <= MERGE_KM and abs(r[3] - k[3]) <= SHELL_INC_SEP_DEG


def _gather_staggered(p: _Run, runs: list[_Run], kept: list[_Run], gathered: set[int]) -> _Run:
    """The staggered shell of peak ``p`` (one plane): the chain of ``runs`` of its inclination at most
    ``STAGGER_STEP_KM`` beyond the family's span and nearer to it than to a ``kept`` shell (their ids added to
    ``gathered``), as one run."""
    fam = [p]
    f_lo, f_hi = p[0], p[1]
    grown = True
    while grown:  # chain runs at most STAGGER_STEP_KM beyond the family's span, nearer to it than to a shell
        grown = False
        for r in runs:
            gap = max(r[0] - f_hi, f_lo - r[1], 0.0)
            if (id(r) in gathered or any(r is f for f in fam) or gap > STAGGER_STEP_KM
                    or abs(r[3] - p[3]) > SHELL_INC_SEP_DEG
                    or any(abs(_run_centre(r) - _run_centre(k)) < gap for k in kept
                           if abs(k[3] - p[3]) <= SHELL_INC_SEP_DEG)):
                continue
            fam.append(r)
            f_lo, f_hi = min(f_lo, r[0]), max(f_hi, r[1])
            grown = True
    gathered.update(id(r) for r in fam)
    return (f_lo, f_hi, int(sum(r[2] for r in fam)), p[3], np.concatenate([r[4] for r in fam]))


def _widened_bands(kept: list[_Run], others: list[_Run]) -> list[tuple[float, float, int, float]]:
    """The ``kept`` shells' bands, sorted: each widened by ``BAND_MARGIN_KM``, but never into another peak of its
    inclination (``others``; satellites pausing there are not in this shell)."""
    out = []
    for k in kept:
        lo, hi, count = k[:3]
        alike = [p for p in others if p is not k and abs(p[3] - k[3]) <= SHELL_INC_SEP_DEG]
        below = [p[1] for p in alike if p[1] <= lo]
        above = [p[0] for p in alike if p[0] >= hi]
        out.append((max([lo - BAND_MARGIN_KM, *below]), min([hi + BAND_MARGIN_KM, *above]), count, k[3]))
    return sorted(out)


def _gap_cut(gaps: NDArray[np.float64]) -> tuple[float, float]:
    """[deg] The cut between gaps within a plane and gaps between planes: at the largest ratio between consecutive
    sorted gaps (geometric mean of the two), with that ratio; (inf, 0) when every gap is noise."""
    g = np.sort(gaps)[::-1]
    floor = 0.05  # [deg] gaps below this are noise within a plane
    big = g[g > floor]
    if big.size == 0:
        return np.inf, 0.0
    nxt = np.append(g[1 : big.size + 1], 0.0)
    ratio = big / np.maximum(nxt[: big.size], floor)
    i = int(np.argmax(ratio))
    return math.sqrt(big[i] * max(nxt[i], floor)), float(ratio[i])


def _cluster_circular(angles_deg: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Cluster angles on the circle by the largest jump between consecutive sorted gaps.

    Returns:
        (labels, centres_deg): (n,) cluster labels numbered by increasing circular mean starting after the
        largest gap, and (K,) [deg] circular means.
    """
    n = angles_deg.size
    if n == 1:
        return np.zeros(1, np.int64), angles_deg.copy()
    order = np.argsort(angles_deg, kind="stable")
    s = angles_deg[order]
    gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))  # gap after each sorted angle (the last wraps)
    cut, _ = _gap_cut(gaps)
    is_cut = gaps > cut
    if int(is_cut.sum()) == 1 and n > 2:
        # One cut, at the widest opening: a star shell's ~180 deg seam can outweigh the jump from the spread inside
        # a plane to the spacing between planes (planes 15 deg apart with ~1 deg of RAAN spread). Look again at the
        # other gaps; a clear jump there (OPEN_ARC_RATIO) cuts the open arc into planes.
        rest = np.delete(gaps, int(np.argmax(gaps)))
        cut2, ratio2 = _gap_cut(rest)
        if ratio2 >= OPEN_ARC_RATIO:
            is_cut = gaps > cut2
    if not is_cut.any():
        return np.zeros(n, np.int64), np.array([_circmean(angles_deg)])
    # Start numbering after the largest gap so that plane 0 follows the widest opening (a star shell's seam).
    start = (int(np.argmax(gaps)) + 1) % n
    rolled = np.roll(np.arange(n), -start)
    lab_sorted = np.concatenate([[0], np.cumsum(is_cut[rolled][:-1])])
    labels = np.empty(n, np.int64)
    labels[order[rolled]] = lab_sorted
    centres = np.array([_circmean(angles_deg[labels == k]) for k in range(int(lab_sorted[-1]) + 1)])
    return labels, centres


def _circmean(a_deg: NDArray[np.float64]) -> float:
    r = np.deg2rad(a_deg)
    return float(np.rad2deg(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0)


def _wrap180(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return (a + 180.0) % 360.0 - 180.0


def infer_structure(
    elements: dict[str, NDArray],
    secular: dict[str, NDArray],
    epoch_days: float,
    sgp4_ok: NDArray[np.bool_],
    *,
    min_shell_sats: int = MIN_SHELL_SATS,
    keep_non_operational: bool = False,
    source: str = "<catalogue>",
    lines: NDArray[np.int64] | None = None,
    names: tuple[str, ...] | None = None,
    sgp4_code: NDArray[np.int64] | None = None,
    init_code: NDArray[np.int64] | None = None,
) -> CatalogueStructure:
    """Infer shells, planes, slots and operational flags of a catalogue (see the module docstring).

    Args:
        elements: SGP4 mean elements as in :class:`~orbitcloud_env.constellation.Constellation` (``epoch_days``
            [d since 1949-12-31], ``inclo``/``nodeo``/``argpo``/``mo`` [rad], ``ecco`` [-]).
        secular: per-satellite ``a_km`` [km] mean semi-major axis and secular rates ``nodedot``, ``argpdot``,
            ``mdot`` [rad/min] (sgp4 ``Satrec`` attributes).
        epoch_days: [d since 1949-12-31] the common epoch.
        sgp4_ok: (N,) bool, SGP4 propagated the satellite at the common epoch without error.
        min_shell_sats: [-] least satellites of a shell.
        keep_non_operational: keep satellites outside their shell's band, in no shell, in a shell that cannot be
            meshed or on an eccentric orbit as compute nodes (they still get no ISLs); SGP4 errors, stale element
            sets and orbits outside LEO are never kept.
        source, lines, names: for messages: the file, the 1-based line of each satellite's TLE line 1, its name.
        sgp4_code: (N,) SGP4 error code at the common epoch (0: none; -1: non-finite result); default from
            ``sgp4_ok``. Code 6 (decayed) gives ``STATUS_DECAYED``, others ``STATUS_SGP4``.
        init_code: (N,) SGP4 error code at each element set's own epoch (``Satrec.error`` after parsing, -1 for a
            non-finite result); non-zero: the record is set aside (``STATUS_SGP4_REJECTED``, or ``STATUS_DECAYED``
            for code 6). Default: none rejected.

    Raises:
        ValueError: naming ``source`` when no shell can be meshed.
    """
    n = elements["inclo"].shape[0]
    sgp4_ok = np.asarray(sgp4_ok, bool)
    code = (np.where(sgp4_ok, 0, -1) if sgp4_code is None else np.asarray(sgp4_code, np.int64))
    init_code = np.zeros(n, np.int64) if init_code is None else np.asarray(init_code, np.int64)
    rejected = init_code != 0
    sgp4_ok = sgp4_ok & ~rejected
    inc, raan, u, alt, ecc, age_d = _orbits_at(elements, secular, epoch_days)
    status = np.full(n, STATUS_NO_SHELL, dtype=object)
    shell = np.full(n, -1, np.int64)
    usable = sgp4_ok & (ecc <= MAX_ECCENTRICITY) & (age_d <= STALE_DAYS) & (alt >= LEO_MIN_KM) & (alt <= LEO_MAX_KM)
    bands = _assign_shells(inc, raan, alt, usable, min_shell_sats, status, shell)
    _set_aside(status, sgp4_ok, alt, ecc, age_d, code, rejected, init_code)
    plane, slot = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    shells = [_mesh_shell(s, lo, hi, (shell, status, plane, slot), (inc, raan, u, alt), min_shell_sats, source)
              for s, (lo, hi) in enumerate(bands)]
    _check_meshable(shells, n, min_shell_sats, source)
    return _structure(shells, shell, plane, slot, status, keep_non_operational, (raan, u, alt, inc),
                      (source, age_d, lines, names))


def _orbits_at(elements: dict[str, NDArray], secular: dict[str, NDArray], epoch_days: float) -> tuple[NDArray, ...]:
    """:func:`infer_structure`'s orbits at the common epoch ``epoch_days``: inclination [deg], RAAN [deg] and mean
    argument of latitude [deg] (secular drift applied), altitude [km], eccentricity [-], element-set age [d]."""
    dt_min = (epoch_days - np.asarray(elements["epoch_days"], float)) * 1440.0
    inc = np.rad2deg(np.asarray(elements["inclo"], float))
    raan = np.rad2deg(np.asarray(elements["nodeo"], float) + secular["nodedot"] * dt_min) % 360.0
    u = np.rad2deg(np.asarray(elements["argpo"], float) + np.asarray(elements["mo"], float)
                   + (secular["argpdot"] + secular["mdot"]) * dt_min) % 360.0
    alt = secular["a_km"] - secular["radius_km"]
    ecc = np.asarray(elements["ecco"], float)
    age_d = dt_min / 1440.0
    return inc, raan, u, alt, ecc, age_d


def _assign_shells(inc: NDArray, raan: NDArray, alt: NDArray, usable: NDArray[np.bool_], min_shell_sats: int,
                   status: NDArray, shell: NDArray[np.int64]) -> list[tuple[float, float]]:
    """:func:`infer_structure`'s shells: per inclination group, the dense altitude bands; each usable satellite
    joins the nearest band (operational inside it, out of band near it; ``status`` and ``shell`` set in place).
    Returns the bands [km], in shell order."""
    bands: list[tuple[float, float]] = []
    for grp in _split_sorted(inc, INCLINATION_GAP_DEG):
        grp = grp[usable[grp]]
        if grp.size < min_shell_sats:
            continue
        peaks = _altitude_peaks(alt[grp], inc[grp], raan[grp], min_shell_sats)
        if not peaks:
            continue
        lo = np.array([p[0] for p in peaks])
        hi = np.array([p[1] for p in peaks])
        a = alt[grp][:, None]
        dist = np.maximum(lo[None, :] - a, 0.0) + np.maximum(a - hi[None, :], 0.0)  # [km] to each band, 0 inside
        # The nearest band; of bands as near (two shells at one altitude), the nearest in inclination.
        dmin = dist.min(axis=1)
        inc_dist = np.abs(inc[grp][:, None] - np.array([p[3] for p in peaks])[None, :])
        near = np.argmin(np.where(dist == dmin[:, None], inc_dist, np.inf), axis=1)
        for k in range(len(peaks)):
            sel = (near == k) & (dmin <= MERGE_KM)
            members = grp[sel]
            shell[members] = len(bands) + k
            status[members] = np.where(dmin[sel] == 0.0, STATUS_OPERATIONAL, STATUS_OUT_OF_BAND)
        for k in range(len(peaks)):
            inband = grp[shell[grp] == len(bands) + k]
            inband = inband[status[inband] == STATUS_OPERATIONAL]
            if inband.size:
                med = float(np.median(inc[inband]))
                status[inband[np.abs(inc[inband] - med) > INCLINATION_TOL_DEG]] = STATUS_OUT_OF_BAND
        bands.extend((p[0], p[1]) for p in peaks)
    return bands


def _set_aside(status: NDArray, sgp4_ok: NDArray[np.bool_], alt: NDArray, ecc: NDArray, age_d: NDArray,
               code: NDArray[np.int64], rejected: NDArray[np.bool_], init_code: NDArray[np.int64]) -> None:
    """:func:`infer_structure`'s statuses of the satellites set aside (in place; later rules take precedence):
    outside LEO, decayed, eccentric, SGP4 errors, stale element sets, records rejected at their own epoch."""
    not_leo = sgp4_ok & ((alt < LEO_MIN_KM) | (alt > LEO_MAX_KM))
    status[not_leo] = STATUS_NOT_LEO
    status[not_leo & (alt > LEO_MAX_KM) & (alt < GEO_BAND_KM[0])] = STATUS_MEO
    status[not_leo & (alt >= GEO_BAND_KM[0]) & (alt <= GEO_BAND_KM[1])] = STATUS_GEO
    status[sgp4_ok & (alt < LEO_MIN_KM)] = STATUS_DECAYED
    status[sgp4_ok & (ecc > MAX_ECCENTRICITY) & ~not_leo] = STATUS_ECCENTRIC
    status[~sgp4_ok] = np.where(code[~sgp4_ok] == _SGP4_DECAYED, STATUS_DECAYED, STATUS_SGP4)
    status[sgp4_ok & (age_d > STALE_DAYS)] = STATUS_STALE
    status[rejected] = np.where(init_code[rejected] == _SGP4_DECAYED, STATUS_DECAYED, STATUS_SGP4_REJECTED)


def _mesh_shell(s: int, lo: float, hi: float, labels_out: tuple[NDArray, ...], orbits: tuple[NDArray, ...],
                min_shell_sats: int, source: str) -> CatalogueShell:
    """:func:`infer_structure`'s shell ``s`` (altitude band ``lo``-``hi`` [km]): its operational satellites'
    RAAN planes and slots, or, when it cannot be meshed, a warning and its satellites set aside. ``labels_out``:
    the (shell, status, plane, slot) arrays (status, plane and slot set in place); ``orbits``: (inclination [deg],
    RAAN [deg], argument of latitude [deg], altitude [km])."""
    shell, status, plane, slot = labels_out
    inc, raan, u, alt = orbits
    idx = np.nonzero((shell == s) & (status == STATUS_OPERATIONAL))[0]
    if idx.size:
        labels, centres = _cluster_circular(raan[idx])
        counts = np.bincount(labels)
    else:  # every member outside the band
        labels, centres, counts = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    P = counts.size
    med = float(np.median(counts)) if counts.size else 0.0
    meshable = idx.size >= min_shell_sats and med >= MIN_MEDIAN_PER_PLANE
    if not meshable:
        status[idx] = STATUS_ONE_PER_PLANE if med < MIN_MEDIAN_PER_PLANE else STATUS_SMALL_SHELL
        where = f"{np.median(inc[idx]):.1f} deg, {np.median(alt[idx]):.0f} km" if idx.size else f"{lo:.0f}-{hi:.0f} km"
        _warn(f"{source}: shell {s} ({where}, {idx.size} "
              f"satellites in {P} RAAN planes, median {med:g} per plane) cannot be meshed (rule: at least "
              f"{min_shell_sats} satellites and a median of {MIN_MEDIAN_PER_PLANE} or more per plane); its "
              "satellites are not operational")
        links: tuple[bool, ...] = ()
        closed = False
    else:
        links, closed = _plane_slots(idx, labels, centres, P, u, plane, slot)
    members = shell == s
    return CatalogueShell(
        planes=int(P) if meshable else 0, sats_per_plane=int(np.median(counts)) if meshable else 0,
        altitude_km=float(np.median(alt[idx])) if idx.size else 0.5 * (lo + hi),
        inclination_deg=float(np.median(inc[idx])) if idx.size else float("nan"),
        altitude_band_km=(lo, hi), n_satellites=int(members.sum()),
        n_operational=int((members & (status == STATUS_OPERATIONAL)).sum()),
        closed_seam=bool(closed), plane_links=links, meshable=bool(meshable),
        plane_raan_deg=tuple(float(x) for x in centres) if meshable else (),
    )


def _plane_slots(idx: NDArray[np.int64], labels: NDArray[np.int64], centres: NDArray, P: int, u: NDArray,
                 plane: NDArray[np.int64], slot: NDArray[np.int64]) -> tuple[tuple[bool, ...], bool]:
    """A meshable shell's planes (``labels`` of satellites ``idx``, RAAN ``centres`` [deg]) and slots (by argument of
    latitude ``u`` [deg]) into ``plane`` and ``slot`` (in place); returns which adjacent planes link, and whether
    the seam closes (``P`` planes)."""
    plane[idx] = labels
    for p in range(P):
        m = idx[labels == p]
        slot[m[np.argsort(u[m], kind="stable")]] = np.arange(m.size)
    gaps = (np.roll(centres, -1) - centres) % 360.0  # gap from plane p to p+1
    if P == 1:
        links = (False,)
    elif P == 2:
        links = (bool(gaps[0] <= MAX_ADJACENT_RAAN_GAP_DEG), False)
    else:
        links = tuple(bool(g <= MAX_ADJACENT_RAAN_GAP_DEG) for g in gaps.tolist())
    return links, P > 2 and links[-1]


def _check_meshable(shells: list[CatalogueShell], n: int, min_shell_sats: int, source: str) -> None:
    if not any(sh.meshable for sh in shells):
        raise ValueError(
            f"{source}: no usable shell in {n} satellites (rule: a shell is at least {min_shell_sats} satellites of "
            f"one inclination group (gap {INCLINATION_GAP_DEG} deg) within a dense altitude band, with a median of "
            f"{MIN_MEDIAN_PER_PLANE} or more satellites per RAAN plane); for a handful of satellites load with "
            "infer=False"
        )


def _structure(shells: list[CatalogueShell], shell: NDArray[np.int64], plane: NDArray[np.int64],
               slot: NDArray[np.int64], status: NDArray, keep_non_operational: bool, orbits: tuple[NDArray, ...],
               report: tuple) -> CatalogueStructure:
    """:func:`infer_structure`'s result: satellites in no shell as one last, unmeshed shell; the operational flags
    (``keep_non_operational`` widens them); the load warnings (``report``: source, ages [d], lines, names)."""
    orphans = shell < 0
    if orphans.any():
        shell[orphans] = len(shells)
        shells.append(CatalogueShell(0, 0, float("nan"), float("nan"), (float("nan"), float("nan")),
                                     int(orphans.sum()), 0, False, (), meshable=False))
    operational = status == STATUS_OPERATIONAL
    if keep_non_operational:
        operational = np.isin(status, [STATUS_OPERATIONAL, STATUS_OUT_OF_BAND, STATUS_NO_SHELL, STATUS_SMALL_SHELL,
                                       STATUS_ONE_PER_PLANE, STATUS_ECCENTRIC])
    raan, u, alt, inc = orbits
    source, age_d, lines, names = report
    _warn_load(source, status, age_d, alt, lines, names)
    ro = []
    for a in (shell, plane, slot, operational, raan, u, alt, inc):
        a = np.array(a)
        a.flags.writeable = False
        ro.append(a)
    return CatalogueStructure(ro[0], ro[1], ro[2], ro[3], tuple(str(x) for x in status), ro[4], ro[5], ro[6], ro[7],
                              tuple(shells))


def _warn(msg: str) -> None:
    warnings.warn(msg, CatalogueWarning, stacklevel=4)


def _where(i: int, lines, names) -> str:
    parts = []
    if names is not None:
        parts.append(repr(names[i]))
    if lines is not None:
        parts.append(f"line {int(lines[i])}")
    return " ".join(parts) if parts else f"index {i}"


def _warn_load(source, status, age_d, alt_km, lines, names) -> None:
    """One warning per reason a record is set aside (with the count and the first record in file order), one for
    decaying satellites still in LEO, one for mixed epochs."""
    for reason in SET_ASIDE:
        hit = np.nonzero(status == reason)[0]
        if not hit.size:
            continue
        i = int(hit[0])
        detail = ""
        if reason == STATUS_STALE:
            j = int(hit[np.argmax(age_d[hit])])
            detail = (f"; older than {STALE_DAYS:g} days at the epoch (oldest {age_d[j]:.0f} days, "
                      f"{_where(j, lines, names)}); SGP4 may put them far from orbit")
        _warn(f"{source}: {hit.size} record(s) set aside as not operational, {reason} (first: "
              f"{_where(i, lines, names)}){detail}")
    set_aside = np.isin(status, SET_ASIDE)
    decaying = np.nonzero(~set_aside & (alt_km < 250.0))[0]
    if decaying.size:
        i = int(decaying[0])
        _warn(f"{source}: {decaying.size} satellite(s) decaying (mean altitude below 250 km; first: "
              f"{_where(i, lines, names)}): they are checked at every topology bucket and marked down")
    span = float(age_d.max() - age_d.min()) if age_d.size else 0.0
    if span > EPOCH_SPAN_WARN_DAYS:
        i = int(np.argmax(age_d))
        _warn(f"{source}: element epochs span {span:.0f} days (rule: at most {EPOCH_SPAN_WARN_DAYS:g}); RAAN drifts "
              f"up to ~5 deg/day, so old sets (oldest: {_where(i, lines, names)}) are placed by extrapolation")


def plus_grid_pairs(
    idx: NDArray[np.int64],
    plane: NDArray[np.int64],
    u_deg: NDArray[np.float64],
    plane_links: tuple[bool, ...],
) -> NDArray[np.int64]:
    """+Grid ISL pairs of one inferred shell.

    Intra-plane: each satellite to the next by argument of latitude (a ring when the plane has 3 or more
    satellites). Inter-plane, for each adjacent plane pair (p, p+1) with ``plane_links[p]``: satellites are paired
    nearest in phase (``|u_a - u_b|`` on the circle), shortest first, each satellite taking at most one partner on
    each side, so every satellite has at most four links and equal, regularly phased planes pair one to one.

    Args:
        idx: (M,) global satellite indices of the shell's operational satellites.
        plane: (M,) plane index of each; u_deg: (M,) [deg] argument of latitude.
        plane_links: per plane p, whether p and (p+1) mod P carry inter-plane links.

    Returns:
        (E, 2) int64 global index pairs (unsorted, may repeat; the caller normalises).
    """
    out: list[NDArray[np.int64]] = []
    P = len(plane_links)
    members = [np.nonzero(plane == p)[0] for p in range(P)]
    ordered = [m[np.argsort(u_deg[m], kind="stable")] for m in members]
    for m in ordered:
        if m.size >= 2:
            nxt = np.roll(m, -1)
            pr = np.stack([m, nxt], axis=1)
            out.append(pr if m.size >= 3 else pr[:1])
    for p in range(P):
        if not plane_links[p]:
            continue
        a, b = ordered[p], ordered[(p + 1) % P]
        if a.size == 0 or b.size == 0 or (P == 1):
            continue
        d = np.abs(_wrap180(u_deg[a][:, None] - u_deg[b][None, :]))  # (|a|, |b|)
        k = min(2, b.size)
        near = np.argpartition(d, k - 1, axis=1)[:, :k] if b.size > k else np.tile(np.arange(b.size), (a.size, 1))
        ia = np.repeat(np.arange(a.size), near.shape[1])
        ib = near.ravel()
        ka = min(2, a.size)
        near_b = (np.argpartition(d.T, ka - 1, axis=1)[:, :ka] if a.size > ka
                  else np.tile(np.arange(a.size), (b.size, 1)))
        ia = np.concatenate([ia, near_b.ravel()])
        ib = np.concatenate([ib, np.repeat(np.arange(b.size), near_b.shape[1])])
        dd = d[ia, ib]
        order = np.lexsort((ib, ia, dd))
        used_a = np.zeros(a.size, bool)
        used_b = np.zeros(b.size, bool)
        sel = []
        for i, j in zip(ia[order].tolist(), ib[order].tolist()):
            if not used_a[i] and not used_b[j]:
                used_a[i] = used_b[j] = True
                sel.append((a[i], b[j]))
        if sel:
            out.append(np.asarray(sel, np.int64))
    pairs = np.concatenate(out) if out else np.zeros((0, 2), np.int64)
    pairs = _fill_terminals(pairs, ordered, u_deg, plane_links)
    return idx[pairs]


def _fill_terminals(pairs: NDArray[np.int64], ordered: list[NDArray[np.int64]], u_deg: NDArray[np.float64],
                    plane_links: tuple[bool, ...]) -> NDArray[np.int64]:
    """Give satellites left with free terminals (planes of unequal size) links to the nearest-in-phase satellites
    with a free terminal of the adjacent planes, then of the planes two steps away (across a fuller plane), shortest
    phase difference first, degree <= 4."""
    n = int(sum(m.size for m in ordered))
    deg = np.bincount(pairs.ravel(), minlength=n) if pairs.size else np.zeros(n, np.int64)
    if n == 0 or np.all(deg >= _MAX_DEGREE):
        return pairs
    P = len(plane_links)
    have = {(int(min(a, b)), int(max(a, b))) for a, b in pairs.tolist()}
    extra = []
    # First the adjacent planes, then (for the terminals still free) the planes two steps away across a fuller
    # plane in between, each pass shortest phase difference first.
    for step in (1, 2):
        cands: list[tuple[float, int, int]] = []
        for p in range(P):
            if P <= step or not all(plane_links[(p + k) % P] for k in range(step)):
                continue
            a, b = ordered[p], ordered[(p + step) % P]
            a, b = a[deg[a] < _MAX_DEGREE], b[deg[b] < _MAX_DEGREE]
            if a.size == 0 or b.size == 0:
                continue
            d = np.abs(_wrap180(u_deg[a][:, None] - u_deg[b][None, :]))
            ii, jj = np.nonzero(d <= _FILL_MAX_PHASE_DEG)
            cands.extend(zip(d[ii, jj].tolist(), a[ii].tolist(), b[jj].tolist()))
        cands.sort()
        for _, i, j in cands:
            key = (min(i, j), max(i, j))
            if deg[i] < _MAX_DEGREE and deg[j] < _MAX_DEGREE and key not in have:
                deg[i] += 1
                deg[j] += 1
                have.add(key)
                extra.append(key)
    if not extra:
        return pairs
    return np.concatenate([pairs, np.asarray(extra, np.int64)])
