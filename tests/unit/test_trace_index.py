"""Large traces: parsed column-wise once, replayed through lazily built Job records (reset cost independent of size)."""

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


def test_column_wise_parse_equals_the_row_wise_parse(tmp_path, monkeypatch):
    path = _write(tmp_path, 5_000)
    fast = TraceWorkload.from_csv(path, SITES, CLASSES)
    monkeypatch.setattr(wl_mod, "_fast_columns", lambda *a, **k: None)
    slow = TraceWorkload.from_csv(path, SITES, CLASSES)
    assert fast._arrays.keys() == slow._arrays.keys()
    for k in fast._arrays:
        assert np.array_equal(fast._arrays[k], slow._arrays[k]) and fast._arrays[k].dtype == slow._arrays[k].dtype
    assert [fast.next_job() for _ in range(3000)] == [slow.next_job() for _ in range(3000)]
    limited = TraceWorkload.from_csv(path, SITES, CLASSES, max_jobs=10)
    assert len(limited) == 10


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
