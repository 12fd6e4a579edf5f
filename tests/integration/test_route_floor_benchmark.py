"""benchmarks/route_floor.py: bad flags are one line naming the flag (exit status 2); a tiny run prints a row
whose search counts add up and leaves the routing functions as they were."""

from __future__ import annotations

import pytest

from benchmarks import route_floor
from orbitcloud_env import routing, snapshot


@pytest.mark.parametrize("argv, flag", [(["--steps", "0"], "--steps"), (["--ids", "OrbitCloud-v9"], "--ids")])
def test_bad_flag_is_one_line_naming_it(argv, flag, capsys):
    with pytest.raises(SystemExit) as info:
        route_floor.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {flag}" in err


def test_tiny_run_prints_a_row_and_restores_routing(capsys):
    before = (snapshot.route_sites, snapshot._route_every_site, routing._route_every_site)
    got = route_floor.measure("OrbitCloud-Kuiper-v1", 40, 0)
    assert (snapshot.route_sites, snapshot._route_every_site, routing._route_every_site) == before
    assert got["steps_per_s"] > 0 and 0 < got["search_share"] < 1
    assert set(got["kinds"]) <= {"first", "widening", "return", "bucket"} and "first" in got["kinds"]
    for per_step, us_each, settled in got["kinds"].values():
        assert per_step > 0 and us_each > 0 and 0 < settled <= got["graph_nodes"]
    assert route_floor.main(["--ids", "OrbitCloud-Small-v1", "--steps", "20"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| OrbitCloud-Small-v1 |")]
    assert len(rows) == 1 and "bucket" in rows[0]
