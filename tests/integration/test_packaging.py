"""Packaging and the command lines' start-up: the parsers import no heavy library (``--help`` answers at once), and
a wheel installed into a fresh virtual environment outside the checkout has the default hyperparameters and the
``orbitcloud-train`` / ``orbitcloud-evaluate`` commands, which train and evaluate a tiny scenario (slow tier: both
need fresh interpreters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "gymnasium", "orbitcloud_env.simulator")


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_modules_import_no_heavy_library():
    proc = _python("import sys, agents.cli, agents.train_cli, agents.evaluate_cli, agents.hyperparameters\n"
                   f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "evaluate.py"])
def test_help_imports_no_heavy_library(script):
    code = (f"import runpy, sys\nsys.argv = [{script!r}, '--help']\n"
            f"try:\n    runpy.run_path({str(ROOT / script)!r}, run_name='__main__')\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and "HEAVY []" in proc.stdout


def test_thin_entry_points_are_the_package_commands():
    """train.py / evaluate.py only import main from the package; pyproject installs the same functions."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"orbitcloud-train": "agents.train_cli:main", "orbitcloud-evaluate": "agents.evaluate_cli:main"}
    for name, module in (("train.py", "agents.train_cli"), ("evaluate.py", "agents.evaluate_cli")):
        text = (ROOT / name).read_text()
        assert f"from {module} import main" in text and "sys.exit(main())" in text
        assert len([ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("#", '"""'))]) <= 8


def _build_and_install(tmp: Path) -> Path:
    """Wheel from a copy of the sources (the checkout stays clean), installed into a fresh venv; returns its bin."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("orbitcloud_env", "agents"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run = dict(capture_output=True, text=True, timeout=600)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp / "dist"), str(src)], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next((tmp / "dist").glob("orbitcloud_env-*.whl"))
    venv = tmp / "venv"
    proc = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], **run)
    assert proc.returncode == 0, proc.stderr
    # The dependencies (torch, SB3, ...) come from this interpreter's environment: nothing is downloaded. A plain
    # path line: the .pth files there (an editable install of this checkout) are not processed.
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_orbitcloud_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--no-deps", "--no-build-isolation", "--no-index", "-q", str(wheel)], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv / "bin"


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_trains_and_evaluates(tmp_path):
    bin_dir = _build_and_install(tmp_path)
    work = tmp_path / "work"  # outside the checkout: nothing can come from it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONWARNINGS="ignore", MPLBACKEND="Agg")

    def run(*cmd: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(c) for c in cmd], cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)

    where = run(bin_dir / "python", "-c", "import agents, orbitcloud_env; print(agents.__file__); "
                "print(orbitcloud_env.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where.stdout.split()), where.stdout

    for cmd in ("orbitcloud-train", "orbitcloud-evaluate"):
        proc = run(bin_dir / cmd, "--help", timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {cmd}"), proc.stderr

    proc = run(bin_dir / "orbitcloud-train", "--algo", "maskable_ppo", "--env", "OrbitCloud-Small-v0",
               "--env-kwargs", "max_jobs:50", "-n", "256", "--seed", "0", "--n-envs", "1", "--hyperparams",
               "n_steps:128", "batch_size:64", "n_epochs:1", "--eval-freq", "128", "--eval-episodes", "1",
               "--verbose", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = work / "logs" / "maskable_ppo" / "OrbitCloud-Small-v0_1"
    assert (run_dir / "OrbitCloud-Small-v0.zip").is_file() and (run_dir / "best_model.zip").is_file()
    config = (run_dir / "config.yml").read_text()
    assert "agents/hyperparams/maskable_ppo.yml" in config and str(tmp_path / "venv") in config  # package data
    assert (run_dir / "command.txt").read_text().startswith("orbitcloud-train --algo maskable_ppo")

    proc = run(bin_dir / "orbitcloud-train", "--env", "OrbitCloud-Small-v0", "-n", "0", timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("orbitcloud-train: error: -n/--n-timesteps")

    proc = run(bin_dir / "orbitcloud-evaluate", "--env", "OrbitCloud-Small-v0", "--env-kwargs", "max_jobs:50",
               "--policies", "random", "earliest-finish", str(run_dir / "best_model.zip"), "--episodes", "2",
               "-o", "results", "--no-plots", "--no-progress", "--n-resamples", "50")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((work / "results" / "summary.json").read_text())
    assert "maskable_ppo/OrbitCloud-Small-v0_1/best_model" in summary["policies"]
    assert json.loads((work / "results" / "run.json").read_text())["command"].startswith("orbitcloud-evaluate ")
