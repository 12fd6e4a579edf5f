"""A batched vector env: N copies of one OrbitCloud scenario stepped together in one process (no IPC).

``gym.make_vec("OrbitCloud-v1", num_envs=N, vectorization_mode="vector_entry_point")`` returns an
:class:`OrbitCloudVectorEnv` (every registered id names it as its ``vector_entry_point``). Stable-Baselines3 users wrap
it with :class:`agents.vec_env.OrbitCloudVecEnv` (SB3's ``VecEnv`` API and ``action_masks()`` for MaskablePPO); this
module imports no RL library. docs/scaling.md says when to use it and what to expect per core.

Trajectories are those of N single envs: copy i is an :class:`~orbitcloud_env.env.OrbitCloudEnv` of the same scenario,
reset with ``seed + i`` (an int seed) or ``seed[i]`` (a list), and stepped with action i; observations, rewards,
episode ends and infos equal those of ``gymnasium.vector.SyncVectorEnv`` over ``gym.make(id)`` copies with the same
seeds and autoreset mode, bit for bit (tests/integration/test_vector.py).

What is shared or batched, and what is not:

- **Topology snapshots** (positions, links, routes of a topology bucket) are shared between copies when they are a
  function of the bucket alone: no random ISL failures (``links.isl_failure_rate_per_hour`` 0) and the ``faults``
  section off. A copy that reaches a bucket another copy built (and still holds) reuses it, routes included. With the
  v1 scenarios' start spread (``episode.start_time_spread_s`` one day, 10 s buckets) copies rarely meet in a bucket;
  with a start spread of 0 every copy steps through the same buckets and all but one skip the bucket builds.
- **Batch assembly**: observations are written into one preallocated ``(N, ...)`` array per key and the action masks
  into one ``(N, n_actions)`` array (no per-step stacking of N dicts).
- **Not batched**: the per-job work of a copy (candidate selection, node view, observation rows, reward) runs per
  copy, as in the single env. Each copy is an event-driven simulation at its own clock, bucket and job site, so the
  arrays the single env computes per job have different shapes and inputs across copies; stacking them costs more
  than it saves at the sizes measured (docs/scaling.md).

Autoreset: Gymnasium's modes (``autoreset_mode``): ``NextStep`` (default, as ``SyncVectorEnv``), ``SameStep``
(``infos["final_obs"]`` and ``infos["final_info"]``) and ``Disabled`` (reset with ``options={"reset_mask": ...}``).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from orbitcloud_env.config import ScenarioConfig
from orbitcloud_env.env import OrbitCloudEnv

__all__ = ["OrbitCloudVectorEnv", "shares_topology"]


def shares_topology(config: ScenarioConfig) -> bool:
    """Whether copies of ``config``'s scenario can share topology snapshots: each bucket's snapshot is then a
    function of the bucket alone (no random ISL failures, no ``faults`` section)."""
    return config.links.isl_failure_rate_per_hour == 0.0 and not config.faults.enabled


class OrbitCloudVectorEnv(VectorEnv):
    """``num_envs`` copies of one OrbitCloud scenario in this process (Gymnasium ``VectorEnv``).

    ## Arguments
    | argument | meaning |
    |---|---|
    | num_envs | [-] copies, >= 1 |
    | preset, config, render_mode, **overrides | as :class:`~orbitcloud_env.env.OrbitCloudEnv` (every copy gets them) |
    | autoreset_mode | ``"NextStep"`` (default), ``"SameStep"`` or ``"Disabled"`` (Gymnasium's AutoresetMode) |
    | share_topology | share topology snapshots between copies where :func:`shares_topology` allows (default True;
      False builds each copy's own, as N single envs do: same results, more work) |

    Spaces: ``single_observation_space`` / ``single_action_space`` are one copy's; ``observation_space`` and
    ``action_space`` are batched (``Dict`` of ``(N, ...)`` boxes, ``MultiDiscrete``). ``action_masks()`` gives the
    ``(N, n_actions)`` bool masks of the current jobs (MaskablePPO's protocol, batched).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, preset: str | Path | None = "starlink",
                 config: ScenarioConfig | Mapping[str, Any] | str | Path | None = None, render_mode: str | None = None,
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP, share_topology: bool = True,
                 **overrides: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")
        try:
            self.autoreset_mode = (autoreset_mode if isinstance(autoreset_mode, AutoresetMode)
                                   else AutoresetMode(autoreset_mode))
        except ValueError:
            raise ValueError(f"autoreset_mode: must be one of {[m.value for m in AutoresetMode]}, got "
                             f"{autoreset_mode!r}") from None
        first = OrbitCloudEnv(preset, config, render_mode=render_mode, **overrides)
        # The other copies take the first one's resolved config: the YAML is parsed and checked once.
        self.envs: list[OrbitCloudEnv] = [first] + [OrbitCloudEnv(config=first.config, render_mode=render_mode)
                                                    for _ in range(int(num_envs) - 1)]
        self.num_envs = int(num_envs)
        self.config = first.config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space: spaces.Dict = first.observation_space
        self.single_action_space: spaces.Discrete = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        #: Whether the copies share topology snapshots (see the module docstring).
        self.shares_topology = bool(share_topology) and shares_topology(self.config)
        if self.shares_topology:
            # Weak values: a bucket stays shared while some copy's own cache holds it, and memory stays that of
            # the copies' caches (no extra snapshots are kept alive).
            shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
            for env in self.envs:
                env.sim.network.shared_snapshots = shared
        for env in self.envs[1:]:  # per-site route limits (work only, never results): learnt once for all copies
            env.sim.share_route_limits(first.sim)
        self._keys = tuple(self.single_observation_space.spaces)
        self._obs = self._empty_obs()
        self._masks = np.zeros((self.num_envs, int(self.single_action_space.n)), dtype=bool)
        self._rewards = np.zeros(self.num_envs, dtype=np.float64)
        self._terminations = np.zeros(self.num_envs, dtype=bool)
        self._truncations = np.zeros(self.num_envs, dtype=bool)
        self._autoreset_envs = np.zeros(self.num_envs, dtype=bool)

    def _empty_obs(self) -> dict[str, NDArray[np.float32]]:
        return {k: np.zeros((self.num_envs,) + space.shape, dtype=space.dtype)
                for k, space in self.single_observation_space.spaces.items()}

    def put(self, i: int, obs: Mapping[str, NDArray[np.float32]]) -> None:
        """Write ``obs``, copy ``i``'s observation, and the copy's current action mask into the batch."""
        out = self._obs
        for k in self._keys:
            out[k][i] = obs[k]
        self._masks[i] = self.envs[i].action_masks()

    def observations(self) -> dict[str, NDArray[np.float32]]:
        """A copy of the batched observation (``(N, ...)`` per key) as last written by :meth:`put`."""
        return {k: v.copy() for k, v in self._obs.items()}

    @staticmethod
    def _seeds(seed: int | list[int | None] | None, n: int) -> list[int | None]:
        if seed is None:
            return [None] * n
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(n)]
        seeds = list(seed)
        if len(seeds) != n:
            raise ValueError(f"seed: a list of seeds must have num_envs={n} entries, got {len(seeds)}")
        return seeds

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every copy (or those of ``options["reset_mask"]``); seeds as ``SyncVectorEnv``'s."""
        seeds = self._seeds(seed, self.num_envs)
        options = dict(options) if options is not None else None
        mask = options.pop("reset_mask", None) if options is not None else None
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"options['reset_mask']: must be a bool array of shape ({self.num_envs},) with at "
                                 f"least one True, got {mask!r}")
        else:
            mask = np.ones(self.num_envs, dtype=bool)
        self._terminations[mask] = False
        self._truncations[mask] = False
        self._autoreset_envs[mask] = False
        infos: dict[str, Any] = {}
        for i in np.flatnonzero(mask).tolist():
            obs, info = self.envs[i].reset(seed=seeds[i], options=options)
            self.put(i, obs)
            infos = self._add_info(infos, info, i)
        return self.observations(), infos

    def step(self, actions: Any):
        """Step every copy with its action; autoreset per ``autoreset_mode`` (see the module docstring)."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions: expected shape ({self.num_envs},) (one action per copy), got "
                             f"{actions.shape}")
        infos: dict[str, Any] = {}
        mode = self.autoreset_mode
        for i, env in enumerate(self.envs):
            if mode is AutoresetMode.NEXT_STEP and self._autoreset_envs[i]:
                obs, info = env.reset()
                self._rewards[i] = 0.0
                self._terminations[i] = self._truncations[i] = False
            else:
                if mode is AutoresetMode.DISABLED and self._autoreset_envs[i]:
                    raise RuntimeError(f"step(): copy {i} has ended its episode; with autoreset_mode Disabled, reset "
                                       f"it first (options={{'reset_mask': ...}})")
                obs, self._rewards[i], self._terminations[i], self._truncations[i], info = env.step(actions[i])
                if mode is AutoresetMode.SAME_STEP and (self._terminations[i] or self._truncations[i]):
                    infos = self._add_info(infos, {"final_obs": obs, "final_info": info}, i)
                    obs, info = env.reset()
            self.put(i, obs)
            infos = self._add_info(infos, info, i)
        self._autoreset_envs = self._terminations | self._truncations
        return (self.observations(), self._rewards.copy(), self._terminations.copy(), self._truncations.copy(),
                infos)

    def action_masks(self) -> NDArray[np.bool_]:
        """(N, n_actions) valid actions of each copy's current job (reject always valid); a copy whose episode
        ended (NextStep mode, before its reset) shows its last job's mask."""
        return self._masks.copy()

    def render(self) -> tuple[Any, ...]:
        return tuple(env.render() for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name(*args, **kwargs)`` on each copy (or the attribute's value); ``action_masks`` reads the batch."""
        if name == "action_masks":
            return tuple(self.action_masks())
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"values: expected {self.num_envs} values (one per copy), got {len(values)}")
        for env, value in zip(self.envs, values):
            setattr(env, name, value)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
