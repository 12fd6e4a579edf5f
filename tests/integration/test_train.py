"""train.py end to end (subprocess smoke runs) and its flag parsing / hyperparameter resolution."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import agents
import orbitcloud_env  # noqa: F401 - registers the ids

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "train.py"
ENV_ID = "OrbitCloud-Small-v0"
# Tiny runs: 2 envs x n_steps 64 = 128 steps per PPO update, 512 steps in all, 2 evaluations, 2 checkpoints.
SMOKE = ["--env", ENV_ID, "-n", "512", "--seed", "0", "--n-envs", "2", "--eval-freq", "256", "--eval-episodes", "1",
         "--save-freq", "256", "--env-kwargs", "max_jobs:20", "--hyperparams", "n_steps:64", "batch_size:64",
         "n_epochs:2", "--verbose", "0"]


def _train(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, str(TRAIN), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _load_train_module():
    spec = importlib.util.spec_from_file_location("orbitcloud_train", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One smoke run per algorithm (ppo, maskable_ppo), shared by the layout tests."""
    cwd = tmp_path_factory.mktemp("train")
    out = {}
    for algo in ("ppo", "maskable_ppo"):
        proc = _train("--algo", algo, *SMOKE, "-tb", "tb", cwd=cwd)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[algo] = (cwd / "logs" / algo / f"{ENV_ID}_1", proc)
    return cwd, out


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_smoke_run_layout(runs, algo):
    cwd, out = runs
    run_dir, proc = out[algo]
    names = {p.name for p in run_dir.iterdir()}
    assert {f"{ENV_ID}.zip", "best_model.zip", "evaluations.npz", "config.yml", "command.txt",
            "rl_model_256_steps.zip", "rl_model_512_steps.zip"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    config = yaml.safe_load((run_dir / "config.yml").read_text())
    assert config["algo"] == algo and config["env_id"] == ENV_ID and config["seed"] == 0
    assert config["env_kwargs"] == {"max_jobs": 20}
    assert config["algo_kwargs"]["n_steps"] == 64 and config["algo_kwargs"]["gamma"] == 0.9
    assert config["env_config"]["episode"]["max_jobs"] == 20
    assert (run_dir / "command.txt").read_text().startswith("python ")
    evaluations = np.load(run_dir / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [256, 512]
    # one line of episode metrics per evaluation
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("Eval at")]
    assert len(lines) == 2 and "mean latency" in lines[0] and "deadline-miss rate" in lines[0]
    assert any((cwd / "tb").rglob("events.out.tfevents*"))

    env = gym.make(ENV_ID, max_jobs=20)
    policy = agents.load(run_dir / f"{ENV_ID}.zip", env=env)
    assert policy.algo == algo and policy.num_timesteps == 512
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        action, _ = policy.predict(obs, deterministic=True)
        if algo == "maskable_ppo":
            assert env.get_wrapper_attr("action_masks")()[int(action)]
        obs, _, terminated, truncated, info = env.step(action)
    assert truncated and "episode_metrics" in info


@pytest.mark.slow
def test_continue_training_and_never_overwrite(runs):
    cwd, out = runs
    first = out["maskable_ppo"][0]
    before = _digest(first)
    proc = _train("--algo", "maskable_ppo", *SMOKE, "-n", "128", "--eval-freq", "-1", "--save-freq", "-1",
                  "-i", str(first / f"{ENV_ID}.zip"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = first.parent / f"{ENV_ID}_2"
    assert (second / f"{ENV_ID}.zip").is_file()
    assert yaml.safe_load((second / "config.yml").read_text())["trained_agent"].endswith(f"{ENV_ID}_1/{ENV_ID}.zip")
    assert agents.load(second / f"{ENV_ID}.zip").num_timesteps == 512 + 128  # continued, not restarted
    # a plain rerun with the same flags gets a third folder; the earlier runs are untouched
    proc = _train("--algo", "maskable_ppo", *SMOKE, "-n", "128", "--eval-freq", "-1", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (first.parent / f"{ENV_ID}_3" / f"{ENV_ID}.zip").is_file()
    assert _digest(first) == before


@pytest.mark.slow
def test_ctrl_c_saves_the_model(tmp_path):
    proc = subprocess.Popen([sys.executable, str(TRAIN), "--algo", "ppo", *SMOKE, "-n", "10000000"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in proc.stdout:  # wait until training is under way (the first evaluation)
            if line.startswith("Eval at"):
                break
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert "Interrupted: saving the model" in rest
    assert (tmp_path / "logs" / "ppo" / f"{ENV_ID}_1" / f"{ENV_ID}.zip").is_file()


BAD_FLAGS = [
    (["--algo", "ppoo"], "did you mean 'ppo'"),
    (["--env", "OrbitCloud-Smal-v0"], "did you mean 'OrbitCloud-Small-v0'"),
    (["--env-kwargs", "preset"], "expected KEY:VALUE"),
    (["--env-kwargs", "max_jobs:-5"], "max_jobs"),
    (["--env-kwargs", "preset:nowhere"], "preset"),
    (["--hyperparams", "learning_rat:0.001"], "did you mean 'learning_rate'"),
    (["-i", "missing.zip"], "missing.zip"),
    (["--vec-env", "threads"], "invalid choice"),
]


@pytest.fixture(scope="module")
def train_module():
    return _load_train_module()


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(tmp_path, monkeypatch, capsys, train_module, flags, message):
    """In process (train.main(argv)): each bad flag is one line on stderr and exit status 2, before any work."""
    monkeypatch.chdir(tmp_path)
    try:
        rc = train_module.main(["train.py", *flags, "-n", "64"])
    except SystemExit as exc:  # argparse's own errors (invalid choice) exit through the parser
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error:") and message in lines[0], err
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.zip"))


@pytest.mark.slow
def test_bad_flag_in_a_subprocess_has_no_traceback(tmp_path):
    proc = _train("--algo", "ppoo", "-n", "64", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("train.py: error:")
    assert "did you mean 'ppo'" in proc.stderr


# --------------------------------------------------------------------------------------------------------------
# In-process: value parsing and hyperparameter precedence.

def test_parse_values_are_literals_or_strings():
    train = _load_train_module()
    assert train.parse_key_values(["a:1", "b:3e-4", "c:True", "d:[64, 64]", "e:small", "f:__import__('os')"],
                                  "--x") == {"a": 1, "b": 3e-4, "c": True, "d": [64, 64], "e": "small",
                                             "f": "__import__('os')"}
    with pytest.raises(train.UsageError, match="KEY:VALUE"):
        train.parse_key_values(["preset"], "--env-kwargs")


def test_hyperparameter_precedence_and_default_notice(tmp_path, capsys):
    train = _load_train_module()
    conf = tmp_path / "conf.yml"
    conf.write_text(yaml.safe_dump({ENV_ID: {"n_steps": 128, "gamma": 0.5}}))
    args = argparse.Namespace(conf_file=str(conf), hyperparams=["gamma:0.7", "learning_rate:lin_1e-3"])
    hp, source = train.resolve_hyperparams(args, "ppo", ENV_ID)
    assert hp["n_steps"] == 128 and hp["gamma"] == 0.7 and hp["batch_size"] == 256
    assert source["key"] == ENV_ID and capsys.readouterr().out == ""
    kwargs = train.build_algo_kwargs("ppo", hp)
    assert kwargs["learning_rate"](1.0) == pytest.approx(1e-3) and kwargs["learning_rate"](0.0) == 0.0
    assert kwargs["policy_kwargs"] == {"net_arch": {"pi": [128, 128], "vf": [128, 128]}}
    # an env id without its own entry uses 'default' and says so
    hp, source = train.resolve_hyperparams(argparse.Namespace(conf_file=None, hyperparams=None), "dqn",
                                           "OrbitCloud-Custom-v0")
    assert source["key"] == "default" and "default" in capsys.readouterr().out
