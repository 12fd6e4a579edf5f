"""``lookahead``: a reference policy that reads the simulator (privileged; not a baseline under the same information).

For each of a few candidate actions (the ``n_candidates`` valid rows of lowest estimated finish, plus reject), it
saves the env's state (:meth:`OrbitCloudEnv.get_state`), takes the action, rolls the rollout heuristic
(``earliest-finish-admit`` by default, the strongest heuristic on OrbitCloud-v1) forward on the real future job
stream, sums the rewards, and restores the state; it picks the candidate with the highest sum. With ``horizon=0``
it picks the candidate with the best immediate reward.

Two horizons of this policy (both registered; ``agents.make_policy(name, env=env)``):

- ``lookahead``: ``horizon`` jobs after the decision (8), the original policy, unchanged.
- ``lookahead-long``: a time horizon that covers the job's occupancy: every candidate is rolled out over the same
  span of simulated time, until the latest estimated finish among the placed candidates (the job's arrival at the
  node, queue wait and compute: ``node_latency + node_wait + node_compute`` times the deadline), capped at
  ``horizon_s`` = 60 s of arrivals. A 40 s batch job on a satellite is then seen blocking the jobs behind it, which
  8 jobs (about 1 s at v1's 7 decisions/s) cannot show; a 150 ms interactive job costs a rollout of a job or two.
  Its cost per decision is measured in docs/evaluation.md.

A third registered planner, ``lookahead-admit`` (:class:`AdmissionLookaheadPolicy` below), plans only batch
admission, over ``tuned-admit``; all three roll out with :func:`rollout_return`.

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

from agents.acting.heuristics import EarliestFinishAdmitPolicy, HeuristicPolicy, TunedAdmitPolicy, estimated_finish

__all__ = ["LookaheadPolicy", "AdmissionLookaheadPolicy", "LOOKAHEAD_VARIANTS", "LONG_HORIZON_S", "make_lookahead"]

#: [s] the time cap of ``lookahead-long``'s rollouts (the issue's "60 s of arrivals").
LONG_HORIZON_S = 60.0
#: Registered names -> LookaheadPolicy keyword arguments.
LOOKAHEAD_VARIANTS: dict[str, dict[str, Any]] = {
    "lookahead": {},
    "lookahead-long": {"horizon": None, "horizon_s": LONG_HORIZON_S},
    "lookahead-admit": {"horizon_s": LONG_HORIZON_S},
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
        """Sum of rewards of ``action`` then the rollout heuristic (:func:`rollout_return`)."""
        return rollout_return(self.env, self.rollout, action, until_s=until_s, horizon=self.horizon)


def rollout_return(env: Any, policy: Any, action: int, until_s: float | None = None,
                   horizon: int | None = None) -> float:
    """Sum of rewards of ``action`` in the unwrapped ``env``, then of ``policy``'s actions, for ``horizon`` jobs
    and/or while the next job arrives before ``until_s`` [s, event clock] (None: no such limit). The caller saves
    and restores the env's state."""
    obs, reward, terminated, truncated, _ = env.step(action)
    total = float(reward)
    steps = 0
    while not (terminated or truncated):
        if horizon is not None and steps >= horizon:
            break
        if until_s is not None and (env.sim.job is None or env.sim.job.time_s > until_s):
            break
        steps += 1
        a, _ = policy.predict(obs, action_masks=env.action_masks())
        obs, reward, terminated, truncated, _ = env.step(int(a))
        total += float(reward)
    return total


class AdmissionLookaheadPolicy:
    """``lookahead-admit``: one step of policy improvement over ``tuned-admit`` on admission decisions (privileged).

    For a job of one of ``classes`` (default: batch, the jobs that hold a node for tens of seconds), it compares
    ``tuned-admit``'s decision with the one alternative that changes admission: when ``tuned-admit`` places the job,
    reject it; when it rejects, place it on the valid row of lowest estimated finish (``earliest-finish-admit``'s
    row). Each of the two is taken and then ``tuned-admit`` plays on the episode's real future job stream for
    ``horizon_s`` seconds of arrivals; the env's state is restored after each, and the decision with the larger sum
    of rewards is taken. Every other job gets ``tuned-admit``'s action. This is rollout policy iteration's
    improvement step (D. Bertsekas, J. Tsitsiklis, "Neuro-Dynamic Programming", 1996, ch. 6.1: the rollout policy is
    at least as good as its base policy when the rollouts are exact; here they are the realised future, so the
    choice also uses information no scheduler has).

    Its two choices are exactly the two actions of ``RowScoringPolicy(action_set="admission")`` with the tuned
    prior, so its decisions are the labels that policy is distilled from (docs/training.md, "OrbitCloud-v2").
    Cost: two rollouts of ``horizon_s`` seconds per decision of the chosen classes (about 0.4 s of CPU per batch
    job on OrbitCloud-v2 on this project's 2-core VM, 120-270 s per 300 s episode), none for the others.

    Args:
        env: the env it acts in (its simulator is read, its state saved and restored).
        seed: seed of the resampled futures (with ``n_futures``; None: 0); unused otherwise (deterministic).
        horizon_s: [s] > 0, rollout span of arrivals after the decision.
        classes: job class names whose admission is planned (the others follow ``tuned-admit``).
        base: the base policy (default ``tuned-admit`` with the env id's tuned parameters).
        n_futures: None (the episode's own future: privileged), or an integer >= 1: each choice's value is the mean
            over that many futures drawn anew from the arrival process after the job
            (:meth:`orbitcloud_env.workload.PoissonWorkload.resample_future`; the same futures for both choices;
            demand regimes, link and fault chains stay the episode's). Costs ``n_futures`` times as much; Poisson
            arrivals only. Measured in docs/training.md ("Resampled futures").
    """

    name = "lookahead-admit"

    def __init__(self, env: Any = None, seed: int | None = None, horizon_s: float = LONG_HORIZON_S,
                 classes: Any = ("batch",), base: HeuristicPolicy | None = None,
                 n_futures: int | None = None) -> None:
        if env is None:
            raise ValueError("lookahead-admit needs the env it acts in: agents.make_policy('lookahead-admit', env=env)")
        if not hasattr(env.unwrapped, "get_state"):
            raise ValueError("lookahead-admit needs an OrbitCloud env (get_state / set_state)")
        if not (horizon_s is not None and horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError(f"horizon_s must be a finite number > 0 of seconds, got {horizon_s!r}")
        self.env = env.unwrapped
        classes = (classes,) if isinstance(classes, str) else tuple(classes)
        names = [str(n) for n in self.env.sim.job_class_names]
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise ValueError(f"classes: unknown job class {unknown[0]!r}; the env's classes: {', '.join(names)}")
        if n_futures is not None and (isinstance(n_futures, bool) or not isinstance(n_futures, (int, np.integer))
                                      or n_futures < 1):
            raise ValueError(f"n_futures must be an integer >= 1 or None (the episode's own future), got {n_futures!r}")
        self.n_futures = None if n_futures is None else int(n_futures)
        self._future_seed = 0 if seed is None else int(seed)
        self.seed = seed
        self.horizon_s = float(horizon_s)
        self.classes = tuple(str(c) for c in classes)
        self._class_index = {names.index(c) for c in self.classes}
        self.base = base if base is not None else TunedAdmitPolicy(env=env)
        self.placement = EarliestFinishAdmitPolicy()
        #: action -> rollout value of the two actions compared at the latest planned decision (agents/distill.py).
        self.last_values: dict[int, float] = {}

    def __repr__(self) -> str:
        return f"AdmissionLookaheadPolicy(horizon_s={self.horizon_s}, classes={list(self.classes)}, base={self.base!r})"

    def reset(self) -> None:
        """Stateless between decisions."""

    def predict(self, observation: Mapping[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True, action_masks: Any = None) -> tuple[np.ndarray, Any]:
        """The planned action for the env's current job (``observation`` must be that env's latest)."""
        self.last_values = {}
        n_rows = np.asarray(observation["node_valid"]).shape[-1]
        base = int(np.asarray(self.base.predict(observation, action_masks=action_masks)[0]).reshape(-1)[0])
        job = self.env.sim.job
        if job is None or job.job_class not in self._class_index:
            return np.asarray(base, dtype=np.int64), state
        if base == n_rows:  # the base rejects: the alternative places the job where it finishes first
            alternative = int(np.asarray(self.placement.predict(observation, action_masks=action_masks)[0])
                              .reshape(-1)[0])
        else:
            alternative = n_rows
        if alternative == base:  # no row finishes within the deadline: reject is the only sensible choice
            return np.asarray(base, dtype=np.int64), state
        until_s = job.time_s + self.horizon_s
        saved = self.env.get_state()
        for a in (base, alternative):
            self.last_values[a] = self._expected_return(a, until_s, saved)
        best = alternative if self.last_values[alternative] > self.last_values[base] + 1e-12 else base
        return np.asarray(best, dtype=np.int64), state

    def _expected_return(self, action: int, until_s: float, saved: Any) -> float:
        """Rollout value of ``action``: on the episode's own future (``n_futures`` None), or the mean over
        ``n_futures`` resampled ones (the same futures for both actions: common random numbers)."""
        if self.n_futures is None:
            value = rollout_return(self.env, self.base, action, until_s=until_s)
            self.env.set_state(saved)
            return value
        job, workload = self.env.sim.job, self.env.sim.workload
        if not hasattr(workload, "resample_future"):
            raise ValueError("n_futures: resampled futures need Poisson arrivals (a trace's future is fixed); "
                             "use n_futures=None")
        total = 0.0
        for k in range(self.n_futures):
            seed = int(np.random.SeedSequence([self._future_seed, int(job.job_id), k]).generate_state(1)[0])
            workload.resample_future(seed, job.time_s)
            total += rollout_return(self.env, self.base, action, until_s=until_s)
            self.env.set_state(saved)
        return total / self.n_futures


#: Registered lookahead names whose class is not LookaheadPolicy.
_LOOKAHEAD_CLASSES: dict[str, type] = {"lookahead-admit": AdmissionLookaheadPolicy}


def make_lookahead(name: str, env: Any = None, seed: int | None = None) -> Any:
    """The registered reference planner ``name`` (a key of LOOKAHEAD_VARIANTS) acting in ``env``."""
    cls = _LOOKAHEAD_CLASSES.get(name, LookaheadPolicy)
    return cls(env=env, seed=seed, **LOOKAHEAD_VARIANTS[name])
