"""Training callbacks of the training command (Stable-Baselines3).

- :class:`MetricsEvalCallback` / :class:`MaskableMetricsEvalCallback`: SB3's ``EvalCallback`` /
  sb3_contrib's ``MaskableEvalCallback`` that also average the evaluation episodes' ``info["episode_metrics"]``
  (logged as ``eval/<key>``, one printed line per evaluation), and write ``best_model.zip`` atomically: to a
  temporary file beside it, then renamed over it, so a ``kill -9`` during the save never leaves a 0-byte or
  half-written best model (SB3 writes the zip in place, and the previous best is gone once it starts). With
  ``eval_seed``, every evaluation plays the same episodes (agents/training/learning_curve.py draws them).
  ``evaluations.npz`` is written the same way (SB3's ``np.savez`` goes to a hidden temporary file, renamed over it).
- :class:`AtomicCheckpointCallback`: SB3's ``CheckpointCallback`` whose checkpoints (``rl_model_<N>_steps.zip``,
  the VecNormalize and replay-buffer ``.pkl``) are written to a temporary file and renamed: a ``kill -9`` during a
  save leaves every ``rl_model_*`` file whole (SB3 writes them in place: the newest was found truncated after a
  kill in 5 of 8 runs, issue 22).
- :class:`TrainEpisodeMetrics`: the training episodes' ``info["episode_metrics"]`` as ``episode/<key>``.

Imports Stable-Baselines3: the command lines import this module only when training starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback

from agents.common.io import atomic_path

__all__ = ["AtomicCheckpointCallback", "BEST_MODEL", "EVALUATIONS", "MetricsEvalCallback",
           "MaskableMetricsEvalCallback", "TrainEpisodeMetrics"]

#: File name of the best model in the run folder.
BEST_MODEL = "best_model.zip"
#: File name of the evaluation log in the run folder (SB3's).
EVALUATIONS = "evaluations.npz"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _EvalMixin:
    """Episode metrics and an atomic best-model save, on top of EvalCallback or MaskableEvalCallback."""

    #: Metrics printed after each evaluation (all numeric ones go to the logger / TensorBoard as eval/<key>).
    printed = (("mean_latency_ms", "mean latency {:.1f} ms"), ("deadline_miss_rate", "deadline-miss rate {:.3f}"),
               ("rejection_rate", "rejection rate {:.3f}"), ("success_rate", "success rate {:.3f}"))

    def __init__(self, *args: Any, eval_seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Seed given to the evaluation env before each evaluation (None: SB3's behaviour, where each evaluation
        #: continues the env's random stream, so evaluations differ in their episodes as well as in the policy).
        self.eval_seed = eval_seed
        # The parent's own save (a plain overwrite of best_model.zip) is switched off; _on_step saves atomically.
        self.best_model_dir: str | None = self.best_model_save_path
        self.best_model_save_path = None
        # The parent's np.savez writes a hidden temporary file (np.savez adds .npz), renamed over evaluations.npz.
        self.evaluations_file: str | None = None
        if self.log_path is not None:
            folder = os.path.dirname(self.log_path)
            self.evaluations_file = os.path.join(folder, EVALUATIONS)
            self.log_path = os.path.join(folder, ".evaluations.partial")

    def _init_callback(self) -> None:
        super()._init_callback()
        if self.best_model_dir is not None:
            os.makedirs(self.best_model_dir, exist_ok=True)
        self._episode_metrics: list[dict[str, Any]] = []

    def save_best_model(self) -> Path:
        """Write the model to ``<best_model_dir>/best_model.zip`` through a temporary file and a rename."""
        target = Path(self.best_model_dir) / BEST_MODEL
        with atomic_path(target) as tmp:
            self.model.save(tmp)
        return target

    def _log_success_callback(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        super()._log_success_callback(locals_, globals_)
        if not locals_["done"]:
            return
        metrics = locals_["info"].get("episode_metrics")
        if isinstance(metrics, Mapping):
            self._episode_metrics.append(dict(metrics))
            for key, value in metrics.items():
                if _numeric(value):
                    # record_mean averages over the episodes; EvalCallback dumps at the eval timestep.
                    self.logger.record_mean(f"eval/{key}", float(value))

    def _on_step(self) -> bool:
        evaluating = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
        if evaluating:
            self._episode_metrics = []
            if self.eval_seed is not None:  # the same episodes at every evaluation: a curve of the policy alone
                self.eval_env.seed(self.eval_seed)
        best_before = self.best_mean_reward
        keep_going = super()._on_step()
        if evaluating and self.evaluations_file is not None and os.path.exists(self.log_path + ".npz"):
            with open(self.log_path + ".npz", "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.log_path + ".npz", self.evaluations_file)
        if evaluating and self.best_model_dir is not None and self.best_mean_reward > best_before:
            self.save_best_model()
        if evaluating:
            eps = self._episode_metrics
            if eps:
                parts = [fmt.format(sum(float(e.get(k, 0.0)) for e in eps) / len(eps)) for k, fmt in self.printed]
                print(f"Eval at {self.num_timesteps} steps ({len(eps)} episodes): {', '.join(parts)}", flush=True)
            else:
                print(f"Eval at {self.num_timesteps} steps: no info['episode_metrics'] in the eval episodes",
                      flush=True)
        return keep_going


class MetricsEvalCallback(_EvalMixin, EvalCallback):
    """EvalCallback with episode metrics and an atomic ``best_model.zip``."""


class MaskableMetricsEvalCallback(_EvalMixin, MaskableEvalCallback):
    """MaskableEvalCallback (action masks during evaluation) with episode metrics and an atomic ``best_model.zip``."""


class AtomicCheckpointCallback(CheckpointCallback):
    """CheckpointCallback whose every file is written to a temporary file beside it, then renamed over it."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq != 0:
            return True
        with atomic_path(self._checkpoint_path(extension="zip")) as tmp:
            self.model.save(tmp)
        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            with atomic_path(self._checkpoint_path("replay_buffer_", extension="pkl")) as tmp:
                self.model.save_replay_buffer(tmp)
        norm = self.model.get_vec_normalize_env()
        if self.save_vecnormalize and norm is not None:
            with atomic_path(self._checkpoint_path("vecnormalize_", extension="pkl")) as tmp:
                norm.save(str(tmp))
        if self.verbose >= 2:
            print(f"Saved checkpoint {self._checkpoint_path(extension='zip')}")
        return True


class TrainEpisodeMetrics(BaseCallback):
    """Logs the mean of the training episodes' ``info["episode_metrics"]`` as episode/<key> (each rollout dump)."""

    def _on_step(self) -> bool:
        for done, info in zip(self.locals.get("dones", []), self.locals.get("infos", [])):
            metrics = info.get("episode_metrics") if done else None
            if isinstance(metrics, Mapping):
                for key, value in metrics.items():
                    if _numeric(value):
                        self.logger.record_mean(f"episode/{key}", float(value))
        return True
