"""Per-episode metrics of agents.episode_metrics, the reports' choices (baselines, reference rows) and the parsing
of evaluate.py's inputs, on synthetic infos in the env contract's format (no env needed)."""

from __future__ import annotations

import numpy as np
import pytest

from agents import stats
from agents.cli import UsageError, parse_key_values
from agents.episode_metrics import (
    REGION_NAMES,
    EpisodeRecorder,
    EpisodeResult,
    episode_metrics_from_infos,
    region_of,
)
from agents.rollouts import UPPER_BOUND, EvaluationError, resolve_policy

# ----------------------------------------------------------------------------------------------------------------
# Per-episode metrics from infos (synthetic infos in the contract's format)


def _info(job_id, outcome, latency, *, ground=False, lat=40.7, lon=-74.0, energy=10.0, rewards=None, **extra):
    info = {
        "job_id": job_id, "job_class": "batch", "site": job_id % 3, "site_name": "x", "site_lat_deg": lat,
        "site_lon_deg": lon, "node": -1 if outcome == "rejected" else 3, "is_ground": ground, "outcome": outcome,
        "met_deadline": outcome == "met", "latency_ms": latency, "deadline_ms": 500.0, "energy_j": energy,
        "invalid_action": False, "rewards": rewards or {"latency": -0.1, "miss": 0.0}, "time_s": 0.1 * job_id,
    }
    info.update(extra)
    return info


def test_episode_metrics_from_infos_known_values():
    infos = [
        _info(0, "met", 100.0),                                 # North America, orbit
        _info(1, "met", 300.0, ground=True, lat=51.5, lon=-0.1),  # Europe, ground
        _info(2, "missed", 800.0, lat=51.5, lon=-0.1),           # Europe, orbit
        _info(3, "dropped", 0.0),
        _info(4, "rejected", 0.0, energy=0.0),
    ]
    rewards = [-0.1, -0.3, -1.8, -2.0, -0.5]
    m = episode_metrics_from_infos(infos, rewards)
    assert m["n_jobs"] == 5
    assert m["mean_latency_ms"] == pytest.approx(400.0)
    assert m["median_latency_ms"] == pytest.approx(300.0)
    assert m["p95_latency_ms"] == pytest.approx(np.percentile([100, 300, 800], 95))
    assert m["deadline_miss_rate"] == pytest.approx(2 / 4)
    assert m["rejection_rate"] == pytest.approx(1 / 5)
    assert m["drop_rate"] == pytest.approx(1 / 5)
    assert m["success_rate"] == pytest.approx(2 / 5)
    assert m["energy_j_per_job"] == pytest.approx(40.0 / 4)
    assert m["orbital_share"] == pytest.approx(2 / 3)
    assert m["episode_return"] == pytest.approx(-4.7)
    assert m["reward.latency"] == pytest.approx(-0.5)
    # Regions: North America 100 ms, Europe (300 + 800) / 2 = 550 ms.
    assert m["jain_fairness"] == pytest.approx(stats.jain_index([100.0, 550.0]))


def test_episode_metrics_no_served_jobs_follow_the_contract():
    m = episode_metrics_from_infos([_info(0, "rejected", 0.0)], [-1.0])
    assert m["mean_latency_ms"] == 0.0 and m["p95_latency_ms"] == 0.0
    assert m["deadline_miss_rate"] == 0.0 and m["orbital_share"] == 0.0 and m["jain_fairness"] == 1.0


def test_recorder_digest_depends_on_job_stream_only():
    a, b = EpisodeRecorder(), EpisodeRecorder()
    a.add(-1.0, _info(0, "met", 100.0))
    b.add(-5.0, _info(0, "rejected", 0.0, ground=True))  # different decision, same job
    assert a.digest == b.digest
    c = EpisodeRecorder()
    c.add(-1.0, _info(0, "met", 100.0, lat=10.0, site=7))
    assert c.digest != a.digest


def test_episode_metrics_reject_unknown_outcome():
    with pytest.raises(ValueError, match="outcome"):
        episode_metrics_from_infos([_info(0, "lost", 0.0)], [0.0])


@pytest.mark.parametrize("lat, lon, region", [
    (40.71, -74.01, "North America"), (19.43, -99.13, "North America"), (-23.55, -46.63, "South America"),
    (10.49, -66.88, "South America"), (51.51, -0.13, "Europe"), (41.01, 28.98, "Europe"),
    (30.04, 31.24, "Africa"), (-33.92, 18.42, "Africa"), (36.75, 3.06, "Africa"), (-1.29, 36.82, "Africa"),
    (32.09, 34.78, "Asia"), (25.2, 55.27, "Asia"), (35.69, 139.69, "Asia"), (-6.21, 106.85, "Asia"),
    (-33.87, 151.21, "Oceania"), (-36.85, 174.76, "Oceania"), (21.3, -157.86, "North America"),
])
def test_region_of_known_cities(lat, lon, region):
    assert region_of(lat, lon) == region
    assert region in REGION_NAMES


def test_region_of_wraps_longitude():
    assert region_of(40.71, -74.01 + 360.0) == "North America"


# ----------------------------------------------------------------------------------------------------------------
# Parsing


def test_parse_env_kwargs():
    assert parse_key_values(["preset:small", "max_jobs:200", "constellation.altitude_km:600.5", "flag:True",
                             "name:a:b"], "--env-kwargs") == {"preset": "small", "max_jobs": 200,
                                              "constellation.altitude_km": 600.5, "flag": True, "name": "a:b"}
    assert parse_key_values(None, "--env-kwargs") == {}
    for bad, message in ((["max_jobs"], "expected KEY:VALUE"), ([":3"], "expected KEY:VALUE"),
                         (["a:1", "a:2"], "given twice")):
        with pytest.raises(UsageError, match=message):
            parse_key_values(bad, "--env-kwargs")


def test_resolve_policy(tmp_path):
    heuristics = ["random", "earliest-finish"]
    assert resolve_policy("random", heuristics).is_model is False
    assert resolve_policy("RND=random", heuristics).label == "RND"
    with pytest.raises(EvaluationError, match="did you mean 'earliest-finish'"):
        resolve_policy("earliest_finish", heuristics)
    with pytest.raises(EvaluationError, match="not found"):
        resolve_policy(str(tmp_path / "nope.zip"), heuristics)
    run = tmp_path / "logs" / "ppo" / "OrbitCloud-v0_1"
    run.mkdir(parents=True)
    (run / "best_model.zip").write_bytes(b"")
    spec = resolve_policy(str(run / "best_model.zip"), heuristics)
    assert spec.is_model and spec.label == "ppo/OrbitCloud-v0_1/best_model" and spec.vecnormalize is None
    (run / "vecnormalize.pkl").write_bytes(b"")
    assert resolve_policy(str(run / "best_model.zip"), heuristics).vecnormalize == str(run / "vecnormalize.pkl")


# ----------------------------------------------------------------------------------------------------------------
# Reports: the strongest heuristic as baseline, reference rows


def _result(policy: str, episode: int, ret: float, *, reference: bool = False, latency: float = 100.0):
    metrics = {"episode_return": ret} if reference else {"episode_return": ret, "mean_latency_ms": latency}
    return EpisodeResult(policy=policy, episode=episode, seed=episode, metrics=metrics,
                         region_latency_ms={name: float("nan") for name in REGION_NAMES},
                         latencies_ms=np.zeros(0), workload_digest="", reference=reference)


def _results(returns: dict[str, list[float]], reference: dict[str, list[float]] | None = None):
    out = [_result(p, i, r, latency=-r) for p, rs in returns.items() for i, r in enumerate(rs)]
    out += [_result(p, i, r, reference=True) for p, rs in (reference or {}).items() for i, r in enumerate(rs)]
    return out


def test_strongest_heuristic_is_best_mean_among_heuristics_only():
    from agents.reports import strongest_heuristic

    results = _results({"random": [-10, -12], "least-loaded": [-5, -5], "earliest-finish": [-3, -4],
                        "lookahead": [-1, -1], "ppo": [0, 0]}, {UPPER_BOUND: [5, 5]})
    heuristics = ["random", "least-loaded", "earliest-finish", "lookahead"]
    assert strongest_heuristic(results, heuristics) == "earliest-finish"  # not lookahead, not the model
    assert strongest_heuristic(results, heuristics + [UPPER_BOUND]) == "earliest-finish"  # never a reference row
    assert strongest_heuristic(results, ["random", "least-loaded"], exclude=["least-loaded"]) == "random"
    assert strongest_heuristic(results, ["random"], exclude=["random"]) is None
    # Lower is better for latency: the lowest mean wins (latency = -return here, so random).
    assert strongest_heuristic(results, ["random", "least-loaded"], score_metric="mean_latency_ms") == "least-loaded"


def test_summary_with_reference_row_and_baseline_source():
    from agents.reports import format_summary_md, summarize_results

    results = _results({"random": [-10, -12, -11], "earliest-finish": [-3, -4, -2]}, {UPPER_BOUND: [1, 2, 0]})
    agg = summarize_results(results, lower="random", upper="earliest-finish", baseline_source="chosen by test",
                            n_resamples=100)
    assert agg["policies"] == ["random", "earliest-finish", UPPER_BOUND]
    assert agg["reference"] == [UPPER_BOUND]
    assert agg["normalized_score"][UPPER_BOUND]["value"] == pytest.approx((1 + 11) / (-3 + 11))
    assert all(UPPER_BOUND not in (r["policy"], r["baseline"]) for r in agg["probability_of_improvement"])
    assert UPPER_BOUND not in agg["region_latency_ms"]
    md = format_summary_md(agg)
    row = next(line for line in md.splitlines() if line.startswith(f"| {UPPER_BOUND} |"))
    assert row.count("—") == 1 and "1.50" in row  # return and normalised score; no latency for a bound
    assert "(earliest-finish - random)" in md and "chosen by test" in md
    assert f"| {UPPER_BOUND} | " not in md.split("Probability of improvement")[1]


def test_summary_without_upper_baseline_says_why():
    from agents.reports import summarize_results

    agg = summarize_results(_results({"random": [-10, -12]}), lower="random", upper=None,
                            baseline_source="no heuristic besides random", n_resamples=50)
    assert agg["normalized_score"] == {}
    assert any("no upper baseline" in n for n in agg["notes"])
    assert any("no heuristic besides random" in n for n in agg["notes"])
