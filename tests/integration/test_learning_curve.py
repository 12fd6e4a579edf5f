"""agents.learning_curve: the curve of a run folder with its references' levels, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agents import learning_curve


def _run_dir(tmp_path, results):
    run = tmp_path / "run"
    run.mkdir()
    config = {"algo": "maskable_ppo", "env_id": "OrbitCloud-Small-v1", "seed": 3,
              "env_kwargs": {"max_jobs": 40}}
    (run / "config.yml").write_text(yaml.safe_dump(config))
    np.savez(run / "evaluations.npz", timesteps=np.array([100, 200]), results=np.asarray(results, float),
             ep_lengths=np.full((2, 2), 40))
    return run


def test_curve_and_reference_levels(tmp_path):
    run = _run_dir(tmp_path, [[-5.0, -7.0], [-4.0, -6.0]])
    png, csv_path = learning_curve.write_learning_curve(run, tmp_path / "out" / "curve.png",
                                                        references=["earliest-finish-admit"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = csv_path.read_text().splitlines()
    assert rows[1].startswith("model,100,-6,") and rows[2].startswith("model,200,-5,")
    # The reference is played on the evaluation episodes: same env, seed + 10,000, same episode count.
    direct = learning_curve.reference_returns("OrbitCloud-Small-v1", {"max_jobs": 40}, ["earliest-finish-admit"],
                                              seed=3, n_episodes=2)["earliest-finish-admit"]
    assert rows[3].startswith(f"earliest-finish-admit,,{np.mean(direct):.6g},")
    assert not list((tmp_path / "out").glob("*.tmp*"))


@pytest.mark.parametrize("broken", ["no_npz", "nan", "bad_suffix"])
def test_refusals_name_the_file(tmp_path, capsys, broken):
    run = _run_dir(tmp_path, [[-5.0, np.nan if broken == "nan" else -7.0], [-4.0, -6.0]])
    out = tmp_path / ("curve.jpg" if broken == "bad_suffix" else "curve.png")
    if broken == "no_npz":
        (run / "evaluations.npz").unlink()
    assert learning_curve.main([str(run), "-o", str(out), "--references", "earliest-finish-admit"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("learning_curve: error:") and "Traceback" not in err
    assert {"no_npz": "evaluations.npz", "nan": "non-finite", "bad_suffix": ".png"}[broken] in err
    assert not out.exists()


@pytest.mark.slow
def test_train_evaluates_the_same_episodes_each_time(tmp_path):
    """train.py re-seeds its evaluation env: a model that cannot change (learning rate 1e-12) scores the same at every
    evaluation, so the curve's points differ only by the policy."""
    from agents import train_cli

    status = train_cli.main(["--algo", "maskable_ppo", "--env", "OrbitCloud-Small-v1", "-n", "1024", "--seed", "0",
                             "--eval-freq", "512", "--eval-episodes", "2", "-f", str(tmp_path),
                             "--env-kwargs", "max_jobs:60", "--hyperparams", "n_envs:2", "n_steps:256",
                             "learning_rate:1e-12"])
    assert status == 0
    (run,) = (tmp_path / "maskable_ppo").iterdir()
    with np.load(run / "evaluations.npz") as data:
        results = data["results"]
    assert results.shape == (2, 2) and np.array_equal(results[0], results[1])
