"""Scenario configuration: presets, overrides, and one error test per class of bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest

from orbitcloud_env.config import PRESETS, ConfigError, ScenarioConfig, ShellConfig, load_config


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_round_trips(name, tmp_path):
    cfg = load_config(name)
    assert cfg.name == name
    path = tmp_path / "cfg.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) .to_dict() | {"name": name} == cfg.to_dict()


def test_preset_figures():
    assert load_config("small").constellation.n_satellites == 66
    s = load_config("starlink").constellation
    assert (s.planes, s.sats_per_plane, s.altitude_km, s.inclination_deg) == (72, 22, 550.0, 53.0)
    k = load_config("kuiper").constellation
    assert (k.planes, k.sats_per_plane, k.altitude_km, k.inclination_deg) == (34, 34, 630.0, 51.9)
    assert load_config("mega").constellation.n_satellites >= 4000


def test_period_is_derived_from_altitude():
    shell = ShellConfig(altitude_km=550.0)
    assert shell.period_s == pytest.approx(5736, rel=2e-3)  # ~95.6 min at 550 km
    cfg = load_config("starlink", {"constellation.altitude_km": 1200.0})
    assert cfg.constellation.shells[0].period_s > shell.period_s


def test_overrides_dotted_nested_and_short():
    a = load_config("small", {"constellation.altitude_km": 600})
    b = load_config("small", {"constellation": {"altitude_km": 600}})
    c = load_config("small", {"altitude_km": 600})
    assert a == b == c and a.constellation.altitude_km == 600.0
    assert load_config("small", {"action_mode": "candidates"}).episode.action_mode == "candidates"


def test_user_yaml_with_base_preset(tmp_path):
    p = tmp_path / "mine.yml"
    p.write_text("base: kuiper\nworkload:\n  arrival_rate_per_s: 3.5\n")
    cfg = load_config(p)
    assert cfg.constellation.planes == 34 and cfg.workload.arrival_rate_per_s == 3.5 and cfg.name == "kuiper"


@pytest.mark.parametrize("overrides, message", [
    ({"constellation.altitud_km": 1}, r"unknown config field 'constellation.altitud_km'; did you mean "
                                      r"'constellation.altitude_km'"),
    ({"max_job": 3}, r"did you mean 'episode.max_jobs'"),
    ({"constellation.altitude_km": 100}, r"constellation.altitude_km: must be >= 160"),
    ({"constellation.altitude_km": 2500}, r"constellation.altitude_km: must be <= 2000"),
    ({"constellation.inclination_deg": 190}, r"constellation.inclination_deg"),
    ({"constellation.planes": 0}, r"constellation.planes: must be >= 1"),
    ({"constellation.planes": "six"}, r"constellation.planes: expected an integer"),
    ({"constellation.planes": True}, r"constellation.planes: expected an integer"),
    ({"compute.satellite_capacity_gflops": -5}, r"compute.satellite_capacity_gflops: must be > 0"),
    ({"workload.arrival_rate_per_s": math.nan}, r"workload.arrival_rate_per_s: must be a finite number"),
    ({"episode.action_mode": "all"}, r"episode.action_mode: must be 'all_nodes' or 'candidates'"),
    ({"workload.job_classes": [{"name": "a", "weight": -1}]}, r"workload.job_classes\[0\].weight: must be > 0"),
    ({"constellation.extra_shells": [{"altitude_km": 5000}]}, r"constellation.extra_shells\[0\].altitude_km"),
    ({"constellation.tle_path": "/no/such.tle"}, r"constellation.tle_path: no such file"),
    ({"constellation.epoch_utc": "yesterday"}, r"constellation.epoch_utc: must be an ISO-8601"),
    ({"ground.fibre_route_factor": 0.5}, r"ground.fibre_route_factor: must be >= 1"),
    ({"power.initial_soc_max": 0.1, "power.initial_soc_min": 0.5}, r"power.initial_soc_max"),
    ({"ground": 5}, r"ground: expected a mapping"),
    ({"workload.job_classes": []}, r"workload.job_classes: needs at least one job class"),
    ({"workload.job_classes": [{"name": "a"}, {"name": "b"}, {"name": "a"}]},
     r"workload.job_classes: names must be unique, got \['a', 'b', 'a'\]"),
    ({"workload.trace_path": "/no/such/trace.csv"}, r"workload.trace_path: no such file: '/no/such/trace.csv'"),
])
def test_bad_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("starlink", overrides)


def test_config_error_is_a_value_error_and_presets_are_checked():
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="did you mean 'starlink'"):
        load_config("starlnk")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("missing.yaml")


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("constellation: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)


def test_configs_are_frozen():
    cfg = ScenarioConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.constellation.altitude_km = 1.0  # type: ignore[misc]


def test_workload_checks_run_on_the_dataclass_too():
    """The job-class and trace checks sit in WorkloadConfig.__post_init__ itself (they once sat after a return)."""
    from orbitcloud_env.config import JobClassConfig, WorkloadConfig

    with pytest.raises(ConfigError, match="job_classes: needs at least one"):
        WorkloadConfig(job_classes=())
    with pytest.raises(ConfigError, match="names must be unique"):
        WorkloadConfig(job_classes=(JobClassConfig("x"), JobClassConfig("x")))
    with pytest.raises(ConfigError, match="trace_path: no such file"):
        WorkloadConfig(trace_path="/no/such/trace.csv")
    assert WorkloadConfig(job_classes=(JobClassConfig("x"), JobClassConfig("y"))).job_classes[1].name == "y"


def test_every_preset_still_loads():
    for name in PRESETS:
        assert load_config(name).workload.job_classes
