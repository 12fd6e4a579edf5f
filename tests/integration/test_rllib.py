"""examples/rllib_ppo.py: one RLlib PPO iteration on a tiny OrbitCloud episode, the action mask honoured.

Needs the ``rllib`` extra (skipped when ray is absent); slow tier (starts Ray and trains).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rllib_ppo.py"


def _example():
    spec = importlib.util.spec_from_file_location("rllib_ppo", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ray_local():
    """A small local Ray; one torch thread in this process, as the example sets (restored afterwards)."""
    import ray
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    torch.set_num_threads(threads)


def test_one_ppo_iteration_samples_steps_and_takes_no_masked_action(ray_local):
    ex = _example()
    config = ex.build_config("OrbitCloud-Small-v1", {"max_jobs": 40}, num_env_runners=0, train_batch_size=128,
                             seed=0, minibatch_size=64, num_epochs=1)
    algo = config.build_algo()
    try:
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

        result = algo.train()
        summary = ex.summarize(result)
        assert summary["env_steps_sampled"] > 0
        assert summary["env_steps_sampled_lifetime"] >= summary["env_steps_sampled"]
        # The callback ran (its metric is in the result) and counted no masked-out action.
        assert result[ENV_RUNNER_RESULTS][ex.INVALID_ACTIONS] == 0
        # Independently of the metric: the env's own flag on every step of freshly sampled episodes.
        episodes = algo.env_runner_group.local_env_runner.sample(num_timesteps=60, explore=True)
        infos = [info for ep in episodes for info in ep.get_infos()[1:]]  # [0] is reset's info
        assert len(infos) > 0
        assert not any(info["invalid_action"] for info in infos)
        assert ex.format_line(1, summary).startswith("iter 1: episode_return_mean=")
    finally:
        algo.stop()


@pytest.mark.parametrize("args,message", [
    (["--env-id", "OrbitCloud-Smal-v1"], "--env-id: unknown env id 'OrbitCloud-Smal-v1'; did you mean "
                                         "'OrbitCloud-Small-v1'?"),
    (["--iterations", "0"], "--iterations: must be >= 1, got 0"),
    (["--num-env-runners", "-1"], "--num-env-runners: must be >= 0, got -1"),
])
def test_bad_flag_is_one_line_and_exit_2(args, message):
    proc = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rllib_ppo.py: error: {message}"), proc.stderr


#: The one deprecation notice RLlib 2.60 logs for any RLModule, its own default PPO module on CartPole included:
#: ``RLModule.__init__`` builds the deprecated ``RLModuleConfig`` for old custom models (rl_module.py:463).
RLLIB_OWN_NOTICE = "`RLModule(config=[RLModuleConfig object])` has been deprecated"


def test_example_logs_no_deprecation_notice_of_its_own():
    """The example's module is on the current RLModule API: no "PPOTorchRLModule has been deprecated" (RLlib's
    example module) and no deprecation notice at all besides the one RLlib logs for every module."""
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--num-env-runners", "0", "--iterations", "1",
                           "--train-batch-size", "64", "--env-kwargs", "max_jobs:30"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "invalid_actions=0" in proc.stdout
    notices = [line for line in (proc.stdout + proc.stderr).splitlines() if "deprecat" in line.lower()]
    assert "PPOTorchRLModule" not in "\n".join(notices)
    assert [n for n in notices if RLLIB_OWN_NOTICE not in n] == []
