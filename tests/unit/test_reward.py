"""The reward's one home (orbitcloud_env/reward.py): the v1 terms, the v2 value objective on hand-built jobs, and the
same function for one job (the env) and for many nodes at once (the upper bound)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from orbitcloud_env import bounds
from orbitcloud_env import env as env_module
from orbitcloud_env.config import ConfigError, RewardConfig, load_config
from orbitcloud_env.reward import COUNT_TERMS, VALUE_TERMS, reward_terms, total

V1 = load_config("starlink").reward
V2 = load_config("starlink-v2").reward


def _job(w, outcome: str, ratio: float = 0.5, value: float = 0.0, energy_j: float = 0.0, invalid: bool = False):
    """The terms of one hand-built job with outcome met / missed / dropped / rejected."""
    return reward_terms(w, served=outcome in ("met", "missed"), missed=outcome == "missed",
                        lost=outcome == "dropped", rejected=outcome == "rejected", invalid=invalid,
                        latency_ratio=ratio, energy_j=energy_j, value=value)


def test_v1_terms_are_the_count_objective():
    assert V1.objective == "count"
    met = _job(V1, "met", ratio=0.4)
    assert list(met) == list(COUNT_TERMS)
    assert met["latency"] == pytest.approx(-0.25 * 0.4) and total(met) == pytest.approx(-0.1)
    assert total(_job(V1, "missed", ratio=3.0)) == pytest.approx(-0.25 * 2.0 - 1.0)  # clipped at 2 deadlines
    assert total(_job(V1, "dropped")) == -1.0
    assert total(_job(V1, "rejected", ratio=0.0)) == -1.0
    assert total(_job(V1, "rejected", ratio=0.0, invalid=True)) == -1.5
    # A value passed under "count" changes nothing: v1 jobs all weigh the same.
    assert _job(V1, "met", ratio=0.4, value=100.0) == met


def test_v2_on_time_earns_the_value_less_a_value_weighted_latency_share():
    batch_value = 4.0  # a median batch job: 40,000 GFLOP x 1e-4 value units per GFLOP
    met = _job(V2, "met", ratio=0.3, value=batch_value)
    assert list(met) == list(VALUE_TERMS)
    assert met["value"] == batch_value and met["sla"] == 0.0
    assert met["latency"] == pytest.approx(-V2.latency_weight * batch_value * 0.3)
    assert total(met) == pytest.approx(batch_value * (1 - 0.1 * 0.3))


def test_v2_rejected_batch_job_costs_its_value_relative_to_serving_it():
    batch_value = 4.0
    rejected = total(_job(V2, "rejected", ratio=0.0, value=batch_value))
    served = total(_job(V2, "met", ratio=0.01, value=batch_value))
    assert rejected == 0.0  # a rejection forgoes the value (reward 0) ...
    assert served - rejected == pytest.approx(batch_value * (1 - 0.1 * 0.01))  # ... which serving would earn
    # A batch job is worth far more than an interactive one, though a GFLOP of it is worth less.
    prices = {c.name: c.price_per_gflop for c in load_config("starlink-v2").workload.job_classes}
    classes = {c.name: c for c in load_config("starlink-v2").workload.job_classes}
    assert prices["interactive"] > prices["video"] > prices["batch"]
    value = {n: prices[n] * classes[n].work_gflop for n in prices}
    assert value["batch"] > 10 * value["interactive"]


@pytest.mark.parametrize("outcome", ["missed", "dropped"])
def test_v2_late_or_lost_job_earns_nothing_and_pays_the_sla_credit(outcome):
    v = 3.2
    late = _job(V2, outcome, ratio=1.5, value=v)
    assert late["value"] == 0.0
    assert late["sla"] == pytest.approx(-V2.sla_penalty_fraction * v) and V2.sla_penalty_fraction == 0.25
    assert late["miss"] == late["drop"] == late["rejection"] == 0.0  # v2 puts the cost in the value terms
    assert total(late) < total(_job(V2, "rejected", ratio=0.0, value=v)) == 0.0  # late is worse than rejecting


@pytest.mark.parametrize("w", [V1, V2, dataclasses.replace(V2, energy_weight=0.3, reject_penalty=0.2)],
                         ids=["v1", "v2", "v2-energy"])
def test_arrays_give_each_job_what_one_job_gives(w):
    """The upper bound evaluates one job on many nodes at once: elementwise the same numbers as the env's call."""
    rng = np.random.default_rng(0)
    n = 64
    served = rng.random(n) < 0.7
    missed = served & (rng.random(n) < 0.3)
    lost = ~served & (rng.random(n) < 0.5)
    rejected = ~served & ~lost
    invalid = rejected & (rng.random(n) < 0.5)
    ratio, energy, value = rng.uniform(0, 3, n), rng.uniform(0, 5e4, n), rng.uniform(0, 10, n)
    many = total(reward_terms(w, served=served, missed=missed, lost=lost, rejected=rejected, invalid=invalid,
                              latency_ratio=ratio, energy_j=energy, value=value))
    one = [total(reward_terms(w, served=bool(served[i]), missed=bool(missed[i]), lost=bool(lost[i]),
                              rejected=bool(rejected[i]), invalid=bool(invalid[i]), latency_ratio=float(ratio[i]),
                              energy_j=float(energy[i]), value=float(value[i]))) for i in range(n)]
    np.testing.assert_array_equal(many, np.array(one))


def test_env_and_bound_call_the_one_reward_function():
    from orbitcloud_env import reward

    assert env_module.reward_terms is reward.reward_terms and bounds.reward_terms is reward.reward_terms
    assert env_module.total is reward.total and bounds.reward_total is reward.total


def test_value_objective_config_is_validated():
    with pytest.raises(ConfigError, match="objective: must be one of 'count', 'value'"):
        RewardConfig(objective="revenue")
    with pytest.raises(ConfigError, match="sla_penalty_fraction"):
        RewardConfig(sla_penalty_fraction=-0.1)
    with pytest.raises(ConfigError, match="price_per_gflop"):
        load_config("starlink-v2", {"workload.job_classes": [{"name": "a", "price_per_gflop": -1.0}]})
    # The value objective without any priced class: every job would be worth 0.
    with pytest.raises(ConfigError, match=r"workload.job_classes.price_per_gflop: reward.objective 'value' needs"):
        load_config("starlink", {"reward.objective": "value"})
    # v1 defaults: no price, count objective, no SLA (so v0/v1 episodes are unchanged).
    v1 = load_config("starlink")
    assert v1.reward.objective == "count" and v1.reward.sla_penalty_fraction == 0.0
    assert all(c.price_per_gflop == 0.0 for c in v1.workload.job_classes)
    assert "value" not in v1.observation.groups and "trend" not in v1.observation.groups
