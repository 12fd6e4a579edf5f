"""The training command (agents/train_cli.py behind train.py and orbitcloud-train): end to end (subprocess smoke
runs, slow tier), and in process: flag checks, hyperparameter resolution, the run folder, the atomic best model."""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import agents
import orbitcloud_env  # noqa: F401 - registers the ids
from agents import hyperparameters as H
from agents import train_cli

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
def test_env_procs_trains_the_same_model(tmp_path):
    """--env-procs 2 (the batched env's copies in two worker processes) trains the model --env-procs 1 trains:
    the same episodes, so the same weights; config.yml records the split."""
    import torch

    flags = ["--algo", "maskable_ppo", *SMOKE, "-n", "256", "--eval-freq", "-1", "--save-freq", "-1"]
    weights = []
    for procs in ("1", "2"):
        proc = _train(*flags, "--env-procs", procs, "-f", f"logs{procs}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        run_dir = tmp_path / f"logs{procs}" / "maskable_ppo" / f"{ENV_ID}_1"
        assert yaml.safe_load((run_dir / "config.yml").read_text())["env_procs"] == int(procs)
        with zipfile.ZipFile(run_dir / f"{ENV_ID}.zip") as zf, zf.open("policy.pth") as f:
            weights.append(torch.load(f, weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.slow
def test_ctrl_c_saves_the_model(tmp_path):
    # SIGINT back to its default in the child: a test run started in the background (nohup ... &) inherits
    # SIGINT ignored, and then Python installs no KeyboardInterrupt handler and Ctrl-C is (rightly) ignored.
    proc = subprocess.Popen([sys.executable, str(TRAIN), "--algo", "ppo", *SMOKE, "-n", "10000000"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in proc.stdout:  # wait until training is under way (the first evaluation)
            if line.startswith("Eval at"):
                break
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
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


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(tmp_path, monkeypatch, capsys, flags, message):
    """In process (train_cli.main(argv)): each bad flag is one line on stderr and exit status 2, before any work."""
    monkeypatch.chdir(tmp_path)
    _assert_refused(tmp_path, capsys, [*flags, "-n", "64"], message)


def _assert_refused(tmp_path, capsys, argv, message, log_folder="logs"):
    try:
        rc = train_cli.main(argv)
    except SystemExit as exc:  # argparse's own errors (invalid choice) exit through the parser
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error:") and message in lines[0], err
    assert not (tmp_path / log_folder).exists(), "a run folder was left behind"


@pytest.mark.slow
def test_bad_flag_in_a_subprocess_has_no_traceback(tmp_path):
    proc = _train("--algo", "ppoo", "-n", "64", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("train.py: error:")
    assert "did you mean 'ppo'" in proc.stderr


# --------------------------------------------------------------------------------------------------------------
# In-process: value parsing and hyperparameter precedence.

def test_parse_values_are_literals_or_strings():
    train = train_cli
    assert train.parse_key_values(["a:1", "b:3e-4", "c:True", "d:[64, 64]", "e:small", "f:__import__('os')"],
                                  "--x") == {"a": 1, "b": 3e-4, "c": True, "d": [64, 64], "e": "small",
                                             "f": "__import__('os')"}
    with pytest.raises(train.UsageError, match="KEY:VALUE"):
        train.parse_key_values(["preset"], "--env-kwargs")


def test_hyperparameter_precedence_and_default_notice(tmp_path, capsys):
    train = H
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


# --------------------------------------------------------------------------------------------------------------
# In-process: every refusal comes before the run folder (issue #12).

BAD_VALUES = [
    (["-n", "0"], "-n/--n-timesteps: must be >= 1"),
    (["-n", "-5"], "-n/--n-timesteps: must be >= 1"),
    (["--hyperparams", "n_steps:-5"], "hyperparameter n_steps: must be an integer >= 1"),
    (["--hyperparams", "batch_size:0"], "hyperparameter batch_size: must be an integer >= 2"),
    (["--hyperparams", "gamma:1.5"], "hyperparameter gamma"),
    (["--hyperparams", "learning_rate:lin_-1"], "learning_rate"),
    # not in the value table: the probe model's own constructor check (n_steps * n_envs must be > 1)
    (["--hyperparams", "n_steps:1", "--n-envs", "1"], "PPO refused them"),
    (["--hyperparams", "policy_kwargs:dict(net_arch=[-4])"], "PPO refused them"),
    (["--device", "bogus"], "--device: 'bogus' is not a torch device"),
    (["--pretrain", "nearst"], "did you mean 'nearest'"),
    (["--env-procs", "0"], "--env-procs: must be >= 1"),
    (["--env-procs", "2", "--vec-env", "dummy"], "--env-procs: splits the batched env's copies"),
    (["--env-procs", "3", "--n-envs", "2"], "--env-procs: at most the number of envs (2), got 3"),
]


@pytest.mark.parametrize("flags,message", BAD_VALUES, ids=[" ".join(f) for f, _ in BAD_VALUES])
def test_bad_values_exit_2_before_the_run_folder(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    argv = ["--env", ENV_ID, "--env-kwargs", "max_jobs:20", "--seed", "0", "-n", "64", *flags]
    _assert_refused(tmp_path, capsys, argv, message)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused_not_silently_cpu(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _assert_refused(tmp_path, capsys, ["--env", ENV_ID, "-n", "64", "--device", "cuda"], "no CUDA GPU")


def test_output_folders_that_are_files_or_unwritable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    base = ["--env", ENV_ID, "-n", "64", "--seed", "0"]
    _assert_refused(tmp_path, capsys, [*base, "-f", "afile"], "-f/--log-folder: afile is a file")
    _assert_refused(tmp_path, capsys, [*base, "-f", "afile/logs"], "lies under the file")
    _assert_refused(tmp_path, capsys, [*base, "-tb", "afile"], "-tb/--tensorboard-log: afile is a file")
    if Path("/proc/self").is_dir():  # a folder nobody, root included, can create anything in
        _assert_refused(tmp_path, capsys, [*base, "-f", "/proc/orbitcloud-logs"], "cannot write to /proc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_read_only_log_folder(tmp_path, monkeypatch, capsys):
    """A folder the process cannot write to is refused in one line. Mode 0o500 stops a normal user; root (CI runs as
    root) writes anyway, so there the folder's write probe is made to fail with the error the kernel would give."""
    monkeypatch.chdir(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        try:
            (ro / ".probe").touch()
            (ro / ".probe").unlink()
            writable = True  # root, or a file system that ignores modes
        except PermissionError:
            writable = False
        if writable:
            real = tempfile.TemporaryDirectory

            def refuse_in_ro(*args, dir=None, **kwargs):
                if dir is not None and Path(dir).resolve() == ro.resolve():
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
                return real(*args, dir=dir, **kwargs)

            monkeypatch.setattr(tempfile, "TemporaryDirectory", refuse_in_ro)
        _assert_refused(tmp_path, capsys, ["--env", ENV_ID, "-n", "64", "-f", "ro/logs"],
                        f"-f/--log-folder: cannot write to {ro} (Permission denied)", log_folder="ro/logs")
    finally:
        ro.chmod(0o700)


def test_malformed_hyperparameter_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yml").write_text("OrbitCloud-Small-v0: {n_steps: [1,\n")
    base = ["--env", ENV_ID, "-n", "64", "--seed", "0"]
    _assert_refused(tmp_path, capsys, [*base, "-conf", "bad.yml"], "--conf-file: cannot parse bad.yml")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "ppo.yml").write_text("default: [\n")
    monkeypatch.setattr(H, "HYPERPARAMS_DIR", shipped)
    _assert_refused(tmp_path, capsys, base, "cannot parse")
    (shipped / "ppo.yml").write_text("default: 3\n")
    _assert_refused(tmp_path, capsys, base, "entry 'default' must be a mapping")


def test_old_hyperparams_path_points_to_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _assert_refused(tmp_path, capsys, ["--env", ENV_ID, "-n", "64", "-conf", "hyperparams/ppo.yml"],
                    "moved to")


def test_trained_agent_of_other_spaces(tmp_path, monkeypatch, capsys, saved_models):
    """A model saved for all_nodes mode (77 rows) cannot continue on a candidates env: one line, no folder."""
    monkeypatch.chdir(tmp_path)
    _assert_refused(tmp_path, capsys, ["--env", ENV_ID, "-n", "64", "--seed", "0", "-i", str(saved_models["ppo"]),
                                       "--env-kwargs", "action_mode:candidates", "max_jobs:20"],
                    "does not fit this env")


def test_shipped_hyperparameters_are_package_data():
    assert H.HYPERPARAMS_DIR == Path(agents.__file__).resolve().parent / "hyperparams"
    assert sorted(p.name for p in H.HYPERPARAMS_DIR.glob("*.yml")) == sorted(f"{a}.yml" for a in agents.ALGOS)
    hp, key = H.hyperparams_for("maskable_ppo", ENV_ID)
    assert key == ENV_ID and hp["n_timesteps"] > 0


# --------------------------------------------------------------------------------------------------------------
# In-process: a tiny run (pretraining included) and the atomic best model.

@pytest.mark.slow  # it trains (pretraining and PPO): the end-to-end tier, as the project's tiers say
def test_tiny_run_in_process_with_pretrain(tmp_path, monkeypatch, capsys):
    from agents.callbacks import BEST_MODEL, MaskableMetricsEvalCallback

    monkeypatch.chdir(tmp_path)
    saves = []
    real = MaskableMetricsEvalCallback.save_best_model
    monkeypatch.setattr(MaskableMetricsEvalCallback, "save_best_model",
                        lambda self: saves.append(self.num_timesteps) or real(self))
    rc = train_cli.main(["--algo", "maskable_ppo", "--env", ENV_ID, "--env-kwargs", "max_jobs:10", "-n", "64",
                         "--seed", "0", "--n-envs", "1", "--hyperparams", "n_steps:32", "batch_size:32",
                         "n_epochs:1", "--eval-freq", "32", "--eval-episodes", "1", "--verbose", "0",
                         "--pretrain", "earliest-finish", "--pretrain-steps", "40", "--pretrain-epochs", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    run_dir = tmp_path / "logs" / "maskable_ppo" / f"{ENV_ID}_1"
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == sorted([BEST_MODEL, "command.txt", "config.yml", "evaluations.npz", f"{ENV_ID}.zip"]), names
    assert "Pretraining: collecting 40 decisions of earliest-finish" in out
    assert "rounds up" not in out  # -n 64 is two whole rollouts of 32 x 1 env: no rounding notice
    assert saves and saves[0] == 32  # the first evaluation is always a new best, saved through the atomic path
    assert agents.load(run_dir / BEST_MODEL).algo == "maskable_ppo"
    assert (run_dir / "command.txt").read_text().startswith("python train.py --algo maskable_ppo")
    assert yaml.safe_load((run_dir / "config.yml").read_text())["n_timesteps"] == 64


def test_best_model_save_is_atomic(tmp_path):
    """A save that dies half-way (kill -9 while SB3 writes the zip) leaves the previous best_model.zip intact."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from agents.callbacks import BEST_MODEL, MetricsEvalCallback

    env = make_vec_env(ENV_ID, n_envs=1, env_kwargs={"max_jobs": 10})
    model = PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, policy_kwargs={"net_arch": [8]}, device="cpu")
    cb = MetricsEvalCallback(env, best_model_save_path=str(tmp_path), eval_freq=1, n_eval_episodes=1, verbose=0)
    assert cb.best_model_save_path is None and cb.best_model_dir == str(tmp_path)  # SB3's plain overwrite is off
    cb.init_callback(model)
    cb.save_best_model()
    before = (tmp_path / BEST_MODEL).read_bytes()
    assert len(before) > 1000

    def dying_save(path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # stands in for the process dying mid-write

    model.save = dying_save
    with pytest.raises(KeyboardInterrupt):
        cb.save_best_model()
    assert (tmp_path / BEST_MODEL).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST_MODEL]  # no temporary file left either
    env.close()


def test_device_check_on_a_machine_with_one_gpu(monkeypatch):
    """check_device against torch's view of the machine (here faked: one CUDA device)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for ok in ("cpu", "cuda", "cuda:0", "auto"):
        train_cli.check_device(ok)
    with pytest.raises(train_cli.UsageError, match="this machine has 1 CUDA device"):
        train_cli.check_device("cuda:7")
    with pytest.raises(train_cli.UsageError, match="unsupported device type 'meta'"):
        train_cli.check_device("meta")
