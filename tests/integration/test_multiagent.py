"""The multi-agent env (orbitcloud_env/multiagent.py) and its SB3 tooling (agents/multiagent.py): PettingZoo's API
test, seeding, the step semantics (one job per agent per step, arrival order, contention), masks, equivalence with
the single-agent env when one agent owns every site, SuperSuit vectorisation and a short MaskablePPO run."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("supersuit")

from pettingzoo.test import parallel_api_test  # noqa: E402

from orbitcloud_env.env import OrbitCloudEnv  # noqa: E402
from orbitcloud_env.ground import region_of, user_sites  # noqa: E402
from orbitcloud_env.multiagent import OrbitCloudParallelEnv  # noqa: E402

SMALL = {"preset": "small", "max_jobs": 60}


def _env(**kw) -> OrbitCloudParallelEnv:
    return OrbitCloudParallelEnv(**{**SMALL, **kw})


def _first_valid(infos: dict) -> dict:
    """Each agent's first valid action (the candidate of lowest estimated latency; reject when idle)."""
    return {a: int(np.flatnonzero(i["action_mask"])[0]) for a, i in infos.items()}


def _episode(env: OrbitCloudParallelEnv, seed: int) -> tuple[list, list]:
    """Observations and rewards of one first-valid-action episode."""
    obs, infos = env.reset(seed=seed)
    seen, rewards = [obs], []
    while env.agents:
        obs, rew, _, _, infos = env.step(_first_valid(infos))
        seen.append(obs)
        rewards.append(rew)
    return seen, rewards


def test_unknown_keyword_is_a_type_error_naming_this_class():
    with pytest.raises(TypeError, match=r"OrbitCloudParallelEnv.__init__\(\) got an unexpected keyword argument 'maxjobs'"):
        _env(maxjobs=10)


def test_parallel_api_test_passes_and_an_episode_ends_after_max_jobs_decisions():
    env = _env(max_jobs=40)
    parallel_api_test(env, num_cycles=40)  # raises on any API violation
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == set(env.agents) == set(env.possible_agents)
    steps, decided = 0, []
    while env.agents:
        actions = _first_valid(infos)
        obs, rewards, terminated, truncated, infos = env.step(actions)
        steps += 1
        assert all(env.observation_space(a).contains(o) for a, o in obs.items())
        assert set(rewards) == set(obs) and all(np.isfinite(r) for r in rewards.values())
        for agent, info in infos.items():
            if info["idle"]:  # no job of this agent's region this step: nothing decided, nothing earned
                assert "job_id" not in info and rewards[agent] == 0.0
                continue
            # the job went to the candidate the action named, and the reward is the sum of its itemised terms
            decided.append(int(info["job_id"]))
            assert not info["invalid_action"] and info["node"] == info["candidate_nodes"][actions[agent]]
            assert rewards[agent] == pytest.approx(sum(info["rewards"].values()))
    assert all(truncated.values()) and not any(terminated.values())
    assert sorted(decided) == list(range(40)), "every job decided exactly once, by one agent"
    assert env.sim.stats.n_jobs == 40 and 1 <= steps < 40  # several jobs in a step when sites' jobs coincide


def test_aec_api_test_passes_with_the_int8_masks():
    """PettingZoo's AEC ``api_test`` (after ``parallel_to_aec``) samples with the info's mask, which must be int8."""
    from pettingzoo.test import api_test
    from pettingzoo.utils.conversions import parallel_to_aec

    env = _env(max_jobs=40)
    env.reset(seed=0)
    for agent in env.possible_agents:
        mask = env.action_mask(agent)
        assert mask.dtype == np.int8 and mask[-1] == 1
        env.action_space(agent).sample(mask=mask)  # Discrete.sample refuses a bool mask
    api_test(parallel_to_aec(_env(max_jobs=40)), num_cycles=40)


def test_default_agents_are_the_continents_with_sites():
    env = _env()
    sites = user_sites(env.config.ground.n_sites)
    expected = {region_of(a, b).lower().replace(" ", "_") for a, b in zip(sites.lat_deg, sites.lon_deg)}
    assert set(env.possible_agents) == expected
    owned = [s for a in env.possible_agents for s in env.sites_of(a)]
    assert sorted(owned) == sorted(sites.names)  # every site in exactly one agent
    assert "Paris" in env.sites_of("europe")
    spaces = {id(env.observation_space(a)) for a in env.possible_agents}
    assert len(spaces) == 1 and env.action_space("asia").n == env.config.episode.candidates_k + 1


def test_same_seed_same_episode_and_different_seeds_differ():
    obs_a, rew_a = _episode(_env(), seed=5)
    obs_b, rew_b = _episode(_env(), seed=5)
    assert rew_a == rew_b
    assert len(obs_a) == len(obs_b)
    for oa, ob in zip(obs_a, obs_b):
        for agent in oa:
            for key in oa[agent]:
                np.testing.assert_array_equal(oa[agent][key], ob[agent][key])
    _, rew_c = _episode(_env(), seed=6)
    assert rew_c != rew_a


def test_simulator_state_round_trip_with_the_lookahead_workload():
    """The parallel env installs a LookaheadWorkload (jobs drawn ahead); Simulator.get_state/set_state saves it
    through its own get_state, so the same jobs and outcomes come out again after a restore."""
    from orbitcloud_env.workload import LookaheadWorkload

    env = _env(max_jobs=400)
    _, infos = env.reset(seed=3)
    for _ in range(5):
        _, _, _, _, infos = env.step(_first_valid(infos))
    sim = env.sim
    assert isinstance(sim.workload, LookaheadWorkload)
    assert sim.workload.peek(4) is not None and len(sim.workload._ahead) >= 5  # jobs drawn ahead, not consumed
    saved = sim.get_state()

    def run() -> list:
        outs = [sim.place(sim.n_sat + k % sim.n_dc if k % 3 else None) for k in range(60)]
        return [(o.job, o.node, o.outcome, o.latency_ms, o.energy_j) for o in outs] + [sim.stats.metrics()]

    first = run()
    sim.set_state(saved)
    again = run()
    assert again == first
    assert {o[2].name for o in first[:-1]} >= {"REJECTED", "MET"}, "placed and rejected jobs both replayed"
    sim.set_state(saved)
    assert sim.job == saved["job"] and sim.workload.peek(0) == first[1][0]


def test_steps_hold_one_job_per_agent_in_arrival_order_and_idle_agents_see_zeros():
    env = _env(max_jobs=80)
    obs, infos = env.reset(seed=1)
    jobs, sizes, next_id = 0, [], 0
    while env.agents:
        idle = [a for a in env.possible_agents if a not in env.acting_agents]
        for a in idle:
            assert all(not v.any() for v in obs[a].values())
            assert infos[a]["action_mask"].dtype == np.int8
            assert infos[a]["action_mask"].tolist() == [0] * env.config.episode.candidates_k + [1]
        obs, rew, term, trunc, infos = env.step(_first_valid(infos))
        placed = sorted((i for i in infos.values() if not i["idle"]), key=lambda i: i["job_id"])
        # the step took the next arrivals of the stream, each agent at most once (infos are per agent)
        assert [i["job_id"] for i in placed] == list(range(next_id, next_id + len(placed)))
        times = [i["time_s"] for i in placed]
        assert times == sorted(times)
        next_id += len(placed)
        assert all(rew[a] == 0.0 for a, i in infos.items() if i["idle"])
        assert not any(term.values())
        jobs += len(placed)
        sizes.append(len(placed))
    assert jobs == 80  # the single-agent horizon: max_jobs decisions
    assert max(sizes) > 1  # some steps decide several agents' jobs together
    assert env.agents == [] and all(trunc.values())


def test_one_agent_owning_every_site_is_the_single_agent_env():
    kw = dict(preset="small", max_jobs=70)
    names = list(user_sites(30).names)
    multi = OrbitCloudParallelEnv(groups={"world": names}, **kw)
    single = OrbitCloudEnv(action_mode="candidates", **kw)
    obs_m, infos_m = multi.reset(seed=3)
    obs_s, _ = single.reset(seed=3)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        for key in obs_s:
            np.testing.assert_array_equal(obs_m["world"][key], obs_s[key])
        mask = single.action_masks()
        np.testing.assert_array_equal(infos_m["world"]["action_mask"], mask)
        a = int(rng.integers(mask.size))  # masked-out actions included: same penalty in both
        obs_m, rew_m, _, trunc_m, infos_m = multi.step({"world": a})
        obs_s, rew_s, _, trunc_s, info_s = single.step(a)
        assert rew_m["world"] == rew_s
        assert infos_m["world"]["outcome"] == info_s["outcome"]
        assert infos_m["world"]["invalid_action"] == info_s["invalid_action"]
        assert trunc_m["world"] == trunc_s
        done = trunc_s
    assert infos_m["world"]["episode_metrics"] == info_s["episode_metrics"]


def test_masked_action_is_a_penalised_rejection():
    env = _env()
    obs, infos = env.reset(seed=2)
    for _ in range(60):
        bad = {a: int(np.flatnonzero(i["action_mask"] == 0)[0]) for a, i in infos.items()
               if a in env.acting_agents and (i["action_mask"] == 0).any()}
        if bad:
            break
        obs, _, _, _, infos = env.step(_first_valid(infos))
    assert bad, "no masked-out action in the first steps"
    agent = next(iter(bad))
    obs, rew, _, _, infos = env.step({**_first_valid(infos), **bad})
    info = infos[agent]
    assert info["invalid_action"] and info["outcome"] == "rejected"
    assert info["rewards"]["invalid_action"] < 0 and rew[agent] == pytest.approx(sum(info["rewards"].values()))


def test_jobs_of_one_step_contend_for_the_same_queue():
    """One data centre holding one job (fast, so that it is often free): when two agents of a step send their jobs
    there, the later one is rejected."""
    env = _env(max_jobs=200, data_centres=["us-east-1"], datacentre_queue_limit=1, datacentre_servers=1,
               datacentre_capacity_gflops=5e5, satellite_fraction=0.0, candidates_min_datacentres=1)
    obs, infos = env.reset(seed=0)
    contended = []
    while env.agents:
        ground = {a: int(np.flatnonzero(infos[a]["action_mask"][:-1] & (obs[a]["node_is_ground"] > 0))[0])
                  if (infos[a]["action_mask"][:-1] & (obs[a]["node_is_ground"] > 0)).any() else
                  len(infos[a]["action_mask"]) - 1 for a in env.possible_agents}
        obs, rew, _, _, infos = env.step(ground)
        contended += [(rew[a], i) for a, i in infos.items() if i.get("contended")]
    assert contended
    penalty = env.config.reward.reject_penalty
    for reward, info in contended:
        assert info["outcome"] == "rejected" and not info["invalid_action"]
        assert reward == pytest.approx(-penalty)


_DIGEST = """
import hashlib, numpy as np
from orbitcloud_env.multiagent import OrbitCloudParallelEnv
env = OrbitCloudParallelEnv(preset="small", max_jobs=40)
obs, infos = env.reset(seed=7)
h = hashlib.sha256()
while env.agents:
    for a in env.possible_agents:
        for k in sorted(obs[a]):
            h.update(obs[a][k].tobytes())
    obs, rew, _, _, infos = env.step({a: int(np.flatnonzero(i["action_mask"])[-1 if a == "asia" else 0])
                                      for a, i in infos.items()})
    h.update(repr(sorted(rew.items())).encode())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_same_seed_same_episode_across_processes():
    """Two processes with different hash seeds, and this one, digest the same episode identically."""
    digests = {subprocess.run([sys.executable, "-c", _DIGEST], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout.strip() for h in (1, 2)}
    here: dict = {}
    exec(_DIGEST.replace("print(h.hexdigest())", "here['digest'] = h.hexdigest()"), {"here": here})
    assert digests == {here["digest"]}


@pytest.mark.parametrize("bad, match", [
    ({"groups": "continents"}, r"groups: unknown grouping 'continents'; did you mean 'continent'"),
    ({"groups": {"eu": ["Europ"]}}, r"groups\['eu'\]: unknown entry 'Europ'; did you mean 'Europe'"),
    ({"groups": {"a": ["Europe"], "b": ["Paris"]}}, r"groups\['b'\]: site 'Paris' already belongs to agent 'a'"),
    ({"groups": {"a": ["Europe"]}}, r"groups: \d+ site\(s\) without an agent"),
    ({"groups": {"a": []}}, r"groups\['a'\]: expected a non-empty list"),
    ({"groups": {"a": "Europe"}}, r"groups\['a'\]: expected a non-empty list"),
    ({"groups": {"oc": ["Oceania"], "rest": ["Asia"]}}, r"groups\['oc'\]: 'Oceania' has no site in this scenario"),
    ({"action_mode": "all_nodes"}, r"action_mode: .* allowed: 'candidates'"),
])
def test_bad_arguments_name_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        _env(**bad)


def test_bad_actions_name_the_agent():
    env = _env()
    _, infos = env.reset(seed=0)
    acting = env.acting_agents[0]
    with pytest.raises(ValueError, match=r"actions: unknown agent 'mars'"):
        env.step({**_first_valid(infos), "mars": 0})
    with pytest.raises(ValueError, match=rf"actions: no action for agent '{acting}'"):
        env.step({a: 0 for a in env.possible_agents if a != acting})
    with pytest.raises(ValueError, match=rf"actions\['{acting}'\]: 99 is outside the action space"):
        env.step({**_first_valid(infos), acting: 99})


def test_missing_pettingzoo_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "orbitcloud_env.multiagent")
    with pytest.raises(ImportError, match=r"orbitcloud-env\[multiagent\]"):
        importlib.import_module("orbitcloud_env.multiagent")


@pytest.mark.slow
def test_core_package_does_not_import_pettingzoo():
    code = "import sys, orbitcloud_env, orbitcloud_env.env; assert 'pettingzoo' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_supersuit_vec_env_rows_are_the_agents_with_their_masks():
    from agents.multiagent import make_vec_env

    venv = make_vec_env(SMALL, n_copies=2, num_cpus=0)
    n_agents = len(_env().possible_agents)
    assert venv.num_envs == 2 * n_agents
    venv.seed(4)
    obs = venv.reset()
    assert obs["node_valid"].shape == (2 * n_agents, 16)
    for _ in range(5):
        masks = np.stack(venv.env_method("action_masks"))
        np.testing.assert_array_equal(masks[:, :-1], obs["node_valid"] > 0.5)
        assert masks[:, -1].all()
        venv.step_async(np.array([np.flatnonzero(m)[0] for m in masks]))
        obs, rewards, dones, infos = venv.step_wait()
        assert rewards.shape == (2 * n_agents,) and np.isfinite(rewards).all()
    venv.close()


def test_shared_heuristic_scores_add_up_to_the_episode_return():
    from agents.heuristics import HEURISTICS
    from agents.multiagent import evaluate_shared

    env = _env()
    scores = evaluate_shared(env, HEURISTICS["earliest-finish"](), seeds=[0])
    assert sum(scores.jobs.values()) == 60
    assert 0.0 <= scores.met_rate() <= 1.0
    assert scores.mean_return() == pytest.approx(env.sim.stats.episode_return)


@pytest.mark.slow
def test_maskable_ppo_trains_a_shared_policy_through_supersuit():
    from agents.multiagent import evaluate_shared, train_shared
    from agents.rl import LoadedPolicy

    model = train_shared(SMALL, timesteps=256, seed=0, n_steps=32, batch_size=64, n_epochs=1,
                         policy_kwargs={"net_arch": [16]})
    assert model.num_timesteps >= 256
    scores = evaluate_shared(_env(), LoadedPolicy(model, "maskable_ppo", path=None), seeds=[0])
    assert sum(scores.jobs.values()) == 60 and np.isfinite(scores.mean_return())


@pytest.mark.parametrize("argv, message", [
    (["--episodes", "0"], "--episodes: must be >= 1, got 0"),
    (["--heuristics", "nearst"], "--heuristics: unknown policy 'nearst'; did you mean 'nearest'?"),
    (["--groups", "continents"], "--groups: unknown grouping 'continents'; did you mean 'continent'?"),
    (["--env-kwargs", "max_jobs:-1"], "--preset/--env-kwargs: episode.max_jobs: must be >= 1"),
    (["--model", "missing.zip"], "--model: model file not found: missing.zip"),
    (["--save", "model.pt"], "--save: expected a path ending in .zip"),
])
def test_compare_cli_bad_flags_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    from agents.multiagent_cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"multiagent_compare.py: error: {message}")
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_compare_cli_trains_saves_and_prints_the_table(capsys, tmp_path):
    from agents.multiagent_cli import main

    model = tmp_path / "shared.zip"
    argv = ["--env-kwargs", "max_jobs:40", "--timesteps", "128", "--episodes", "1", "--heuristics", "nearest",
            "earliest-finish", "--save", str(model)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert model.is_file() and [p.name for p in tmp_path.iterdir()] == ["shared.zip"]
    for row in ("| shared MaskablePPO |", "| nearest |", "| earliest-finish |"):
        assert row in out
    assert main(["--env-kwargs", "max_jobs:40", "--model", str(model), "--episodes", "1", "--heuristics"]) == 0
    assert "| shared model (shared.zip) |" in capsys.readouterr().out
