"""``lookahead``: a reference policy that reads the simulator (privileged; not a baseline under the same information).

For each of a few candidate actions (the ``n_candidates`` valid rows of lowest estimated finish, plus reject), it
saves the env's state (:meth:`OrbitCloudEnv.get_state`), takes the action, rolls the rollout heuristic
(``earliest-finish-admit`` by default, the strongest heuristic on OrbitCloud-v1) forward on the real future job
stream, sums the rewards, and restores the state; it picks the candidate with the highest sum. With ``horizon=0``
it picks the candidate with the best immediate reward.

Two horizons (both registered; ``agents.make_policy(name, env=env)``):

- ``lookahead``: ``horizon`` jobs after the decision (8), the original policy, unchanged.
- ``lookahead-long``: a time horizon that covers the job's occupancy: every candidate is rolled out over the same
  span of simulated time, until the latest estimated finish among the placed candidates (the job's arrival at the
  node, queue wait and compute: ``node_latency + node_wait + node_compute`` times the deadline), capped at
  ``horizon_s`` = 60 s of arrivals. A 40 s batch job on a satellite is then seen blocking the jobs behind it, which
  8 jobs (about 1 s at v1's 7 decisions/s) cannot show; a 150 ms interactive job costs a rollout of a job or two.
  Its cost per decision is measured in docs/evaluation.md.

It sees what no observation-only policy can: the future arrivals of the episode (the same seed's job stream) and
every node's exact state. Its score bounds what one-step planning with the greedy rule gains, which is why
evaluate.py reports it beside the heuristics and the upper bound. Cost: about ``n_candidates * (horizon + 1)`` env
steps per decision.

Usage::

    policy = agents.make_policy("lookahead", env=env)   # the env it will act in
    action, _ = policy.predict(obs)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from agents.acting.heuristics import EarliestFinishAdmitPolicy, HeuristicPolicy, estimated_finish

__all__ = ["LookaheadPolicy", "LOOKAHEAD_VARIANTS", "LONG_HORIZON_S"]

#: [s] the time cap of ``lookahead-long``'s rollouts (the issue's "60 s of arrivals").
LONG_HORIZON_S = 60.0
#: Registered names -> LookaheadPolicy keyword arguments.
LOOKAHEAD_VARIANTS: dict[str, dict[str, Any]] = {
    "lookahead": {},
    "lookahead-long": {"horizon": None, "horizon_s": LONG_HORIZON_S},
}


class LookaheadPolicy:
    """Rollout planning over the env's real future (see the module docstring).

    Args:
        env: the env the policy acts in (wrapped or not); its simulator is read and its state saved/restored.
        seed: unused (deterministic); accepted for the registry's signature.
        n_candidates: [-] valid rows tried besides reject (lowest estimated finish first), >= 1.
        horizon: [jobs] rollout length after the candidate decision, >= 0; None: no job limit (needs
            ``horizon_s``).
        horizon_s: [s] None (the job-count horizon only), or a time horizon: each candidate is rolled out while
            the next job arrives within ``min(horizon_s, latest estimated finish of the placed candidates)`` of
            the decision (the simulator's event clock); with ``horizon`` also set, whichever ends first.
        rollout: heuristic that plays the rollouts (default ``earliest-finish-admit``).
    """

    name = "lookahead"

    def __init__(self, env: Any = None, seed: int | None = None, n_candidates: int = 3, horizon: int | None = 8,
                 rollout: HeuristicPolicy | None = None, horizon_s: float | None = None) -> None:
        if env is None:
            raise ValueError("lookahead needs the env it acts in: agents.make_policy('lookahead', env=env)")
        if not hasattr(env.unwrapped, "get_state"):
            raise ValueError("lookahead needs an OrbitCloud env (get_state / set_state)")
        if n_candidates < 1 or (horizon is not None and horizon < 0):
            raise ValueError(f"n_candidates must be >= 1 and horizon >= 0, got {n_candidates}, {horizon}")
        if horizon_s is not None and not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError(f"horizon_s must be a finite number > 0 of seconds, or None; got {horizon_s!r}")
        if horizon is None and horizon_s is None:
            raise ValueError("lookahead needs a horizon: horizon (jobs) or horizon_s (seconds)")
        self.env = env.unwrapped
        self.seed = seed
        self.n_candidates = int(n_candidates)
        self.horizon = None if horizon is None else int(horizon)
        self.horizon_s = None if horizon_s is None else float(horizon_s)
        self.rollout = rollout or EarliestFinishAdmitPolicy()
        #: action -> rollout value (sum of rewards) of each candidate of the latest decision
        #: (agents/training/distill.py).
        self.last_values: dict[int, float] = {}

    def __repr__(self) -> str:
        return (f"LookaheadPolicy(n_candidates={self.n_candidates}, horizon={self.horizon}, "
                f"horizon_s={self.horizon_s})")

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
        until_s = None
        if self.horizon_s is not None:  # the latest estimated finish of the placed candidates, capped
            job = env.sim.job
            span_s = max(float(finish[a]) for a in candidates[:-1]) * job.deadline_ms * 1e-3
            until_s = job.time_s + min(span_s, self.horizon_s)
        saved = env.get_state()
        best, best_value = candidates[0], -np.inf
        for a in candidates:
            value = self._rollout_value(a, until_s)
            env.set_state(saved)
            self.last_values[a] = value
            if value > best_value + 1e-12:
                best, best_value = a, value
        return np.asarray(best, dtype=np.int64), state

    def _rollout_value(self, action: int, until_s: float | None = None) -> float:
        """Sum of rewards of ``action`` then the rollout heuristic, for ``horizon`` jobs and/or while the next job
        arrives before ``until_s`` [s, event clock]."""
        env = self.env
        obs, reward, terminated, truncated, _ = env.step(action)
        total = float(reward)
        steps = 0
        while not (terminated or truncated):
            if self.horizon is not None and steps >= self.horizon:
                break
            if until_s is not None and (env.sim.job is None or env.sim.job.time_s > until_s):
                break
            steps += 1
            a, _ = self.rollout.predict(obs, action_masks=env.action_masks())
            obs, reward, terminated, truncated, _ = env.step(int(a))
            total += float(reward)
        return total
