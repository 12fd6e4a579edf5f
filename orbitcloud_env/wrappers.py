"""Gymnasium wrappers that reshape an OrbitCloud env for other RL libraries (no RL-library import here)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

__all__ = ["ActionMaskInObservation"]


class ActionMaskInObservation(gym.ObservationWrapper):
    """Carry the env's action mask inside the observation, flattened, for action-masking policies.

    ## Description
    Policies that mask logits from the observation alone (RLlib's action-masking RLModule, which reads
    ``obs["action_mask"]`` and hands ``obs["observations"]`` to its network) cannot call the env's
    :meth:`~orbitcloud_env.env.OrbitCloudEnv.action_masks`. This wrapper asks the wrapped env for that mask after
    every ``reset`` and ``step`` and puts it next to the env's observation, which it flattens to one vector with
    :func:`gymnasium.spaces.flatten` (RLlib's default encoders take a 1-D ``Box``, not a ``Dict`` of groups).
    Dynamics, rewards, ``info`` and episode ends are the wrapped env's, unchanged; a masked-out action is still the
    env's invalid action (a rejection with a penalty, ``info["invalid_action"]`` True).

    ## Observation Space
    ``Dict({"action_mask": Box(0, 1, (n,), float32), "observations": Box(low, high, (D,), float32)})``:

    | key | shape | meaning | range |
    |---|---|---|---|
    | action_mask | (n,) | 1.0 where the env's ``action_masks()`` allows the action, else 0.0 | {0, 1} |
    | observations | (D,) | the env's observation, ``gymnasium.spaces.flatten``-ed | its groups' bounds |

    n = ``action_space.n``; D = the sizes of the env's groups summed, concatenated in the ``Dict``'s key order.
    ``gymnasium.spaces.unflatten(env.observation_space, obs["observations"])`` gives back the env's ``Dict``.

    ## Action Space
    The wrapped env's, unchanged (``Discrete(M + 1)``; action M rejects the job).

    ## Arguments
    | argument | meaning |
    |---|---|
    | env | an env with a ``Discrete`` action space and an ``action_masks()`` method (reachable through wrappers) |
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(f"env: ActionMaskInObservation needs a Discrete action space, got {env.action_space}")
        try:
            env.get_wrapper_attr("action_masks")
        except AttributeError:
            raise ValueError(f"env: ActionMaskInObservation needs an env with action_masks(), "
                             f"{env.unwrapped.__class__.__name__} has none") from None
        self._inner_space = env.observation_space
        n = int(env.action_space.n)
        self.observation_space = spaces.Dict({
            "action_mask": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
            "observations": spaces.flatten_space(env.observation_space),
        })

    def observation(self, observation: Any) -> dict[str, NDArray[np.float32]]:
        mask = self.env.get_wrapper_attr("action_masks")()
        return {"action_mask": np.asarray(mask, dtype=np.float32),
                "observations": spaces.flatten(self._inner_space, observation)}
