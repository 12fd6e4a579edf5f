"""Stable-Baselines3's ``VecEnv`` over the batched OrbitCloud vector env (N copies in one process, no IPC).

:class:`OrbitCloudVecEnv` behaves as ``DummyVecEnv`` over N ``gym.make(id)`` envs (same seeds, observations, rewards,
dones and infos, with SB3's ``terminal_observation`` and ``TimeLimit.truncated``), with two differences: the copies
share topology snapshots where the scenario allows (:mod:`orbitcloud_env.vector`), and ``action_masks()`` /
``env_method("action_masks")`` read one batched ``(N, n_actions)`` array (MaskablePPO asks for it every step).
Episode statistics are SB3 ``Monitor``'s (``info["episode"]`` with the return summed in float64 and rounded as
``Monitor`` does, the length and the time since construction), so training logs read as with ``make_vec_env``.
See docs/scaling.md.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.vec_env import VecEnv

from orbitcloud_env.vector import OrbitCloudVectorEnv

__all__ = ["OrbitCloudVecEnv", "make_batched_vec_env", "supports_batched"]


class OrbitCloudVecEnv(VecEnv):
    """SB3 ``VecEnv`` of an :class:`~orbitcloud_env.vector.OrbitCloudVectorEnv` (built from an id or given).

    Args:
        venv: the batched vector env (its autoreset mode is not used: this class resets SB3's way, in the step).
    """

    def __init__(self, venv: OrbitCloudVectorEnv) -> None:
        if not isinstance(venv, OrbitCloudVectorEnv):
            raise ValueError(f"venv: expected an OrbitCloudVectorEnv, got {type(venv).__name__}")
        self.venv = venv
        self.envs = venv.envs
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.render_mode = venv.render_mode
        self.metadata = dict(venv.envs[0].metadata)
        self._rews = np.zeros(self.num_envs, dtype=np.float32)
        self._dones = np.zeros(self.num_envs, dtype=bool)
        self._actions: NDArray[np.int64] | None = None
        # Monitor's episode statistics, per copy.
        self._t_start = time.time()
        self._ep_return = [0.0] * self.num_envs
        self._ep_len = [0] * self.num_envs

    @classmethod
    def from_id(cls, env_id: str, n_envs: int, env_kwargs: Mapping[str, Any] | None = None) -> OrbitCloudVecEnv:
        """``n_envs`` copies of registered ``env_id`` (``module:id`` accepted) with the spec's and ``env_kwargs``."""
        spec = _spec(env_id)
        kwargs = {**spec.kwargs, **dict(env_kwargs or {})}
        return cls(OrbitCloudVectorEnv(num_envs=n_envs, **kwargs))

    def reset(self) -> dict[str, NDArray[np.float32]]:
        for i, env in enumerate(self.envs):
            maybe_options = {"options": self._options[i]} if self._options[i] else {}
            obs, self.reset_infos[i] = env.reset(seed=self._seeds[i], **maybe_options)
            self.venv.put(i, obs)
            self._ep_return[i], self._ep_len[i] = 0.0, 0
        self._reset_seeds()
        self._reset_options()
        return self.venv.observations()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(self._actions[i])
            self._rews[i] = reward
            self._ep_return[i] += reward
            self._ep_len[i] += 1
            self._dones[i] = terminated or truncated
            if self._dones[i]:  # as Monitor, then DummyVecEnv
                info["episode"] = {"r": round(self._ep_return[i], 6), "l": self._ep_len[i],
                                   "t": round(time.time() - self._t_start, 6)}
                self._ep_return[i], self._ep_len[i] = 0.0, 0
            info["TimeLimit.truncated"] = truncated and not terminated
            if self._dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self.venv.put(i, obs)
            infos.append(info)
        # No deepcopy (DummyVecEnv copies its reused info buffers): each step's info dicts are new.
        return self.venv.observations(), self._rews.copy(), self._dones.copy(), infos

    def action_masks(self) -> NDArray[np.bool_]:
        """(N, n_actions) valid actions of each copy's current job."""
        return self.venv.action_masks()

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [env.render() for env in self.envs]

    def _targets(self, indices: Any) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._targets(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: Any = None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks" and not method_args and not method_kwargs:
            masks = self.venv.action_masks()
            return [masks[i] for i in self._targets(indices)]
        return [getattr(self.envs[i], method_name)(*method_args, **method_kwargs) for i in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False for _ in self._targets(indices)]  # the copies are bare envs


def _spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The spec of ``env_id``; a ``module:id`` form imports the module first (as ``gym.make`` does)."""
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        importlib.import_module(module)
    return gym.spec(env_id)


def supports_batched(env_id: str) -> bool:
    """Whether ``env_id`` (``module:id`` accepted) names the batched vector env as its ``vector_entry_point``."""
    try:
        spec = _spec(env_id)
    except (gym.error.Error, ImportError):
        return False
    entry = spec.vector_entry_point
    return entry is OrbitCloudVectorEnv or entry == "orbitcloud_env.vector:OrbitCloudVectorEnv"


def make_batched_vec_env(env_id: str, n_envs: int, seed: int | None = None,
                         env_kwargs: Mapping[str, Any] | None = None) -> OrbitCloudVecEnv:
    """SB3's ``make_vec_env(env_id, n_envs, seed, env_kwargs, vec_env_cls=DummyVecEnv)`` done with the batched env:
    same episodes (copy i seeded ``seed + i`` at the first reset) and episode statistics."""
    venv = OrbitCloudVecEnv.from_id(env_id, n_envs, env_kwargs)
    venv.seed(seed)
    if seed is not None:
        venv.action_space.seed(seed)
    return venv
