"""Structure of a real satellite catalogue (TLE set): shells, orbital planes, slots, operational flags, +Grid.

A catalogue lists satellites, not their layout. This module infers the layout from the SGP4 mean elements, all
brought to one common epoch (the constellation epoch, the latest element epoch of the set) with SGP4's secular
rates (``nodedot``, ``argpdot``, ``mdot`` of each ``Satrec``), so that the RAAN drift of up to ~4.8 deg/day at
53 deg between element epochs does not smear the planes:

1. **Shells** by inclination and altitude. Inclinations are grouped where sorted values leave a gap larger than
   ``INCLINATION_GAP_DEG``; within a group, the mean altitudes (``Satrec.a``, the un-Kozai'd mean semi-major axis,
   minus the WGS72 equatorial radius) are histogrammed in 1 km bins, and each run of bins holding at least
   ``DENSE_BIN_SATS`` satellites is an altitude peak. A peak with at least ``min_shell_sats`` satellites is a shell
   whose altitude band is the peak's bins widened by ``BAND_MARGIN_KM``; smaller peaks within ``MERGE_KM`` of a
   shell belong to it but lie outside its band (satellites pausing while raising or lowering, as Starlink's
   satellites wait at an intermediate altitude for differential RAAN precession to reach their target plane).
2. **Planes** within a shell by RAAN at the common epoch: circular gap clustering, the cut being the largest ratio
   between consecutive sorted gaps (the jump from the spread within a plane to the spacing between planes), so
   partly filled planes and missing planes need no plane count. Planes are numbered by increasing RAAN.
3. **Slots** within a plane by argument of latitude ``u = argp + M`` (near-circular orbits) at the common epoch.
4. **Seam**: consecutive planes (cyclically) are adjacent when their RAAN gap is at most
   ``MAX_ADJACENT_RAAN_GAP_DEG``; a Walker delta shell (planes over 360 deg) closes the ring, a polar star shell
   (OneWeb, Iridium: planes over ~180 deg) leaves a gap of ~180 deg between its first and last planes, which
   counter-rotate, so no cross-seam links are made.

Satellites not used as mesh or compute nodes (``operational`` False) carry their reason in ``status``: outside
their shell's altitude band, in no shell, in a shell that cannot be meshed (one satellite per plane), SGP4 error,
eccentric orbit, element set older than ``STALE_DAYS``. No Gymnasium import: this is simulation core.
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
#: [km] LEO band of a mesh node (mean altitude).
LEO_MIN_KM, LEO_MAX_KM = 150.0, 2000.0

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


def _altitude_peaks(alt_km: NDArray[np.float64], min_shell_sats: int) -> list[tuple[float, float, int]]:
    """Shell bands (low_km, high_km, count) found in the altitude histogram of one inclination group."""
    lo = math.floor(alt_km.min()) - 1
    edges = np.arange(lo, math.ceil(alt_km.max()) + 2 * ALTITUDE_BIN_KM, ALTITUDE_BIN_KM)
    hist, _ = np.histogram(alt_km, bins=edges)
    runs = [(float(edges[a]), float(edges[b]), int(hist[a:b].sum())) for a, b in _runs(hist >= DENSE_BIN_SATS)]
    peaks = [r for r in runs if r[2] >= min_shell_sats]
    # Of peaks closer than MERGE_KM, the largest is the shell; the others are raising or lowering satellites.
    peaks.sort(key=lambda p: -p[2])
    kept: list[tuple[float, float, int]] = []
    for p in peaks:
        centre = 0.5 * (p[0] + p[1])
        if all(abs(centre - 0.5 * (k[0] + k[1])) > MERGE_KM for k in kept):
            kept.append(p)
    out = []
    for lo, hi, count in kept:
        # Widen by the margin, but never into another peak (satellites pausing there are not in this shell).
        below = [p[1] for p in peaks if p[1] <= lo]
        above = [p[0] for p in peaks if p[0] >= hi]
        out.append((max([lo - BAND_MARGIN_KM, *below]), min([hi + BAND_MARGIN_KM, *above]), count))
    return sorted(out)


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
    g = np.sort(gaps)[::-1]
    floor = 0.05  # [deg] gaps below this are noise within a plane
    big = g[g > floor]
    if big.size == 0:
        cut = np.inf
    else:
        nxt = np.append(g[1 : big.size + 1], 0.0)
        ratio = big / np.maximum(nxt[: big.size], floor)
        i = int(np.argmax(ratio))
        cut = math.sqrt(big[i] * max(nxt[i], floor))
    is_cut = gaps > cut
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

    Raises:
        ValueError: naming ``source`` when no shell can be meshed.
    """
    n = elements["inclo"].shape[0]
    dt_min = (epoch_days - np.asarray(elements["epoch_days"], float)) * 1440.0
    inc = np.rad2deg(np.asarray(elements["inclo"], float))
    raan = np.rad2deg(np.asarray(elements["nodeo"], float) + secular["nodedot"] * dt_min) % 360.0
    u = np.rad2deg(np.asarray(elements["argpo"], float) + np.asarray(elements["mo"], float)
                   + (secular["argpdot"] + secular["mdot"]) * dt_min) % 360.0
    alt = secular["a_km"] - secular["radius_km"]
    ecc = np.asarray(elements["ecco"], float)
    age_d = dt_min / 1440.0

    status = np.full(n, STATUS_NO_SHELL, dtype=object)
    shell = np.full(n, -1, np.int64)
    usable = sgp4_ok & (ecc <= MAX_ECCENTRICITY) & (age_d <= STALE_DAYS) & (alt >= LEO_MIN_KM) & (alt <= LEO_MAX_KM)
    bands: list[tuple[float, float]] = []
    for grp in _split_sorted(inc, INCLINATION_GAP_DEG):
        grp = grp[usable[grp]]
        if grp.size < min_shell_sats:
            continue
        peaks = _altitude_peaks(alt[grp], min_shell_sats)
        if not peaks:
            continue
        lo = np.array([p[0] for p in peaks])
        hi = np.array([p[1] for p in peaks])
        a = alt[grp][:, None]
        dist = np.maximum(lo[None, :] - a, 0.0) + np.maximum(a - hi[None, :], 0.0)  # [km] to each band, 0 inside
        near = np.argmin(dist, axis=1)
        dmin = dist[np.arange(grp.size), near]
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
    status[~sgp4_ok] = STATUS_SGP4
    status[sgp4_ok & (alt < LEO_MIN_KM) | sgp4_ok & (alt > LEO_MAX_KM)] = STATUS_NOT_LEO
    status[sgp4_ok & (ecc > MAX_ECCENTRICITY) & (status != STATUS_NOT_LEO)] = STATUS_ECCENTRIC
    status[sgp4_ok & (age_d > STALE_DAYS)] = STATUS_STALE

    plane = np.full(n, -1, np.int64)
    slot = np.full(n, -1, np.int64)
    shells: list[CatalogueShell] = []
    for s, (lo, hi) in enumerate(bands):
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
            closed = P > 2 and links[-1]
        members = shell == s
        shells.append(CatalogueShell(
            planes=int(P) if meshable else 0, sats_per_plane=int(np.median(counts)) if meshable else 0,
            altitude_km=float(np.median(alt[idx])) if idx.size else 0.5 * (lo + hi),
            inclination_deg=float(np.median(inc[idx])) if idx.size else float("nan"),
            altitude_band_km=(lo, hi), n_satellites=int(members.sum()),
            n_operational=int((members & (status == STATUS_OPERATIONAL)).sum()),
            closed_seam=bool(closed), plane_links=links, meshable=bool(meshable),
        ))
    if not any(sh.meshable for sh in shells):
        raise ValueError(
            f"{source}: no usable shell in {n} satellites (rule: a shell is at least {min_shell_sats} satellites of "
            f"one inclination group (gap {INCLINATION_GAP_DEG} deg) within a dense altitude band, with a median of "
            f"{MIN_MEDIAN_PER_PLANE} or more satellites per RAAN plane); for a handful of satellites load with "
            "infer=False"
        )
    orphans = shell < 0
    if orphans.any():
        shell[orphans] = len(shells)
        shells.append(CatalogueShell(0, 0, float("nan"), float("nan"), (float("nan"), float("nan")),
                                     int(orphans.sum()), 0, False, (), meshable=False))
    operational = status == STATUS_OPERATIONAL
    if keep_non_operational:
        operational = np.isin(status, [STATUS_OPERATIONAL, STATUS_OUT_OF_BAND, STATUS_NO_SHELL, STATUS_SMALL_SHELL,
                                       STATUS_ONE_PER_PLANE, STATUS_ECCENTRIC])
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
    """One warning each for stale elements, decaying satellites and mixed epochs."""
    stale = np.nonzero(status == STATUS_STALE)[0]
    if stale.size:
        i = int(stale[np.argmax(age_d[stale])])
        _warn(f"{source}: {stale.size} element set(s) older than {STALE_DAYS:g} days at the epoch (oldest "
              f"{age_d[i]:.0f} days, {_where(i, lines, names)}): not operational; SGP4 may put them far from orbit")
    decaying = np.nonzero((status == STATUS_SGP4) | (alt_km < 250.0))[0]
    if decaying.size:
        i = int(decaying[0])
        _warn(f"{source}: {decaying.size} satellite(s) decaying (mean altitude below 250 km or SGP4 error at the "
              f"epoch; first: {_where(i, lines, names)}): they are checked at every topology bucket and marked down")
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
