"""Tests for orbitcloud_env.catalogue: structure inferred from TLE sets (synthetic Walker sets, where the planes are
known), operational flags, the per-bucket sanity gate, bad input. The shipped 2026-05-12 Starlink catalogue (its
shells, mesh, re-pairing and positions): tests/integration/test_shipped_catalogue.py."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from orbitcloud_env.catalogue import CatalogueShell, CatalogueWarning
from orbitcloud_env.constants import EARTH_RADIUS_EQ_KM
from orbitcloud_env.constellation import Constellation, TLEError
from orbitcloud_env.network import Network, plus_grid_isls, satellite_faults
from tests.graph_helpers import components, pairs_set

UTC = dt.timezone.utc
EPOCH = dt.datetime(2026, 5, 12, tzinfo=UTC)


def _checksum(line: str) -> str:
    return str(sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10)


def _same_partition(true: np.ndarray, inferred: np.ndarray) -> bool:
    pairs = set(zip(true.tolist(), inferred.tolist()))
    return len(pairs) == len(set(true.tolist())) == len(set(inferred.tolist()))


# ------------------------------------------------------------------------------------------ synthetic Walker sets
@pytest.fixture(scope="module")
def walker_pair():
    delta = Constellation.walker_delta(24, 20, 550.0, 53.0, phasing=1, epoch=EPOCH, name_prefix="D")
    star = Constellation.walker_delta(6, 11, 780.0, 86.4, phasing=0, raan_spread_deg=180.0, epoch=EPOCH, name_prefix="S")
    truth = delta + star
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean catalogue warns about nothing
        inferred = Constellation.from_tle_text(truth.to_tle(), source="walker.tle", infer=True, min_shell_sats=30)
    return truth, inferred


def test_walker_sets_written_to_tle_recover_shells_planes_and_slots_exactly(walker_pair):
    truth, c = walker_pair
    assert len(c.shells) == 2 and all(isinstance(s, CatalogueShell) for s in c.shells)
    assert c.operational.all() and set(c.status) == {"operational"}
    assert np.array_equal(c.shell, truth.shell)
    for s, (planes, spp, alt, inc) in enumerate([(24, 20, 550.0, 53.0), (6, 11, 780.0, 86.4)]):
        info = c.shells[s]
        assert (info.planes, info.sats_per_plane) == (planes, spp)
        assert info.inclination_deg == pytest.approx(inc, abs=1e-3)
        assert info.altitude_km == pytest.approx(alt, abs=15.0)  # mean (Brouwer) vs Kepler altitude
        m = c.shell == s
        assert _same_partition(truth.plane[m], c.plane[m])
        # Slots: the same cyclic order within each plane (inferred slot 0 is the lowest argument of latitude).
        for p in range(planes):
            pm = m & (truth.plane == p)
            shift = (c.slot[pm] - truth.slot[pm]) % spp
            assert np.all(shift == shift[0])
    assert c.shells[0].closed_seam and not c.shells[1].closed_seam  # delta ring vs counter-rotating star seam


def test_inferred_plus_grid_equals_the_walker_plus_grid(walker_pair):
    truth, c = walker_pair
    assert pairs_set(plus_grid_isls(c)) == pairs_set(plus_grid_isls(truth))
    deg = np.bincount(plus_grid_isls(c).ravel(), minlength=len(c))
    assert np.all(deg[c.shell == 0] == 4)
    assert np.bincount(deg[c.shell == 1]).tolist() == [0, 0, 0, 22, 44]  # star seam planes: 3 links


def test_oneweb_like_polar_star_shell_has_no_cross_seam_links():
    # OneWeb: 18 planes of 40 over ~180 deg of RAAN at 1,200 km, 87.9 deg (del Portillo, Cameron & Crawley, Acta
    # Astronautica 159, 2019); 20 satellites per plane here to keep the test small.
    truth = Constellation.walker_delta(18, 20, 1200.0, 87.9, phasing=0, raan_spread_deg=180.0, epoch=EPOCH)
    c = Constellation.from_tle_text(truth.to_tle(), infer=True)
    info = c.shells[0]
    assert (info.planes, info.sats_per_plane, info.closed_seam) == (18, 20, False)
    assert info.plane_links == (True,) * 17 + (False,)
    assert np.array_equal(c.plane, truth.plane)  # plane 0 follows the seam, as the Walker's
    assert pairs_set(plus_grid_isls(c)) == pairs_set(plus_grid_isls(truth))


def test_partly_filled_planes_are_still_recovered_and_meshed():
    truth = Constellation.walker_delta(24, 20, 550.0, 53.0, phasing=1, epoch=EPOCH)
    lines = truth.to_tle().splitlines()
    keep = np.random.default_rng(7).random(len(truth)) > 0.25  # a quarter of the slots empty
    text = "\n".join("\n".join(lines[3 * i: 3 * i + 3]) for i in np.nonzero(keep)[0]) + "\n"
    c = Constellation.from_tle_text(text, infer=True, min_shell_sats=30)
    assert c.operational.all() and c.shells[0].planes == 24
    assert _same_partition(truth.plane[keep], c.plane)
    pairs = plus_grid_isls(c)
    deg = np.bincount(pairs.ravel(), minlength=len(c))
    # Four terminals each: a satellite of a fuller plane may find every neighbour of a sparser one taken.
    assert deg.max() <= 4 and deg.min() >= 2 and np.mean(deg >= 3) > 0.95 and np.mean(deg == 4) > 0.8
    assert components(pairs, np.arange(len(c)), len(c)) == 1


# ------------------------------------------------------------------------------------------ bad input
def _walker_text(epoch=EPOCH) -> str:
    return Constellation.walker_delta(8, 8, 550.0, 53.0, epoch=epoch).to_tle()


def _set_field(line: str, start: int, text: str) -> str:
    out = line[:start] + text + line[start + len(text):]
    return out[:68] + _checksum(out)


def test_duplicate_catalogue_numbers_are_refused_with_both_lines():
    text = _walker_text()
    rec = "\n".join(text.splitlines()[:3]) + "\n"
    with pytest.raises(TLEError, match=r"duplicate catalogue number 1 \(first at line 2\)") as info:
        Constellation.from_tle_text(text + rec, source="twins.tle")
    assert info.value.line == 8 * 8 * 3 + 2 and "twins.tle" in str(info.value)


def test_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.tle"
    path.write_bytes(b"\xef\xbb\xbf" + _walker_text().encode())
    c = Constellation.from_tle(path, min_shell_sats=30)
    assert c.names[0] == "SAT-0-0"


def test_one_satellite_per_plane_and_no_usable_shell_raise_naming_file_and_rule():
    # 64 satellites, each in its own plane: nothing to mesh.
    c = Constellation.walker_delta(64, 1, 550.0, 53.0, epoch=EPOCH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        with pytest.raises(TLEError, match=r"lonely\.tle.*no usable shell.*median of 3 or more satellites per RAAN plane"):
            Constellation.from_tle_text(c.to_tle(), source="lonely.tle", infer=True, min_shell_sats=30)
    few = Constellation.walker_delta(1, 3, 550.0, 53.0, phasing=0, epoch=EPOCH).to_tle()
    with pytest.raises(TLEError, match=r"few\.tle.*no usable shell in 3 satellites.*infer=False"):
        Constellation.from_tle_text(few, source="few.tle", infer=True)
    # A one-satellite-per-plane shell next to a good one is reported and flagged, not meshed.
    good = Constellation.walker_delta(8, 8, 550.0, 53.0, epoch=EPOCH)
    lonely = Constellation.walker_delta(40, 1, 700.0, 70.0, phasing=0, epoch=EPOCH, name_prefix="L")
    with pytest.warns(CatalogueWarning, match=r"mixed\.tle: shell 1 .*cannot be meshed.*median of 3"):
        both = Constellation.from_tle_text((good + lonely).to_tle(), source="mixed.tle", infer=True, min_shell_sats=30)
    assert both.operational[:64].all() and not both.operational[64:].any()
    assert set(both.status[64:]) == {"in a shell with one satellite per plane (cannot mesh)"}


def test_geo_stale_and_mixed_epoch_satellites_are_flagged_with_reasons():
    good = _walker_text()
    geo = Constellation.walker_delta(1, 1, 1999.0, 0.0, phasing=0, epoch=EPOCH).to_tle().splitlines()
    # Turn it into a GEO element set: mean motion 1.0027 rev/day (columns 53-63 of line 2), number 90001.
    l1 = _set_field(geo[1], 2, "90001")
    l2 = _set_field(_set_field(geo[2], 2, "90001"), 52, " 1.00270000")
    old = Constellation.walker_delta(1, 1, 550.0, 53.0, phasing=0, epoch=dt.datetime(1999, 5, 12, tzinfo=UTC)).to_tle().splitlines()
    o1, o2 = _set_field(old[1], 2, "90002"), _set_field(old[2], 2, "90002")
    text = good + f"GEO\n{l1}\n{l2}\nOLD\n{o1}\n{o2}\n"
    with pytest.warns(CatalogueWarning) as rec:
        c = Constellation.from_tle_text(text, source="mixed.tle", infer=True, min_shell_sats=30)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "older than 30 days" in msgs and "'OLD' line" in msgs and "span" in msgs and "mixed.tle" in msgs
    assert c.status[-2] == "geosynchronous orbit (not LEO)" and c.status[-1] == "stale element set"
    assert "1 record(s) set aside as not operational, geosynchronous orbit (not LEO) (first: 'GEO' line" in msgs
    assert c.operational[:-2].all() and not c.operational[-2:].any()
    snap = Network(c, [0.0], [0.0]).snapshot(0.0)
    assert not snap.sat_ok[-2:].any() and snap.sat_ok[:-2].all()
    assert np.all(plus_grid_isls(c)[:, 1] < len(c) - 2)  # no ISL to either


def test_keep_non_operational_keeps_out_of_band_satellites_as_compute_nodes():
    base = Constellation.walker_delta(8, 8, 550.0, 53.0, epoch=EPOCH)
    low = Constellation.walker_delta(1, 1, 530.0, 53.0, phasing=0, epoch=EPOCH, name_prefix="LOW")
    text = (base + low).to_tle()
    strict = Constellation.from_tle_text(text, infer=True, min_shell_sats=30)
    kept = Constellation.from_tle_text(text, infer=True, min_shell_sats=30, keep_non_operational=True)
    assert strict.status[-1].startswith("outside its shell's altitude or inclination band") and not strict.operational[-1]
    assert kept.operational[-1] and kept.plane[-1] == -1  # a compute node without ISLs
    assert np.all(plus_grid_isls(kept) < len(kept) - 1)


# ------------------------------------------------------------------------------------------ per-bucket gate
def test_satellite_faults_gate_far_slow_and_failed_satellites():
    r = EARTH_RADIUS_EQ_KM + 550.0
    pos = np.array([[r, 0, 0], [1e5, 0, 0], [r, 0, 0], [r, 0, 0], [r, 0, 0], [np.nan, 0, 0]], float)
    vel = np.array([[0, 7.1, 0], [0, 7.1, 0], [0, 1.0, 0], [0, 7.1, 0], [0, 7.1, 0], [0, 7.1, 0]], float)
    ok = np.array([True, True, True, False, True, True])
    op = np.array([True, True, True, True, False, True])
    assert satellite_faults(pos, vel, ok, op).tolist() == [0, 3, 4, 2, 1, 3]


def test_decaying_satellite_is_marked_down_in_every_later_bucket():
    base = Constellation.walker_delta(8, 8, 550.0, 53.0, epoch=EPOCH)
    lines = base.to_tle().splitlines()
    # Satellite 0 with a huge drag term (B* = 0.5 /earth radii, columns 54-61 of line 1) and a 250 km orbit.
    l1 = _set_field(lines[1], 53, " 50000-0")
    l2 = _set_field(lines[2], 52, "16.10000000")
    text = "\n".join([lines[0], l1, l2, *lines[3:]]) + "\n"
    with pytest.warns(CatalogueWarning, match="decaying"):
        c = Constellation.from_tle_text(text, source="decay.tle", infer=True, min_shell_sats=30)
    assert not c.operational[0] and c.status[0].startswith("in no shell")
    # Kept as a compute node on request: the per-bucket gate is then what takes it down once it decays.
    with pytest.warns(CatalogueWarning, match="decaying"):
        kept = Constellation.from_tle_text(text, infer=True, min_shell_sats=30, keep_non_operational=True)
    net = Network(kept, [0.0], [0.0], topology_dt_s=3600.0)
    faults = [int(net.snapshot(3600.0 * h).sat_fault[0]) for h in range(25)]
    assert faults[0] == 0 and faults[-1] in (2, 3, 4)
    assert all(f != 0 for f in faults[faults.index(next(f for f in faults if f)):])  # once down, down for good
    snap = net.snapshot(24 * 3600.0)
    assert not snap.sat_ok[0] and snap.sat_ok[1:].all() and not snap.gsl_visible[:, 0].any()


def test_inferred_constellation_pickles_and_combines_with_walker_shells(walker_pair):
    import pickle

    _, c = walker_pair
    back = pickle.loads(pickle.dumps(c))
    assert back.status == c.status and np.array_equal(back.operational, c.operational)
    assert np.array_equal(back.u_deg, c.u_deg) and back.shells == c.shells
    assert np.array_equal(back.positions_ecef(600.0), c.positions_ecef(600.0))
    both = c + Constellation.walker_delta(4, 4, 600.0, 60.0, epoch=EPOCH, name_prefix="W")
    assert len(both.shells) == 3 and both.operational.all() and np.isnan(both.u_deg[-16:]).all()
    assert np.unique(both.satnums).size == len(both)  # repeated catalogue numbers renumbered
    assert np.bincount(plus_grid_isls(both).ravel()).max() <= 4
