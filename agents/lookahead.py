"""``lookahead``: a reference policy that reads the simulator (privileged; not a baseline under the same information).

For each of a few candidate actions (the ``n_candidates`` valid rows of lowest estimated finish, plus reject), it
saves the env's state (:meth:`OrbitCloudEnv.get_state`), takes the action, rolls the rollout heuristic
(``earliest-finish-admit`` by default, the strongest heuristic on OrbitCloud-v1) forward for ``horizon`` jobs on
the real future job stream, sums the rewards, and restores the state; it picks the candidate with the highest
sum. With ``horizon=0`` it picks the candidate with the best immediate reward.

It sees what no observation-only policy can: the future arrivals of the episode (the same seed's job stream) and
every node's exact state. Its score bounds what one-step planning with the greedy rule gains, which is why
evaluate.py reports it beside the heuristics and the upper bound. Cost: about ``n_candidates * (horizon + 1)`` env
steps per decision.

Usage::

    policy = agents.make_policy("lookahead", env=env)   # the env it will act in
    action, _ = policy.predict(obs)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from agents.heuristics import EarliestFinishAdmitPolicy, HeuristicPolicy, estimated_finish

__all__ = ["LookaheadPolicy"]


class LookaheadPolicy:
    """Rollout planning over the env's real future (see the module docstring).

    Args:
        env: the env the policy acts in (wrapped or not); its simulator is read and its state saved/restored.
        seed: unused (deterministic); accepted for the registry's signature.
        n_candidates: [-] valid rows tried besides reject (lowest estimated finish first), >= 1.
        horizon: [jobs] rollout length after the candidate decision, >= 0.
        rollout: heuristic that plays the rollouts (default ``earliest-finish-admit``).
    """

    name = "lookahead"

    def __init__(self, env: Any = None, seed: int | None = None, n_candidates: int = 3, horizon: int = 8,
                 rollout: HeuristicPolicy | None = None) -> None:
        if env is None:
            raise ValueError("lookahead needs the env it acts in: agents.make_policy('lookahead', env=env)")
        if not hasattr(env.unwrapped, "get_state"):
            raise ValueError("lookahead needs an OrbitCloud env (get_state / set_state)")
        if n_candidates < 1 or horizon < 0:
            raise ValueError(f"n_candidates must be >= 1 and horizon >= 0, got {n_candidates}, {horizon}")
        self.env = env.unwrapped
        self.seed = seed
        self.n_candidates = int(n_candidates)
        self.horizon = int(horizon)
        self.rollout = rollout or EarliestFinishAdmitPolicy()
        #: action -> rollout value (sum of rewards) of each candidate of the latest decision (agents/distill.py).
        self.last_values: dict[int, float] = {}

    def __repr__(self) -> str:
        return f"LookaheadPolicy(n_candidates={self.n_candidates}, horizon={self.horizon})"

    def reset(self) -> None:
        """Stateless between decisions."""

    def predict(self, observation: Mapping[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True, action_masks: Any = None) -> tuple[np.ndarray, Any]:
        """The planned action for the env's current job (``observation`` must be that env's latest)."""
        valid = np.asarray(observation["node_valid"]) > 0.5
        if valid.ndim != 1:
            raise ValueError("lookahead plans for one env at a time (observation of shape (M,), not batched)")
        n_rows = valid.shape[0]
        finish = np.where(valid, estimated_finish({k: np.asarray(v)[None] for k, v in observation.items()})[0], np.inf)
        order = np.argsort(finish, kind="stable")[: self.n_candidates]
        candidates = [int(a) for a in order if np.isfinite(finish[a])] + [n_rows]
        self.last_values = {}
        if len(candidates) == 1:
            return np.asarray(n_rows, dtype=np.int64), state
        env = self.env
        saved = env.get_state()
        best, best_value = candidates[0], -np.inf
        for a in candidates:
            value = self._rollout_value(a)
            env.set_state(saved)
            self.last_values[a] = value
            if value > best_value + 1e-12:
                best, best_value = a, value
        return np.asarray(best, dtype=np.int64), state

    def _rollout_value(self, action: int) -> float:
        env = self.env
        obs, reward, terminated, truncated, _ = env.step(action)
        total = float(reward)
        for _ in range(self.horizon):
            if terminated or truncated:
                break
            a, _ = self.rollout.predict(obs, action_masks=env.action_masks())
            obs, reward, terminated, truncated, _ = env.step(int(a))
            total += float(reward)
        return total
