"""Shared policies on the multi-agent env (:mod:`orbitcloud_env.multiagent`): SuperSuit vectorisation for SB3, masks,
training and a per-agent comparison with the heuristics. See docs/multiagent.md.

Every agent has the same observation and action space, so one policy can serve them all ("parameter sharing"):
SuperSuit's ``pettingzoo_env_to_vec_env_v1`` turns the agents into the rows of a vector env and
``concat_vec_envs_v1`` stacks copies of it into an SB3 ``VecEnv``. SuperSuit passes no action masks through, so
:class:`VecMasksFromObservation` gives MaskablePPO each row's mask from its observation (``node_valid`` plus reject:
exactly the env's ``action_mask``; an idle agent's row allows only reject).

Needs the ``multiagent`` extra (pettingzoo, supersuit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from agents.acting.rl import masks_from_obs
from orbitcloud_env.multiagent import OrbitCloudParallelEnv

__all__ = ["VecMasksFromObservation", "make_vec_env", "train_shared", "AgentScores", "evaluate_shared"]


class VecMasksFromObservation(VecEnvWrapper):
    """A SuperSuit SB3 vec env that answers ``env_method("action_masks")`` (MaskablePPO) from the observations and
    passes ``seed`` on to the next reset (SuperSuit's SB3 wrapper drops it)."""

    def __init__(self, venv: VecEnv) -> None:
        with warnings.catch_warnings():  # SB3 looks for render_mode in the PettingZoo env and warns it is unset
            warnings.filterwarnings("ignore", message="The `render_mode` attribute is not defined")
            super().__init__(venv)
        self._obs: Any = None
        self._seed: int | None = None

    def reset(self):
        if self._seed is not None:  # ConcatVecEnv seeds copy i with seed + i
            self._obs, self.venv.reset_infos = self.venv.venv.reset(seed=self._seed)
            self._seed = None
        else:
            self._obs = self.venv.reset()
        return self._obs

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def step_wait(self):
        self._obs, rewards, dones, infos = self.venv.step_wait()
        return self._obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """(rows, M + 1) masks of the current observations."""
        if self._obs is None:
            raise RuntimeError("action_masks() needs reset() first")
        return masks_from_obs(self._obs)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in self._get_indices(indices)]
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or self.venv.has_attr(attr_name)


def make_vec_env(env_kwargs: Mapping[str, Any], n_copies: int = 1, num_cpus: int = 0) -> VecMasksFromObservation:
    """An SB3 VecEnv of ``n_copies`` multi-agent envs (rows: copy-major, agents in ``possible_agents`` order).

    ``num_cpus`` > 1 steps the copies in that many worker processes (SuperSuit); 0 or 1 in this process.
    """
    import supersuit as ss

    env = OrbitCloudParallelEnv(**env_kwargs)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, n_copies, num_cpus=num_cpus, base_class="stable_baselines3")
    return VecMasksFromObservation(venv)


def train_shared(env_kwargs: Mapping[str, Any], timesteps: int, seed: int = 0, n_copies: int = 1,
                 num_cpus: int = 0, **ppo_kwargs: Any):
    """Train one MaskablePPO policy shared by every agent for ``timesteps`` agent-steps (idle rows included);
    returns the model. ``ppo_kwargs`` go to ``MaskablePPO`` (defaults: n_steps 128 per row, batch 256)."""
    from sb3_contrib import MaskablePPO

    venv = make_vec_env(env_kwargs, n_copies=n_copies, num_cpus=num_cpus)
    kwargs = {"n_steps": 128, "batch_size": 256, "verbose": 0, **ppo_kwargs}
    model = MaskablePPO("MultiInputPolicy", venv, seed=seed, device="cpu", **kwargs)
    model.learn(total_timesteps=timesteps)
    venv.close()
    return model


@dataclass
class AgentScores:
    """One policy's results over episodes: per agent, summed over the episodes."""

    returns: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    met: dict[str, int] = field(default_factory=dict)
    contended: dict[str, int] = field(default_factory=dict)
    episodes: int = 0

    def add(self, agent: str, reward: float, info: Mapping[str, Any]) -> None:
        self.returns[agent] = self.returns.get(agent, 0.0) + reward
        if not info.get("idle", True):
            self.jobs[agent] = self.jobs.get(agent, 0) + 1
            self.met[agent] = self.met.get(agent, 0) + bool(info["met_deadline"])
            self.contended[agent] = self.contended.get(agent, 0) + bool(info.get("contended", False))

    def mean_return(self, agent: str | None = None) -> float:
        """Mean episode return of ``agent`` (None: of all agents together)."""
        total = sum(self.returns.values()) if agent is None else self.returns.get(agent, 0.0)
        return total / max(self.episodes, 1)

    def met_rate(self, agent: str | None = None) -> float:
        """Share of the jobs that met their deadline (None: all agents' jobs)."""
        jobs = sum(self.jobs.values()) if agent is None else self.jobs.get(agent, 0)
        met = sum(self.met.values()) if agent is None else self.met.get(agent, 0)
        return met / jobs if jobs else float("nan")


def evaluate_shared(env: OrbitCloudParallelEnv, policy: Any, seeds: Sequence[int]) -> AgentScores:
    """Run ``policy`` for every agent (one batched ``predict`` per step, with the agents' action masks) on
    ``env.reset(seed=s)`` for each seed; ``policy`` has the heuristics' ``predict(obs, action_masks=...)``."""
    scores = AgentScores()
    agents = env.possible_agents
    for seed in seeds:
        if hasattr(policy, "reset"):
            policy.reset()
        obs, infos = env.reset(seed=int(seed))
        while env.agents:
            batch = {k: np.stack([obs[a][k] for a in agents]) for k in obs[agents[0]]}
            masks = np.stack([infos[a]["action_mask"] for a in agents])
            actions, _ = policy.predict(batch, deterministic=True, action_masks=masks)
            obs, rewards, _, _, infos = env.step({a: int(actions[i]) for i, a in enumerate(agents)})
            for a in agents:
                scores.add(a, rewards[a], infos[a])
        scores.episodes += 1
    return scores
