"""examples/cleanrl_ppo.py, tianshou_dqn.py and skrl_ppo.py: each trains a few thousand env steps with no glue of
its own and the env sees no masked-out action (``info["invalid_action"]``), while masks did forbid actions.

Tianshou and skrl are in the ``clients`` extra (``pip install -e ".[clients]" torch==2.13.0``); without them their
tests skip. The training runs are in the slow tier; the flag checks (no library needed) are in the default one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,argv,flag", [("cleanrl_ppo", ["--num-envs", "0"], "--num-envs"),
                                            ("tianshou_dqn", ["--steps", "10"], "--steps"),
                                            ("skrl_ppo", ["--rollouts", "1"], "--rollouts"),
                                            ("cleanrl_ppo", ["--env-id", "OrbitCloud-Smal-v1"], "--env-id")])
def test_bad_flag_is_one_line_and_status_2(name, argv, flag, capsys):
    assert _example(name).main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"error: {flag}" in err


@pytest.mark.slow
def test_cleanrl_ppo_reads_the_mask_from_info_and_takes_no_masked_action():
    ex = _example("cleanrl_ppo")
    args = ex.build_parser().parse_args(["--total-timesteps", "2048", "--num-envs", "4", "--num-steps", "128",
                                         "--max-jobs", "100", "--update-epochs", "2"])
    s = ex.train(args, log=False)
    assert s["steps"] == 2048 and s["episodes"] >= 16
    assert s["masked_out_seen"] > 0  # the mask forbade actions in the last rollout ...
    assert s["invalid_actions"] == 0  # ... and none was taken


@pytest.mark.slow
def test_tianshou_dqn_with_the_mask_in_the_observation_takes_no_masked_action():
    pytest.importorskip("tianshou")
    s = _example("tianshou_dqn").train(steps=2000, max_jobs=100, n_envs=2, test_episodes=2, seed=0)
    assert s["train_steps"] >= 2000 and s["test_episodes"] == 2 and s["test_steps"] == 200
    assert s["train_masked_steps"] > 0
    assert s["train_invalid_actions"] == 0 and s["test_invalid_actions"] == 0


@pytest.mark.slow
def test_skrl_ppo_with_masked_logits_takes_no_masked_action():
    pytest.importorskip("skrl")
    s = _example("skrl_ppo").train(max_jobs=100, num_envs=4, timesteps=512, rollouts=64, eval_timesteps=60, seed=0)
    assert s["train_env_steps"] == 2048 and s["eval_masked_steps"] > 0
    assert s["eval_invalid_actions"] == 0


# ----------------------------------------------------------------------------------------------------------------
# rl-baselines3-zoo


def test_zoo_runner_refuses_an_unknown_command(capsys):
    from agents import zoo

    assert zoo.main(["recordvideo"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "COMMAND: expected one of train, enjoy, record_video" in err


@pytest.mark.slow
def test_zoo_trains_with_the_shipped_yml_and_records_a_video(tmp_path):
    """rl-zoo3's train finds the v1 entry of agents/hyperparams/ppo.yml (no ``-params policy:...``), and
    ``python -m agents.zoo record_video`` records the trained agent (rl-zoo3's record_video has no --gym-packages)."""
    pytest.importorskip("rl_zoo3")
    pytest.importorskip("moviepy")
    import os
    import subprocess
    import sys

    root = EXAMPLES.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    common = ["--algo", "ppo", "--env", "OrbitCloud-Small-v1", "-f", str(tmp_path / "logs"), "--env-kwargs",
              "max_jobs:20"]
    train = subprocess.run([sys.executable, "-m", "rl_zoo3.train", *common, "--gym-packages", "orbitcloud_env",
                            "-conf", str(root / "agents" / "hyperparams" / "ppo.yml"), "-n", "64", "--eval-freq",
                            "-1", "--seed", "0", "-params", "n_envs:1", "n_steps:64", "batch_size:32", "n_epochs:1"],
                           capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "Using 'default' hyperparameters" not in train.stdout  # the zoo's fallback notice
    assert (tmp_path / "logs" / "ppo" / "OrbitCloud-Small-v1_1" / "OrbitCloud-Small-v1.zip").is_file()
    video = subprocess.run([sys.executable, "-m", "agents.zoo", "record_video", *common, "-n", "10", "-o",
                            str(tmp_path / "videos")], capture_output=True, text=True, timeout=600, env=env,
                           cwd=tmp_path)
    assert video.returncode == 0, video.stderr[-2000:]
    assert [p.suffix for p in (tmp_path / "videos").iterdir()] == [".mp4"]
