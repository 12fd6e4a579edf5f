"""Catalogues as they come (issue 21): star patterns with staggered planes, neighbouring shells, records to set aside
(decayed, GEO, MEO, SGP4-rejected, stale), non-regular files. The catalogues are synthetic
(``benchmarks/synthetic_catalogues.py``: Walker shells written to TLE, then jittered and mixed with junk records)."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from benchmarks.synthetic_catalogues import JUNK_KINDS, oneweb_like, starlink2023_like
from orbitcloud_env import catalogue as cat
from orbitcloud_env.catalogue import CatalogueWarning
from orbitcloud_env.config import ConfigError, ConstellationConfig
from orbitcloud_env.constellation import Constellation, TLEError
from orbitcloud_env.network import plus_grid_isls

#: Status of each set-aside junk kind once loaded.
JUNK_STATUS = {
    "decayed": cat.STATUS_DECAYED,
    "geo": cat.STATUS_GEO,
    "meo": cat.STATUS_MEO,
    "rejected": cat.STATUS_SGP4_REJECTED,
    "stale": cat.STATUS_STALE,
}


def _load(text: str, source: str = "synthetic.tle") -> tuple[Constellation, list[str]]:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        c = Constellation.from_tle_text(text, source=source, infer=True)
    assert all(issubclass(w.category, CatalogueWarning) for w in rec)
    return c, [str(w.message) for w in rec]


def _same_partition(true: np.ndarray, inferred: np.ndarray) -> bool:
    pairs = set(zip(true.tolist(), inferred.tolist()))
    return len(pairs) == len(set(true.tolist())) == len(set(inferred.tolist()))


def _check_shell(c: Constellation, truth: dict, kind: str, pairs: np.ndarray) -> int:
    """Asserts that the records of ``kind`` form one inferred shell, within 1 %, with its planes; returns it."""
    m = truth["kind"] == kind
    shells = np.unique(c.shell[m & c.operational])
    assert shells.size == 1, f"{kind} spread over shells {shells}"
    s = int(shells[0])
    info = c.shells[s]
    assert info.n_operational == pytest.approx(m.sum(), rel=0.01)  # kept within 1 % of its satellites
    assert c.operational[m].mean() >= 0.99
    true_planes = np.unique(truth["plane"][m])
    assert info.planes == true_planes.size
    per_plane = np.median(np.bincount(truth["plane"][m]))
    assert abs(info.sats_per_plane - per_plane) <= 1  # planes x slots within one slot
    both = m & c.operational & (c.shell == s)
    assert _same_partition(truth["plane"][both], c.plane[both])
    deg = np.bincount(pairs.ravel(), minlength=len(c))
    assert np.mean(deg[m] >= 3) >= 0.85  # operational and meshed
    return s


# ------------------------------------------------------------------------------------------ OneWeb-like star
@pytest.mark.parametrize("stagger_km, raan_offset_deg, raan_sd_deg", [
    (3.0, 0.0, 0.2), (4.0, 355.0, 0.2), (0.0, 180.0, 0.2), (0.0, 90.0, 1.0)])
def test_oneweb_like_star_with_staggered_planes_is_twelve_planes_with_an_open_seam(stagger_km, raan_offset_deg,
                                                                                   raan_sd_deg):
    # 3 km steps: each plane its own 1 km altitude peak (the 2026 inference kept 2 planes of 54, 109 of 655);
    # 4 km: planes over 44 km, more than MERGE_KM (gathered in a chain); 355 deg: plane 0 straddles 0/360 deg;
    # 1 deg of RAAN spread per plane: the 180 deg seam outweighs the jump to the 15 deg plane spacing (one plane of
    # 655 in the 2026 inference).
    text, truth = oneweb_like(seed=3, stagger_km=stagger_km, raan_offset_deg=raan_offset_deg, raan_sd_deg=raan_sd_deg)
    c, _ = _load(text)
    pairs = plus_grid_isls(c)
    s = _check_shell(c, truth, "shell0", pairs)
    info = c.shells[s]
    assert [x.meshable for x in c.shells].count(True) == 1
    assert info.pattern == "star" and not info.closed_seam
    assert info.inclination_deg == pytest.approx(87.9, abs=0.02)
    # The seam is the one unlinked gap, between the last plane and plane 0 (numbered after the widest gap).
    assert info.plane_links == (True,) * 11 + (False,)
    gaps = np.diff(np.array(info.plane_raan_deg)) % 360.0
    assert np.allclose(gaps, 15.0, atol=1.0 + raan_sd_deg)
    # No cross-seam links: planes 0 and 11 counter-rotate.
    pl = c.plane[pairs]
    assert not np.any((np.minimum(pl[:, 0], pl[:, 1]) == 0) & (np.maximum(pl[:, 0], pl[:, 1]) == 11))
    assert np.all(np.abs(pl[:, 0] - pl[:, 1]) <= 2)
    # One mesh, and no junk record in it.
    op = np.nonzero(c.operational)[0]
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(c), len(c)))
    assert np.unique(connected_components(g, directed=False)[1][op]).size == 1
    assert not c.operational[truth["kind"] != "shell0"].any()


# ------------------------------------------------------------------------------------------ neighbouring shells
@pytest.mark.parametrize("kw", [
    {},  # 72 x 22 each, 550 km / 53.0 deg and 540 km / 53.2 deg
    {"planes": 36, "sats_per_plane": 12, "fill": (11, 12), "altitude_sd_km": 3.0},  # altitudes overlap
    {"planes": 36, "sats_per_plane": 12, "fill": (11, 12), "altitudes_km": (550.0, 550.0)},  # one altitude
], ids=["10km-apart", "overlapping", "same-altitude"])
def test_neighbouring_shells_0_2_deg_apart_are_both_recovered_among_junk(kw):
    text, truth = starlink2023_like(seed=5, **kw)
    c, _ = _load(text)
    pairs = plus_grid_isls(c)
    s0 = _check_shell(c, truth, "shell0", pairs)
    s1 = _check_shell(c, truth, "shell1", pairs)
    assert s0 != s1
    assert c.shells[s0].inclination_deg == pytest.approx(53.0, abs=0.02)
    assert c.shells[s1].inclination_deg == pytest.approx(53.2, abs=0.02)
    assert c.shells[s0].pattern == c.shells[s1].pattern == "delta"
    assert not c.operational[~np.char.startswith(truth["kind"], "shell")].any()
    assert np.all(c.shell[pairs[:, 0]] == c.shell[pairs[:, 1]])  # the +Grid stays within each shell


# ------------------------------------------------------------------------------------------ records set aside
def test_every_set_aside_reason_is_warned_once_with_count_first_record_and_line():
    text, truth = oneweb_like(seed=1)
    c, msgs = _load(text, source="junk.tle")
    for kind in JUNK_KINDS:
        m = truth["kind"] == kind
        assert not c.operational[m].any()
        if kind == "raising":  # not set aside: below the shell's band, or far below it
            assert {c.status[i] for i in np.nonzero(m)[0]} <= {cat.STATUS_OUT_OF_BAND, cat.STATUS_NO_SHELL}
            continue
        assert {c.status[i] for i in np.nonzero(m)[0]} == {JUNK_STATUS[kind]}
        hits = [x for x in msgs if f", {JUNK_STATUS[kind]} (first:" in x]
        assert len(hits) == 1, (kind, hits)
        first = int(np.nonzero(m)[0][0])
        # Record i (file order) has its name on line 3i+1 and TLE line 1 on line 3i+2.
        assert re.match(rf"junk\.tle: {m.sum()} record\(s\) set aside", hits[0])
        assert f"'{truth['name'][first]}' line {3 * first + 2}" in hits[0]
    assert sum("set aside" in x for x in msgs) == len(JUNK_KINDS) - 1


def test_records_sgp4_rejects_no_longer_sink_the_file_and_propagate_as_failed():
    good = Constellation.walker_delta(8, 8, 550.0, 53.0).to_tle()
    lines = good.splitlines()
    l2 = lines[2][:52] + "17.50000000" + lines[2][63:68]  # decayed: SGP4 error 6 at the epoch
    l2 += str(sum(int(ch) if ch.isdigit() else (1 if ch == "-" else 0) for ch in l2) % 10)
    text = "\n".join([lines[0], lines[1], l2, *lines[3:]]) + "\n"
    with pytest.warns(CatalogueWarning, match=r"1 record\(s\) set aside as not operational, decayed .*'SAT-0-0' line 2"):
        c = Constellation.from_tle_text(text, source="decayed.tle", infer=True, min_shell_sats=30)
    assert c.status[0] == cat.STATUS_DECAYED and c.operational[1:].all() and not c.operational[0]
    with pytest.warns(CatalogueWarning, match=r"decayed\.tle: 1 record\(s\) SGP4 rejects .*'SAT-0-0' line 2"):
        raw = Constellation.from_tle_text(text, source="decayed.tle")
    pos, _, ok = raw.propagate(0.0)
    assert not ok[0] and ok[1:].all() and np.isfinite(pos).all()
    # A negative mean motion: SGP4 reports no error but returns NaN; set aside as rejected, not a NaN node.
    l2 = lines[2][:52] + "-1.0000000 " + lines[2][63:68]
    l2 += str(sum(int(ch) if ch.isdigit() else (1 if ch == "-" else 0) for ch in l2) % 10)
    text = "\n".join([lines[0], lines[1], l2, *lines[3:]]) + "\n"
    with pytest.warns(CatalogueWarning, match="elements SGP4 rejects at their own epoch"):
        nan = Constellation.from_tle_text(text, source="nan.tle", infer=True, min_shell_sats=30)
    assert nan.status[0] == cat.STATUS_SGP4_REJECTED and nan.operational[1:].all()


def test_a_file_of_nothing_but_set_aside_records_is_still_an_error():
    text, truth = oneweb_like(seed=2)
    lines = text.splitlines()
    keep = [i for i, k in enumerate(truth["kind"]) if k in ("decayed", "geo", "meo", "rejected")]
    junk = "\n".join("\n".join(lines[3 * i: 3 * i + 3]) for i in keep) + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        with pytest.raises(TLEError, match=r"only-junk\.tle.*no usable shell"):
            Constellation.from_tle_text(junk, source="only-junk.tle", infer=True)


# ------------------------------------------------------------------------------------------ non-regular files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_device_and_folder_are_refused_as_not_a_regular_file(tmp_path):
    fifo = tmp_path / "catalogue.tle"
    os.mkfifo(fifo)  # opening it would block: the check must only stat it
    for path in (fifo, "/dev/zero", tmp_path):
        if not os.path.exists(path):
            continue
        with pytest.raises(TLEError, match="not a regular file"):
            Constellation.from_tle(path)
        with pytest.raises(ConfigError, match=r"tle_path: .*not a regular file"):
            ConstellationConfig(tle_path=str(path))
    with pytest.raises(TLEError, match="no such file"):
        Constellation.from_tle(tmp_path / "missing.tle")


# ------------------------------------------------------------------------------------------ report
def test_catalogue_report_prints_shells_reasons_degrees_and_mesh_pieces(tmp_path, capsys):
    from benchmarks import catalogue_report

    path = tmp_path / "oneweb.tle"
    assert catalogue_report.main(["--synthetic", "oneweb", "--seed", "3", "--write", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+0\s+87\.90\s+\d+\s+[\d-]+\s+12 x 5\d\s+star\s+6\d\d\s+6\d\d$", out, re.M)
    for reason in (*JUNK_STATUS.values(), cat.STATUS_NO_SHELL):
        assert reason in out
    assert "ISL degree of the operational satellites" in out and "4: " in out
    assert "+Grid only 1, with inter-shell bridges 1" in out
    assert [p.name for p in tmp_path.iterdir()] == ["oneweb.tle"]  # no temporary file left
    assert catalogue_report.main([str(path)]) == 0  # the written file reads back the same
    assert re.search(r"12 x 5\d\s+star", capsys.readouterr().out)
    assert catalogue_report.main([str(tmp_path / "missing.tle")]) == 2
    assert "no such file" in capsys.readouterr().err
