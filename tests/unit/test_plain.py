"""orbitcloud_env.plain.to_plain: the one "make it plain" helper behind ScenarioConfig.to_dict, the run records'
YAML (agents.runs.plain) and the JSON reports (agents.reports.json_safe)."""

from __future__ import annotations

import json
import math

import numpy as np
import yaml

from agents.reports import json_safe
from agents.runs import plain
from orbitcloud_env.config import ScenarioConfig, load_config
from orbitcloud_env.metrics import JobOutcome
from orbitcloud_env.plain import to_plain


def test_containers_numpy_values_and_subclasses_become_exact_builtins():
    value = {1: (np.float32(0.5), np.int64(3), np.bool_(True)), "a": np.array([[1, 2]]), "o": JobOutcome.MET,
             "n": None, "f": math.inf}
    out = to_plain(value)
    assert out == {"1": [0.5, 3, True], "a": [[1, 2]], "o": "met", "n": None, "f": math.inf}
    assert [type(v) for v in out["1"]] == [float, int, bool] and type(out["o"]) is str
    yaml.safe_dump(out)  # safe_dump rejects numpy values and str/float subclasses


def test_json_numbers_and_other_objects():
    assert to_plain([math.nan, -math.inf, np.float64(2.0)], json_numbers=True) == [None, None, 2.0]
    assert json.loads(json.dumps(json_safe({"x": (np.nan, 1)}), allow_nan=False)) == {"x": [None, 1]}
    marker = object()
    assert to_plain({"k": marker}) == {"k": marker}
    assert to_plain([marker], other=lambda v: "other") == ["other"]
    assert plain({"cls": ScenarioConfig, "fn": load_config, "x": np.float32(1.5)}) == {
        "cls": "orbitcloud_env.config.ScenarioConfig", "fn": "load_config", "x": 1.5}


def test_config_to_dict_is_plain_and_loads_back():
    cfg = load_config("starlink")
    d = cfg.to_dict()
    assert d == to_plain(d) and isinstance(d["constellation"]["extra_shells"], list)
    assert ScenarioConfig().replace(d) == cfg
