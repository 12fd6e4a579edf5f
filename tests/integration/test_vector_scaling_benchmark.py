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
    (["--rounds", "0"], "--rounds"),
    (["--max-workers", "-1"], "--max-workers"),
    (["--train-n-envs", "0"], "--train-n-envs"),
    (["--train-vec", "batched", "batched"], "--train-vec"),
    (["--train-vec", "ray"], "--train-vec"),
    (["--env-id", "OrbitCloud-v9"], "--env-id"),
    (["--start-method", "thread"], "--start-method"),
    (["--procs", "0"], "--procs"),
    (["--train-vec", "batched-proc"], "--train-vec"),
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
    """Two envs: two spawned workers (SubprocVecEnv), the batched env in this process and in two worker processes,
    a few steps of each kind, and one tiny MaskablePPO rollout on the batched env in both forms: every cell is
    filled, and the ratios are those of the medians."""
    assert vector_scaling.main(["--env-id", "OrbitCloud-Small-v1", "--n-envs", "2", "--steps", "20",
                                "--warmup", "2", "--rounds", "1", "--train-steps", "8", "--n-steps", "4",
                                "--train-n-envs", "2", "--procs", "2", "--max-workers", "2",
                                "--start-method", "spawn"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert len(cells) == 8 and "n/a" not in cells
    batched, procs, single, subproc = (float(c.replace(",", "")) for c in cells[1:5])
    # the ratios are of the unrounded medians, the rate cells are rounded: compare within that rounding
    assert all(c.endswith("x") for c in cells[5:8])
    ratio_b_single, ratio_p_single, ratio_b_subproc = (float(c.rstrip("x")) for c in cells[5:8])
    assert ratio_b_single == pytest.approx(batched / single, rel=0.02, abs=0.011)
    assert ratio_p_single == pytest.approx(procs / single, rel=0.02, abs=0.011)
    assert ratio_b_subproc == pytest.approx(batched / subproc, rel=0.02, abs=0.011)
    for name in ("batched", "batched in 2 processes"):
        train = [line for line in out.splitlines() if line.startswith(f"| {name} |")]
        assert len(train) == 1, name
        tcells = [c.strip() for c in train[0].strip("|").split("|")]
        assert tcells[1] == "2" and tcells[2] == "8" and 0 < int(tcells[4].rstrip("%")) <= 100
    assert "# machine:" in out and "one env in this process" in out and "# command:" in out
