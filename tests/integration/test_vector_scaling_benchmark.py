"""benchmarks/vector_scaling.py: its flags fail with one line naming the flag (exit status 2), and a tiny run prints
the table (the figures themselves are the benchmark's business, not a test's)."""

from __future__ import annotations

import pytest

from benchmarks import vector_scaling


@pytest.mark.parametrize("argv, flag", [
    (["--steps", "0"], "--steps"),
    (["--warmup", "-1"], "--warmup"),
    (["--n-envs", "2", "0"], "--n-envs"),
    (["--n-envs", "2", "2"], "--n-envs"),
    (["--train-steps", "0"], "--train-steps"),
    (["--n-steps", "1"], "--n-steps"),
    (["--torch-threads", "0"], "--torch-threads"),
    (["--env-id", "OrbitCloud-v9"], "--env-id"),
    (["--start-method", "thread"], "--start-method"),
])
def test_bad_flag_is_one_line_naming_it(argv, flag, capsys):
    with pytest.raises(SystemExit) as info:
        vector_scaling.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {flag}" in err or f"argument {flag}" in err


@pytest.mark.slow
def test_tiny_run_prints_the_table(capsys):
    """One spawned worker per vector env, a few steps and two MaskablePPO rollouts: every cell is filled."""
    assert vector_scaling.main(["--env-id", "OrbitCloud-Small-v1", "--n-envs", "1", "--steps", "20",
                                "--warmup", "2", "--train-steps", "8", "--n-steps", "4",
                                "--start-method", "spawn"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert len(cells) == 5 and "n/a" not in cells
    assert float(cells[3].replace(",", "")) > 0 and 0 < int(cells[4].rstrip("%")) <= 100
    assert "# machine:" in out and "one env in this process" in out
