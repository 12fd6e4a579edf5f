"""Unit tests of orbitcloud_env.workload: the Poisson generator's statistics and the trace replayer's errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitcloud_env.config import JobClassConfig, WorkloadConfig
from orbitcloud_env.workload import (
    TRACE_COLUMNS,
    Job,
    PoissonWorkload,
    TraceError,
    TraceWorkload,
    diurnal_factor,
    make_workload,
)

LON = np.array([139.69, 77.21, -46.63, -0.13, 2.35, -74.0, 151.2, 31.24])
WEIGHT = np.array([37.0, 30.0, 22.0, 9.0, 11.0, 19.0, 5.0, 21.0])
NAMES = ["Tokyo", "Delhi", "São Paulo", "London", "Paris", "New York", "Sydney", "Cairo"]
CLASSES = ("interactive", "video", "batch")


def poisson(cfg: WorkloadConfig | None = None, seed: int = 0, lon=LON, weight=WEIGHT, start_time_s: float = 0.0,
            epoch_sod: float = 0.0) -> PoissonWorkload:
    return PoissonWorkload(cfg or WorkloadConfig(), lon, weight, np.random.default_rng(seed), start_time_s, epoch_sod)


def jobs_until(w: PoissonWorkload, t_end_s: float) -> list[Job]:
    out = []
    while w.peek_time_s() < t_end_s:
        out.append(w.next_job())
    return out


def take(w: PoissonWorkload, n: int) -> list[Job]:
    return [w.next_job() for _ in range(n)]


def columns(jobs: list[Job]) -> dict[str, np.ndarray]:
    return {f: np.array([getattr(j, f) for j in jobs]) for f in Job.__slots__}


# ------------------------------------------------------------------------------------------------ diurnal curve


def test_diurnal_factor_peak_trough_and_daily_mean():
    assert diurnal_factor(20.0, 0.5, 20.0) == pytest.approx(1.5)
    assert diurnal_factor(8.0, 0.5, 20.0) == pytest.approx(0.5)
    assert diurnal_factor(44.0, 0.5, 20.0) == pytest.approx(1.5)  # 24 h periodic
    h = np.linspace(0.0, 24.0, 2400, endpoint=False)
    assert diurnal_factor(h, 0.7, 3.0).mean() == pytest.approx(1.0, abs=1e-12)
    assert diurnal_factor(h, 0.0, 3.0) == pytest.approx(np.ones_like(h))


def test_site_rates_follow_the_documented_formula():
    cfg = WorkloadConfig(arrival_rate_per_s=7.0, diurnal_amplitude=0.6, peak_local_hour=19.0)
    sod = 3_600.0 * 5.5
    w = poisson(cfg, epoch_sod=sod)
    t = np.array([0.0, 1_234.5, 50_000.0, 200_000.0])
    local = ((sod + t[:, None]) / 3600.0 % 24.0 + LON / 15.0) % 24.0
    expected = 7.0 * WEIGHT / WEIGHT.sum() * (1.0 + 0.6 * np.cos(2 * np.pi * (local - 19.0) / 24.0))
    np.testing.assert_allclose(w.site_rates_per_s(t), expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_stream_different_seed_differs():
    ja, jb, jc = take(poisson(seed=3), 3_000), take(poisson(seed=3), 3_000), take(poisson(seed=4), 3_000)
    assert ja == jb
    assert ja != jc
    assert [j.job_id for j in ja] == list(range(3_000))


def test_stream_independent_of_consumption_pattern_and_later_rng_use():
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    wa = PoissonWorkload(WorkloadConfig(), LON, WEIGHT, rng_a, 100.0, 0.0)
    wb = PoissonWorkload(WorkloadConfig(), LON, WEIGHT, rng_b, 100.0, 0.0)
    rng_b.random(1_000)  # another subsystem drawing from the shared generator after construction
    ja = take(wa, 2_500)
    jb = []
    for i in range(2_500):
        if i % 7 == 0:
            wb.peek_time_s()
        jb.append(wb.next_job())
    assert ja == jb
    assert wb.jobs_issued == 2_500


def test_resample_future_draws_another_future_from_the_last_arrival_and_set_state_undoes_it():
    """resample_future(seed, t): the issued jobs stay, the next ones are a new draw after t (ids continue, times
    increase), the same seed gives the same future, another seed another; set_state returns to the own future."""
    w = poisson(seed=5)
    issued = take(w, 700)  # past a thinning batch boundary, with part of a batch still buffered
    saved = w.get_state()
    own = take(w, 50)
    w.set_state(saved)
    w.resample_future(123, issued[-1].time_s)
    first = take(w, 50)
    assert w.jobs_issued == 750
    assert [j.job_id for j in first] == list(range(700, 750))
    assert first[0].time_s > issued[-1].time_s and all(b.time_s > a.time_s for a, b in zip(first, first[1:]))
    assert first != own
    w.set_state(saved)
    w.resample_future(123, issued[-1].time_s)
    assert take(w, 50) == first
    w.set_state(saved)
    w.resample_future(124, issued[-1].time_s)
    assert take(w, 50) != first
    w.set_state(saved)
    assert take(w, 50) == own


# ------------------------------------------------------------------------------------------------ statistics


def test_mean_rate_over_two_days_is_the_base_rate():
    rate = 0.5
    cfg = WorkloadConfig(arrival_rate_per_s=rate, diurnal_amplitude=0.5)
    duration = 2 * 86_400.0
    w = poisson(cfg, seed=1, start_time_s=1_000.0, epoch_sod=12_345.0)
    jobs = jobs_until(w, 1_000.0 + duration)
    assert jobs[0].time_s >= 1_000.0
    assert len(jobs) / duration == pytest.approx(rate, rel=0.03)  # expected sd 0.34 %


def test_site_shares_follow_weights_without_diurnal_variation():
    cfg = WorkloadConfig(arrival_rate_per_s=10.0, diurnal_amplitude=0.0)
    jobs = take(poisson(cfg, seed=2), 60_000)
    counts = np.bincount(columns(jobs)["site"], minlength=LON.size)
    expected = len(jobs) * WEIGHT / WEIGHT.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 24.3  # chi-square, 7 degrees of freedom: P(> 24.3) = 0.001


def test_zero_weight_sites_get_no_jobs():
    weight = np.array([0.0, 1.0, 0.0, 2.0])
    cfg = WorkloadConfig(diurnal_amplitude=1.0)
    jobs = take(poisson(cfg, seed=5, lon=LON[:4], weight=weight), 20_000)
    assert set(columns(jobs)["site"].tolist()) == {1, 3}


def test_diurnal_peak_to_trough_ratio_at_one_site():
    amp, peak = 0.5, 20.0
    cfg = WorkloadConfig(arrival_rate_per_s=0.3, diurnal_amplitude=amp, peak_local_hour=peak)
    lon = 60.0  # local = UTC + 4 h
    w = poisson(cfg, seed=7, lon=[lon], weight=[1.0])
    days = 4
    t = columns(jobs_until(w, days * 86_400.0))["time_s"]
    local = (t / 3600.0 + lon / 15.0) % 24.0
    in_peak = np.count_nonzero(np.abs(local - peak) < 1.0)
    in_trough = np.count_nonzero(np.abs(local - (peak - 12.0)) < 1.0)
    # The +-1 h window averages cos over its width: factor sin(pi/12) / (pi/12).
    c = math.sin(math.pi / 12) / (math.pi / 12)
    expected = (1 + amp * c) / (1 - amp * c)  # ~2.93; (1 + A) / (1 - A) = 3 at the exact hours
    assert in_peak / in_trough == pytest.approx(expected, rel=0.08)  # sd ~1.8 %
    assert (in_peak + in_trough) / (days * 4 * 3600.0) == pytest.approx(0.3, rel=0.05)


def test_class_shares_and_size_medians_follow_the_config():
    cfg = WorkloadConfig()
    cols = columns(take(poisson(cfg, seed=9), 40_000))
    weights = np.array([c.weight for c in cfg.job_classes])
    shares = np.bincount(cols["job_class"], minlength=len(weights)) / cols["job_class"].size
    np.testing.assert_allclose(shares, weights / weights.sum(), atol=0.01)
    for k, c in enumerate(cfg.job_classes):
        sel = cols["job_class"] == k
        assert np.median(cols["work_gflop"][sel]) == pytest.approx(c.work_gflop, rel=0.05)
        assert np.median(cols["input_mb"][sel]) == pytest.approx(c.input_mb, rel=0.05)
        assert np.median(cols["output_mb"][sel]) == pytest.approx(c.output_mb, rel=0.05)
        assert np.std(np.log(cols["work_gflop"][sel])) == pytest.approx(c.work_sigma, rel=0.05)
        assert np.all(cols["deadline_ms"][sel] == c.deadline_ms)


def test_invalid_constructor_arguments_raise():
    with pytest.raises(ValueError, match="site_weight"):
        poisson(weight=np.zeros(LON.size))
    with pytest.raises(ValueError, match="site_weight"):
        poisson(weight=WEIGHT[:3])
    with pytest.raises(ValueError, match="site_lon_deg"):
        poisson(lon=LON + 200.0)
    with pytest.raises(ValueError, match="epoch_second_of_day_utc"):
        poisson(epoch_sod=90_000.0)
    with pytest.raises(TypeError, match="Generator"):
        PoissonWorkload(WorkloadConfig(), LON, WEIGHT, 0, 0.0, 0.0)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.floats(1e-3, 1e4),
    amp=st.floats(0.0, 1.0),
    peak=st.floats(0.0, 24.0),
    start=st.floats(0.0, 1e7),
    sod=st.floats(0.0, 86_400.0),
    classes=st.lists(
        st.tuples(st.floats(1e-3, 1e3), st.floats(1e-3, 1e6), st.floats(0.0, 3.0), st.floats(0.0, 1e3),
                  st.floats(0.0, 3.0), st.floats(1e-3, 1e6)),
        min_size=1, max_size=5),
    weights=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_configs_give_valid_streams(rate, amp, peak, start, sod, classes, weights, seed):
    cfg = WorkloadConfig(
        arrival_rate_per_s=rate, diurnal_amplitude=amp, peak_local_hour=peak,
        job_classes=tuple(JobClassConfig(f"c{i}", wt, work, ws, size, size / 10, ss, dl)
                          for i, (wt, work, ws, size, ss, dl) in enumerate(classes)))
    lon = np.linspace(-180.0, 180.0, len(weights))
    w = PoissonWorkload(cfg, lon, np.array(weights), np.random.default_rng(seed), start, sod, batch_size=64)
    cols = columns(take(w, 300))
    for name in ("time_s", "work_gflop", "input_mb", "output_mb", "deadline_ms"):
        assert np.all(np.isfinite(cols[name])), name
        assert np.all(cols[name] >= 0.0), name
    assert np.all(cols["work_gflop"] > 0.0)
    assert cols["time_s"][0] >= start
    assert np.all(np.diff(cols["time_s"]) >= 0.0)
    assert np.all((0 <= cols["site"]) & (cols["site"] < len(weights)))
    assert np.all(np.asarray(weights)[cols["site"]] > 0.0)
    assert np.all((0 <= cols["job_class"]) & (cols["job_class"] < len(classes)))


# ------------------------------------------------------------------------------------------------ traces


GOOD_TRACE = """\
# a comment line
time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms
0.0,Tokyo,interactive,20,0.5,0.05,150
0.25,london,VIDEO,200,8,0.5,1000

0.25,3,2,5000,100,10,60000
7.5, são paulo ,batch,1e3,0,0,60000
"""


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_trace_replays_exactly(tmp_path):
    path = write(tmp_path, GOOD_TRACE)
    tr = TraceWorkload.from_csv(path, NAMES, CLASSES, start_time_s=1_000.0)
    assert len(tr) == 4
    jobs = []
    while (j := tr.next_job()) is not None:
        jobs.append(j)
    assert tr.next_job() is None and tr.peek_time_s() is None
    assert jobs == [
        Job(0, 1_000.0, 0, 0, 20.0, 0.5, 0.05, 150.0),
        Job(1, 1_000.25, 3, 1, 200.0, 8.0, 0.5, 1_000.0),
        Job(2, 1_000.25, 3, 2, 5_000.0, 100.0, 10.0, 60_000.0),
        Job(3, 1_007.5, 2, 2, 1_000.0, 0.0, 0.0, 60_000.0),
    ]
    again = tr.replay(start_time_s=0.0)
    assert again.peek_time_s() == 0.0 and again.remaining == 4
    assert [again.next_job().site for _ in range(4)] == [0, 3, 3, 2]


def test_trace_columns_in_any_order_and_max_jobs(tmp_path):
    path = write(tmp_path, "SITE,time_s,deadline_ms,job_class,output_mb,input_mb,work_gflop\n"
                           "1,0,100,0,1,2,3\n2,1,100,1,1,2,3\n3,2,100,2,1,2,3\n")
    tr = TraceWorkload.from_csv(path, NAMES, CLASSES, max_jobs=2)
    assert len(tr) == 2
    assert tr.next_job() == Job(0, 0.0, 1, 0, 3.0, 2.0, 1.0, 100.0)


HEADER = ",".join(TRACE_COLUMNS) + "\n"
ROW = "0,Tokyo,interactive,20,0.5,0.05,150\n"

BAD_TRACES = [
    # (text, line, regex on the rest of the message)
    ("", 1, r"empty trace.*time_s,site,job_class"),
    (HEADER, 1, r"empty trace"),
    ("time_s,site,job_class,work_gflop,input_mb,output_mb\n" + ROW, 1, r"missing column deadline_ms.*expected"),
    ("time_s,site,class,work_gflop,input_mb,output_mb,deadline_ms\n", 1,
     r"unknown column 'class'.*job_class.*expected the columns time_s,site,job_class,work_gflop"),
    ("time_s,site,job_class,work_gflop,input_mb,output_mb,deadline_ms,time_s\n", 1, r"more than once"),
    (HEADER + ROW + "1,Tokyo,interactive,abc,0.5,0.05,150\n", 3, r"work_gflop must be a number > 0, got 'abc'"),
    (HEADER + ROW + "1,Tokyo,interactive,20,nan,0.05,150\n", 3, r"input_mb must be a finite number >= 0"),
    (HEADER + ROW + ROW + "1,Tokyo,interactive,20,0.5,inf,150\n", 4, r"output_mb must be a finite number"),
    (HEADER + "# c\n" + ROW + "1,Tokyo,interactive,20,-0.5,0.05,150\n", 4, r"input_mb must be >= 0, got '-0.5'"),
    (HEADER + "1,Tokyo,interactive,0,0.5,0.05,150\n", 2, r"work_gflop must be > 0"),
    (HEADER + "1,Tokyo,interactive,1,0.5,0.05,0\n", 2, r"deadline_ms must be > 0"),
    (HEADER + "-1,Tokyo,interactive,1,0.5,0.05,10\n", 2, r"time_s must be >= 0"),
    (HEADER + "5,Tokyo,interactive,1,0.5,0.05,10\n\n4,Tokyo,interactive,1,0.5,0.05,10\n", 4,
     r"time_s goes backwards \(4 s after 5 s\).*non-decreasing"),
    (HEADER + ROW + "1,Tokio,interactive,20,0.5,0.05,150\n", 3, r"unknown site 'Tokio'; did you mean 'Tokyo'"),
    (HEADER + "1,Atlantis,interactive,20,0.5,0.05,150\n", 2, r"unknown site 'Atlantis'; allowed: a name"),
    (HEADER + "1,8,interactive,20,0.5,0.05,150\n", 2, r"site index 8 is out of range; allowed: 0..7"),
    (HEADER + "1,-1,interactive,20,0.5,0.05,150\n", 2, r"unknown site '-1'"),
    (HEADER + "1,Paris,bulk,20,0.5,0.05,150\n", 2, r"unknown job_class 'bulk'"),
    (HEADER + "1,Paris,interactiv,20,0.5,0.05,150\n", 2, r"did you mean 'interactive'"),
    (HEADER + "1,Paris,3,20,0.5,0.05,150\n", 2, r"job_class index 3 is out of range; allowed: 0..2"),
    (HEADER + ROW + "1,Paris,video,20,0.5,0.05\n", 3, r"expected 7 comma-separated values"),
]


@pytest.mark.parametrize("text,line,what", BAD_TRACES)
def test_malformed_trace_names_path_and_line(tmp_path, text, line, what):
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        TraceWorkload.from_csv(path, NAMES, CLASSES)
    msg = str(info.value)
    assert msg.startswith(f"{path}, line {line}: "), msg
    assert re.search(what, msg), msg
    assert isinstance(info.value, ValueError)


def test_trace_from_arrays_validates():
    with pytest.raises(TraceError, match="empty trace"):
        TraceWorkload([], [], [], [], [], [], [])
    with pytest.raises(TraceError, match="non-decreasing"):
        TraceWorkload([1.0, 0.0], [0, 0], [0, 0], [1, 1], [0, 0], [0, 0], [1, 1])


# ------------------------------------------------------------------------------------------------ factory


def test_make_workload_picks_poisson_or_trace(tmp_path):
    w = make_workload(WorkloadConfig(), LON, WEIGHT, NAMES, np.random.default_rng(0), 50.0, 0.0)
    assert isinstance(w, PoissonWorkload) and w.peek_time_s() >= 50.0
    cfg = WorkloadConfig(trace_path=str(write(tmp_path, GOOD_TRACE)))
    t1 = make_workload(cfg, LON, WEIGHT, NAMES, np.random.default_rng(0), 50.0, 0.0)
    t2 = make_workload(cfg, LON, WEIGHT, NAMES, np.random.default_rng(0), 10.0, 0.0)
    assert isinstance(t1, TraceWorkload)
    assert t1.peek_time_s() == 50.0 and t2.peek_time_s() == 10.0  # each episode its own cursor and start
    t1.next_job()
    assert t2.remaining == 4
    with pytest.raises(ValueError, match="site_names"):
        make_workload(WorkloadConfig(), LON, WEIGHT, NAMES[:2], np.random.default_rng(0), 0.0, 0.0)
