"""Runs that are stopped or doubled (issue 22), in subprocesses (slow tier): SIGTERM is handled as Ctrl-C (training
saves its model and exits 143; evaluation keeps its finished episodes), ``kill -9`` during checkpointing leaves
every kept file loadable, and two evaluations on one results folder do not both run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import agents

ROOT = Path(__file__).resolve().parents[2]
TRAIN, EVALUATE = ROOT / "train.py", ROOT / "evaluate.py"
ENV_ID = "OrbitCloud-Small-v0"
TRAIN_FLAGS = ["--algo", "ppo", "--env", ENV_ID, "--seed", "0", "--n-envs", "1", "--env-kwargs", "max_jobs:20",
               "--hyperparams", "n_steps:32", "batch_size:32", "n_epochs:1", "policy_kwargs:dict(net_arch=[32])",
               "--verbose", "0", "-n", "10000000"]
EVAL_FLAGS = ["--env", "OrbitCloud-Small-v1", "--env-kwargs", "max_jobs:400", "--policies", "random", "earliest-finish",
              "--no-progress", "--no-plots", "--no-bound", "--n-resamples", "20"]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")


def _start(script: Path, *args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(), start_new_session=True)


def _wait_for(predicate, timeout_s: float = 180.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_saves_the_model_and_exits_143(tmp_path):
    run_dir = tmp_path / "logs" / "ppo" / f"{ENV_ID}_1"
    proc = _start(TRAIN, *TRAIN_FLAGS, "--eval-freq", "128", "--eval-episodes", "1", cwd=tmp_path)
    try:
        _wait_for(lambda: (run_dir / "evaluations.npz").is_file())  # training is under way
        os.kill(proc.pid, signal.SIGTERM)  # to the process only, as `kill PID` or a scheduler does
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out
    assert "Terminated (SIGTERM): saving the model" in out
    policy = agents.load(run_dir / f"{ENV_ID}.zip")
    assert policy.num_timesteps >= 128


@pytest.mark.slow
def test_kill_9_during_checkpointing_leaves_every_kept_file_loadable(tmp_path):
    """Checkpoints every 32 steps and an evaluation every 64, with a [512, 512] network so that a save (about 8 MB
    with the optimizer state) takes a good part of the time: a kill at a random moment often lands in a save. With
    SB3's in-place CheckpointCallback the same kill left an unloadable checkpoint in 3 of 8 runs (0 B, 48 kB and
    8 MB files; docs/training.md). Three runs, each killed once; every rl_model_*, best_model and evaluations file
    left must load."""
    rng = random.Random(0)
    flags = [f if not f.startswith("policy_kwargs:") else "policy_kwargs:dict(net_arch=[512, 512])"
             for f in TRAIN_FLAGS]
    for n in (1, 2, 3):
        run_dir = tmp_path / "logs" / "ppo" / f"{ENV_ID}_{n}"
        proc = _start(TRAIN, *flags, "--save-freq", "32", "--eval-freq", "64", "--eval-episodes", "1",
                      cwd=tmp_path)
        try:
            _wait_for(lambda run_dir=run_dir: len(list(run_dir.glob("rl_model_*_steps.zip"))) >= 3)
            time.sleep(rng.uniform(0.0, 1.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
        kept = [p for p in run_dir.iterdir() if not p.name.startswith(".")]
        checkpoints = [p for p in kept if p.name.startswith("rl_model_")]
        assert len(checkpoints) >= 3
        for path in checkpoints + [p for p in kept if p.name == "best_model.zip"]:
            assert agents.load(path).num_timesteps > 0, path
        with np.load(run_dir / "evaluations.npz") as log:
            assert log["timesteps"].size >= 1


@pytest.mark.slow
def test_sigterm_during_evaluation_keeps_the_finished_episodes(tmp_path):
    out = tmp_path / "results"
    proc = _start(EVALUATE, *EVAL_FLAGS, "--episodes", "50", "-o", str(out), cwd=tmp_path)
    journal = out / "episodes.jsonl"
    try:
        _wait_for(lambda: journal.is_file() and journal.read_text().count("\n") >= 2)
        os.kill(proc.pid, signal.SIGTERM)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, text
    assert "terminated (SIGTERM) after" in text and "--resume" in text
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(rows) >= 2 and all(r["policy"] in ("random", "earliest-finish") for r in rows)


@pytest.mark.slow
def test_two_evaluations_on_one_folder_one_refuses(tmp_path):
    """Started together with the same -o: exactly one runs; the other stops with one line naming it."""
    out = tmp_path / "results"
    args = [*EVAL_FLAGS, "--episodes", "12", "-o", str(out)]
    first, second = _start(EVALUATE, *args, cwd=tmp_path), _start(EVALUATE, *args, cwd=tmp_path)
    try:
        outputs = [p.communicate(timeout=400)[0] for p in (first, second)]
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 2], outputs
    winner, loser = (first, second) if first.returncode == 0 else (second, first)
    refusal = [ln for ln in outputs[[first, second].index(loser)].splitlines() if "error:" in ln]
    assert len(refusal) == 1 and refusal[0].startswith("evaluate.py: error: -o:"), refusal
    assert "in use by pid" in refusal[0] and f"pid {winner.pid}" in refusal[0], refusal
    rows = (out / "episodes.jsonl").read_text().splitlines()
    assert len(rows) == 2 * 12  # the winner's episodes, each once
