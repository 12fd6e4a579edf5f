"""Config validation: numpy scalars, size and time bounds, YAML files (binary, empty, duplicate keys), base paths."""

from __future__ import annotations

import numpy as np
import pytest

from orbitcloud_env.config import MAX_EPISODE_TIME_S, ConfigError, load_config


def test_numpy_scalars_are_numbers():
    cfg = load_config("small", {"planes": np.int64(5), "compute.satellite_fraction": np.float32(0.5),
                                "max_jobs": np.float64(50.0), "power.require_energy": np.bool_(False)})
    assert cfg.constellation.planes == 5 and type(cfg.constellation.planes) is int
    assert cfg.compute.satellite_fraction == 0.5 and type(cfg.compute.satellite_fraction) is float
    assert cfg.episode.max_jobs == 50 and cfg.power.require_energy is False
    with pytest.raises(ConfigError, match="constellation.planes: expected an integer"):
        load_config("small", {"planes": np.float64(5.5)})


@pytest.mark.parametrize("overrides, message", [
    ({"constellation.planes": 10**9}, r"constellation.planes: must be <= 10000"),
    ({"constellation.sats_per_plane": 10**6}, r"sats_per_plane: must be <= 10000"),
    ({"constellation.planes": 1000, "constellation.sats_per_plane": 1000}, r"at most 100,000"),
    ({"ground.n_sites": 10**6}, r"ground.n_sites: must be <= 169"),
    ({"compute.satellite_queue_limit": 10**12}, r"satellite_queue_limit: must be <= 1000000"),
    ({"compute.datacentre_queue_limit": 10**12}, r"datacentre_queue_limit: must be <= 1000000"),
    ({"compute.satellite_servers": 10**6}, r"satellite_servers: must be <= 64"),
    ({"compute.datacentre_servers": 10**6}, r"datacentre_servers: must be <= 10000"),
    ({"episode.max_jobs": 10**12}, r"max_jobs: must be <= 1000000000"),
    ({"episode.start_time_spread_s": 1e15}, r"start_time_spread_s: must be <= 315576000"),
    ({"episode.max_time_s": 1e12}, r"max_time_s: must be <= 315576000"),
    ({"episode.topology_dt_s": 1e9}, r"topology_dt_s: must be <= 3600"),
    ({"power.eclipse_lookahead_s": 1e12}, r"eclipse_lookahead_s: must be <= 86400"),
    ({"links.isl_repair_time_s": 1e12}, r"isl_repair_time_s: must be <= 2592000"),
    ({"workload.regime_mean_duration_s": 1e12}, r"regime_mean_duration_s: must be <= 86400"),
    ({"background.surge_mean_duration_s": 1e12}, r"surge_mean_duration_s: must be <= 86400"),
    ({"faults.payload_repair_time_s": 1e12}, r"payload_repair_time_s: must be <= 2592000"),
    ({"links.min_elevation_deg": 90.0}, r"min_elevation_deg: must be < 90"),
])
def test_sizes_and_times_are_bounded(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("small", overrides)


def test_ten_year_spread_keeps_sub_microsecond_time_resolution():
    cfg = load_config("small", {"episode.start_time_spread_s": MAX_EPISODE_TIME_S})
    assert np.spacing(cfg.episode.start_time_spread_s + cfg.episode.max_time_s) < 1e-6


def test_min_elevation_config_range_is_what_the_network_accepts():
    from orbitcloud_env.simulator import Simulator

    assert Simulator(load_config("small", {"links.min_elevation_deg": 89.9})).network.min_elevation_deg == 89.9


def test_yaml_file_errors_name_the_file(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x00\x01\x02\x89PNG")
    with pytest.raises(ConfigError, match="binary.yaml' is a binary file"):
        load_config(binary)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("episode: {max_jobs: 5}  # caf\xe9".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin.yaml' is not UTF-8"):
        load_config(latin)
    empty = tmp_path / "empty.yml"
    empty.write_text("# only a comment\n")
    with pytest.raises(ConfigError, match="empty.yml' is empty"):
        load_config(empty)
    dup = tmp_path / "dup.yaml"
    dup.write_text("episode:\n  max_jobs: 5\n  max_jobs: 6\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 3: duplicate key 'max_jobs' \(first at line 2\)"):
        load_config(dup)
    top = tmp_path / "top.yaml"
    top.write_text("base: small\nbase: starlink\n")
    with pytest.raises(ConfigError, match="duplicate key 'base'"):
        load_config(top)


def test_base_accepts_presets_and_yaml_paths_as_its_message_says(tmp_path):
    (tmp_path / "parent.yaml").write_text("base: small\nepisode:\n  max_jobs: 77\n")
    (tmp_path / "child.yaml").write_text("base: [legacy-v0, parent.yaml]\nworkload:\n  arrival_rate_per_s: 3.0\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg.episode.max_jobs == 77 and cfg.constellation.planes == 6
    assert cfg.workload.arrival_rate_per_s == 3.0
    (tmp_path / "bad.yaml").write_text("base: 5\n")
    with pytest.raises(ConfigError, match="base must be a preset name, a path to a YAML file, or a list of them"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("base: smal\n")
    with pytest.raises(ConfigError, match=r"typo.yaml: base: unknown preset 'smal'; did you mean 'small'"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "x.yaml").write_text("base: y.yaml\n")
    (tmp_path / "y.yaml").write_text("base: x.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="missing.yaml"):
        (tmp_path / "m.yaml").write_text("base: missing.yaml\n")
        load_config(tmp_path / "m.yaml")
