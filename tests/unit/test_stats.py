"""Known-answer tests of agents.stats and of the per-episode metrics in agents.evaluation (no env needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents import stats
from agents.evaluation import (
    REGION_NAMES,
    EpisodeRecorder,
    EvaluationError,
    episode_metrics_from_infos,
    parse_env_kwargs,
    region_of,
    resolve_policy,
)

# ----------------------------------------------------------------------------------------------------------------
# Bootstrap CI


def test_bootstrap_ci_covers_true_mean_with_sensible_width():
    rng = np.random.default_rng(123)
    x = rng.normal(loc=5.0, scale=2.0, size=400)
    ci = stats.bootstrap_ci(x, seed=0)
    assert ci.low < 5.0 < ci.high
    assert ci.low <= ci.value <= ci.high
    # Width of a 95 % interval of the mean: about 2 * 1.96 * sigma / sqrt(n) = 0.392.
    assert 0.3 < ci.high - ci.low < 0.5


def test_bootstrap_ci_coverage_over_repeated_samples():
    """Over many independent samples, the 95 % interval covers the true mean most of the time."""
    rng = np.random.default_rng(7)
    covered = 0
    trials = 60
    for k in range(trials):
        x = rng.exponential(scale=3.0, size=80)
        ci = stats.bootstrap_ci(x, seed=k, n_resamples=1000)
        covered += ci.low <= 3.0 <= ci.high
    assert covered / trials >= 0.85


def test_bootstrap_ci_is_reproducible_and_seed_dependent():
    x = np.random.default_rng(0).normal(size=30)
    assert stats.bootstrap_ci(x, seed=4) == stats.bootstrap_ci(x, seed=4)
    assert stats.bootstrap_ci(x, seed=4) != stats.bootstrap_ci(x, seed=5)


def test_bootstrap_ci_degenerate_and_single_episode():
    ci = stats.bootstrap_ci([2.0, 2.0, 2.0])
    assert ci.as_tuple() == (2.0, 2.0, 2.0)
    one = stats.bootstrap_ci([3.0])
    assert one.value == 3.0 and math.isnan(one.low) and math.isnan(one.high)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, float("nan")]])
def test_bootstrap_ci_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        stats.bootstrap_ci(bad)


# ----------------------------------------------------------------------------------------------------------------
# IQM, Jain


def test_iqm_known_arrays():
    assert stats.iqm(np.arange(8.0)) == pytest.approx(3.5)  # middle four: 2, 3, 4, 5
    assert stats.iqm([1.0, 2.0, 3.0, 4.0, 100.0, -100.0, 2.5, 3.5]) == pytest.approx(2.75)  # 2, 2.5, 3, 3.5
    assert stats.iqm([7.0] * 5) == pytest.approx(7.0)


def test_jain_index_known_values():
    assert stats.jain_index([3.0, 3.0, 3.0, 3.0]) == pytest.approx(1.0)
    assert stats.jain_index([0.0, 0.0, 9.0, 0.0]) == pytest.approx(0.25)
    assert stats.jain_index([1.0, 2.0]) == pytest.approx(9.0 / 10.0)
    assert stats.jain_index([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError):
        stats.jain_index([-1.0, 1.0])


# ----------------------------------------------------------------------------------------------------------------
# Normalised score


def test_normalized_score_zero_for_lower_one_for_upper_by_construction():
    rng = np.random.default_rng(1)
    rand = rng.normal(-103.7, 11.0, size=20)
    ef = rng.normal(-21.3, 4.0, size=20)
    assert stats.normalized_score(rand, rand, ef) == (0.0, "")
    assert stats.normalized_score(ef, rand, ef) == (1.0, "")
    mid = (rand + ef) / 2
    assert stats.normalized_score(mid, rand, ef)[0] == pytest.approx(0.5)
    ci, note = stats.normalized_score_ci(mid, rand, ef, seed=0)
    assert note == "" and ci.low <= 0.5 <= ci.high


def test_normalized_score_zero_denominator_is_nan_free_with_note():
    same = np.array([1.0, 2.0, 3.0])
    value, note = stats.normalized_score(same + 1.0, same, same)
    assert value == 0.0 and "undefined" in note
    ci, note = stats.normalized_score_ci(same + 1.0, same, same)
    assert all(math.isfinite(v) for v in ci.as_tuple()) and note


def test_aggregate_normalized_score_and_poi_rows():
    rng = np.random.default_rng(2)
    values = {
        "random": {"episode_return": rng.normal(-100, 5, 12)},
        "earliest-finish": {"episode_return": rng.normal(-20, 5, 12)},
        "ppo": {"episode_return": rng.normal(-60, 5, 12)},
    }
    agg = stats.aggregate(values, seed=0)
    assert agg["normalized_score"]["random"]["value"] == 0.0
    assert agg["normalized_score"]["earliest-finish"]["value"] == 1.0
    assert 0.0 < agg["normalized_score"]["ppo"]["value"] < 1.0
    assert len(agg["probability_of_improvement"]) == 6
    row = next(r for r in agg["probability_of_improvement"]
               if r["policy"] == "earliest-finish" and r["baseline"] == "random")
    assert row["probability_of_improvement"] == 1.0
    assert agg == stats.aggregate(values, seed=0)  # seeded: reproducible
    missing = stats.aggregate({"ppo": values["ppo"]}, seed=0)
    assert missing["normalized_score"] == {} and "skipped" in missing["notes"][0]


# ----------------------------------------------------------------------------------------------------------------
# Probability of improvement


def test_probability_of_improvement_extremes():
    x = np.array([5.0, 6.0, 7.0, 8.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.probability_of_improvement(x, y) == 1.0
    assert stats.probability_of_improvement(y, x) == 0.0
    assert stats.probability_of_improvement(x, x) == 0.5
    ci = stats.probability_of_improvement_ci(x, y, seed=0)
    assert ci.as_tuple() == (1.0, 1.0, 1.0)
    assert stats.probability_of_improvement_ci(x, x, seed=0).value == 0.5


def test_probability_of_improvement_matches_mann_whitney():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 15).astype(float)  # many ties
    y = rng.integers(0, 5, 15).astype(float)
    u = mannwhitneyu(x, y).statistic
    assert stats.probability_of_improvement(x, y) == pytest.approx(u / (x.size * y.size))


def test_paired_win_rate():
    assert stats.paired_win_rate([2.0, 1.0, 3.0], [1.0, 1.0, 4.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same episodes"):
        stats.paired_win_rate([1.0, 2.0], [1.0])


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
    assert parse_env_kwargs(["preset:small", "max_jobs:200", "constellation.altitude_km:600.5", "flag:True",
                             "name:a:b"]) == {"preset": "small", "max_jobs": 200,
                                              "constellation.altitude_km": 600.5, "flag": True, "name": "a:b"}
    assert parse_env_kwargs(None) == {}
    for bad in (["max_jobs"], [":3"], ["a:1", "a:2"]):
        with pytest.raises(EvaluationError):
            parse_env_kwargs(bad)


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
