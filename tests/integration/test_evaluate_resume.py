"""The evaluation command keeps every finished episode (episodes.jsonl / episodes.csv, appended as each finishes)
and ``--resume`` continues an interrupted run; checks of the results folder before the first episode; stale plots.
In process (agents.evaluate_cli.main) except the kill -9 test (slow tier)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents import evaluation as E
from agents import rollouts
from agents.evaluate_cli import COMMAND_FILE, main
from agents.journal import JOURNAL, read_journal

ROOT = Path(__file__).resolve().parents[2]
ENV_ID = "OrbitCloud-Small-v0"
# lookahead and the upper-bound row included: resume treats them as any (label, seed) pair
BASE = ["--env", ENV_ID, "--policies", "random", "earliest-finish", "lookahead", "--episodes", "2", "--seed", "7",
        "--env-kwargs", "max_jobs:30", "--no-progress", "--n-resamples", "50", "--no-plots"]
TOTAL = 4 * 2  # 3 policies + the upper bound, 2 episodes each


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _comparable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def _interrupt_after(monkeypatch, n_done: int) -> list[int]:
    """Make the (n_done + 1)-th episode raise KeyboardInterrupt (Ctrl-C); returns the call counter."""
    real = rollouts._run_task
    calls = []

    def task(*args, **kwargs):
        calls.append(1)
        if len(calls) == n_done + 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rollouts, "_run_task", task)
    return calls


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "results"
    assert main([*BASE, "-o", str(out)]) == 0
    return out


def test_interrupted_run_keeps_finished_episodes_and_resume_completes_it(tmp_path, monkeypatch, capsys,
                                                                         uninterrupted):
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 3)
    assert main([*BASE, "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted after 3 of 8 episodes" in err and "--resume" in err
    # journaled as they finished: three results, and the same three rows in episodes.csv
    assert len(read_journal(out)) == 3
    assert [(r["policy"], r["seed"]) for r in _rows(out / "episodes.csv")] == \
        [("random", "7"), ("random", "8"), ("earliest-finish", "7")]
    assert json.loads((out / COMMAND_FILE).read_text())["episodes"] == 2
    assert not (out / "summary.md").exists()

    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 10**6)  # counts, never interrupts
    assert main([*BASE, "-o", str(out), "--resume"]) == 0
    assert "Resuming: 3 of 8 episodes" in capsys.readouterr().out
    assert len(calls) == TOTAL - 3  # only the missing (policy, seed) pairs ran
    assert _comparable(_rows(out / "episodes.csv")) == _comparable(_rows(uninterrupted / "episodes.csv"))
    done = json.loads((out / "summary.json").read_text())
    whole = json.loads((uninterrupted / "summary.json").read_text())
    assert done["policies"] == whole["policies"] == ["random", "earliest-finish", "lookahead", E.UPPER_BOUND]
    for p in whole["policies"]:
        assert done["metrics"][p]["episode_return"] == whole["metrics"][p]["episode_return"]
    assert json.loads((out / "run.json").read_text())["resumed_episodes"] == 3


def test_interrupted_within_the_upper_bound_rows(tmp_path, monkeypatch, capsys, uninterrupted):
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 7)  # every policy episode and one bound row finished
    assert main([*BASE, "-o", str(out)]) == 130
    assert sum(r.reference for r in read_journal(out)) == 1
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 10**6)
    assert main([*BASE, "-o", str(out), "--resume"]) == 0
    assert len(calls) == 1
    assert _comparable(_rows(out / "episodes.csv")) == _comparable(_rows(uninterrupted / "episodes.csv"))


def test_a_line_cut_by_kill_is_ignored(tmp_path, monkeypatch, capsys, uninterrupted):
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 2)
    assert main([*BASE, "-o", str(out)]) == 130
    with open(out / JOURNAL, "a") as fh:  # what kill -9 in the middle of a write leaves
        fh.write('{"policy": "earliest-finish", "episode": 0, "se')
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 10**6)
    assert main([*BASE, "-o", str(out), "--resume"]) == 0
    assert len(calls) == TOTAL - 2
    assert _comparable(_rows(out / "episodes.csv")) == _comparable(_rows(uninterrupted / "episodes.csv"))
    assert all(json.loads(line) for line in (out / JOURNAL).read_text().splitlines())


@pytest.mark.parametrize("change, word", [
    (["--episodes", "3"], "episodes"),
    (["--seed", "8"], "seed"),
    (["--env-kwargs", "max_jobs:31"], "env_kwargs"),
    (["--no-bound"], "bound"),
])
def test_resume_refuses_a_different_command(tmp_path, monkeypatch, capsys, change, word):
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 2)
    assert main([*BASE, "-o", str(out)]) == 130
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main([*BASE, *change, "-o", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("evaluate.py: error: --resume: the command differs")
    assert word in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # refused before touching anything


def test_resume_accepts_other_report_flags(tmp_path, monkeypatch, capsys):
    """Statistics and plot flags apply to the whole run at its end: they may change on resume."""
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 2)
    assert main([*BASE, "-o", str(out)]) == 130
    monkeypatch.undo()
    assert main([*BASE, "-o", str(out), "--resume", "--n-resamples", "60", "--n-jobs", "1"]) == 0
    assert json.loads((out / "run.json").read_text())["n_resamples"] == 60


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main([*BASE, "-o", str(out), "--resume"]) == 2
    assert f"holds no readable {COMMAND_FILE}" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_resume_with_nothing_to_resume_starts_afresh(tmp_path, capsys):
    out = tmp_path / "results"
    assert main([*BASE, "--policies", "random", "--no-bound", "-o", str(out), "--resume"]) == 0
    assert len(_rows(out / "episodes.csv")) == 2


@pytest.mark.parametrize("target, message", [
    ("afile", "is a file"),
    ("afile/results", "lies under the file"),
    ("/proc/orbitcloud-results", "cannot write to /proc"),
])
def test_results_folder_checked_before_the_first_episode(tmp_path, monkeypatch, capsys, target, message):
    if target.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    calls = _interrupt_after(monkeypatch, 10**6)
    assert main([*BASE, "-o", target]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_rerun_without_plots_removes_the_earlier_plots(tmp_path, capsys):
    out = tmp_path / "results"
    small = [*BASE[:2], "--policies", "random", "earliest-finish", *BASE[6:-1], "--no-bound"]
    assert main([*small, "-o", str(out), "--render-episode", "random", "--render-frames", "3"]) == 0
    plots = {"metrics.png", "latency_cdf.png", "region_latency.png", "episode_random.gif"}
    assert plots <= {p.name for p in out.iterdir()}
    (out / "my_notes.png").write_text("not ours")
    assert main([*small, "-o", str(out), "--no-plots", "--overwrite"]) == 0
    names = {p.name for p in out.iterdir()}
    assert not plots & names and "my_notes.png" in names
    assert "Removed" in capsys.readouterr().out
    assert set(json.loads((out / "run.json").read_text())["outputs"]) <= names


#: Run evaluate.py with its third episode blocking after writing a flag file: the parent kills the process while it
#: is certainly mid-run, two episodes journaled (a sleep-then-kill would race the run's own speed).
_BLOCK_THIRD = """
import sys, time
from pathlib import Path
from agents import rollouts
from agents.evaluate_cli import main
flag, real, calls = Path(sys.argv[1]), rollouts._run_task, []
def task(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
        flag.write_text("blocked")
        time.sleep(600)
    return real(*args, **kwargs)
rollouts._run_task = task
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_kill_9_then_resume_in_a_subprocess(tmp_path, uninterrupted):
    out = tmp_path / "results"
    flag = tmp_path / "blocked.flag"
    cmd = [sys.executable, str(ROOT / "evaluate.py"), *BASE, "-o", str(out)]
    env = dict(os.environ, PYTHONWARNINGS="ignore", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-c", _BLOCK_THIRD, str(flag), *cmd[2:]], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not flag.exists() and proc.poll() is None:
            time.sleep(0.05)
        assert flag.exists(), f"the run never reached its third episode (exit status {proc.poll()})"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = len(read_journal(out))
    assert kept == 2 and not (out / "summary.md").exists()
    done = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Resuming: {kept} of {TOTAL} episodes" in done.stdout
    assert _comparable(_rows(out / "episodes.csv")) == _comparable(_rows(uninterrupted / "episodes.csv"))


def _interrupted_journal(tmp_path, monkeypatch) -> Path:
    out = tmp_path / "results"
    _interrupt_after(monkeypatch, 3)
    assert main([*BASE, "-o", str(out)]) == 130
    monkeypatch.undo()
    return out


def _rewrite_line(out: Path, number: int, edit) -> None:
    lines = (out / JOURNAL).read_text().splitlines(keepends=True)
    lines[number - 1] = edit(lines[number - 1])
    (out / JOURNAL).write_text("".join(lines))


def _resign(line: str, change) -> str:
    """The row after ``change`` (a function of its dict), with a checksum recomputed as the journal computes it."""
    from agents.journal import _sha256

    d = json.loads(line)
    d.pop("row_sha256")
    change(d)
    body = json.dumps(d, separators=(",", ":"))
    return f'{body[:-1]},"row_sha256":"{_sha256(body)}"}}\n'


def _assert_resume_refused(out: Path, capsys, words: list[str]) -> None:
    before = (out / JOURNAL).read_text()
    capsys.readouterr()
    assert main([*BASE, "-o", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert (out / JOURNAL).read_text() == before  # nothing rewritten


def test_rows_carry_the_command_hash_and_a_checksum(tmp_path, monkeypatch):
    out = _interrupted_journal(tmp_path, monkeypatch)
    rows = [json.loads(line) for line in (out / JOURNAL).read_text().splitlines()]
    assert len(rows) == 3 and len({r["command_sha256"] for r in rows}) == 1
    assert all(list(r)[-1] == "row_sha256" and len(r["row_sha256"]) == 64 for r in rows)


def test_resume_refuses_an_edited_row_naming_the_line(tmp_path, monkeypatch, capsys):
    out = _interrupted_journal(tmp_path, monkeypatch)
    _rewrite_line(out, 2, lambda line: line.replace('"episode_return":', '"episode_return":12345.0,"x":', 1))
    _assert_resume_refused(out, capsys, ["--resume:", "line 2", "checksum"])


def test_resume_refuses_a_row_of_another_policy_or_seed_or_command(tmp_path, monkeypatch, capsys):
    out = _interrupted_journal(tmp_path, monkeypatch)
    original = (out / JOURNAL).read_text()
    for change, words in [
        (lambda d: d.update(policy="oracle"), ["line 1", "'oracle'", "not an episode"]),
        (lambda d: d.update(seed=99), ["line 1", "seed 99", "not an episode"]),
        (lambda d: d.update(command_sha256="0" * 64), ["line 1", "another command"]),
    ]:
        (out / JOURNAL).write_text(original)
        _rewrite_line(out, 1, lambda line, change=change: _resign(line, change))
        _assert_resume_refused(out, capsys, words)
    (out / JOURNAL).write_text(original)
    assert main([*BASE, "-o", str(out), "--resume"]) == 0  # the journal as written resumes
