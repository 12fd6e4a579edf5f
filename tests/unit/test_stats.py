"""Known-answer tests of agents.stats (no env, no policies)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents import stats

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


def test_aggregate_equal_baselines_gives_zero_scores_and_one_note():
    same = np.array([1.0, 2.0, 3.0])
    values = {"random": {"episode_return": same}, "earliest-finish": {"episode_return": same.copy()},
              "a": {"episode_return": same + 1.0}, "b": {"episode_return": same + 2.0}}
    agg = stats.aggregate(values, n_resamples=200, seed=0)
    assert {p: s["value"] for p, s in agg["normalized_score"].items()} == dict.fromkeys(values, 0.0)
    assert len(agg["notes"]) == 1  # one note for the run, not one per policy
    assert agg["notes"][0].startswith("normalised score: ") and "undefined" in agg["notes"][0]


def test_aggregate_reference_rows_are_scored_but_not_compared():
    rng = np.random.default_rng(4)
    values = {"random": {"episode_return": rng.normal(-100, 5, 8), "mean_latency_ms": rng.normal(900, 50, 8)},
              "earliest-finish": {"episode_return": rng.normal(-20, 5, 8),
                                  "mean_latency_ms": rng.normal(300, 50, 8)},
              "upper-bound": {"episode_return": np.full(8, 10.0)}}
    agg = stats.aggregate(values, reference=["upper-bound"], n_resamples=200, seed=0)
    assert agg["normalized_score"]["upper-bound"]["value"] > 1.0
    assert list(agg["metrics"]["upper-bound"]) == ["episode_return"]
    assert agg["metrics"]["upper-bound"]["episode_return"]["mean"] == 10.0
    assert {(r["policy"], r["baseline"]) for r in agg["probability_of_improvement"]} == {
        ("random", "earliest-finish"), ("earliest-finish", "random")}
    # Never a baseline; without the score metric it gets no score; a policy without it is an error.
    as_baseline = stats.aggregate(values, reference=["upper-bound"], lower="random", upper="upper-bound",
                                  n_resamples=50)
    assert as_baseline["normalized_score"] == {} and "skipped" in as_baseline["notes"][0]
    latency = stats.aggregate(values, reference=["upper-bound"], score_metric="mean_latency_ms",
                              higher_is_better=False, n_resamples=50)
    assert "upper-bound" not in latency["normalized_score"] and latency["normalized_score"]["random"]["value"] == 0
    del values["random"]["mean_latency_ms"]
    with pytest.raises(ValueError, match="score_metric: no per-episode values of 'mean_latency_ms' for random"):
        stats.aggregate(values, reference=["upper-bound"], score_metric="mean_latency_ms", n_resamples=50)


def test_paired_gap_ci_is_the_mean_gap_in_per_cent_with_a_paired_interval():
    from agents.stats import paired_gap_ci

    x, y = np.array([110.0, 220.0, 330.0]), np.array([100.0, 200.0, 300.0])
    mean, low, high = paired_gap_ci(x, y, 200.0, n_resamples=500, seed=1)
    assert mean == pytest.approx(10.0)
    assert 5.0 <= low <= mean <= high <= 15.0
    assert paired_gap_ci(x, y, 200.0, n_resamples=500, seed=1) == (mean, low, high)
    with pytest.raises(ValueError):
        paired_gap_ci(x, y[:2], 200.0)
