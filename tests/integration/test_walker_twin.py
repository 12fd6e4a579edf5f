"""benchmarks/env_throughput.py --walker-twin: the same-size comparison of a catalogue id is the same scenario on
full Walker shells of the catalogue's inferred structure."""

from __future__ import annotations

import warnings

import gymnasium as gym

import orbitcloud_env  # noqa: F401  (registers the ids)
from benchmarks.env_throughput import _is_catalogue, walker_twin


def test_walker_twin_has_the_inferred_shells_as_full_walker_shells():
    env_id = "OrbitCloud-Starlink2026-v1"
    assert _is_catalogue(env_id) and not _is_catalogue("OrbitCloud-Mega-v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = gym.make(env_id, max_jobs=1000).unwrapped  # the benchmark's episode length
    twin = walker_twin(env_id)
    meshed = [i for i in cat.sim.constellation.shells if i is not None and i.meshable and i.planes > 0]
    got = twin.sim.constellation.shell_summary()
    assert [(r["kind"], r["planes"], r["sats_per_plane"]) for r in got] == \
        [("walker", i.planes, i.sats_per_plane) for i in meshed]
    assert twin.sim.constellation.epoch == cat.sim.constellation.epoch.replace(microsecond=0)
    # Everything but the constellation is the catalogue scenario's.
    assert twin.config.workload == cat.config.workload and twin.config.episode == cat.config.episode
    assert twin.action_space == cat.action_space
    twin.reset(seed=0)
    twin.step(0)
