"""RowScoringPolicy's residual prior as tuned-admit: the same actions, and train.py's 'tuned-admit' shorthand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from agents.cli import UsageError
from agents.heuristics import TunedAdmitPolicy
from agents.hyperparameters import resolve_prior_params
from agents.policies import RowScorer, check_prior_params
from orbitcloud_env.observation import N_JOB_BASE_FEATURES

CLASSES = ("interactive", "video", "batch")
KEYS = ("node_latency", "node_wait", "node_compute", "node_valid", "node_is_ground", "node_soc")
PARAMS = {"admit_threshold": [0.9, 0.6, 0.15], "ground_bias": [0.0, -0.3, 0.4], "battery_reserve": 0.35}


def _obs(rng, batch=256, m=8):
    obs = {k: (rng.integers(0, 12, (batch, m)) / 8).astype(np.float32)
           for k in ("node_latency", "node_wait", "node_compute")}
    obs["node_valid"] = (rng.random((batch, m)) < 0.7).astype(np.float32)
    obs["node_is_ground"] = (rng.random((batch, m)) < 0.3).astype(np.float32)
    obs["node_soc"] = np.where(obs["node_is_ground"] > 0, 1.0, rng.integers(0, 10, (batch, m)) / 10).astype(np.float32)
    job = np.zeros((batch, N_JOB_BASE_FEATURES + len(CLASSES) + 3), np.float32)
    job[np.arange(batch), N_JOB_BASE_FEATURES + rng.integers(0, len(CLASSES), batch)] = 1.0
    obs["job"] = job
    return obs


@pytest.mark.parametrize("params", [None, PARAMS])
def test_prior_is_tuned_admit(params):
    rng = np.random.default_rng(0)
    obs = _obs(rng)
    m, j = obs["node_valid"].shape[1], obs["job"].shape[1]
    kwargs = {"prior_params": check_prior_params(params), "ground_index": 4, "soc_index": 5} if params else {}
    scorer = RowScorer(m, len(KEYS), j, [8], [8], th.nn.Tanh, prior_logit=5.0, finish_index=[0, 1, 2],
                       valid_index=3, **kwargs)
    rows = th.as_tensor(np.stack([obs[k] for k in KEYS], axis=-1))
    prior = scorer.prior_choice(rows, th.as_tensor(obs["job"])).argmax(dim=1).numpy()
    heuristic = TunedAdmitPolicy(env_id="", classes=CLASSES, params={
        "admit_threshold": dict(zip(CLASSES, params["admit_threshold"])),
        "ground_bias": dict(zip(CLASSES, params["ground_bias"])),
        "battery_reserve": params["battery_reserve"]} if params else None)
    actions, _ = heuristic.predict(obs)
    # Ties in float32 could break differently; the coarse grid here has exact sums, so none do.
    assert np.array_equal(prior, actions)


def test_prior_params_refusals():
    with pytest.raises(ValueError, match="prior_params: unknown key 'backlog_cap'"):
        check_prior_params({"backlog_cap": [1.0]})
    with pytest.raises(ValueError, match=r"prior_params\['admit_threshold'\]"):
        check_prior_params({"admit_threshold": [0.5, -1.0, 1.0]})
    with pytest.raises(ValueError, match="battery_reserve"):
        check_prior_params({"battery_reserve": 2.0})


def test_train_shorthand_reads_the_tuned_file(tmp_path, monkeypatch):
    import agents.heuristics as heuristics

    monkeypatch.setattr(heuristics, "TUNED_DIR", tmp_path)
    kwargs = {"learning_rate": 1e-4, "policy_kwargs": {"prior_logit": 5.0, "prior_params": "tuned-admit"}}
    with pytest.raises(UsageError, match="no tuned parameters for OrbitCloud-v2"):
        resolve_prior_params(kwargs, "orbitcloud_env:OrbitCloud-v2")
    (tmp_path / "OrbitCloud-v2.json").write_text(json.dumps({"env_id": "OrbitCloud-v2", "classes": list(CLASSES),
        "params": {"admit_threshold": {"interactive": 1.2, "video": 0.5, "batch": 0.1},
                   "ground_bias": {"interactive": 0.0, "video": 0.2, "batch": -0.1},
                   "battery_reserve": 0.25, "backlog_cap": {c: None for c in CLASSES}}}))
    out = resolve_prior_params(kwargs, "orbitcloud_env:OrbitCloud-v2")
    assert out["policy_kwargs"]["prior_params"] == {"admit_threshold": [1.2, 0.5, 0.1],
                                                    "ground_bias": [0.0, 0.2, -0.1], "battery_reserve": 0.25}
    assert kwargs["policy_kwargs"]["prior_params"] == "tuned-admit"  # the input is not changed
    assert resolve_prior_params({"policy_kwargs": {"prior_logit": 5.0}}, "OrbitCloud-v2") == {
        "policy_kwargs": {"prior_logit": 5.0}}


def test_admission_action_set_leaves_the_placement_row_and_reject():
    """action_set="admission": two actions stay (the prior's placement row, or the earliest-finishing valid row
    when the prior rejects, and reject); the untrained policy's greedy action is still the prior's."""
    rng = np.random.default_rng(1)
    obs = _obs(rng)
    m, j = obs["node_valid"].shape[1], obs["job"].shape[1]
    scorer = RowScorer(m, len(KEYS), j, [8], [8], th.nn.Tanh, prior_logit=3.0, finish_index=[0, 1, 2],
                       valid_index=3, prior_params=check_prior_params(PARAMS), ground_index=4, soc_index=5,
                       action_set="admission")
    rows = th.as_tensor(np.stack([obs[k] for k in KEYS], axis=-1))
    job = th.as_tensor(obs["job"])
    allowed = scorer.admission_actions(rows, job).numpy()
    prior = scorer.prior_choice(rows, job).argmax(dim=1).numpy()
    any_valid = obs["node_valid"].any(axis=1)
    assert allowed[:, -1].all() and (allowed.sum(axis=1) == np.where(any_valid, 2, 1)).all()
    assert allowed[np.arange(len(prior)), prior].all()
    finish = obs["node_latency"] + obs["node_wait"] + obs["node_compute"]
    efa = np.argmin(np.where(obs["node_valid"] > 0, finish, np.inf), axis=1)
    rejected = (prior == m) & any_valid
    assert allowed[np.flatnonzero(rejected), efa[rejected]].all()
    with th.no_grad():
        features = th.cat([rows.flatten(1), job], dim=1)
        logits = scorer.forward_actor(features)
    assert np.array_equal(logits.argmax(dim=1).numpy(), prior)
    assert (logits.numpy()[~allowed] < -1e7).all()
