"""A user's own catalogue with records to set aside (decayed, GEO, MEO, SGP4-rejected, stale) runs as an env."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401 - registers the ids
from benchmarks.synthetic_catalogues import oneweb_like
from orbitcloud_env.catalogue import CatalogueWarning


def test_oneweb_like_catalogue_with_junk_runs_an_episode_and_never_uses_set_aside_satellites(tmp_path):
    text, truth = oneweb_like(seed=0)
    path = tmp_path / "oneweb.tle"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        env = gym.make("OrbitCloud-v1", max_time_s=120, **{"constellation.tle_path": str(path)})
    obs, info = env.reset(seed=0)
    sim = env.unwrapped
    junk = np.nonzero(~np.char.startswith(truth["kind"], "shell"))[0]
    assert env.observation_space.contains(obs)
    for _ in range(30):
        mask = sim.action_masks()
        obs, reward, terminated, truncated, info = env.step(int(np.flatnonzero(mask)[0]))
        assert np.isfinite(reward) and env.observation_space.contains(obs)
        if terminated or truncated:
            break
    graph = sim.network_graph()
    assert not any(graph.nodes[int(i)]["ok"] for i in junk)  # set aside: never a usable node
    in_service = np.nonzero(truth["kind"] == "shell0")[0]
    assert np.mean([graph.nodes[int(i)]["ok"] for i in in_service]) >= 0.85
    env.close()
