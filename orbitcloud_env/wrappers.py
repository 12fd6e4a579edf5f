"""Gymnasium wrappers that reshape an OrbitCloud env for other RL libraries (no RL-library import here)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

__all__ = ["ActionMaskInObservation", "NumpyInfo", "numpy_info"]


class ActionMaskInObservation(gym.ObservationWrapper):
    """Carry the env's action mask inside the observation, flattened, for action-masking policies.

    ## Description
    Policies that mask logits from the observation alone cannot call the env's
    :meth:`~orbitcloud_env.env.OrbitCloudEnv.action_masks`: RLlib's action-masking RLModule reads
    ``obs["action_mask"]`` and hands ``obs["observations"]`` to its network (the defaults here); Tianshou's DQN
    reads ``obs.mask`` and hands ``obs.obs`` to its network (``obs_key="obs", mask_key="mask", dtype=np.int8``).
    This wrapper asks the wrapped env for that mask after every ``reset`` and ``step`` and puts it next to the
    env's observation, which it flattens to one vector with :func:`gymnasium.spaces.flatten` (the libraries'
    default encoders take a 1-D ``Box``, not a ``Dict`` of groups). Dynamics, rewards, ``info`` and episode ends
    are the wrapped env's, unchanged; a masked-out action is still the env's invalid action (a rejection with a
    penalty, ``info["invalid_action"]`` True).

    ## Observation Space
    ``Dict({mask_key: Box(0, 1, (n,), dtype), obs_key: Box(low, high, (D,), float32)})``:

    | key | shape | meaning | range |
    |---|---|---|---|
    | ``mask_key`` ("action_mask") | (n,) | 1 where the env's ``action_masks()`` allows the action, else 0 | {0, 1} |
    | ``obs_key`` ("observations") | (D,) | the env's observation, ``spaces.flatten``-ed | its groups' bounds |

    n = ``action_space.n``; D = the sizes of the env's groups summed, concatenated in the ``Dict``'s key order.
    ``gymnasium.spaces.unflatten(env.observation_space, obs[obs_key])`` gives back the env's ``Dict``.

    ## Action Space
    The wrapped env's, unchanged (``Discrete(M + 1)``; action M rejects the job).

    ## Arguments
    | argument | meaning |
    |---|---|
    | env | an env with a ``Discrete`` action space and an ``action_masks()`` method (reachable through wrappers) |
    | obs_key | [-] key of the flattened observation: "observations" (RLlib), "obs" (Tianshou) |
    | mask_key | [-] key of the mask: "action_mask" (RLlib), "mask" (Tianshou) |
    | dtype | [-] the mask's dtype: float32 (RLlib, which adds log(mask) to the logits), int8 (Tianshou, which
      computes ``1 - mask``, impossible on bools; also Gymnasium's ``Discrete.sample(mask=...)``), float64, uint8 |
    """

    #: The mask dtypes accepted (RLlib's float, Gymnasium's int8; a bool Box is not a Gymnasium space).
    MASK_DTYPES = ("float32", "float64", "int8", "uint8")

    def __init__(self, env: gym.Env, obs_key: str = "observations", mask_key: str = "action_mask",
                 dtype: Any = np.float32) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(f"env: ActionMaskInObservation needs a Discrete action space, got {env.action_space}")
        try:
            env.get_wrapper_attr("action_masks")
        except AttributeError:
            raise ValueError(f"env: ActionMaskInObservation needs an env with action_masks(), "
                             f"{env.unwrapped.__class__.__name__} has none") from None
        for name, key in (("obs_key", obs_key), ("mask_key", mask_key)):
            if not isinstance(key, str) or not key:
                raise ValueError(f"{name}: expected a non-empty string, got {key!r}")
        if obs_key == mask_key:
            raise ValueError(f"mask_key: must differ from obs_key, both are {obs_key!r}")
        try:
            mask_dtype = np.dtype(dtype)
        except TypeError:
            mask_dtype = None
        if mask_dtype is None or mask_dtype.name not in self.MASK_DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(self.MASK_DTYPES)}, got {dtype!r}")
        self.obs_key, self.mask_key, self.mask_dtype = obs_key, mask_key, mask_dtype
        self._inner_space = env.observation_space
        n = int(env.action_space.n)
        self.observation_space = spaces.Dict({mask_key: spaces.Box(0, 1, shape=(n,), dtype=mask_dtype),
                                              obs_key: spaces.flatten_space(env.observation_space)})

    def observation(self, observation: Any) -> dict[str, NDArray[Any]]:
        mask = self.env.get_wrapper_attr("action_masks")()
        return {self.mask_key: np.asarray(mask, dtype=self.mask_dtype),
                self.obs_key: spaces.flatten(self._inner_space, observation)}


class NumpyInfo(gym.Wrapper):
    """Every ``info`` entry as a numpy value with a dtype, in one flat dict, for readers that take all keys.

    ## Description
    The env already gives its numbers as numpy scalars (``np.float64``, ``np.int64``), its flags as 0-d bool
    arrays and ``action_mask`` as an int8 array, so a reader given a list of keys (TorchRL's
    ``default_info_dict_reader(["latency_ms", "action_mask"])``) reads them. Its info also holds names (strings)
    and nested dicts (``rewards``, ``latency_breakdown_ms``, ``episode_metrics``), which a reader of *every* key
    cannot store: TorchRL's ``default_info_dict_reader()`` without keys (what ``set_info_dict_reader()`` and
    ``auto_register_info_dict()`` install) asks each value for its ``dtype``. This wrapper makes the whole info
    readable: nested dicts become dotted keys (``rewards.latency``, ``latency_breakdown_ms.total``), Python
    numbers and bools become ``np.float64`` / ``np.int64`` / 0-d bool arrays, and strings (``job_class``,
    ``site_name``, ``outcome``, the reasons in ``node_down_reason``) are left out (``met_deadline`` and the
    reward terms carry the outcome as numbers). Observations, rewards and episode ends are unchanged.

    ## Arguments
    | argument | meaning |
    |---|---|
    | env | any Gymnasium env whose info is a dict (nested dicts of numbers, strings and arrays) |
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, numpy_info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, numpy_info(info)


def numpy_info(info: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``info`` flattened to dotted keys, each value a numpy value with a dtype; strings left out (see
    :class:`NumpyInfo`)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numpy_info(value, f"{name}."))
        elif isinstance(value, (str, np.str_)):
            continue
        elif isinstance(value, (bool, np.bool_)):
            out[name] = np.array(bool(value))
        elif isinstance(value, (int, np.integer)):
            out[name] = np.int64(value)
        elif isinstance(value, (float, np.floating)):
            out[name] = np.float64(value)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "USO":  # text or objects: no tensor dtype
                continue
            out[name] = value
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "USO":
                out[name] = arr
    return out
