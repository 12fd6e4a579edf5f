"""Fuzzing configs, TLE text, trace rows and actions together: bad input is one clear ValueError (ConfigError,
TLEError, TraceError) naming what is wrong, never a deep numpy or Python error; good input gives episodes whose
observations stay finite and inside the space, and whose outcomes add up."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitcloud_env.config import ConfigError, ScenarioConfig
from orbitcloud_env.constellation import TLEError
from orbitcloud_env.data import resolve_data_path
from orbitcloud_env.env import OrbitCloudEnv
from orbitcloud_env.ground import user_sites
from orbitcloud_env.workload import TraceError

_ALL = Path(resolve_data_path("package:starlink-2026-05-12.tle")).read_text().splitlines()
#: Every 5th 53-degree satellite of the shipped catalogue (first 600): enough for a meshable shell, small to load.
_RECORDS = [_ALL[i:i + 3] for i in range(0, len(_ALL) - 2, 3)]
_TLE_LINES = [ln for rec in [r for r in _RECORDS if r[2][8:16].strip().startswith("53.")][::5][:600] for ln in rec]
_SITES = user_sites(30).names
_HEADER = "time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms"

_sane = st.one_of(st.sampled_from([1, 2, 5, 8, 10, 20, 0.5, 0.2]), st.builds(np.int64, st.integers(1, 12)),
                  st.builds(np.float32, st.sampled_from([0.5, 1.0, 4.0])))
_wild = st.one_of(st.integers(-10, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from([0, 1e-9, 1e15, -1.0, 90.0, 3_600.0]))
_numbers = st.one_of(_sane, _sane, _sane, _wild)
_fields = st.sampled_from([
    "constellation.planes", "constellation.sats_per_plane", "constellation.altitude_km", "links.min_elevation_deg",
    "ground.n_sites", "compute.satellite_queue_limit", "compute.satellite_servers", "power.battery_capacity_wh",
    "episode.start_time_spread_s", "episode.topology_dt_s", "episode.max_time_s", "workload.arrival_rate_per_s",
    "faults.satellite_failure_rate_per_hour", "faults.payload_failure_rate_per_hour",
    "faults.datacentre_outage_rate_per_hour", "faults.ground_link_outage_rate_per_hour",
    "faults.fibre_cut_rate_per_hour", "faults.fibre_repair_time_s", "links.isl_failure_rate_per_hour",
])


@st.composite
def _tle_text(draw) -> str | None:
    if draw(st.booleans()):
        return None
    lines = list(_TLE_LINES)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["char", "cut", "drop"]))
        if kind == "char" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.sampled_from("0123456789 .-+xZ")) + lines[i][j + 1:]
        elif kind == "cut":
            lines[i] = lines[i][: draw(st.integers(0, 70))]
        else:
            del lines[i]
    return "\n".join(lines) + "\n"


def _mostly(good, bad):
    return st.one_of(good, good, good, good, good, good, bad)


_trace_row = st.tuples(
    _mostly(st.floats(0, 50), st.sampled_from(["-1", "nan", "1e20", "x"])),
    _mostly(st.sampled_from(_SITES), st.sampled_from(["0", "29", "30", "Atlantis", ""])),
    _mostly(st.sampled_from(["interactive", "video", "batch", "0", "2"]), st.sampled_from(["7", "poker"])),
    _mostly(st.floats(0.1, 1e4), st.sampled_from(["0", "-3", "inf"])),
    st.floats(0, 100), st.floats(0, 10),
    _mostly(st.floats(1, 1e6), st.sampled_from(["0", "1e99"])),
).map(lambda r: ",".join(str(v) for v in r))


#: The scenario's sections: a config error starts with ``<section>.<field>: ``.
_SECTIONS = {f.name for f in dataclasses.fields(ScenarioConfig)}


def _assert_names_what_is_wrong(exc: ValueError, folder: Path, over: dict) -> None:
    """A TLE or trace error starts with the file (and line: ``<path>, line <n>: ``), any other one with the config
    field at fault (``workload.arrival_rate_per_s: ``), one this example set; a ValueError from deep inside numpy
    names neither."""
    msg = str(exc)
    if isinstance(exc, (TLEError, TraceError)):
        # the line, or for a check over whole columns the file alone (the message then names the job row)
        assert re.match(rf"{re.escape(str(folder))}/(c\.tle|t\.csv)(, line \d+)?: \S", msg), msg
        return
    field = re.match(r"([a-z_]+)\.([a-z_]+)(\[\d+\])?(\.[a-z_]+)?: \S", msg)
    assert field and field.group(1) in _SECTIONS, f"{type(exc).__name__} names no config field: {msg}"
    name = f"{field.group(1)}.{field.group(2)}"
    assert name in over, f"names {name}, not a field this example set ({sorted(over)}): {msg}"
    assert isinstance(exc, ConfigError) or field.group(0).startswith("workload.trace_path"), msg


#: Examples per run (bounded: ~10 s here); FUZZ_EXAMPLES=500 for a longer hunt.
_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(overrides=st.dictionaries(_fields, _numbers, max_size=3), tle=_tle_text(),
       rows=st.one_of(st.none(), st.lists(_trace_row, min_size=1, max_size=6)),
       actions=st.lists(st.one_of(st.integers(-2, 80), st.floats(0, 5)), min_size=1, max_size=40),
       seed=st.integers(0, 2**31 - 1), failed_jobs=st.sampled_from([None, "lost", "replace", "replace", "Replace"]))
def test_fuzzed_configs_tles_traces_and_actions(tmp_path_factory, overrides, tle, rows, actions, seed, failed_jobs):
    folder = tmp_path_factory.mktemp("fuzz")
    over = dict(overrides)
    if failed_jobs is not None:
        over["faults.failed_jobs"] = failed_jobs
    over.update({"max_jobs": 40, "power.warmup_orbits": 0.0})
    if tle is not None:
        (folder / "c.tle").write_text(tle)
        over["constellation.tle_path"] = str(folder / "c.tle")
    if rows is not None:
        (folder / "t.csv").write_text("\n".join([_HEADER, *rows]) + "\n")
        over["workload.trace_path"] = str(folder / "t.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = OrbitCloudEnv(preset="small", **over)
            obs, info = env.reset(seed=seed)
        except ValueError as exc:  # ConfigError, TLEError, TraceError: one clear message
            msg = str(exc)
            if os.environ.get("FUZZ_PRINT"):
                print(type(exc).__name__, msg[:200])
            assert msg and "Traceback" not in msg and len(msg) < 2_000
            _assert_names_what_is_wrong(exc, folder, over)
            return
        if os.environ.get("FUZZ_PRINT"):
            print("OK episode", sorted(over))
        counts: dict[str, int] = {}
        n = int(env.action_space.n)
        for a in actions:
            if isinstance(a, float) or not 0 <= a < n:
                try:
                    env.step(a)
                except ValueError as exc:
                    assert "action" in str(exc)
                    continue
                raise AssertionError(f"action {a!r} outside Discrete({n}) was accepted")
            obs, reward, terminated, truncated, info = env.step(a)
            assert math.isfinite(reward)
            assert env.observation_space.contains(obs), "observation outside its space"
            counts[info["outcome"]] = counts.get(info["outcome"], 0) + 1
            if truncated:
                m = info["episode_metrics"]
                assert sum(counts.values()) == m["n_jobs"]
                assert all(math.isfinite(v) for v in m.values())
                break
