"""Env-level tests, looping over the registry (every OrbitCloud id), as Gymnasium's and MiniGrid's own tests do.

Every id runs every check in .ci/run; the default tier leaves the reset-heavy ones (env checkers, repeated
rollouts) of scenarios above ``LARGE_SCENARIO_SATELLITES`` to the slow tier."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import networkx as nx
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import orbitcloud_env  # noqa: F401  (registers the ids)
from orbitcloud_env.registration import ENV_IDS

ALL_IDS = sorted(i for i in gym.registry if i.startswith("OrbitCloud"))
#: [-] Scenarios above this many satellites run the reset-heavy checks (env checkers, repeated rollouts) in the
#: slow tier; every id still gets them in .ci/run, and the cheap checks in the default tier.
LARGE_SCENARIO_SATELLITES = 2_000


def _n_satellites(env_id: str) -> int:
    """Satellites of an id's scenario, read from its config (a TLE preset: its element sets), without building it."""
    from orbitcloud_env.config import load_config
    from orbitcloud_env.data import resolve_data_path

    c = load_config(gym.spec(env_id).kwargs["preset"]).constellation
    if c.tle_path is None:
        return c.n_satellites
    with open(resolve_data_path(c.tle_path), encoding="utf-8-sig") as f:
        return sum(1 for line in f if line.startswith("1 "))


LARGE_IDS = [i for i in ALL_IDS if _n_satellites(i) > LARGE_SCENARIO_SATELLITES]
SMALL_IDS = [i for i in ALL_IDS if i not in LARGE_IDS]


def _tiered(ids: list[str]) -> list:
    """``ids`` as pytest params, the large scenarios marked slow (default tier stays quick as ids are added)."""
    return [pytest.param(i, marks=pytest.mark.slow) if i in LARGE_IDS else i for i in ids]


TIERED_IDS = _tiered(ALL_IDS)
EPISODE_METRIC_KEYS = {"mean_latency_ms", "p95_latency_ms", "deadline_miss_rate", "rejection_rate",
                       "energy_j_per_job", "orbital_share"}


def _make(env_id: str, **kw):
    kw.setdefault("max_jobs", 60)
    return gym.make(env_id, **kw)


def _masked_random_rollout(env, seed: int, n_steps: int):
    """(obs, reward, info) records of a seeded, masked random rollout."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    records = [obs]
    for _ in range(n_steps):
        mask = env.unwrapped.action_masks()
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        records.append((obs, reward, info))
        if terminated or truncated:
            obs, _ = env.reset()
            records.append(obs)
    return records


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_registry_has_the_documented_ids():
    assert set(ENV_IDS) <= set(ALL_IDS)
    assert {"OrbitCloud-v0", "OrbitCloud-Small-v0", "OrbitCloud-Kuiper-v0", "OrbitCloud-Mega-v0"} <= set(ALL_IDS)
    specs = {i: gym.registry[i] for i in ALL_IDS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is registered again
        orbitcloud_env.register_envs()  # idempotent: a second call registers nothing
    assert sorted(i for i in gym.registry if i.startswith("OrbitCloud")) == ALL_IDS
    assert all(gym.registry[i] is specs[i] for i in ALL_IDS)  # the same spec objects, not re-registered


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_gymnasium_env_checker_passes_without_warnings(env_id):
    env = _make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_sb3_env_checker_passes(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(_make(env_id).unwrapped, warn=True)
    # Gymnasium's own notice that a -v0 id has a newer version is by design (the v0 ids stay registered).
    assert [str(w.message) for w in caught if "is out of date" not in str(w.message)] == []


def _numeric_leaves(info: dict, prefix: str = ""):
    """(key, value) of every non-string leaf of an info dict (nested dicts walked, ``episode_metrics`` skipped)."""
    for k, v in info.items():
        if k == "episode_metrics" or isinstance(v, str):
            continue
        if isinstance(v, dict):
            yield from _numeric_leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_info_carries_the_int8_action_mask_and_numpy_numbers(env_id):
    """``info["action_mask"]`` at reset and every step (the last step included) is int8 and equals
    ``action_masks()``; every number in info has a dtype (TorchRL's reader needs one); masked actions are valid."""
    env = _make(env_id, max_jobs=12)
    obs, info = env.reset(seed=2)
    for _ in range(14):
        mask = env.unwrapped.action_masks()
        assert info["action_mask"].dtype == np.int8 and info["action_mask"].shape == (env.action_space.n,)
        np.testing.assert_array_equal(info["action_mask"], mask.astype(np.int8))
        np.testing.assert_array_equal(info["action_mask"][:-1], obs["node_valid"] > 0.5)  # node_valid + reject
        assert info["action_mask"][-1] == 1
        for key, value in _numeric_leaves(info):
            assert hasattr(value, "dtype"), f"info[{key!r}] is a {type(value).__name__}, not a numpy value"
        action = int(env.action_space.sample(mask=info["action_mask"]))  # Discrete.sample takes only int8 masks
        obs, _, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
        if terminated or truncated:
            np.testing.assert_array_equal(info["action_mask"], env.unwrapped.action_masks().astype(np.int8))
            obs, info = env.reset()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_spec_round_trips_through_json(env_id):
    spec = gym.spec(env_id)
    again = gym.envs.registration.EnvSpec.from_json(spec.to_json())
    assert again.id == env_id and again.kwargs == spec.kwargs


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_same_seed_same_episode(env_id):
    # Short episodes (cheap per id): 60 steps cross one truncation, so the unseeded second reset is compared too.
    a = _masked_random_rollout(_make(env_id, max_jobs=40), seed=7, n_steps=60)
    b = _masked_random_rollout(_make(env_id, max_jobs=40), seed=7, n_steps=60)
    _assert_same(a, b)
    c = _masked_random_rollout(_make(env_id, max_jobs=40), seed=8, n_steps=20)
    assert not np.array_equal(a[0]["job"], c[0]["job"]) or not np.array_equal(a[1][0]["job"], c[1][0]["job"])


def _rollout_digest(env_id: str, seed: int, n_steps: int = 20) -> str:
    """SHA-256 of a seeded masked-random rollout of ``n_steps`` (short: it runs for every registered id)."""
    import hashlib

    env = _make(env_id, max_jobs=n_steps)
    h = hashlib.sha256()
    for rec in _masked_random_rollout(env, seed, n_steps):
        obs, reward, info = rec if isinstance(rec, tuple) else (rec, 0.0, {})
        for k in sorted(obs):
            h.update(obs[k].tobytes())
        h.update(np.float64(reward).tobytes())
        h.update(json.dumps({k: v for k, v in info.items() if k != "candidate_nodes"}, sort_keys=True,
                            default=str).encode())
    return h.hexdigest()


@pytest.mark.slow  # a subprocess; in the default tier test_episode_digests compares every id with digests stored by
# another process (another hash seed), and test_same_seed_same_episode repeats episodes within this one
@pytest.mark.parametrize("ids", [pytest.param(SMALL_IDS, id="small-ids"), pytest.param(LARGE_IDS, id="large-ids")])
def test_same_seed_same_episode_across_processes(ids):
    """Every registered id: a fresh process (another hash seed) gives the digest of this process's episode."""
    import os
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parents[1]
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); from integration.test_env import "
            "_rollout_digest; print(json.dumps({i: _rollout_digest(i, 3) for i in sys.argv[2:]}))")
    out = subprocess.run([sys.executable, "-c", code, str(tests_dir), *ids], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(theirs) == sorted(ids)
    assert theirs == {i: _rollout_digest(i, 3) for i in ids}
    assert len(set(theirs.values())) == len(ids)  # the digests tell the ids apart


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_the_tier_split_counts_the_satellites_the_env_builds(env_id):
    """The split reads satellite counts from the config without building; they must be the built scenario's, and
    exactly the ids above the bound go to the slow tier."""
    n = _n_satellites(env_id)
    assert n == gym.make(env_id).unwrapped.sim.n_sat
    marked_slow = [p for p in TIERED_IDS if getattr(p, "values", (p,))[0] == env_id and getattr(p, "marks", ())]
    assert bool(marked_slow) == (n > LARGE_SCENARIO_SATELLITES) == (env_id in LARGE_IDS)


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_pickled_env_continues_identically(env_id):
    env = _make(env_id, max_jobs=100)
    _masked_random_rollout(env, seed=1, n_steps=30)
    clone = pickle.loads(pickle.dumps(env))
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(40):
        ma, mb = env.unwrapped.action_masks(), clone.unwrapped.action_masks()
        np.testing.assert_array_equal(ma, mb)
        step_a = env.step(int(rng_a.choice(np.flatnonzero(ma))))
        step_b = clone.step(int(rng_b.choice(np.flatnonzero(mb))))
        _assert_same(step_a, step_b)
        if step_a[3]:
            break


def test_fresh_subprocess_make_with_module_prefix():
    code = ("import gymnasium as gym; e = gym.make('orbitcloud_env:OrbitCloud-v0', max_jobs=5); "
            "o, _ = e.reset(seed=0); print(e.action_space.n, sorted(o))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("17 ")


@pytest.mark.parametrize("env_id", TIERED_IDS)
def test_truncates_at_the_horizon_with_episode_metrics(env_id):
    env = _make(env_id, max_jobs=25)
    env.reset(seed=0)
    for i in range(25):
        _, _, terminated, truncated, info = env.step(int(env.action_space.n) - 1)
        assert not terminated
        assert truncated == (i == 24)
    assert EPISODE_METRIC_KEYS <= set(info["episode_metrics"])
    assert info["episode_metrics"]["rejection_rate"] == 1.0


@pytest.mark.parametrize("mode", ["all_nodes", "candidates"])
def test_mask_allows_what_step_accepts_and_forbids_what_step_rejects(mode):
    # Half the satellites carry no compute, so their actions are masked out (all_nodes); in candidates mode only
    # padding rows are masked, so list more candidates than there are valid nodes.
    env = _make("OrbitCloud-Small-v0", action_mode=mode, max_jobs=200, satellite_fraction=0.5, candidates_k=64)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    saw_invalid = saw_valid = False
    for _ in range(200):
        mask = env.unwrapped.action_masks()
        assert mask[-1] and mask.dtype == bool and mask.shape == (env.action_space.n,)
        if (~mask).any() and rng.random() < 0.3:
            a = int(rng.choice(np.flatnonzero(~mask)))
            _, reward, _, truncated, info = env.step(a)
            assert info["invalid_action"] and info["outcome"] == "rejected"
            assert info["rewards"]["invalid_action"] < 0 and reward < 0
            saw_invalid = True
        else:
            a = int(rng.choice(np.flatnonzero(mask[:-1]))) if mask[:-1].any() else env.action_space.n - 1
            _, _, _, truncated, info = env.step(a)
            assert not info["invalid_action"]
            if a != env.action_space.n - 1:
                assert info["outcome"] in ("met", "missed", "dropped")
                saw_valid = True
        if truncated:
            break
    assert saw_valid and saw_invalid


@pytest.mark.parametrize("bad", [-1, 10_000, 2.5, "3", np.array([1, 2]), None, True])
def test_action_outside_the_space_is_a_clear_error(bad):
    env = _make("OrbitCloud-Small-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_numpy_integer_actions_are_accepted():
    """numpy scalars, 0-d and 1-element arrays act exactly as the same Python int."""
    env, ref = _make("OrbitCloud-Small-v0"), _make("OrbitCloud-Small-v0")
    env.reset(seed=0)
    ref.reset(seed=0)
    n = env.action_space.n
    actions = (np.int64(n - 1), np.array(n - 1), np.array([n - 1]), np.int32(0), np.uint8(1))
    for action in actions:
        got = env.step(action)
        _assert_same(got, ref.step(int(np.asarray(action).reshape(-1)[0])))
    assert got[4]["job_id"] == len(actions) - 1


def test_observations_stay_finite_and_in_space_for_candidates_padding():
    # More candidates than valid nodes leaves padding rows: zeros, invalid, still inside the space.
    env = _make("OrbitCloud-Small-v0", action_mode="candidates", candidates_k=64, max_jobs=50,
                satellite_fraction=0.25)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    valid = obs["node_valid"]
    assert valid.sum() < 64
    pad = valid == 0
    assert np.all(obs["node_latency"][pad] == 0.0)


def test_info_carries_latency_breakdown_that_adds_up():
    env = _make("OrbitCloud-Small-v0", max_jobs=100)
    env.reset(seed=2)
    seen = 0
    for _ in range(100):
        mask = env.unwrapped.action_masks()
        if not mask[:-1].any():
            env.step(env.action_space.n - 1)
            continue
        _, _, _, truncated, info = env.step(int(np.flatnonzero(mask[:-1])[0]))
        if info["outcome"] in ("met", "missed"):
            b = info["latency_breakdown_ms"]
            parts = b["uplink"] + b["isl"] + b["transfer"] + b["queue"] + b["compute"] + b["return"]
            assert parts == pytest.approx(b["total"], rel=1e-9, abs=1e-6)
            assert b["total"] == pytest.approx(info["latency_ms"])
            assert info["met_deadline"] == (info["latency_ms"] <= info["deadline_ms"])
            seen += 1
        if truncated:
            break
    assert seen > 10


def test_network_graph_is_the_current_snapshot():
    env = _make("OrbitCloud-Small-v0")
    env.reset(seed=0)
    g = env.unwrapped.network_graph()
    assert isinstance(g, nx.Graph)
    n_sat = env.unwrapped.sim.n_sat
    assert set(range(n_sat)) <= set(g.nodes)
    u, v, data = next((u, v, d) for u, v, d in g.edges(data=True) if isinstance(u, int) and isinstance(v, int))
    assert {"distance_km", "delay_ms", "capacity_gbps"} <= set(data)
    assert data["delay_ms"] == pytest.approx(data["distance_km"] / 299_792.458 * 1e3)


def test_render_rgb_array_is_an_image():
    env = _make("OrbitCloud-Small-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0 if env.unwrapped.action_masks()[0] else env.action_space.n - 1)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] > 100 and frame.std() > 0
    assert env.metadata["render_fps"] > 0


def test_render_title_names_the_outcome_by_its_value():
    from orbitcloud_env.render import render_title

    env = _make("OrbitCloud-Small-v0")
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.n - 1)  # reject: the outcome is known
    title = render_title(env.unwrapped.sim)
    assert title.endswith(f"{info['site_name']}: rejected, 0 ms") and "JobOutcome" not in title


def _reject_rollout(seed: int, n_steps: int) -> list[tuple[dict, float, bool]]:
    """(obs, reward, truncated) of a single env rejecting every job (the reference for the vector envs)."""
    env = _make("OrbitCloud-Small-v0", max_jobs=10)
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False)]
    for _ in range(n_steps):
        obs, reward, _, truncated, _ = env.step(env.action_space.n - 1)
        out.append((obs, reward, truncated))
        if truncated:
            break
    return out


def test_vector_envs_run():
    """SyncVectorEnv: sub-env i is seeded ``seed + i`` and steps exactly as the single env, truncating at 10."""
    envs = gym.vector.SyncVectorEnv([lambda: _make("OrbitCloud-Small-v0", max_jobs=10) for _ in range(2)])
    obs, _ = envs.reset(seed=0)
    refs = [_reject_rollout(i, 10) for i in range(2)]
    assert obs["node_valid"].shape == (2, envs.single_observation_space["node_valid"].shape[0])
    for i in range(2):
        np.testing.assert_array_equal(obs["job"][i], refs[i][0][0]["job"])
    for step in range(1, 11):
        obs, reward, terminated, truncated, _ = envs.step(np.full(2, envs.single_action_space.n - 1))
        for i in range(2):
            assert reward[i] == refs[i][step][1] < 0.0  # the rejection penalty
            assert truncated[i] == refs[i][step][2] == (step == 10)
            if step < 10:
                np.testing.assert_array_equal(obs["job"][i], refs[i][step][0]["job"])
        assert not terminated.any()
    envs.close()


@pytest.mark.slow
def test_async_vector_env_and_sb3_subproc_vec_env_run():
    """Spawned workers step exactly as the single env in this process (same seeds, same rewards)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    refs = [_reject_rollout(i, 2) for i in range(2)]
    envs = gym.vector.AsyncVectorEnv([lambda: _make("OrbitCloud-Small-v0", max_jobs=10) for _ in range(2)],
                                     context="spawn")
    obs, _ = envs.reset(seed=0)
    _, reward, _, _, _ = envs.step(np.full(2, envs.single_action_space.n - 1))
    envs.close()
    for i in range(2):
        np.testing.assert_array_equal(obs["job"][i], refs[i][0][0]["job"])
        assert reward[i] == refs[i][1][1]
    # Spawned workers import nothing of ours: the module prefix makes gym.make import and register orbitcloud_env.
    venv = make_vec_env("orbitcloud_env:OrbitCloud-Small-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": "spawn"}, env_kwargs={"max_jobs": 10})
    venv.reset()
    masks = np.stack(venv.env_method("action_masks"))
    assert masks.shape == (2, venv.action_space.n) and masks[:, -1].all()  # rejection is always allowed
    _, reward, _, _ = venv.step(np.full(2, venv.action_space.n - 1))
    venv.close()
    np.testing.assert_array_equal(reward, [refs[i][1][1] for i in range(2)])  # make_vec_env seeds 0 and 1


def test_config_errors_surface_at_make():
    with pytest.raises(ValueError, match="constellation.altitude_km"):
        gym.make("OrbitCloud-Small-v0", **{"constellation.altitude_km": 50})
    with pytest.raises(ValueError, match="did you mean 'episode.max_jobs'"):
        gym.make("OrbitCloud-Small-v0", max_job=3)
    with pytest.raises(ValueError, match="render_mode"):
        orbitcloud_env.OrbitCloudEnv(preset="small", render_mode="ascii")


def test_human_render_mode_without_a_display_is_one_line_naming_the_alternative(monkeypatch):
    """No pygame needed: "human" draws with matplotlib; without a window-capable backend, make says so."""
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    with pytest.raises(ValueError) as info:
        gym.make("OrbitCloud-Small-v1", render_mode="human")
    message = str(info.value)
    assert "\n" not in message and "render_mode='human'" in message and "rgb_array" in message


def test_human_render_mode_shows_a_frame_per_step(monkeypatch):
    from orbitcloud_env import render

    frames = []
    monkeypatch.setattr(render, "check_human_display", lambda: None)
    monkeypatch.setattr(render.HumanWindow, "show", lambda self, frame: frames.append(frame.shape))
    env = gym.make("OrbitCloud-Small-v1", render_mode="human", max_jobs=5)
    env.reset(seed=0)
    env.step(env.action_space.n - 1)
    assert env.render() is None
    assert frames == [(480, 960, 3)] * 3
    env.close()


def test_preset_and_overrides_select_the_scenario():
    env = gym.make("OrbitCloud-v0", preset="small", action_mode="all_nodes", max_jobs=5)
    sim = env.unwrapped.sim
    assert sim.n_sat == 66 and env.action_space.n == 66 + sim.n_dc + 1
