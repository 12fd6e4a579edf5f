"""OrbitCloud as a PettingZoo ``ParallelEnv``: one scheduler per group of ground sites, one shared orbital cloud.

Each agent places the jobs of its own users (by default the sites of one continent) on the one constellation and
set of cloud regions that every agent shares. The physics, the config and the seeding are the single-agent env's
(:class:`~orbitcloud_env.env.OrbitCloudEnv`, which this env drives); see docs/multiagent.md.

Step semantics (the job stream, its order and every job's physics are those of the single-agent env):

- The scenario's one arrival stream is cut into *steps*: a step takes the next arrivals in time order, up to (not
  including) the first job whose agent already has one in the step. So each agent has at most one job per step,
  and an agent whose users sent nothing meanwhile is *idle* in that step.
- Every agent with a job observes it at the step's start (the first job's arrival), as in candidates mode: its
  own candidate list and action mask (``action_mask(agent)``, also ``infos[agent]["action_mask"]``). An idle
  agent observes zeros, its mask allows only the last action and its action is ignored (reward 0).
- The step's jobs are then placed in arrival order, each at its own arrival time, so decisions taken together
  contend for the same queues and batteries: a chosen node that an earlier job of the step made invalid (queue
  full, battery too low; or the topology moved on) rejects the job (rejection penalty, ``info["contended"]``).
  A masked-out action is a rejection with the invalid-action penalty, as in the single-agent env.
- With one agent owning every site, every step holds one job and the episode is the single-agent env's in
  candidates mode, observation for observation and reward for reward (tests/integration/test_multiagent.py).

Agents never leave before the end: all are truncated together at the single-agent env's horizon (SuperSuit's
``pettingzoo_env_to_vec_env_v1`` needs every agent every step), and all share one observation and action space.

PettingZoo is an optional dependency: ``pip install 'orbitcloud-env[multiagent]'``. ``import orbitcloud_env``
does not import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from numpy.typing import NDArray

try:
    from pettingzoo import ParallelEnv
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("orbitcloud_env.multiagent needs PettingZoo: pip install 'orbitcloud-env[multiagent]' "
                      "(pettingzoo and supersuit)") from exc

from orbitcloud_env.actions import CandidatesAction
from orbitcloud_env.config import ScenarioConfig, UnknownFieldError
from orbitcloud_env.env import OrbitCloudEnv
from orbitcloud_env.ground import REGION_NAMES, region_of
from orbitcloud_env.simulator import NodeView, Simulator
from orbitcloud_env.suggest import did_you_mean
from orbitcloud_env.workload import Job, LookaheadWorkload

__all__ = ["OrbitCloudParallelEnv", "parallel_env", "GROUPINGS", "agent_name", "group_sites"]

#: Named groupings of the sites into agents (the ``groups`` argument also takes an explicit mapping).
GROUPINGS = ("continent", "cloud_region")


def agent_name(region: str) -> str:
    """The agent name of a continent (``"North America"`` -> ``"north_america"``)."""
    return region.lower().replace(" ", "_")


def _continent_names() -> dict[str, str]:
    """Accepted spellings of each continent ("North America", "north_america", case-insensitive) -> name."""
    out = {}
    for name in REGION_NAMES:
        out[name.lower()] = name
        out[agent_name(name)] = name
    return out


def _entry_sites(sim: Simulator, name: str, e: Any, site_index: dict[str, int], continents: tuple,
                 regions: tuple) -> NDArray[np.bool_]:
    """(S,) the sites of :func:`group_sites`' entry ``e`` of agent ``name``: a site, a continent or a cloud region.
    ``continents``: (lower-case name -> continent, each site's continent); ``regions``: (region ids, each site's
    nearest region)."""
    (names, continent), (dc_ids, site_dc) = continents, regions
    key = str(e)
    if key in site_index:
        hit = np.arange(len(sim.sites)) == site_index[key]
    elif key.lower() in names:
        hit = continent == names[key.lower()]
    elif key in dc_ids:
        hit = site_dc == key
    else:
        valid = list(REGION_NAMES) + list(dc_ids) + list(site_index)
        raise ValueError(f"groups[{name!r}]: unknown entry {e!r}{did_you_mean(key, valid)}; allowed: a "
                         f"continent ({', '.join(REGION_NAMES)}), a cloud region ({', '.join(dc_ids)}) "
                         f"or a site of the scenario (e.g. {', '.join(sim.sites.names[:3])})")
    if not hit.any():
        raise ValueError(f"groups[{name!r}]: {e!r} has no site in this scenario (ground.n_sites = "
                         f"{len(sim.sites)})")
    return hit


def group_sites(sim: Simulator, groups: str | Mapping[str, Sequence[str]]) -> dict[str, NDArray[np.int64]]:
    """Agent name -> the indices of its sites (every site in exactly one agent), in the agents' order.

    ``groups``: ``"continent"`` (one agent per continent that has sites, named as :func:`agent_name`),
    ``"cloud_region"`` (one agent per cloud region, owning the sites nearest it by fibre delay; named by the
    region id), or a mapping agent name -> list of entries, each a continent (``"Europe"``), a cloud region id
    (``"eu-west-1"``: the sites nearest it) or a site of the scenario (``"Paris"``). A bad grouping is a
    ValueError naming ``groups`` and what is allowed.
    """
    lat, lon = sim.sites.lat_deg, sim.sites.lon_deg
    continent = np.array([region_of(a, b) for a, b in zip(lat, lon)])
    dc_ids = tuple(sim.data_centres.ids) if sim.n_dc else ()
    site_dc = np.array([dc_ids[r] for r in sim.site_region]) if sim.n_dc else np.full(len(sim.sites), "")
    if isinstance(groups, str):
        if groups == "continent":
            return {agent_name(c): np.flatnonzero(continent == c) for c in REGION_NAMES if (continent == c).any()}
        if groups == "cloud_region":
            if not sim.n_dc:
                raise ValueError("groups: 'cloud_region' needs cloud regions, and ground.data_centres is empty; "
                                 "allowed: 'continent' or a mapping agent -> sites")
            return {d: np.flatnonzero(site_dc == d) for d in dc_ids if (site_dc == d).any()}
        raise ValueError(f"groups: unknown grouping {groups!r}{did_you_mean(groups, GROUPINGS)}; allowed: "
                         f"{', '.join(map(repr, GROUPINGS))} or a mapping agent name -> list of continents, cloud "
                         f"regions or sites")
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"groups: expected {' or '.join(map(repr, GROUPINGS))} or a non-empty mapping agent name "
                         f"-> list of continents, cloud regions or sites, got {groups!r}")
    continents = _continent_names()
    site_index = {name: i for i, name in enumerate(sim.sites.names)}
    owner = np.full(len(sim.sites), -1)
    out: dict[str, NDArray[np.int64]] = {}
    for k, (name, entries) in enumerate(groups.items()):
        if not isinstance(name, str) or not name:
            raise ValueError(f"groups: agent names must be non-empty strings, got {name!r}")
        if isinstance(entries, str) or not isinstance(entries, Sequence) or not entries:
            raise ValueError(f"groups[{name!r}]: expected a non-empty list of continents, cloud regions or sites, "
                             f"got {entries!r}")
        mine = np.zeros(len(sim.sites), bool)
        for e in entries:
            mine |= _entry_sites(sim, name, e, site_index, (continents, continent), (dc_ids, site_dc))
        taken = mine & (owner >= 0)
        if taken.any():
            other = list(groups)[owner[np.flatnonzero(taken)[0]]]
            raise ValueError(f"groups[{name!r}]: site {sim.sites.names[np.flatnonzero(taken)[0]]!r} already "
                             f"belongs to agent {other!r}; each site needs exactly one agent")
        owner[mine] = k
        out[name] = np.flatnonzero(mine)
    if (owner < 0).any():
        missing = [sim.sites.names[i] for i in np.flatnonzero(owner < 0)]
        raise ValueError(f"groups: {len(missing)} site(s) without an agent ({', '.join(missing[:5])}"
                         f"{', ...' if len(missing) > 5 else ''}); every site's jobs need one")
    return out


@dataclass
class _Pending:
    """An agent's job of the current step: the job, the view its observation showed and its action mask."""

    job: Job
    view: NodeView
    mask: NDArray[np.bool_]


class OrbitCloudParallelEnv(ParallelEnv):
    """Schedulers of the ground regions placing their users' jobs on one shared orbital cloud (PettingZoo).

    Args:
        preset, config, **overrides: the scenario, as for :class:`~orbitcloud_env.env.OrbitCloudEnv` (the action
            mode is always ``"candidates"``; ``action_mode`` may only be given as that).
        groups: which sites each agent schedules: ``"continent"`` (default), ``"cloud_region"`` or a mapping
            agent name -> list of continents, cloud region ids or site names (see :func:`group_sites`).
        render_mode: None or ``"rgb_array"`` (the single-agent env's world map).

    Spaces: every agent has the single-agent env's candidates-mode observation space (a ``Dict``) and
    ``Discrete(candidates_k + 1)`` (the last action rejects). Rewards: each agent gets its own job's reward (the
    single-agent env's named terms, ``infos[agent]["rewards"]``), 0 when idle. See the module docstring for the
    step semantics and docs/multiagent.md.
    """

    metadata = {"name": "orbitcloud_parallel_v0", "render_modes": ["rgb_array"], "render_fps": 4,
                "is_parallelizable": True}

    def __init__(self, preset: str | Path | None = "starlink",
                 config: ScenarioConfig | Mapping[str, Any] | str | Path | None = None,
                 groups: str | Mapping[str, Sequence[str]] = "continent", render_mode: str | None = None,
                 **overrides: Any) -> None:
        for key in ("action_mode", "episode.action_mode"):
            if key in overrides and overrides[key] != "candidates":
                raise ValueError(f"{key}: the multi-agent env lists candidates for each agent's job; allowed: "
                                 f"'candidates', got {overrides[key]!r}")
            overrides.pop(key, None)
        self._init_args = (preset, config, groups, render_mode, dict(overrides))
        #: The single-agent env whose simulator, observation, reward and info this env shares.
        try:
            self._core = OrbitCloudEnv(preset, config, render_mode=render_mode, action_mode="candidates",
                                       **overrides)
        except UnknownFieldError as exc:  # name this class in Python's wording for an unknown keyword
            raise UnknownFieldError(str(exc).replace(f"{OrbitCloudEnv.__name__}.", f"{type(self).__name__}.", 1),
                                    exc.field) from None
        self.render_mode = render_mode
        self.config = self._core.config
        self.sim = self._core.sim
        self._groups = group_sites(self.sim, groups)
        self.possible_agents: list[str] = list(self._groups)
        self.agents: list[str] = []
        #: (S,) the agent (index into possible_agents) of each site.
        self._site_agent = np.empty(len(self.sim.sites), dtype=np.int64)
        for k, sites in enumerate(self._groups.values()):
            self._site_agent[sites] = k
        self._action = {a: CandidatesAction(self.sim) for a in self.possible_agents}
        self._observation_space: spaces.Dict = self._core.observation_space
        self._action_space: spaces.Discrete = self._core.action_space
        self._idle_mask = np.zeros(self._action_space.n, dtype=bool)
        self._idle_mask[-1] = True
        self._pending: dict[str, _Pending] = {}
        self._last_obs: dict[str, dict[str, NDArray[np.float32]]] = {}
        self._np_random: np.random.Generator | None = None

    def __reduce__(self):
        # Copies (SuperSuit's concat_vec_envs_v1 pickles the env) are fresh envs of the same arguments.
        preset, config, groups, render_mode, overrides = self._init_args
        return (_rebuild, (preset, config, groups, render_mode, overrides))

    # ------------------------------------------------------------------------------------------------------------

    def observation_space(self, agent: str) -> spaces.Dict:
        self._check_agent(agent)
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Discrete:
        self._check_agent(agent)
        return self._action_space

    def _check_agent(self, agent: str, what: str = "agent") -> None:
        if agent not in self._action:
            raise ValueError(f"{what}: unknown agent {agent!r}{did_you_mean(str(agent), self.possible_agents)}; "
                             f"agents: {', '.join(self.possible_agents)}")

    def sites_of(self, agent: str) -> list[str]:
        """The names of the sites whose jobs ``agent`` places."""
        self._check_agent(agent)
        return [self.sim.sites.names[i] for i in self._groups[agent]]

    @property
    def acting_agents(self) -> list[str]:
        """The agents with a job in the current step, in arrival order (the others are idle)."""
        return list(self._pending)

    def action_mask(self, agent: str) -> NDArray[np.int8]:
        """Valid actions of ``agent`` for its current job as int8 1/0 (reject always; only reject when idle).

        int8, not bool: ``Discrete.sample(mask=...)`` and PettingZoo's AEC ``api_test`` take only int8 masks."""
        self._check_agent(agent)
        p = self._pending.get(agent)
        return (p.mask if p is not None else self._idle_mask).astype(np.int8)

    # ------------------------------------------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or self._np_random is None:
            self._np_random, _ = seeding.np_random(seed)  # as gymnasium.Env.reset: same seed, same episode
        self.sim.reset(self._np_random)
        self.sim.workload = LookaheadWorkload(self.sim.workload)
        self._core._steps = 0
        self.agents = list(self.possible_agents)
        obs = self._observe()
        return obs, self._infos({a: {"time_s": np.float64(0.0)} for a in self.possible_agents})

    def _gather(self) -> list[tuple[str, Job]]:
        """The step's jobs in arrival order: the next arrivals up to the first whose agent already has one, within
        the episode's horizon (``max_jobs`` decisions, ``max_time_s``)."""
        sim, ep = self.sim, self.config.episode
        first = sim.job
        batch = [(self.possible_agents[self._site_agent[first.site]], first)]
        room = min(len(self.possible_agents), ep.max_jobs - self._core._steps)
        while len(batch) < room:
            job = sim.workload.peek(len(batch) - 1)
            if job is None or (ep.max_time_s > 0 and job.time_s - sim.start_time_s >= ep.max_time_s):
                break
            agent = self.possible_agents[self._site_agent[job.site]]
            if any(agent == a for a, _ in batch):
                break
            batch.append((agent, job))
        return batch

    def _observe(self) -> dict[str, dict[str, NDArray[np.float32]]]:
        """Observe the next step's jobs at the step's start (the first job's arrival); idle agents see zeros."""
        sim = self.sim
        first = sim.job
        self._pending = {}
        obs = {}
        try:
            for agent, job in self._gather():
                sim.job = job  # the node view and the observation read the simulator's current job
                o, view, mask = self._core._look(self._action[agent])
                obs[agent] = o
                self._pending[agent] = _Pending(job, view, mask)
        finally:
            sim.job = first
        out = {a: obs[a] if a in obs else {k: np.zeros(s.shape, s.dtype) for k, s in self._observation_space.items()}
               for a in self.possible_agents}
        self._last_obs = out
        return out

    def _infos(self, infos: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for agent, info in infos.items():
            info["action_mask"] = self.action_mask(agent)
        return infos

    def step(self, actions: Mapping[str, Any]):
        if not self.agents or self.sim.job is None:
            raise RuntimeError("step() needs reset() first (or the episode ended: call reset())")
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions: expected a dict agent -> action, got {type(actions).__name__}")
        for agent in actions:
            self._check_agent(agent, "actions")
        missing = [a for a in self._pending if a not in actions]
        if missing:
            raise ValueError(f"actions: no action for agent {missing[0]!r}, which has a job this step (agents with "
                             f"a job: {', '.join(self._pending)})")
        index = {}
        for agent, action in actions.items():
            try:
                index[agent] = self._core._action_index(action)
            except ValueError as exc:
                raise ValueError(f"actions[{agent!r}]{str(exc).removeprefix('action')}") from None
        rewards = dict.fromkeys(self.possible_agents, 0.0)
        infos: dict[str, dict[str, Any]] = {a: {"idle": np.array(True)} for a in self.possible_agents}
        for k, (agent, p) in enumerate(self._pending.items()):  # arrival order
            if self.sim.job is not p.job:  # pragma: no cover - the lookahead keeps the stream's order
                raise AssertionError("multi-agent step out of the arrival order")
            rewards[agent], infos[agent] = self._core._decide(index[agent], self._action[agent], p.view, p.mask,
                                                              recheck=k > 0)
            infos[agent]["idle"] = np.array(False)
            self._core._steps += 1
        truncated = self._core._truncated()
        if self.sim.exhausted:
            obs = {a: {k: v.copy() for k, v in o.items()} for a, o in self._last_obs.items()}
            self._pending = {}
        else:
            obs = self._observe()
        self._infos(infos)
        if truncated:
            metrics = self.sim.stats.metrics()
            for info in infos.values():
                info["episode_metrics"] = metrics
            self.agents = []
        terminations = dict.fromkeys(self.possible_agents, False)
        truncations = dict.fromkeys(self.possible_agents, truncated)
        return obs, rewards, terminations, truncations, infos

    def render(self):
        return self._core.render()

    def close(self) -> None:
        self._core.close()


def _rebuild(preset, config, groups, render_mode, overrides) -> OrbitCloudParallelEnv:
    return OrbitCloudParallelEnv(preset, config, groups=groups, render_mode=render_mode, **overrides)


def parallel_env(**kwargs: Any) -> OrbitCloudParallelEnv:
    """PettingZoo's constructor convention: ``parallel_env(preset="small", groups="continent", max_jobs=200)``."""
    return OrbitCloudParallelEnv(**kwargs)
