"""Memory follows the work, not the configured horizon: a ten-year ``max_time_s`` with ``max_jobs`` 200 runs its
episode under a 4 GiB address-space limit (before the timeline was windowed it asked for an 18.6 GiB array)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gymnasium as gym
import orbitcloud_env
from agents.heuristics import HEURISTICS
env = gym.make("OrbitCloud-v1", max_time_s=10 * 365.25 * 86400, max_jobs=200)
policy = HEURISTICS["earliest-finish"](seed=0)
obs, _ = env.reset(seed=0)
steps = 0
while True:
    action, _ = policy.predict(obs)
    obs, _, terminated, truncated, _ = env.step(action)
    steps += 1
    if terminated or truncated:
        break
print("steps", steps)
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")
def test_ten_year_horizon_runs_under_4_gib():
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    proc = subprocess.run(["prlimit", f"--as={4 * 2**30}", sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "steps 200" in proc.stdout
