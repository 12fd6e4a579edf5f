"""Satellite constellations: Walker shells and TLE sets, propagated with SGP4 into the Earth-fixed frame.

This module is the one place where sgp4's TEME output is converted to Earth-fixed (ITRF/WGS84 axes)
coordinates (see :mod:`orbitcloud_env.geometry` for the frame conventions and what is neglected).

Clock: every time argument is either an aware datetime or [s] seconds since ``Constellation.epoch``
(the simulation clock starts at the epoch).

Element sets are built with sgp4's ``Satrec.sgp4init`` (WGS72 constants and the improved ``'i'`` mode, as
SGP4 expects) or parsed from TLE text with ``Satrec.twoline2rv``. Walker satellites have no drag
(``bstar = 0``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sgp4.api import SGP4_ERRORS, WGS72, Satrec, SatrecArray
from sgp4.exporter import export_tle

from orbitcloud_env import catalogue as _cat
from orbitcloud_env.catalogue import CatalogueShell
from orbitcloud_env.config import MAX_ALTITUDE_KM, MIN_ALTITUDE_KM, ConstellationConfig
from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM, MU_EARTH_KM3_S2, SECONDS_PER_DAY
from orbitcloud_env.data import resolve_data_path
from orbitcloud_env.geometry import (
    datetime_to_jd,
    ecef_to_geodetic,
    gmst_rad,
    jd_to_datetime,
    teme_to_ecef,
    teme_to_ecef_velocity,
)

__all__ = ["Constellation", "ShellInfo", "CatalogueShell", "TLEError", "PropagationError", "DEFAULT_EPOCH"]

#: Default epoch of generated constellations.
DEFAULT_EPOCH = ConstellationConfig().epoch  # one place for defaults: the scenario config
#: [d] Julian date of 1949-12-31T00:00 UTC, the zero of sgp4init's epoch argument.
_JD_SGP4_EPOCH0 = 2433281.5
_MIN_PER_DAY = SECONDS_PER_DAY / 60.0

TimeLike = Union[_dt.datetime, float, int, np.floating, np.integer, Sequence[float], NDArray[np.floating]]


class TLEError(ValueError):
    """A TLE file or text could not be parsed; ``source`` and ``line`` (1-based) say where."""

    def __init__(self, source: str, line: int, message: str):
        self.source = source
        self.line = line
        super().__init__(f"{source}, line {line}: {message}")


class PropagationError(ValueError):
    """SGP4 reported an error for one or more satellites (e.g. decayed orbit)."""


@dataclass(frozen=True)
class ShellInfo:
    """Metadata of one Walker shell.

    Attributes:
        planes: [-] number of orbital planes P.
        sats_per_plane: [-] satellites per plane S.
        phasing: [-] Walker phasing factor F, 0 <= F < P.
        raan_spread_deg: [deg] RAAN span over which the planes are spread (360 delta, 180 star).
        altitude_km: [km] altitude above the WGS84 equatorial radius.
        inclination_deg: [deg] orbit inclination.
        raan_offset_deg: [deg] RAAN of plane 0.
    """

    planes: int
    sats_per_plane: int
    phasing: int
    raan_spread_deg: float
    altitude_km: float
    inclination_deg: float
    raan_offset_deg: float = 0.0

    @property
    def size(self) -> int:
        """[-] Number of satellites in the shell."""
        return self.planes * self.sats_per_plane

    @property
    def is_delta(self) -> bool:
        """Whether planes span the full 360 deg of RAAN (Walker delta; adjacent across the seam)."""
        return math.isclose(self.raan_spread_deg, 360.0)


# Element fields kept per satellite; the Satrec objects are rebuilt from them (they do not pickle).
_ELEMENT_FIELDS = ("satnum", "epoch_days", "bstar", "ndot", "nddot", "ecco", "argpo", "inclo", "mo", "no_kozai", "nodeo")


def _readonly_elements(elements: dict[str, NDArray], n: int) -> dict[str, NDArray]:
    """:class:`Constellation`'s element arrays: each of :data:`_ELEMENT_FIELDS`, (n,), read-only."""
    out = {}
    for key in _ELEMENT_FIELDS:
        arr = np.array(elements[key], dtype=np.int64 if key == "satnum" else np.float64)
        if arr.shape != (n,):
            raise ValueError(f"elements[{key!r}]: expected shape ({n},), got {arr.shape}")
        arr.flags.writeable = False
        out[key] = arr
    return out


def _operational_status(operational: ArrayLike | None, status: Sequence[str] | None,
                        n: int) -> tuple[NDArray[np.bool_], tuple[str, ...]]:
    """:class:`Constellation`'s (n,) read-only operational flags (default all) and n status reasons (default
    "operational")."""
    op = np.ones(n, bool) if operational is None else np.array(operational, dtype=bool)
    if op.shape != (n,):
        raise ValueError(f"operational: expected shape ({n},), got {op.shape}")
    op.flags.writeable = False
    st = tuple(_cat.STATUS_OPERATIONAL for _ in range(n)) if status is None else tuple(str(x) for x in status)
    if len(st) != n:
        raise ValueError(f"status: expected {n} reasons, got {len(st)}")
    return op, st


def _check_walker_args(planes: int, sats_per_plane: int, altitude_km: float, inclination_deg: float, phasing: int,
                       epoch: _dt.datetime, raan_spread_deg: float) -> None:
    """:meth:`Constellation.walker_delta`'s argument checks (units as there)."""
    for nm, v in (("planes", planes), ("sats_per_plane", sats_per_plane), ("phasing", phasing)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{nm}: expected an int, got {v!r}")
    if planes < 1:
        raise ValueError(f"planes: must be >= 1, got {planes}")
    if sats_per_plane < 1:
        raise ValueError(f"sats_per_plane: must be >= 1, got {sats_per_plane}")
    if not (MIN_ALTITUDE_KM <= float(altitude_km) <= MAX_ALTITUDE_KM):
        raise ValueError(f"altitude_km: must lie in [{MIN_ALTITUDE_KM:g}, {MAX_ALTITUDE_KM:g}] km (LEO), got {altitude_km}")
    if not (0.0 <= float(inclination_deg) <= 180.0):
        raise ValueError(f"inclination_deg: must lie in [0, 180] deg, got {inclination_deg}")
    if not (0 <= phasing < planes):
        raise ValueError(f"phasing: must satisfy 0 <= phasing < planes ({planes}), got {phasing}")
    if not (0.0 < float(raan_spread_deg) <= 360.0):
        raise ValueError(f"raan_spread_deg: must lie in (0, 360] deg, got {raan_spread_deg}")
    if not isinstance(epoch, _dt.datetime):
        raise ValueError(f"epoch: expected an aware datetime, got {type(epoch).__name__}")


def _tle_checksum(line: str) -> int:
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _check_tle_line(line: str, number: str, source: str, lineno: int) -> None:
    if len(line) < 69:
        raise TLEError(source, lineno, f"truncated TLE line {number}: {len(line)} characters, expected 69: {line!r}")
    if len(line) > 69:
        raise TLEError(source, lineno, f"malformed TLE line {number}: {len(line)} characters, expected 69: {line!r}")
    if line[0] != number or line[1] != " ":
        raise TLEError(source, lineno, f"malformed TLE line: expected it to start with '{number} ', got {line[:2]!r}")
    if not line[68].isdigit():
        raise TLEError(source, lineno, f"malformed TLE line {number}: checksum column 69 is {line[68]!r}, not a digit")
    expected = _tle_checksum(line)
    if int(line[68]) != expected:
        raise TLEError(source, lineno, f"bad checksum on TLE line {number}: found {line[68]}, computed {expected}")


class Constellation:
    """An immutable set of satellites, propagated with SGP4 and reported in Earth-fixed coordinates.

    Build one with :meth:`walker_delta`, :meth:`from_tle`, :meth:`from_tle_text`, or combine several with
    :meth:`combine` / ``a + b``. Indices 0..N-1 are the satellite ids used everywhere else (network nodes).

    Attributes:
        names: list of N satellite names.
        epoch: aware UTC datetime; time 0 of the ``[s] seconds since epoch`` clock. For TLE sets it is
            the latest TLE epoch of the set (so propagation runs forward from every element set).
        shell: (N,) int, index into ``shells``.
        plane: (N,) int, plane index within the shell; -1 when unknown (raw TLE) or not operational.
        slot: (N,) int, slot index within the plane; -1 when unknown (raw TLE) or not operational.
        shells: list of :class:`ShellInfo` per Walker shell, :class:`CatalogueShell` per inferred catalogue shell,
            or None for a raw TLE shell (``infer=False``).
        operational: (N,) bool, used as mesh and compute node; status: N reasons (``"operational"`` when so).
        period_s: (N,) [s] orbital period ``2*pi/n`` from each TLE mean motion n (derived on access).
    """

    __slots__ = ("_elements", "_names", "_shell", "_plane", "_slot", "_shells", "_epoch", "_epoch_jd", "_satrecs", "_array",
                 "_operational", "_status", "_u_deg", "_u_rate")

    def __init__(
        self,
        elements: dict[str, NDArray],
        names: Sequence[str],
        shell: ArrayLike,
        plane: ArrayLike,
        slot: ArrayLike,
        shells: Sequence[ShellInfo | None],
        epoch: _dt.datetime,
        _satrecs: Sequence[Satrec] | None = None,
        operational: ArrayLike | None = None,
        status: Sequence[str] | None = None,
        u_deg: ArrayLike | None = None,
    ):
        """Low-level constructor; prefer the ``walker_delta`` / ``from_tle*`` / ``combine`` factories.

        Args:
            elements: per-satellite SGP4 mean elements, arrays of length N keyed by the sgp4init argument
                names (``satnum``, ``epoch_days`` [d since 1949-12-31], ``bstar`` [1/earth radii], ``ndot``,
                ``nddot``, ``ecco`` [-], ``argpo``/``inclo``/``mo``/``nodeo`` [rad], ``no_kozai`` [rad/min]).
            names: N satellite names.
            shell, plane, slot: (N,) int indices (-1 when unknown for plane/slot).
            shells: per-shell metadata (None for raw TLE shells).
            epoch: aware datetime, time 0 of the seconds clock.
            _satrecs: internal; Satrec objects already built by sgp4init from exactly these elements.
            operational: (N,) bool mesh/compute nodes (default all); status: N reasons (default "operational").
            u_deg: [deg] (N,) argument of latitude at the epoch of inferred catalogue satellites (for +Grid pairing).
        """
        n = len(names)
        if n == 0:
            raise ValueError("names: a constellation needs at least one satellite")
        self._elements = _readonly_elements(elements, n)
        self._names = tuple(str(x) for x in names)
        self._shell, self._plane, self._slot = (self._ro_int(a, n, nm) for a, nm in ((shell, "shell"), (plane, "plane"), (slot, "slot")))
        self._shells = tuple(shells)
        if self._shell.min() < 0 or self._shell.max() >= len(self._shells):
            raise ValueError(f"shell: indices must lie in [0, {len(self._shells)})")
        self._operational, self._status = _operational_status(operational, status, n)
        uu = np.full(n, np.nan) if u_deg is None else np.array(u_deg, dtype=np.float64)
        uu.flags.writeable = False
        self._u_deg = uu
        self._u_rate = None
        if not isinstance(epoch, _dt.datetime):
            raise ValueError(f"epoch: expected an aware datetime, got {type(epoch).__name__}")
        datetime_to_jd(epoch)  # rejects naive datetimes before astimezone() could read them as local time
        self._epoch = epoch.astimezone(_dt.timezone.utc)
        self._epoch_jd = datetime_to_jd(self._epoch)
        if _satrecs is not None and len(_satrecs) == n:
            self._satrecs = list(_satrecs)
            self._array = SatrecArray(self._satrecs)
        else:
            self._build()

    @staticmethod
    def _ro_int(a: ArrayLike, n: int, name: str) -> NDArray[np.int64]:
        arr = np.array(a, dtype=np.int64)
        if arr.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
        arr.flags.writeable = False
        return arr

    def _build(self) -> None:
        e = self._elements
        sats = []
        for i in range(len(self._names)):
            s = Satrec()
            s.sgp4init(
                WGS72, "i", int(e["satnum"][i]), float(e["epoch_days"][i]), float(e["bstar"][i]),
                float(e["ndot"][i]), float(e["nddot"][i]), float(e["ecco"][i]), float(e["argpo"][i]),
                float(e["inclo"][i]), float(e["mo"][i]), float(e["no_kozai"][i]), float(e["nodeo"][i]),
            )
            sats.append(s)
        self._satrecs = sats
        self._array = SatrecArray(sats)

    # Satrec / SatrecArray do not pickle: store the elements and rebuild.
    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("_satrecs", "_array", "_u_rate")}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self._u_rate = None
        self._build()

    # ------------------------------------------------------------------------------------ factories
    @classmethod
    def walker_delta(
        cls,
        planes: int,
        sats_per_plane: int,
        altitude_km: float,
        inclination_deg: float,
        phasing: int = 1,
        epoch: _dt.datetime = DEFAULT_EPOCH,
        raan_spread_deg: float = 360.0,
        name_prefix: str = "SAT",
        raan_offset_deg: float = 0.0,
    ) -> "Constellation":
        """A Walker shell of circular orbits, P planes of S satellites each.

        Satellite k of plane p has RAAN ``raan_offset_deg + p*raan_spread_deg/P`` and argument of latitude
        ``360*k/S + 360*phasing*p/(P*S)`` [deg]. ``raan_spread_deg=360`` gives a Walker delta
        (Starlink, Kuiper); 180 gives a Walker star / polar layout (Iridium-like), whose first and last
        planes counter-rotate across the seam. Mean motion from Kepler's third law at semi-major axis
        ``EARTH_RADIUS_EQ_KM + altitude_km`` (``MU_EARTH_KM3_S2``); eccentricity 0, no drag.

        Args:
            planes: [-] number of planes P >= 1.
            sats_per_plane: [-] satellites per plane S >= 1.
            altitude_km: [km] altitude above the equatorial radius, 160..2000 (LEO).
            inclination_deg: [deg] inclination, 0..180.
            phasing: [-] Walker phasing factor F, 0 <= F < P.
            epoch: aware datetime of the element sets (time 0).
            raan_spread_deg: [deg] RAAN span of the planes, in (0, 360].
            name_prefix: names are ``f"{name_prefix}-{p}-{k}"``; give each shell its own prefix to keep
                names unique after :meth:`combine`.
            raan_offset_deg: [deg] RAAN of plane 0.
        """
        _check_walker_args(planes, sats_per_plane, altitude_km, inclination_deg, phasing, epoch, raan_spread_deg)
        jd, fr = datetime_to_jd(epoch)  # rejects naive datetimes

        P, S = int(planes), int(sats_per_plane)
        p, k = np.divmod(np.arange(P * S), S)
        raan = np.deg2rad(np.mod(raan_offset_deg + p * raan_spread_deg / P, 360.0))
        u = np.deg2rad(np.mod(360.0 * k / S + 360.0 * phasing * p / (P * S), 360.0))
        a_km = EARTH_RADIUS_EQ_KM + float(altitude_km)
        n_rad_min = math.sqrt(MU_EARTH_KM3_S2 / a_km**3) * 60.0
        N = P * S
        elements = {
            "satnum": np.arange(1, N + 1),
            "epoch_days": np.full(N, (jd - _JD_SGP4_EPOCH0) + fr),
            "bstar": np.zeros(N),
            "ndot": np.zeros(N),
            "nddot": np.zeros(N),
            "ecco": np.zeros(N),
            "argpo": np.zeros(N),
            "inclo": np.full(N, math.radians(inclination_deg)),
            "mo": u,
            "no_kozai": np.full(N, n_rad_min),
            "nodeo": raan,
        }
        names = [f"{name_prefix}-{pi}-{ki}" for pi, ki in zip(p.tolist(), k.tolist())]
        info = ShellInfo(P, S, int(phasing), float(raan_spread_deg), float(altitude_km), float(inclination_deg), float(raan_offset_deg))
        return cls(elements, names, np.zeros(N, int), p, k, [info], epoch)

    @classmethod
    def from_tle(
        cls,
        path: str | os.PathLike,
        *,
        infer: bool = True,
        keep_non_operational: bool = False,
        min_shell_sats: int = _cat.MIN_SHELL_SATS,
    ) -> "Constellation":
        """Read a 2-line or 3-line (name line first) TLE file and infer its structure.

        Args:
            path: the file: as given when it exists, else ``package:<name>`` or a bare name in the package data
                folder (``package:starlink-2026-05-12.tle`` is the shipped catalogue; see
                :func:`orbitcloud_env.data.resolve_data_path`).
            infer: infer shells, planes, slots and operational flags (:mod:`orbitcloud_env.catalogue`); False keeps
                the raw set (one shell ``None``, plane/slot -1, nearest-neighbour ISLs) for a handful of satellites.
            keep_non_operational: keep satellites outside their shell's band or in no shell as compute nodes.
            min_shell_sats: [-] least satellites of an inferred shell.

        The result is cached per (file, modification time, size, arguments): a second load of the same catalogue
        costs nothing, and its warnings are emitted once.

        Raises:
            TLEError: naming the file and line for bad records, duplicate catalogue numbers, or no usable shell.
        """
        try:
            resolved = resolve_data_path(path)
        except OSError as exc:  # no such file, or not a regular file
            raise TLEError(os.fspath(path), 0, str(exc)) from None
        st = resolved.stat()
        return _load_tle_cached(str(resolved), st.st_mtime_ns, st.st_size, bool(infer), bool(keep_non_operational),
                                int(min_shell_sats))

    @classmethod
    def from_tle_text(
        cls,
        text: str,
        source: str = "<string>",
        *,
        infer: bool = False,
        keep_non_operational: bool = False,
        min_shell_sats: int = _cat.MIN_SHELL_SATS,
    ) -> "Constellation":
        """Parse TLE text (2-line or 3-line records, may be mixed; blank lines ignored).

        A 3-line record's name line may carry the ``"0 "`` prefix of the Space-Track 3LE format; a leading UTF-8
        byte-order mark is dropped. Records without a name are named by their catalogue number. With
        ``infer=False`` (the default here) the result is one shell with unknown plane/slot (-1) and
        ``shells == [None]``; with ``infer=True`` as :meth:`from_tle`. The epoch is the latest TLE epoch.

        Raises:
            TLEError: naming ``source`` and the 1-based line for a bad checksum, a truncated or malformed line, a
                line-1/line-2 catalogue number mismatch, a catalogue number seen twice, non-ASCII characters in a
                TLE line, text without any satellite, or (``infer=True``) no usable shell.
        """
        recs = _parse_tle_records(text, source)
        sats = [s for _, s, _ in recs]
        elements = _sgp4_elements(sats)
        # A record SGP4 rejects (e.g. decayed: mean motion 17.5 rev/day) is kept, set aside as not operational; the
        # epoch is the latest of the records SGP4 accepts.
        accepted = [s for s in sats if not s.error] or sats
        latest = max(accepted, key=lambda s: s.jdsatepoch + s.jdsatepochF)
        epoch = jd_to_datetime(latest.jdsatepoch, latest.jdsatepochF)
        n = len(sats)
        names = [nm for nm, _, _ in recs]
        raw_set = cls(elements, names, np.zeros(n, int), np.full(n, -1), np.full(n, -1), [None], epoch)
        if not infer:
            bad = [i for i, s in enumerate(sats) if s.error]
            if bad:
                i = bad[0]
                warnings.warn(f"{source}: {len(bad)} record(s) SGP4 rejects at their own epoch (first: {names[i]!r} "
                              f"line {recs[i][2]}: {SGP4_ERRORS.get(sats[i].error, sats[i].error)}); they propagate "
                              "as failed (ok False)", _cat.CatalogueWarning, stacklevel=2)
            return raw_set
        return raw_set._inferred(np.array([ln for _, _, ln in recs]), source, keep_non_operational, min_shell_sats)

    def _inferred(self, lines: NDArray[np.int64], source: str, keep_non_operational: bool, min_shell_sats: int) -> "Constellation":
        """This raw TLE set with its structure inferred (:func:`orbitcloud_env.catalogue.infer_structure`)."""
        sats = self._satrecs
        secular = {
            "nodedot": np.array([s.nodedot for s in sats]),
            "argpdot": np.array([s.argpdot for s in sats]),
            "mdot": np.array([s.mdot for s in sats]),
            "a_km": np.array([s.a * s.radiusearthkm for s in sats]),
            "radius_km": np.array([s.radiusearthkm for s in sats]),
        }
        err, r, _, _, _ = self._propagate_teme(0.0)
        finite = np.isfinite(r[0]).all(axis=1)
        code = np.where(finite, err[0], np.where(err[0] != 0, err[0], -1))  # -1: no error code, no finite position
        # At each element set's own epoch: a record SGP4 rejects (error at init, or a non-finite position).
        own = np.array([s.error or (0 if np.isfinite(s.sgp4_tsince(0.0)[1]).all() else -1) for s in sats])
        jd, fr = self._epoch_jd
        try:
            st = _cat.infer_structure(
                self._elements, secular, (jd - _JD_SGP4_EPOCH0) + fr, code == 0, min_shell_sats=min_shell_sats,
                keep_non_operational=keep_non_operational, source=source, lines=lines, names=self._names,
                sgp4_code=code, init_code=own,
            )
        except ValueError as exc:
            raise TLEError(source, int(lines[-1]) + 1 if lines.size else 1, str(exc).removeprefix(f"{source}: ")) from None
        return Constellation(
            self._elements, self._names, st.shell, st.plane, st.slot, list(st.shells), self._epoch,
            _satrecs=self._satrecs, operational=st.operational, status=st.status, u_deg=st.u_deg,
        )

    @classmethod
    def from_config(cls, config: ConstellationConfig) -> "Constellation":
        """The constellation of a scenario's ``constellation`` section: its TLE file (structure inferred, see
        :meth:`from_tle`) when ``tle_path`` is set, else its Walker shells combined (shell i named ``S{i}-``).

        Reads ``keep_non_operational`` (default False) and ``min_shell_sats`` (default
        ``catalogue.MIN_SHELL_SATS``) when the config has them.
        """
        if not isinstance(config, ConstellationConfig):
            raise ValueError(f"config: expected a ConstellationConfig, got {type(config).__name__}")
        if config.tle_path is not None:
            return cls.from_tle(
                config.tle_path, keep_non_operational=bool(getattr(config, "keep_non_operational", False)),
                min_shell_sats=int(getattr(config, "min_shell_sats", _cat.MIN_SHELL_SATS)),
            )
        shells = [
            cls.walker_delta(s.planes, s.sats_per_plane, s.altitude_km, s.inclination_deg, phasing=s.phasing,
                             epoch=config.epoch, raan_spread_deg=s.raan_spread_deg, name_prefix=f"S{i}-")
            for i, s in enumerate(config.shells)
        ]
        return shells[0] if len(shells) == 1 else cls.combine(*shells)

    @classmethod
    def combine(cls, *constellations: "Constellation") -> "Constellation":
        """Concatenate constellations (shells) in order; satellite ids follow that order.

        Shell indices are offset so each input shell stays distinct. The epoch of the result is the
        latest input epoch. Names are kept as given (they repeat if two inputs used the same prefix); a catalogue
        number already used by an earlier input is replaced by the next unused number above the largest.
        """
        if not constellations:
            raise ValueError("constellations: combine needs at least one Constellation")
        for c in constellations:
            if not isinstance(c, Constellation):
                raise ValueError(f"constellations: expected Constellation instances, got {type(c).__name__}")
        elements = {k: np.concatenate([c._elements[k] for c in constellations]) for k in _ELEMENT_FIELDS}
        satrecs: list[Satrec] | None = [s for c in constellations for s in c._satrecs]
        num = elements["satnum"]
        if np.unique(num).size != num.size:
            # Generated shells all number from 1: renumber repeats after the largest number, so that the set
            # exports to a TLE file without duplicate catalogue numbers (and rebuild the element sets to match).
            _, first = np.unique(num, return_index=True)
            dup = np.ones(num.size, bool)
            dup[first] = False
            num = num.copy()
            num[dup] = num.max() + 1 + np.arange(int(dup.sum()))
            elements["satnum"] = num
            satrecs = None
        names: list[str] = []
        shell, shells = [], []
        for c in constellations:
            shell.append(c._shell + len(shells))
            shells.extend(c._shells)
            names.extend(c._names)
        epoch = max(c.epoch for c in constellations)
        return cls(
            elements, names, np.concatenate(shell), np.concatenate([c._plane for c in constellations]),
            np.concatenate([c._slot for c in constellations]), shells, epoch,
            _satrecs=satrecs,
            operational=np.concatenate([c._operational for c in constellations]),
            status=[x for c in constellations for x in c._status],
            u_deg=np.concatenate([c._u_deg for c in constellations]),
        )

    def subset(self, indices: ArrayLike) -> "Constellation":
        """The satellites ``indices`` (in that order) as a constellation on the same epoch and clock.

        The SGP4 records are shared, not rebuilt, and each satellite propagates on its own, so propagating the
        subset gives exactly (bit for bit) those satellites' rows of the whole set's propagation, for a fraction
        of the cost. Shell metadata is kept whole (shell indices stay valid).
        """
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices: expected a non-empty 1-D array of satellite indices, got {indices!r}")
        n = len(self)
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"indices: satellite indices must lie in [0, {n}), got {idx.min()}..{idx.max()}")
        return Constellation(
            {k: v[idx] for k, v in self._elements.items()}, [self._names[i] for i in idx], self._shell[idx],
            self._plane[idx], self._slot[idx], self._shells, self._epoch,
            _satrecs=[self._satrecs[i] for i in idx], operational=self._operational[idx],
            status=[self._status[i] for i in idx], u_deg=self._u_deg[idx])

    def __add__(self, other: "Constellation") -> "Constellation":
        if not isinstance(other, Constellation):
            return NotImplemented
        return Constellation.combine(self, other)

    # ------------------------------------------------------------------------------------ attributes
    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Constellation(n={len(self)}, shells={len(self._shells)}, epoch={self._epoch.isoformat()})"

    @property
    def names(self) -> list[str]:
        """Satellite names (a fresh list)."""
        return list(self._names)

    @property
    def epoch(self) -> _dt.datetime:
        """Aware UTC datetime of time 0 of the seconds clock."""
        return self._epoch

    @property
    def shell(self) -> NDArray[np.int64]:
        """(N,) shell index of each satellite (read-only)."""
        return self._shell

    @property
    def plane(self) -> NDArray[np.int64]:
        """(N,) plane index within the shell, -1 when unknown (read-only)."""
        return self._plane

    @property
    def slot(self) -> NDArray[np.int64]:
        """(N,) slot index within the plane, -1 when unknown (read-only)."""
        return self._slot

    @property
    def shells(self) -> list[ShellInfo | None]:
        """Per-shell metadata; None for a TLE shell."""
        return list(self._shells)

    @property
    def operational(self) -> NDArray[np.bool_]:
        """(N,) bool: used as mesh and compute node (read-only). False for catalogue satellites outside their
        shell's altitude band, in no meshable shell, with an SGP4 error or stale elements (see :attr:`status`)."""
        return self._operational

    @property
    def status(self) -> tuple[str, ...]:
        """N reasons, ``"operational"`` or why the satellite is not (see :mod:`orbitcloud_env.catalogue`)."""
        return self._status

    @property
    def u_deg(self) -> NDArray[np.float64]:
        """(N,) [deg] argument of latitude at the epoch of inferred catalogue satellites (NaN otherwise)."""
        return self._u_deg

    def u_deg_at(self, time_s: float) -> NDArray[np.float64]:
        """(N,) [deg] mean argument of latitude at ``time_s`` [s since epoch] from the epoch's value and SGP4's
        secular rates (``argpdot + mdot``); NaN where :attr:`u_deg` is NaN (not inferred)."""
        if self._u_rate is None:
            self._u_rate = np.rad2deg(np.array([s.argpdot + s.mdot for s in self._satrecs]))  # [deg/min]
        return (self._u_deg + self._u_rate * (float(time_s) / 60.0)) % 360.0

    def status_counts(self) -> dict[str, int]:
        """Number of satellites per :attr:`status` reason."""
        out: dict[str, int] = {}
        for x in self._status:
            out[x] = out.get(x, 0) + 1
        return out

    def shell_summary(self) -> list[dict]:
        """Per shell: index, kind (walker/catalogue/raw), planes, sats_per_plane, altitude_km [km],
        inclination_deg [deg], satellites and operational satellites."""
        out = []
        for s, info in enumerate(self._shells):
            members = self._shell == s
            row = {"shell": s, "satellites": int(members.sum()), "operational": int((members & self._operational).sum())}
            if info is None:
                row.update(kind="raw", planes=None, sats_per_plane=None, altitude_km=None, inclination_deg=None)
            else:
                row.update(kind="catalogue" if isinstance(info, CatalogueShell) else "walker", planes=info.planes,
                           sats_per_plane=info.sats_per_plane, altitude_km=info.altitude_km,
                           inclination_deg=info.inclination_deg)
            out.append(row)
        return out

    @property
    def satnums(self) -> NDArray[np.int64]:
        """(N,) NORAD catalogue numbers (1..N for generated shells)."""
        return self._elements["satnum"]

    @property
    def period_s(self) -> NDArray[np.float64]:
        """(N,) [s] orbital period ``2*pi/n`` from the (Kozai) mean motion n of each element set."""
        return 2.0 * np.pi / (self._elements["no_kozai"] / 60.0)

    # ------------------------------------------------------------------------------------ propagation
    def _jd_fr(self, when: TimeLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
        jd0, fr0 = self._epoch_jd
        if isinstance(when, _dt.datetime):
            jd, fr = datetime_to_jd(when)
            return np.array([jd]), np.array([fr]), True
        t = np.asarray(when, dtype=np.float64)
        if t.ndim > 1:
            raise ValueError(f"when: expected a datetime, a number of seconds or a 1-D array of seconds, got shape {t.shape}")
        if not np.all(np.isfinite(t)):
            raise ValueError("when: seconds since epoch must be finite")
        scalar = t.ndim == 0
        t = np.atleast_1d(t)
        return np.full(t.shape, jd0), fr0 + t / SECONDS_PER_DAY, scalar

    def _propagate_teme(self, when: TimeLike):
        jd, fr, scalar = self._jd_fr(when)
        err, r, v = self._array.sgp4(jd, fr)  # (N, T), (N, T, 3)
        gmst = gmst_rad(jd, fr)[:, None]  # (T, 1); UT1 ~ UTC
        r = np.swapaxes(r, 0, 1)  # (T, N, 3)
        v = np.swapaxes(v, 0, 1)
        err = err.T  # (T, N)
        return err, r, v, gmst, scalar

    def _raise_errors(self, err: NDArray) -> None:
        bad = np.nonzero(err.any(axis=0))[0]
        if bad.size:
            parts = []
            for i in bad[:10]:
                code = int(err[:, i][err[:, i] != 0][0])
                parts.append(f"{self._names[i]} (index {i}): sgp4 error {code}, {SGP4_ERRORS.get(code, 'unknown')}")
            more = f" and {bad.size - 10} more" if bad.size > 10 else ""
            raise PropagationError(
                f"SGP4 failed for {bad.size} satellite(s): " + "; ".join(parts) + more
                + ". Pass on_error='mask' or use propagate() to get a validity mask instead."
            )

    @staticmethod
    def _check_on_error(on_error: str) -> None:
        if on_error not in ("raise", "mask"):
            raise ValueError(f"on_error: must be 'raise' or 'mask', got {on_error!r}")

    def propagate(self, when: TimeLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Positions, velocities and validity at ``when``; never raises for a per-satellite SGP4 error.

        Args:
            when: aware datetime, [s] seconds since ``epoch`` (scalar), or a 1-D array of seconds.

        Returns:
            (pos_ecef_km, vel_ecef_km_s, ok): [km] (N, 3) Earth-fixed positions, [km/s] (N, 3) Earth-fixed
            velocities (relative to the rotating Earth) and (N,) bool; with (T, N, 3) / (T, N) leading time
            axes for an array ``when``. Failed rows are zeros (never NaN) with ``ok`` False.
        """
        err, r, v, gmst, scalar = self._propagate_teme(when)
        ok = err == 0
        if not ok.all():
            r = np.where(ok[..., None], r, 0.0)
            v = np.where(ok[..., None], v, 0.0)
        pos = teme_to_ecef(r, gmst)
        vel = teme_to_ecef_velocity(r, v, gmst)
        if scalar:
            return pos[0], vel[0], ok[0]
        return pos, vel, ok

    def positions_ecef(self, when: TimeLike, on_error: Literal["raise", "mask"] = "raise") -> NDArray[np.float64]:
        """[km] Earth-fixed (ITRF/WGS84 axes) positions, (N, 3) or (T, N, 3) for a 1-D array of seconds.

        Args:
            when: aware datetime, [s] seconds since ``epoch``, or a 1-D array of seconds.
            on_error: ``"raise"`` raises :class:`PropagationError` naming the failed satellites and sgp4's
                message; ``"mask"`` returns zeros for failed rows (see :meth:`propagate` for the mask).
        """
        self._check_on_error(on_error)
        err, r, _, gmst, scalar = self._propagate_teme(when)
        if on_error == "raise":
            self._raise_errors(err)
        elif err.any():
            r = np.where((err == 0)[..., None], r, 0.0)
        pos = teme_to_ecef(r, gmst)
        return pos[0] if scalar else pos

    def velocities_ecef(self, when: TimeLike, on_error: Literal["raise", "mask"] = "raise") -> NDArray[np.float64]:
        """[km/s] Earth-fixed velocities (relative to the rotating Earth); shapes as :meth:`positions_ecef`."""
        self._check_on_error(on_error)
        err, r, v, gmst, scalar = self._propagate_teme(when)
        if on_error == "raise":
            self._raise_errors(err)
        elif err.any():
            ok = (err == 0)[..., None]
            r, v = np.where(ok, r, 0.0), np.where(ok, v, 0.0)
        vel = teme_to_ecef_velocity(r, v, gmst)
        return vel[0] if scalar else vel

    def subpoints(self, when: TimeLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(lat_deg, lon_deg, alt_km): [deg] geodetic latitude, [deg] longitude, [km] height above WGS84.

        Raises :class:`PropagationError` if SGP4 fails for a satellite.
        """
        return ecef_to_geodetic(self.positions_ecef(when))

    # ------------------------------------------------------------------------------------ export
    def to_tle(self) -> str:
        """3-line TLE text (name line, line 1, line 2) with valid checksums, one record per satellite.

        Field precision (1e-4 deg angles, 1e-8 rev/day mean motion, 1e-8 day epoch) keeps a round trip
        through :meth:`from_tle_text` within metres of the original positions.
        """
        out = []
        for name, s in zip(self._names, self._satrecs):
            l1, l2 = export_tle(s)
            out.append(f"{name[:24]}\n{l1}\n{l2}")
        return "\n".join(out) + "\n"


@functools.lru_cache(maxsize=8)
def _load_tle_cached(path: str, mtime_ns: int, size: int, infer: bool, keep: bool, min_shell_sats: int) -> Constellation:
    """Parse and infer once per (file, version, arguments); Constellation is immutable, so sharing is safe."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TLEError(path, line, f"not UTF-8/ASCII text (byte {data[exc.start]:#04x} at offset {exc.start})") from None
    return Constellation.from_tle_text(text, source=path, infer=infer, keep_non_operational=keep,
                                       min_shell_sats=min_shell_sats)


def _parse_tle_records(text: str, source: str) -> list[tuple[str, Satrec, int]]:
    """:meth:`Constellation.from_tle_text`'s records: (name, parsed element set, 1-based line of TLE line 1) each,
    checked as its docstring says (raises :class:`TLEError`)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    raw = text.splitlines()
    lines = [(i + 1, ln.rstrip()) for i, ln in enumerate(raw) if ln.strip()]
    recs: list[tuple[str, Satrec, int]] = []
    seen: dict[int, int] = {}
    i = 0
    while i < len(lines):
        name, i = _tle_name(lines, i, source)
        lineno, ln = lines[i]
        sat = _tle_pair(lines, i, source)
        if sat.satnum in seen:
            raise TLEError(source, lineno, f"duplicate catalogue number {sat.satnum} (first at line {seen[sat.satnum]}); "
                           "rule: one element set per satellite (keep the newest)")
        seen[sat.satnum] = lineno
        recs.append((name if name else ln[2:7].strip(), sat, lineno))
        i += 2
    if not recs:
        raise TLEError(source, len(raw) + 1, "no satellites found (empty or blank text)")
    return recs


def _tle_name(lines: list[tuple[int, str]], i: int, source: str) -> tuple[str | None, int]:
    """The name of the record starting at ``lines[i]`` (None when it starts with TLE line 1) and the index of its
    TLE line 1."""
    lineno, ln = lines[i]
    next_is_2 = i + 1 < len(lines) and lines[i + 1][1].startswith("2 ")
    if ln.startswith("1 ") and (len(ln) >= 60 or next_is_2):
        return None, i  # TLE line 1 (a truncated one is reported by _tle_pair)
    if ln.startswith("2 ") and len(ln) >= 60:
        raise TLEError(source, lineno, "TLE line 2 without a preceding line 1")
    name = ln[2:].strip() if ln.startswith("0 ") else ln.strip()
    i += 1
    if i >= len(lines):
        raise TLEError(source, lineno + 1, f"truncated record: name line {name!r} is not followed by TLE line 1")
    lineno, ln = lines[i]
    if not ln.startswith("1"):
        raise TLEError(source, lineno, f"malformed record: expected TLE line 1 after name line, got {ln[:20]!r}")
    return name, i


def _tle_pair(lines: list[tuple[int, str]], i: int, source: str) -> Satrec:
    """The element set of TLE lines ``lines[i]`` and ``lines[i + 1]``, both checked (ASCII, format, checksum, one
    catalogue number)."""
    lineno, ln = lines[i]
    if not ln.isascii():
        raise TLEError(source, lineno, f"non-ASCII characters in TLE line 1 (TLE lines are ASCII): {ln!r}")
    _check_tle_line(ln, "1", source, lineno)
    if i + 1 >= len(lines):
        raise TLEError(source, lineno + 1, "truncated record: TLE line 1 is not followed by line 2")
    lineno2, ln2 = lines[i + 1]
    if not ln2.startswith("2"):
        raise TLEError(source, lineno2, f"malformed record: expected TLE line 2, got {ln2[:20]!r}")
    if not ln2.isascii():
        raise TLEError(source, lineno2, f"non-ASCII characters in TLE line 2 (TLE lines are ASCII): {ln2!r}")
    _check_tle_line(ln2, "2", source, lineno2)
    if ln[2:7] != ln2[2:7]:
        raise TLEError(source, lineno2, f"satellite number mismatch: line 1 has {ln[2:7]!r}, line 2 has {ln2[2:7]!r}")
    try:
        return Satrec.twoline2rv(ln, ln2, WGS72)
    except Exception as exc:  # sgp4's parser raises ValueError/IndexError on bad fields
        raise TLEError(source, lineno, f"malformed TLE record: {exc}") from exc


def _sgp4_elements(sats: list[Satrec]) -> dict[str, list]:
    """The mean elements of parsed element sets, as :class:`Constellation` takes them."""
    return {
        "satnum": [s.satnum for s in sats],
        "epoch_days": [(s.jdsatepoch - _JD_SGP4_EPOCH0) + s.jdsatepochF for s in sats],
        "bstar": [s.bstar for s in sats],
        "ndot": [s.ndot for s in sats],
        "nddot": [s.nddot for s in sats],
        "ecco": [s.ecco for s in sats],
        "argpo": [s.argpo for s in sats],
        "inclo": [s.inclo for s in sats],
        "mo": [s.mo for s in sats],
        "no_kozai": [s.no_kozai for s in sats],
        "nodeo": [s.nodeo for s in sats],
    }
