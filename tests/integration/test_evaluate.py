"""evaluate.py and agents.evaluation against the real env: paired seeds, one metric definition with the env,
baselines and the upper-bound row, CLI errors in process, and one CLI end to end (slow tier)."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import evaluation as E

ROOT = Path(__file__).resolve().parents[2]
ENV_ID = "OrbitCloud-Small-v0"
MAX_JOBS = 40
ENV_SPEC = E.EnvSpec.create(ENV_ID, {"max_jobs": MAX_JOBS})


def _spec(name: str) -> E.PolicySpec:
    import agents

    return E.resolve_policy(name, agents.available())


@pytest.fixture(scope="module")
def serial_results() -> list[E.EpisodeResult]:
    return E.evaluate(ENV_SPEC, [_spec("random"), _spec("earliest-finish")], n_episodes=2, seed=11, n_jobs=1,
                      progress=False)


def test_paired_seeds_give_identical_job_streams(serial_results):
    by = {(r.policy, r.episode): r for r in serial_results}
    for i in range(2):
        a, b = by[("random", i)], by[("earliest-finish", i)]
        assert a.seed == b.seed == 11 + i
        assert a.steps == b.steps == MAX_JOBS
        ids_a = [(job_id, site) for job_id, site, _ in a.jobs]
        ids_b = [(job_id, site) for job_id, site, _ in b.jobs]
        assert ids_a == ids_b
        np.testing.assert_allclose([t for *_, t in a.jobs], [t for *_, t in b.jobs])
        assert a.workload_digest == b.workload_digest
    # Different seeds give different workloads, and the two policies really decided differently.
    assert by[("random", 0)].workload_digest != by[("random", 1)].workload_digest
    assert any(by[("random", i)].metrics != by[("earliest-finish", i)].metrics for i in range(2))


def test_evaluation_metrics_equal_the_env_episode_metrics(serial_results):
    """One definition (orbitcloud_env.metrics): the evaluation's shared metrics are the env's, to the bit."""
    import agents
    from orbitcloud_env.metrics import METRIC_KEYS

    env = E.make_env(ENV_SPEC)
    for r in serial_results:
        policy = agents.make_policy(r.policy, env=env, seed=r.seed)
        obs, _ = env.reset(seed=r.seed)
        infos, rewards, done = [], [], False
        while not done:
            action, _ = policy.predict(obs, action_masks=env.unwrapped.action_masks())
            obs, reward, terminated, truncated, info = env.step(action)
            infos.append(info)
            rewards.append(reward)
            done = terminated or truncated
        env_metrics = infos[-1]["episode_metrics"]
        assert {k: r.metrics[k] for k in METRIC_KEYS} == env_metrics
        assert E.episode_metrics_from_infos(infos, rewards) == r.metrics
        assert r.metrics["n_jobs"] == MAX_JOBS
        assert 0.0 <= r.metrics["jain_fairness"] <= 1.0
    env.close()


@pytest.mark.slow
def test_parallel_run_matches_serial_run(serial_results):
    parallel = E.evaluate(ENV_SPEC, [_spec("random"), _spec("earliest-finish")], n_episodes=2, seed=11, n_jobs=2,
                          progress=False)
    assert [(r.policy, r.episode) for r in parallel] == [(r.policy, r.episode) for r in serial_results]
    for p, s in zip(parallel, serial_results):
        assert p.metrics == s.metrics
        assert p.workload_digest == s.workload_digest


# ----------------------------------------------------------------------------------------------------------------
# Command line


def _run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, saved_models) -> Path:
    """The session's saved PPO model (tests/conftest.py), placed where train.py would put it."""
    import shutil

    run = tmp_path_factory.mktemp("train") / "logs" / "ppo" / f"{ENV_ID}_1"
    run.mkdir(parents=True)
    shutil.copy(saved_models["ppo"], run / "best_model.zip")
    return run / "best_model.zip"


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model):
    from PIL import Image

    out = tmp_path / "results"
    proc = _run_cli("--env", ENV_ID, "--policies", "random", "earliest-finish", str(tiny_model),
                    "--episodes", "3", "--seed", "5", "-o", str(out), "--env-kwargs", f"max_jobs:{MAX_JOBS}",
                    "--n-jobs", "2", "--render-episode", "earliest-finish", "--render-frames", "8",
                    "--n-resamples", "500", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    model_label = f"ppo/{ENV_ID}_1/best_model"
    assert model_label in proc.stdout and "| Policy |" in proc.stdout

    expected = ["summary.md", "summary.csv", "summary.json", "episodes.csv", "probability_of_improvement.csv",
                "run.json", "metrics.png", "latency_cdf.png", "region_latency.png", "episode_earliest-finish.gif"]
    for name in expected:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind

    with open(out / "episodes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bound = {r["seed"]: float(r["episode_return"]) for r in rows if r["policy"] == E.UPPER_BOUND}
    assert sorted(bound) == ["5", "6", "7"]  # computed in the workers, one per seed
    rows = [r for r in rows if r["policy"] != E.UPPER_BOUND]
    assert len(rows) == 9
    assert all(float(r["episode_return"]) <= bound[r["seed"]] + 1e-9 for r in rows)
    assert {r["policy"] for r in rows} == {"random", "earliest-finish", model_label}
    for i in range(3):
        ep = [r for r in rows if r["episode"] == str(i)]
        assert {r["seed"] for r in ep} == {str(5 + i)}
        assert len({r["workload_digest"] for r in ep}) == 1  # same job stream for every policy
    for col in ("mean_latency_ms", "p95_latency_ms", "deadline_miss_rate", "orbital_share", "jain_fairness",
                "episode_return", "energy_j_per_job"):
        assert all(math.isfinite(float(r[col])) for r in rows), col

    summary = json.loads((out / "summary.json").read_text())
    assert summary["normalized_score"]["random"]["value"] == 0.0
    assert summary["normalized_score"]["earliest-finish"]["value"] == 1.0
    assert summary["policies"] == ["random", "earliest-finish", model_label, E.UPPER_BOUND]
    assert summary["baselines"]["upper"] == "earliest-finish"  # the only heuristic besides random
    assert "crosscheck" not in summary
    with open(out / "summary.csv", newline="") as fh:
        assert [r["policy"] for r in csv.DictReader(fh)][-1] == E.UPPER_BOUND
    with open(out / "probability_of_improvement.csv", newline="") as fh:
        poi = list(csv.DictReader(fh))
    assert len(poi) == 6 and all(0.0 <= float(r["probability_of_improvement"]) <= 1.0 for r in poi)
    md = (out / "summary.md").read_text()
    assert md.count("\n| ") >= 4 and "[" in md
    run = json.loads((out / "run.json").read_text())
    assert run["seeds"] == [5, 6, 7] and run["env_kwargs"] == {"max_jobs": MAX_JOBS}

    for name in ("metrics.png", "latency_cdf.png", "region_latency.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
    with Image.open(out / "episode_earliest-finish.gif") as im:
        assert im.format == "GIF" and 2 <= im.n_frames <= 8

    # Same folder again, accepted with --overwrite (refusal without it: test_cli_refuses_non_empty_results_folder).
    rc = _evaluate_main()(["--env", ENV_ID, "--policies", "random", "--episodes", "1", "-o", str(out),
                           "--env-kwargs", f"max_jobs:{MAX_JOBS}", "--no-plots", "--no-progress", "--overwrite", "--no-bound"])
    assert rc == 0
    assert len(list(csv.DictReader(open(out / "episodes.csv", newline="")))) == 1


def _evaluate_main():
    """The evaluation command's main (agents/evaluate_cli.py, behind evaluate.py and orbitcloud-evaluate)."""
    from agents.evaluate_cli import main

    return main


@pytest.mark.parametrize("args, message", [
    (["--policies", "random", "earliest_finnish"], "unknown policy 'earliest_finnish'"),
    (["--policies", "random", "logs/ppo/nope/best_model.zip"], "model file not found"),
    (["--policies", "random", "--env-kwargs", "max_jobs=20"], "expected KEY:VALUE"),
    (["--policies", "random", "--env-kwargs", "max_jobz:20"], "cannot make env"),
    (["--policies", "random", "--env", "OrbitCloud-Smal-v0"], "did you mean 'OrbitCloud-Small-v0'"),
    (["--policies", "random", "--render-episode", "nearest"], "not among --policies"),
    (["--policies", "random", "random"], "policy given twice"),
    (["--policies", "upper-bound=random"], "reserved for the reference row"),
    (["--policies", "random", "--n-resamples", "0"], "--n-resamples must be >= 1"),
    (["--policies", "random", "--episodes", "0"], "--episodes must be >= 1"),
    (["--policies", "random", "--score-metric", "latency"], "unknown metric 'latency'"),
    (["--policies", "random", "--resume", "--overwrite"], "--resume and --overwrite"),
    (["--policies", "random", "--score-metric", "reward.latncy"], "no reward term 'reward.latncy'"),
])
def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "results"
    rc = _evaluate_main()(["--env", ENV_ID, "-o", str(out), "--no-progress", *args])  # a later --env wins
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("evaluate.py: error: ")
    assert not out.exists()  # refused before any work


@pytest.mark.slow
def test_cli_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    out = tmp_path / "results"
    proc = _run_cli("--env", ENV_ID, "-o", str(out), "--policies", "random", "logs/ppo/nope/best_model.zip",
                    timeout=60)
    assert proc.returncode == 2
    assert "model file not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_refuses_non_empty_results_folder(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    rc = _evaluate_main()(["--env", ENV_ID, "--policies", "random", "-o", str(out), "--no-progress"])
    assert rc == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_vecnormalize_beside_model_is_used(tmp_path, tiny_model):
    """A vecnormalize.pkl next to the model is found, loaded by agents.load and applied during evaluation."""
    import shutil

    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    import orbitcloud_env  # noqa: F401

    run = tmp_path / "logs" / "ppo" / f"{ENV_ID}_2"
    run.mkdir(parents=True)
    shutil.copy(tiny_model, run / "best_model.zip")
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(ENV_ID, max_jobs=MAX_JOBS)]), norm_reward=False)
    venv.reset()
    for _ in range(20):
        venv.step(np.array([venv.action_space.sample()]))
    venv.save(run / "vecnormalize.pkl")
    venv.close()

    spec = _spec(str(run / "best_model.zip"))
    assert spec.vecnormalize == str(run / "vecnormalize.pkl")
    env = E.make_env(ENV_SPEC)
    policy = E.build_policy(spec, env)
    assert getattr(policy, "obs_normalizer", None) is not None
    result = E.run_episode(env, policy, seed=3, label=spec.label)
    env.close()
    assert result.steps == MAX_JOBS and result.metrics["n_jobs"] == MAX_JOBS


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_upper_bound_row_and_strongest_heuristic_baseline(tmp_path, capsys):
    """Default run: an upper-bound row per seed that no policy beats, scores normalised by the best heuristic."""
    out = tmp_path / "results"
    rc = _evaluate_main()(["--env", ENV_ID, "--policies", "random", "nearest", "least-loaded", "--episodes", "2",
                           "--seed", "3", "-o", str(out), "--env-kwargs", f"max_jobs:{MAX_JOBS}", "--no-plots",
                           "--no-progress", "--n-resamples", "100"])
    stdout = capsys.readouterr().out
    assert rc == 0
    rows = _rows(out / "episodes.csv")
    bound = {r["seed"]: float(r["episode_return"]) for r in rows if r["policy"] == E.UPPER_BOUND}
    assert sorted(bound) == ["3", "4"]
    policy_rows = [r for r in rows if r["policy"] != E.UPPER_BOUND]
    assert len(policy_rows) == 6
    assert all(float(r["episode_return"]) <= bound[r["seed"]] + 1e-9 for r in policy_rows)
    means = {p: np.mean([float(r["episode_return"]) for r in policy_rows if r["policy"] == p])
             for p in ("nearest", "least-loaded")}
    strongest = max(means, key=means.get)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baselines"]["lower"] == "random" and summary["baselines"]["upper"] == strongest
    assert summary["reference"] == [E.UPPER_BOUND] and summary["policies"][-1] == E.UPPER_BOUND
    assert summary["normalized_score"][strongest]["value"] == 1.0
    assert summary["normalized_score"][E.UPPER_BOUND]["value"] >= 1.0
    assert all(E.UPPER_BOUND not in (r["policy"], r["baseline"]) for r in summary["probability_of_improvement"])
    md = (out / "summary.md").read_text()
    for text in (md, stdout):
        assert f"upper baseline {strongest} is the strongest heuristic of this run" in text
        assert f"| {E.UPPER_BOUND} |" in text
    assert json.loads((out / "run.json").read_text())["baselines"]["upper"] == strongest


def test_cli_explicit_baselines_and_no_bound(tmp_path, capsys):
    out = tmp_path / "results"
    rc = _evaluate_main()(["--env", ENV_ID, "--policies", "random", "nearest", "least-loaded", "--episodes", "2",
                           "-o", str(out), "--env-kwargs", f"max_jobs:{MAX_JOBS}", "--no-plots", "--no-progress",
                           "--n-resamples", "100", "--baselines", "random", "nearest", "--no-bound"])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert {r["policy"] for r in _rows(out / "episodes.csv")} == {"random", "nearest", "least-loaded"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baselines"] == {"lower": "random", "upper": "nearest", "source": "baselines set with --baselines"}
    assert summary["normalized_score"]["nearest"]["value"] == 1.0 and summary["reference"] == []
    assert "baselines set with --baselines" in stdout and E.UPPER_BOUND not in stdout


def test_heuristics_get_the_env_they_run_on(monkeypatch):
    """Rollout workers build each heuristic with agents.make_policy(name, env=env, seed=seed) on their own env
    (lookahead plans on it)."""
    import agents

    calls = []
    real = agents.make_policy

    def spy(name, env=None, seed=None, **kw):
        calls.append((name, env, seed))
        return real(name, env=env, seed=seed, **kw)

    monkeypatch.setattr(agents, "make_policy", spy)
    results = E.evaluate(ENV_SPEC, [_spec("earliest-finish")], n_episodes=2, seed=5, progress=False)
    assert [(name, seed) for name, _, seed in calls] == [("earliest-finish", 5), ("earliest-finish", 6)]
    assert all(env is not None and env.unwrapped.config.episode.max_jobs == MAX_JOBS for _, env, _ in calls)
    assert [r.seed for r in results] == [5, 6]
