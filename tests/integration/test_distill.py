"""Distillation of the lookahead planner (agents/distill.py, train.py --pretrain lookahead / --pretrain-demos):
collection, the group projection behind the ablation, the demonstrations file, and the training command's checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids
from agents import train_cli
from agents.distill import (
    DemonstrationsError,
    check_demonstrations,
    collect_expert_demonstrations,
    load_demonstrations,
    project_demonstrations,
    save_demonstrations,
)
from agents.heuristics import EarliestFinishAdmitPolicy

ENV_ID = "OrbitCloud-Small-v1"
TINY = {"max_jobs": 30}


@pytest.fixture(scope="module")
def demos():
    """60 lookahead decisions (two tiny episodes) in this process."""
    return collect_expert_demonstrations(ENV_ID, 60, env_kwargs=TINY, n_workers=1, seed=3, verbose=0)


def test_collection_layout_and_masks(demos):
    env = gym.make(ENV_ID, **TINY)
    check_demonstrations(demos, env.observation_space, int(env.action_space.n))
    assert demos["actions"].shape == (60, 1)
    taken = np.take_along_axis(demos["masks"][:, 0], demos["actions"], axis=1)
    assert taken.all(), "every recorded action is valid under its recorded mask"
    assert demos["dones"][-1, 0] and demos["dones"].sum() >= 2  # two 30-job episodes, the share's end marked


def test_collection_is_deterministic(demos):
    again = collect_expert_demonstrations(ENV_ID, 60, env_kwargs=TINY, n_workers=1, seed=3, verbose=0)
    np.testing.assert_array_equal(again["actions"], demos["actions"])
    for k in demos["obs"]:
        np.testing.assert_array_equal(again["obs"][k], demos["obs"][k])
    other = collect_expert_demonstrations(ENV_ID, 60, env_kwargs=TINY, n_workers=1, seed=4, verbose=0)
    assert not np.array_equal(other["obs"]["job"], demos["obs"]["job"])


def test_projection_equals_an_env_without_the_group():
    """The full env's observation with a group removed equals what an env without the group shows."""
    full = gym.make(ENV_ID, **TINY)
    groups = list(full.unwrapped.config.observation.groups)
    policy = EarliestFinishAdmitPolicy()
    for dropped in ("load", "power", "links", "backlog", "progress", "ranking"):
        kept = [g for g in groups if g != dropped]
        small = gym.make(ENV_ID, groups=kept, **TINY)
        obs_f, _ = full.reset(seed=11)
        obs_s, _ = small.reset(seed=11)
        for _ in range(8):
            demo = {"obs": {k: v[None, None] for k, v in obs_f.items()}, "actions": np.zeros((1, 1), np.int64),
                    "masks": full.unwrapped.action_masks()[None, None], "rewards": np.zeros((1, 1)),
                    "dones": np.zeros((1, 1), bool)}
            projected = project_demonstrations(demo, groups, kept)["obs"]
            assert set(projected) == set(obs_s), dropped
            for k, v in obs_s.items():
                np.testing.assert_array_equal(projected[k][0, 0], v, err_msg=f"{dropped}: {k}")
            a, _ = policy.predict(obs_f, action_masks=full.unwrapped.action_masks())
            obs_f, *_ = full.step(int(a))
            obs_s, *_ = small.step(int(a))


def test_projection_refuses_groups_not_recorded(demos):
    with pytest.raises(ValueError, match="not recorded"):
        project_demonstrations(demos, ["backlog"], ["backlog", "load"])
    with pytest.raises(ValueError, match="order"):
        project_demonstrations(demos, ["backlog", "load"], ["load", "backlog"])


def test_save_load_round_trip(demos, tmp_path):
    path = save_demonstrations(tmp_path / "d.npz", demos, env_id=ENV_ID, groups=["a"], expert="lookahead")
    loaded, meta = load_demonstrations(path)
    assert meta == {"format": "orbitcloud-demonstrations-1", "env_id": ENV_ID, "groups": ["a"],
                    "expert": "lookahead"}
    np.testing.assert_array_equal(loaded["actions"], demos["actions"])
    np.testing.assert_array_equal(loaded["obs"]["job"], demos["obs"]["job"])
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temporary file left


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(DemonstrationsError, match="no such file"):
        load_demonstrations(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(DemonstrationsError, match="not an OrbitCloud demonstrations file"):
        load_demonstrations(bad)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(DemonstrationsError, match="not an OrbitCloud demonstrations file"):
        load_demonstrations(other)


def test_check_refuses_other_spaces(demos):
    env = gym.make("OrbitCloud-Small-v0")
    with pytest.raises(DemonstrationsError, match="observation keys differ"):
        check_demonstrations(demos, env.observation_space, int(env.action_space.n))


@pytest.mark.slow  # it trains (behaviour cloning through train.py): the end-to-end tier
def test_train_cli_clones_saved_demonstrations(demos, tmp_path, capsys):
    """--pretrain-demos with -n 0: the cloned policy is saved, onto an env without a recorded group too."""
    full = gym.make(ENV_ID)
    groups = list(full.unwrapped.config.observation.groups)
    path = save_demonstrations(tmp_path / "d.npz", demos, env_id=ENV_ID, groups=groups, expert="lookahead")
    kept = [g for g in groups if g != "load"]
    status = train_cli.main(["--algo", "maskable_ppo", "--env", ENV_ID, "--seed", "0", "--pretrain-demos", str(path),
                             "--pretrain-epochs", "1", "-n", "0", "--n-envs", "1", "--eval-freq", "0",
                             "-f", str(tmp_path / "logs"), "--verbose", "0", "--env-kwargs", "max_jobs:30",
                             f"groups:{kept!r}"])
    assert status == 0, capsys.readouterr().err
    saved = list((tmp_path / "logs").glob(f"maskable_ppo/*/{ENV_ID}.zip"))
    assert len(saved) == 1
    import agents

    env = gym.make(ENV_ID, groups=kept, max_jobs=30)
    policy = agents.make_policy(saved[0], env=env)
    obs, _ = env.reset(seed=0)
    action, _ = policy.predict(obs, action_masks=env.unwrapped.action_masks())
    assert env.unwrapped.action_masks()[int(action)]


@pytest.mark.parametrize("argv, message", [
    (["--pretrain-demos", "missing.npz"], "--pretrain-demos: no such file"),
    (["--pretrain", "lookahead", "--pretrain-demos", "x.npz"], "give one"),
    (["--pretrain", "lookahed"], "did you mean 'lookahead'"),
    (["--pretrain", "lookahead", "--pretrain-workers", "0"], "--pretrain-workers"),
    (["-n", "0"], "-n/--n-timesteps: must be >= 1"),
])
def test_train_cli_refuses_bad_flags(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    status = train_cli.main(["--algo", "maskable_ppo", "--env", ENV_ID, *argv, "-f", str(tmp_path / "logs")])
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.zip"))


def test_lookahead_values_recorded(demos):
    """Each decision carries the rollout value of every action the lookahead tried, its choice the best of them."""
    values = demos["values"][:, 0]
    tried = np.isfinite(values)
    rows = np.flatnonzero(tried.sum(axis=1) >= 2)
    assert rows.size > 0
    best = np.nanargmax(values[rows], axis=1)
    np.testing.assert_array_equal(best, demos["actions"][rows, 0])


def test_soft_targets():
    from agents.pretrain import soft_targets

    values = np.array([[1.0, 0.0, np.nan, 1.0], [np.nan, np.nan, np.nan, -2.0]])
    t = soft_targets(values, np.array([0, 3]), temperature=1.0)
    np.testing.assert_allclose(t[0], [np.e / (2 * np.e + 1), 1 / (2 * np.e + 1), 0.0, np.e / (2 * np.e + 1)])
    np.testing.assert_array_equal(t[1], [0, 0, 0, 1])  # one value: the taken action
    np.testing.assert_allclose(soft_targets(values, np.array([0, 3]), temperature=1e-6)[0], [0.5, 0, 0, 0.5])


def test_row_scoring_policy_clones_and_saves(demos, tmp_path):
    """RowScoringPolicy: soft-target cloning lowers the loss; the saved model loads and acts within the mask;
    its logits follow the rows when the rows are permuted (one network per row)."""
    import torch as th
    from sb3_contrib import MaskablePPO

    import agents
    from agents.policies import RowScoringPolicy
    from agents.pretrain import pretrain_policy

    env = gym.make(ENV_ID, **TINY)
    model = MaskablePPO(RowScoringPolicy, env, policy_kwargs=dict(row_arch=[16, 16]), seed=0, device="cpu")
    first = pretrain_policy(model, demos, epochs=1, temperature=0.5, verbose=0)
    # a few more epochs (one batch each: 60 decisions) lower the loss; the long fit is the slow tier's (train.py)
    last = pretrain_policy(model, demos, epochs=3, temperature=0.5, verbose=0)
    assert last["bc_loss"] < first["bc_loss"]
    obs = {k: th.as_tensor(v[:1, 0]) for k, v in demos["obs"].items()}
    perm = th.randperm(env.action_space.n - 1, generator=th.Generator().manual_seed(0))
    shuffled = {k: (v[:, perm] if k != "job" else v) for k, v in obs.items()}
    with th.no_grad():
        logits = model.policy.get_distribution(obs).distribution.logits
        logits_p = model.policy.get_distribution(shuffled).distribution.logits
    th.testing.assert_close(logits_p[0, :-1], logits[0, :-1][perm], rtol=1e-4, atol=1e-4)
    path = tmp_path / "row.zip"
    model.save(path)
    policy = agents.make_policy(path, env=env)
    o, _ = env.reset(seed=1)
    a, _ = policy.predict(o, action_masks=env.unwrapped.action_masks())
    assert env.unwrapped.action_masks()[int(a)]


def test_row_scoring_prior_starts_as_earliest_finish_admit(demos):
    """prior_logit > 0: an untrained policy's greedy action is earliest-finish-admit's on every recorded state."""
    from sb3_contrib import MaskablePPO

    from agents.policies import RowScoringPolicy

    env = gym.make(ENV_ID, **TINY)
    model = MaskablePPO(RowScoringPolicy, env, policy_kwargs=dict(row_arch=[16, 16], prior_logit=5.0), seed=0,
                        device="cpu")
    obs = {k: v[:, 0] for k, v in demos["obs"].items()}
    masks = demos["masks"][:, 0]
    ours, _ = model.predict(obs, action_masks=masks, deterministic=True)
    ef, _ = EarliestFinishAdmitPolicy().predict(obs, action_masks=masks)
    np.testing.assert_array_equal(ours, ef)


def test_row_scoring_policy_by_name_needs_maskable_ppo(tmp_path, capsys):
    status = train_cli.main(["--algo", "ppo", "--env", ENV_ID, "--hyperparams", "policy:RowScoringPolicy",
                             "-f", str(tmp_path / "logs")])
    assert status == 2
    err = capsys.readouterr().err
    assert "policy RowScoringPolicy: needs algorithm maskable_ppo, not ppo" in err and "Traceback" not in err
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.zip"))


@pytest.mark.parametrize("argv, message", [
    (["--drop", "bogus"], "--drop: ['bogus'] are not observation groups"),
    (["--drop", "load+bogus"], "--drop: ['bogus'] are not observation groups"),
    (["--decisions", "0"], "--decisions: must be >= 1"),
    (["--demos", "missing.npz"], "--demos: no such file"),
    (["--baseline", "nope"], "--baseline: must be one of"),
])
def test_ablation_benchmark_refuses_bad_flags(tmp_path, capsys, argv, message):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "distill_ablation.py"
    spec = importlib.util.spec_from_file_location("distill_ablation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exc:
        module.main(["--env", ENV_ID, "-o", str(tmp_path / "out"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_distill_cli_collects_merges_and_refuses_bad_input(tmp_path, capsys):
    """python -m agents.distill: collect writes a demonstrations file, merge joins files of one expert and id, and
    bad flags or files end with one line naming them (exit 2)."""
    from agents.training.distill import load_demonstrations, main

    a, b, joined = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "ab.npz"
    for path, seed in ((a, 1), (b, 2)):
        assert main(["collect", "--env", "OrbitCloud-Small-v2", "--expert", "earliest-finish-admit", "--decisions",
                     "12", "--workers", "1", "--seed", str(seed), "-o", str(path)]) == 0
    assert main(["merge", str(a), str(b), "-o", str(joined)]) == 0
    demos, meta = load_demonstrations(joined)
    assert demos["actions"].shape[0] == 24 and meta["expert"] == "earliest-finish-admit"
    first, _ = load_demonstrations(a)
    assert np.array_equal(demos["actions"][:12], first["actions"])
    capsys.readouterr()
    assert main(["collect", "--decisions", "0", "-o", str(tmp_path / "x.npz")]) == 2
    assert main(["collect", "--expert", "oracle", "-o", str(tmp_path / "x.npz")]) == 2
    assert main(["merge", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "--decisions" in err[0] and "--expert" in err[1] and "missing.npz" in err[2]
    assert not (tmp_path / "x.npz").exists()
