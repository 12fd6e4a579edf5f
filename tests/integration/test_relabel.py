"""Relabelling of lookahead-admit's demonstrations (agents/training/relabel.py, python -m agents.distill relabel):
which decisions change, what their new values are, the rate cut, determinism and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids
from agents.heuristics import EarliestFinishAdmitPolicy, TunedAdmitPolicy
from agents.training.distill import collect_expert_demonstrations, load_demonstrations, main, save_demonstrations
from agents.training.relabel import FEATURES, PRIOR_VALUE, admission_features, relabel_admission

ENV_ID = "OrbitCloud-v2"
GROUPS = ["backlog", "load", "power", "links", "progress", "ranking", "value", "trend"]


@pytest.fixture(scope="module")
def planted():
    """tuned-admit's decisions on OrbitCloud-v2 with planted rollout values on batch jobs: placing at the
    earliest-finishing valid row is worth 3 - 20 x global_rate (+ noise of sd 4) more than rejecting."""
    demos = collect_expert_demonstrations(ENV_ID, 1500, expert="tuned-admit", n_workers=1, seed=5, verbose=0)
    obs = {k: v[:, 0] for k, v in demos["obs"].items()}
    n_rows = obs["node_valid"].shape[1]
    batch = obs["job"][:, 8 + 2] > 0.5
    place = EarliestFinishAdmitPolicy().predict(obs)[0]
    planned = batch & (place < n_rows)
    rate = admission_features(obs, np.minimum(place, n_rows - 1), GROUPS)[:, FEATURES.index("job.global_rate")]
    true_gap = 3.0 - 20.0 * rate
    noise = np.random.default_rng(0).normal(0.0, 4.0, len(rate))
    values = np.full((len(rate), n_rows + 1), np.nan, dtype=np.float32)
    rows = np.flatnonzero(planned)
    values[rows, place[rows]] = true_gap[rows] + noise[rows]
    values[rows, n_rows] = 0.0
    demos["values"] = values[:, None]
    meta = {"env_id": ENV_ID, "groups": GROUPS, "expert": "lookahead-admit"}
    return demos, meta, rows, place, true_gap, rate, obs


def test_relabel_replaces_only_planned_values_by_estimates_or_the_prior(planted):
    demos, meta, rows, place, true_gap, rate, obs = planted
    assert len(rows) >= 50
    out, report = relabel_admission(demos, meta, max_global_rate=0.25, margin=1.0, folds=5, seed=0)
    old, new = demos["values"][:, 0], out["values"][:, 0]
    others = np.setdiff1d(np.arange(len(old)), rows)
    assert np.isnan(new[others]).all()
    assert np.array_equal(np.isfinite(new), np.isfinite(old))
    n_rows = new.shape[1] - 1
    label_gap = new[rows, place[rows]] - new[rows, n_rows]
    trusted = rate[rows] < 0.25
    assert report["planned"] == len(rows) and report["trusted"] == int(trusted.sum()) > 10
    # Below the cut: an estimate of the planted mean gap (minus the margin), not the noisy value.
    estimate = label_gap[trusted] + 1.0
    assert np.corrcoef(estimate, true_gap[rows][trusted])[0, 1] > 0.5
    assert np.abs(estimate - true_gap[rows][trusted]).mean() < np.abs(old[rows, place[rows]] - true_gap[rows])[
        trusted].mean()
    # Above it: tuned-admit's decision, PRIOR_VALUE against 0.
    prior = TunedAdmitPolicy(env_id=ENV_ID).predict({k: v[rows] for k, v in obs.items()})[0]
    for i in np.flatnonzero(~trusted):
        chosen = prior[i] if prior[i] == n_rows else place[rows][i]
        assert new[rows[i], chosen] == PRIOR_VALUE and np.nansum(new[rows[i]]) == PRIOR_VALUE
    # Everything else is the input's.
    assert np.array_equal(out["actions"], demos["actions"]) and out["obs"] is demos["obs"]


def test_relabel_is_deterministic_and_refuses_bad_arguments(planted):
    demos, meta, *_ = planted
    a, _ = relabel_admission(demos, meta, seed=3)
    b, _ = relabel_admission(demos, meta, seed=3)
    assert np.array_equal(a["values"], b["values"], equal_nan=True)
    for kwargs, word in (({"margin": float("nan")}, "margin"), ({"max_global_rate": 0.0}, "max_global_rate"),
                         ({"folds": 1}, "folds")):
        with pytest.raises(ValueError, match=word):
            relabel_admission(demos, meta, **kwargs)
    with pytest.raises(ValueError, match="values"):
        relabel_admission({k: v for k, v in demos.items() if k != "values"}, meta)
    with pytest.raises(ValueError, match="trend"):
        relabel_admission(demos, {**meta, "groups": ["backlog", "load"]})


def test_relabel_cli_writes_a_file_train_py_reads_and_refuses_other_experts(planted, tmp_path, capsys):
    demos, meta, rows, *_ = planted
    src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
    save_demonstrations(src, demos, env_id=ENV_ID, groups=GROUPS, expert="lookahead-admit")
    assert main(["relabel", str(src), "--margin", "2", "--max-global-rate", "0.3", "-o", str(dst)]) == 0
    assert f"{len(rows)} planned admissions relabelled" in capsys.readouterr().out
    out, out_meta = load_demonstrations(dst)
    assert out_meta["expert"] == "lookahead-admit" and np.isfinite(out["values"]).sum() == 2 * len(rows)
    other = tmp_path / "other.npz"
    save_demonstrations(other, demos, env_id=ENV_ID, groups=GROUPS, expert="tuned-admit")
    assert main(["relabel", str(other), "-o", str(tmp_path / "x.npz")]) == 2
    assert main(["relabel", str(src), "--margin", "nan", "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "lookahead-admit" in err[0] and "margin" in err[1]
    assert not (tmp_path / "x.npz").exists()
