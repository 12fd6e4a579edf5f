"""Large traces: parsed once (one parser, column-wise per block), replayed through lazily built Job records (reset cost independent of size)."""

from __future__ import annotations

import numpy as np
import pytest

from orbitcloud_env import workload as wl_mod
from orbitcloud_env.config import load_config
from orbitcloud_env.simulator import Simulator
from orbitcloud_env.workload import TraceError, TraceWorkload

SITES = ["Tokyo", "Delhi", "Shanghai"]
CLASSES = ["interactive", "video"]


def _write(tmp_path, n: int, name: str = "t.csv") -> str:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.exponential(0.1, n))
    lines = ["\ufeff# a comment", "time_s, site ,job_class,work_gflop,input_mb,output_mb,deadline_ms", ""]
    for i in range(n):
        site = SITES[i % 3] if i % 2 else str(i % 3)
        lines.append(f"{float(t[i])!r}, {site.lower() if i % 5 == 0 else site},{CLASSES[i % 2]},{1 + i % 7},0.5,0.1,150")
        if i % 1000 == 0:
            lines.append("# more")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_block_size_does_not_change_the_parse_and_it_matches_the_rows(tmp_path, monkeypatch):
    """One parser, converting blocks column-wise: any block size gives the same arrays, and they are the rows."""
    path = _write(tmp_path, 5_000)
    whole = TraceWorkload.from_csv(path, SITES, CLASSES)
    monkeypatch.setattr(wl_mod, "_FAST_BLOCK_ROWS", 7)  # many blocks: time order checked across their edges
    blocks = TraceWorkload.from_csv(path, SITES, CLASSES)
    assert whole._arrays.keys() == blocks._arrays.keys()
    for k in whole._arrays:
        assert np.array_equal(whole._arrays[k], blocks._arrays[k]) and whole._arrays[k].dtype == blocks._arrays[k].dtype
    rows = [ln.split(",") for ln in open(path, encoding="utf-8-sig").read().splitlines()[3:]
            if ln and not ln.startswith("#")]
    assert whole._arrays["time_s"].tolist() == [float(r[0]) for r in rows]
    names = [s.lower() for s in SITES]
    assert whole._arrays["site"].tolist() == [int(c) if c.strip().isdigit() else names.index(c.strip().lower())
                                             for c in (r[1] for r in rows)]
    assert [whole.next_job() for _ in range(3000)] == [blocks.next_job() for _ in range(3000)]
    limited = TraceWorkload.from_csv(path, SITES, CLASSES, max_jobs=10)
    assert len(limited) == 10


@pytest.mark.parametrize("block_rows", [7, 65_536])
def test_errors_come_in_file_order_and_across_block_edges(tmp_path, monkeypatch, block_rows):
    monkeypatch.setattr(wl_mod, "_FAST_BLOCK_ROWS", block_rows)
    head = "time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms\n"
    good = "".join(f"{i},Tokyo,interactive,1,0.5,0.1,150\n" for i in range(1, 8))  # lines 2..8: one block of 7
    path = tmp_path / "t.csv"
    path.write_text(head + good + "0.5,Tokyo,interactive,1,0.5,0.1,150\n")  # line 9 goes back in time
    with pytest.raises(TraceError, match=r"t.csv, line 9: time_s goes backwards \(0.5 s after 7 s\)"):
        TraceWorkload.from_csv(path, SITES, CLASSES)
    path.write_text(head + good + "9,Tokyo,poker,1,0.5,0.1,150\n10,Tokyo\n")  # a bad value, then a short row
    with pytest.raises(TraceError, match=r"t.csv, line 9: unknown job_class 'poker'"):
        TraceWorkload.from_csv(path, SITES, CLASSES)
    path.write_text(head + "1,\u00b2,interactive,1,0.5,0.1,150\n")  # a non-ASCII digit is a (bad) name, not an index
    with pytest.raises(TraceError, match=r"t.csv, line 2: unknown site"):
        TraceWorkload.from_csv(path, SITES, CLASSES)


@pytest.mark.parametrize("bad_row, message", [
    ("1e9,Tokyo,interactive,1,0.5,0.1,150\n0.5,Tokyo,interactive,1,0.5,0.1,150", "time_s goes backwards"),
    ("1e9,Tokio,interactive,1,0.5,0.1,150", "unknown site 'Tokio'; did you mean 'Tokyo'"),
    ("1e9,Tokyo,interactive,nan,0.5,0.1,150", "work_gflop must be a finite number"),
    ("1e9,Tokyo,interactive,1,0.5,0.1", "expected 7 comma-separated values"),
    ("1e9,7,interactive,1,0.5,0.1,150", "site index 7 is out of range"),
])
def test_a_bad_row_still_names_its_line(tmp_path, bad_row, message):
    path = _write(tmp_path, 2_000)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(bad_row + "\n")
    with pytest.raises(TraceError, match=message) as exc:
        TraceWorkload.from_csv(path, SITES, CLASSES)
    assert ", line " in str(exc.value)


def test_reset_builds_only_a_chunk_of_job_records(tmp_path):
    path = _write(tmp_path, 20_000)
    trace = TraceWorkload.from_csv(path, SITES, CLASSES)
    replay = trace.replay(100.0)
    first = replay.next_job()
    assert len(replay._chunk) <= TraceWorkload._CHUNK < len(replay)
    assert first.time_s == trace._arrays["time_s"][0] + 100.0 and first.job_id == 0
    jobs = [first] + [replay.next_job() for _ in range(5_000)]
    assert [j.job_id for j in jobs] == list(range(5_001))
    assert replay.peek_time_s() == float(trace._arrays["time_s"][5_001] + 100.0) == replay.next_job().time_s
    replay._pos = 10  # a saved state sends the cursor back: the same records come out again
    assert replay.next_job() == jobs[10]


def test_simulator_replays_a_trace_identically_after_set_state(tmp_path):
    sites = Simulator(load_config("small")).sites.names
    path = tmp_path / "s.csv"
    rows = [f"{0.05 * i!r},{sites[i % len(sites)]},interactive,{1 + i % 5},0.5,0.1,150" for i in range(6_000)]
    path.write_text("time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms\n" + "\n".join(rows) + "\n")
    sim = Simulator(load_config("small", {"workload.trace_path": str(path), "max_time_s": 0}))
    sim.reset(np.random.default_rng(0))
    for _ in range(100):
        sim.place(None)
    state = sim.get_state()
    ahead = [sim.place(None).job for _ in range(3_000)]
    sim.set_state(state)
    assert [sim.place(None).job for _ in range(3_000)] == ahead


def test_trace_times_are_bounded_to_ten_years(tmp_path):
    path = tmp_path / "far.csv"
    path.write_text("time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms\n"
                    "0,Tokyo,interactive,1,0.5,0.1,150\n1e15,Tokyo,interactive,1,0.5,0.1,150\n")
    with pytest.raises(TraceError, match=r"time_s must be <= 315576000 s \(10 years\), got 1000000000000000.0 in job row 2"):
        TraceWorkload.from_csv(path, SITES, CLASSES)
