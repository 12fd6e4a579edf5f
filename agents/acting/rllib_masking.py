"""An action-masking PPO RLModule on RLlib's current RLModule API (``DefaultPPOTorchRLModule``), for
examples/rllib_ppo.py.

RLlib's own example module (``ray.rllib.examples.rl_modules.classes.action_masking_rlm``) still derives from the
deprecated ``PPOTorchRLModule`` alias, so importing it logs "PPOTorchRLModule has been deprecated ... will raise an
error in the future" (ray 2.60). This module derives from ``DefaultPPOTorchRLModule`` and takes its spaces and
model config as keyword arguments (never ``RLModule(config=...)``), so it builds without a deprecation notice.

It lives in the ``agents`` package, not in the example script, so that Ray's env runner and learner processes
import it by name. Needs the ``rllib`` extra; ``import agents`` does not import this module.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.utils.torch_utils import FLOAT_MIN

__all__ = ["MaskedPPOTorchRLModule", "MASK_KEY", "OBS_KEY"]

#: Keys of the observation ``Dict`` (``orbitcloud_env.wrappers.ActionMaskInObservation``'s defaults).
MASK_KEY, OBS_KEY = "action_mask", "observations"


class MaskedPPOTorchRLModule(DefaultPPOTorchRLModule):
    """PPO's default torch module on ``obs["observations"]``, with the logits of actions that ``obs["action_mask"]``
    forbids pushed to RLlib's ``FLOAT_MIN`` (probability 0) in inference, exploration and training alike.

    The networks are built for the ``observations`` part only (the mask is no input feature); ``observation_space``
    stays the env's ``Dict`` so that RLlib's connectors hand the module both parts.
    """

    def __init__(self, *, observation_space: gym.Space | None = None, action_space: gym.Space | None = None,
                 **kwargs: Any) -> None:
        if not isinstance(observation_space, gym.spaces.Dict) or set(observation_space) != {MASK_KEY, OBS_KEY}:
            raise ValueError(f"observation_space: MaskedPPOTorchRLModule needs a Dict with keys {MASK_KEY!r} and "
                             f"{OBS_KEY!r} (wrap the env in ActionMaskInObservation), got {observation_space}")
        self._space_with_mask = observation_space
        super().__init__(observation_space=observation_space[OBS_KEY], action_space=action_space, **kwargs)

    def setup(self) -> None:
        super().setup()  # networks for the observations part
        self.observation_space = self._space_with_mask

    @staticmethod
    def _split(batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """(mask, batch whose ``obs`` is the observations part); the caller's batch is not changed."""
        obs = batch[Columns.OBS]
        return obs[MASK_KEY], {**batch, Columns.OBS: obs[OBS_KEY]}

    @staticmethod
    def _mask(out: dict[str, Any], mask: torch.Tensor) -> dict[str, Any]:
        out[Columns.ACTION_DIST_INPUTS] = out[Columns.ACTION_DIST_INPUTS] + torch.clamp(torch.log(mask),
                                                                                        min=FLOAT_MIN)
        return out

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, inner = self._split(batch)
        return self._mask(super()._forward(inner, **kwargs), mask)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, inner = self._split(batch)
        return self._mask(super()._forward_train(inner, **kwargs), mask)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if isinstance(batch[Columns.OBS], dict):
            _, batch = self._split(batch)
        return super().compute_values(batch, embeddings)
