"""Heuristic placement policies that read only the observation (docs/env_contract.md).

Every policy has Stable-Baselines3's ``predict`` signature::

    action, state = policy.predict(observation, state=None, episode_start=None, deterministic=True)

and accepts either one observation dict (``node_valid`` of shape ``(M,)``; returns an int64 array of shape ``()``)
or a batch from a VecEnv (``node_valid`` of shape ``(B, M)``; returns an int64 array of shape ``(B,)``). Row ``m``
of the observation is a node (a global node in ``all_nodes`` mode, the m-th nearest candidate in ``candidates``
mode); action ``M`` (the number of rows) rejects the job. ``node_valid`` is the mask: a policy never picks a row
whose ``node_valid`` is 0 and rejects when no row is valid. An optional ``action_masks`` argument (length ``M + 1``
or ``(B, M + 1)``, as MaskablePPO takes) is intersected with ``node_valid``, so heuristics and models share one
evaluation path.

All scoring is vectorised over rows and batch (no Python loop over nodes). Scores are "lower is better"; invalid
rows score ``+inf``; ties go to the lowest row index (in ``candidates`` mode that is the lowest estimated network
latency, because rows are sorted by it).

Units: ``node_latency``, ``node_wait`` and ``node_compute`` are times divided by the job's deadline, so
``node_latency + node_wait + node_compute`` is the estimated finish time in deadlines (>= 1 misses).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = [
    "FINISH_KEYS",
    "estimated_finish",
    "HeuristicPolicy",
    "RandomPolicy",
    "RoundRobinPolicy",
    "NearestPolicy",
    "LeastLoadedPolicy",
    "EarliestFinishPolicy",
    "EnergyAwarePolicy",
    "GroundOnlyPolicy",
    "EarliestFinishAdmitPolicy",
    "SlackAwarePolicy",
    "TunedAdmitPolicy",
    "TUNED_DIR",
    "tuned_params_path",
    "load_tuned_params",
    "HEURISTICS",
    "REQUIRED_KEYS",
]

#: Observation keys the heuristics read (a subset of the contract's observation).
REQUIRED_KEYS: tuple[str, ...] = (
    "node_valid", "node_latency", "node_wait", "node_compute", "node_queue", "node_soc", "node_sunlit",
    "node_sunlit_soon", "node_is_ground",
)


def _as_batch(observation: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
    """Return (observation with a leading batch axis, whether the input was a single observation)."""
    if not isinstance(observation, Mapping):
        raise TypeError(f"expected an observation dict with keys {list(REQUIRED_KEYS)}, "
                        f"got {type(observation).__name__}")
    if "node_valid" not in observation:
        raise KeyError(f"observation has no 'node_valid' (keys: {sorted(observation)})")
    valid = np.asarray(observation["node_valid"])
    if valid.ndim == 1:
        return {k: np.asarray(v)[None] for k, v in observation.items()}, True
    if valid.ndim == 2:
        return {k: np.asarray(v) for k, v in observation.items()}, False
    raise ValueError(f"node_valid must have shape (M,) or (B, M), got {valid.shape}")


def _valid_rows(obs: dict[str, np.ndarray], action_masks: Any = None) -> np.ndarray:
    """Boolean (B, M) mask of selectable rows: node_valid, intersected with action_masks[:, :M] when given."""
    valid = obs["node_valid"] > 0.5
    if action_masks is not None:
        masks = np.asarray(action_masks, dtype=bool).reshape(valid.shape[0], -1)
        if masks.shape[1] != valid.shape[1] + 1:
            raise ValueError(f"action_masks must have M + 1 = {valid.shape[1] + 1} entries per env, "
                             f"got {masks.shape[1]}")
        valid = valid & masks[:, :-1]
    return valid


def _argmin_or_reject(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise argmin of ``scores`` over ``valid`` rows; M (reject) where a row has no valid entry."""
    n_rows = scores.shape[1]
    masked = np.where(valid, scores, np.inf)
    choice = np.argmin(masked, axis=1)
    return np.where(valid.any(axis=1), choice, n_rows).astype(np.int64)


class HeuristicPolicy:
    """Base class: subclasses implement :meth:`_scores` (lower is better) or override :meth:`_act`."""

    #: Registry name (set by subclasses).
    name: str = ""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # SB3-compatible entry point -----------------------------------------------------------------------------
    def predict(self, observation: Mapping[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True, action_masks: Any = None) -> tuple[np.ndarray, Any]:
        """Choose an action for one observation dict or a batch of them.

        Args:
            observation: an observation dict as in docs/env_contract.md, single or batched (leading axis B).
            state: unused (heuristics keep their own per-env state); returned unchanged.
            episode_start: optional bool array (B,) marking the first step of an episode; stateful policies
                (round-robin) reset that env's state.
            deterministic: unused by the deterministic heuristics; ``random`` samples either way.
            action_masks: optional bool mask of length M + 1 (or (B, M + 1)); intersected with node_valid.

        Returns:
            (actions, state): int64 array of shape () for a single observation or (B,) for a batch.
        """
        obs, single = _as_batch(observation)
        valid = _valid_rows(obs, action_masks)
        starts = None
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
        actions = self._act(obs, valid, starts)
        return (np.asarray(actions[0]) if single else actions), state

    def reset(self) -> None:
        """Forget per-episode state (no-op for stateless policies)."""

    def _act(self, obs: dict[str, np.ndarray], valid: np.ndarray, episode_start: np.ndarray | None) -> np.ndarray:
        return _argmin_or_reject(self._scores(obs), valid)

    def _scores(self, obs: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


#: Per-row keys whose sum is the estimated finish in deadlines (:func:`estimated_finish`).
FINISH_KEYS: tuple[str, ...] = ("node_latency", "node_wait", "node_compute")


def estimated_finish(obs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Estimated finish time in deadlines per row, in float64: network latency + queue wait + compute (all divided
    by the deadline, as the observation gives them; >= 1 misses). The one home of this estimate on the agents' side
    (heuristics, lookahead, the digest script's earliest-finish policy; the torch prior of agents/acting/policies.py
    sums the same :data:`FINISH_KEYS`); the env's own is ``NodeView.finish_ms`` (in ms)."""
    return (obs["node_latency"].astype(np.float64) + obs["node_wait"].astype(np.float64)
            + obs["node_compute"].astype(np.float64))


_finish_time = estimated_finish  # the former private name (kept for code that imported it)


class RandomPolicy(HeuristicPolicy):
    """Uniform over valid rows (reject only when none is valid); own ``np.random.Generator`` seeded by ``seed``."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def _act(self, obs, valid, episode_start):
        # argmax of i.i.d. uniforms over the valid rows is a uniform choice among them.
        draws = np.where(valid, self.rng.random(valid.shape), -1.0)
        choice = np.argmax(draws, axis=1)
        return np.where(valid.any(axis=1), choice, valid.shape[1]).astype(np.int64)


class RoundRobinPolicy(HeuristicPolicy):
    """Cycle through the rows, skipping invalid ones; one pointer per env index (reset on ``episode_start``).

    In ``candidates`` mode the rows are latency ranks, so this cycles through ranks rather than fixed nodes.
    """

    name = "round-robin"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._next = np.zeros(0, dtype=np.int64)

    def reset(self) -> None:
        self._next = np.zeros(0, dtype=np.int64)

    def _act(self, obs, valid, episode_start):
        n_envs, n_rows = valid.shape
        if self._next.shape[0] != n_envs:
            self._next = np.zeros(n_envs, dtype=np.int64)
        if episode_start is not None:
            self._next[episode_start[:n_envs]] = 0
        # Distance (in rows, cyclically) from each env's pointer: the nearest valid row at or after it wins.
        offset = (np.arange(n_rows)[None, :] - self._next[:, None]) % n_rows
        actions = _argmin_or_reject(offset.astype(np.float64), valid)
        placed = actions < n_rows
        self._next[placed] = (actions[placed] + 1) % n_rows
        return actions


class NearestPolicy(HeuristicPolicy):
    """Lowest estimated network latency (``node_latency``) among valid rows."""

    name = "nearest"

    def _scores(self, obs):
        return obs["node_latency"].astype(np.float64)


class LeastLoadedPolicy(HeuristicPolicy):
    """Lowest queue occupancy (``node_queue``); ties broken by lowest ``node_latency``."""

    name = "least-loaded"

    def _act(self, obs, valid, episode_start):
        load = np.where(valid, obs["node_queue"].astype(np.float64), np.inf)
        least = load == load.min(axis=1, keepdims=True)
        return _argmin_or_reject(obs["node_latency"].astype(np.float64), valid & least)


class EarliestFinishPolicy(HeuristicPolicy):
    """Lowest estimated finish time ``node_latency + node_wait + node_compute`` (the strong greedy baseline)."""

    name = "earliest-finish"

    def _scores(self, obs):
        return estimated_finish(obs)


class EnergyAwarePolicy(HeuristicPolicy):
    """Earliest finish plus an energy penalty on satellites, in deadline units.

    Rule (ground rows have ``node_sunlit = node_soc = node_sunlit_soon = 1`` and ``node_is_ground = 1``; they are
    never penalised)::

        penalty = battery_weight * max(0, battery_low - soc) / battery_low        # low state of charge
                + eclipse_weight * (1 - sunlit_now * sunlit_soon)                  # in eclipse, or entering soon
        score   = finish_time + (1 - node_is_ground) * penalty

    with ``soc = node_soc``, ``sunlit_now = node_sunlit`` and ``sunlit_soon = node_sunlit_soon`` (sunlit after
    ``power.eclipse_lookahead_s``). Defaults: ``battery_low = 0.5``, ``battery_weight = 0.5``,
    ``eclipse_weight = 0.2``: a satellite on battery loses to a sunlit one or a data centre that finishes up to
    0.2 deadlines later, and a nearly flat battery adds up to another 0.5 deadlines. A satellite still wins when every
    alternative is that much slower.
    """

    name = "energy-aware"

    def __init__(self, seed: int | None = None, battery_low: float = 0.5, battery_weight: float = 0.5,
                 eclipse_weight: float = 0.2) -> None:
        super().__init__(seed)
        if not 0.0 < battery_low <= 1.0:
            raise ValueError(f"battery_low must be in (0, 1], got {battery_low!r}")
        if battery_weight < 0 or eclipse_weight < 0:
            raise ValueError("battery_weight and eclipse_weight must be >= 0")
        self.battery_low = float(battery_low)
        self.battery_weight = float(battery_weight)
        self.eclipse_weight = float(eclipse_weight)

    def _scores(self, obs):
        soc = obs["node_soc"].astype(np.float64)
        sunlit_now = obs["node_sunlit"].astype(np.float64)
        sunlit_soon = obs["node_sunlit_soon"].astype(np.float64)
        low_battery = np.clip(self.battery_low - soc, 0.0, None) / self.battery_low
        eclipse_risk = 1.0 - sunlit_now * sunlit_soon
        penalty = self.battery_weight * low_battery + self.eclipse_weight * eclipse_risk
        is_satellite = 1.0 - obs["node_is_ground"].astype(np.float64)
        return estimated_finish(obs) + is_satellite * penalty


class GroundOnlyPolicy(HeuristicPolicy):
    """Earliest finish among valid data-centre rows (``node_is_ground == 1``); reject when none is valid."""

    name = "ground-only"

    def _act(self, obs, valid, episode_start):
        return _argmin_or_reject(estimated_finish(obs), valid & (obs["node_is_ground"] > 0.5))


class EarliestFinishAdmitPolicy(HeuristicPolicy):
    """Earliest finish with admission control: reject when even the earliest estimated finish misses the deadline.

    Rule: ``a = argmin finish``; reject when ``finish[a] > admit_threshold`` (in deadlines). With the default
    rewards a late job costs at least ``latency_weight + miss_penalty`` = 2 and a rejection 1, so rejecting a job
    that would be late costs less; the threshold 1 is the deadline. The estimate ignores jobs queued later and the
    return path's change over the job, so a threshold slightly above 1 tolerates estimation error.
    """

    name = "earliest-finish-admit"

    def __init__(self, seed: int | None = None, admit_threshold: float = 1.0) -> None:
        super().__init__(seed)
        if not admit_threshold > 0:
            raise ValueError(f"admit_threshold must be > 0 deadlines, got {admit_threshold!r}")
        self.admit_threshold = float(admit_threshold)

    def _act(self, obs, valid, episode_start):
        finish = estimated_finish(obs)
        actions = _argmin_or_reject(finish, valid)
        n_rows = valid.shape[1]
        placed = actions < n_rows
        best = np.where(placed, finish[np.arange(len(actions)), np.minimum(actions, n_rows - 1)], np.inf)
        return np.where(placed & (best <= self.admit_threshold), actions, n_rows).astype(np.int64)


#: Job feature index of log10(deadline_ms) / 7 (docs/env_contract.md).
_JOB_LOG_DEADLINE = 3


class SlackAwarePolicy(HeuristicPolicy):
    """Deadline-tolerant work to orbit when it still meets its deadline with a margin; tight work to the earliest
    finish.

    Rule: a job is *tolerant* when its deadline is at least ``tolerant_deadline_ms`` (read from the job features'
    log-deadline). A tolerant job goes to the satellite row of lowest estimated finish among those finishing
    within ``1 - margin`` deadlines (keeping the ground's and the nearest satellites' capacity for tight work);
    when no satellite qualifies, or the job is tight, the lowest estimated finish wins (as ``earliest-finish``).
    """

    name = "slack-aware"

    def __init__(self, seed: int | None = None, tolerant_deadline_ms: float = 1_000.0, margin: float = 0.5) -> None:
        super().__init__(seed)
        if not tolerant_deadline_ms > 0 or not 0.0 <= margin < 1.0:
            raise ValueError("tolerant_deadline_ms must be > 0 and margin in [0, 1)")
        self.tolerant_log = float(np.log10(tolerant_deadline_ms) / 7.0)
        self.margin = float(margin)

    def _act(self, obs, valid, episode_start):
        finish = estimated_finish(obs)
        job = obs.get("job")
        if job is None:  # no job features: every job counts as tight
            tolerant = np.zeros(finish.shape[0], dtype=bool)
        else:
            tolerant = job[:, _JOB_LOG_DEADLINE].astype(np.float64) >= self.tolerant_log - 1e-6
        orbit_ok = valid & (obs["node_is_ground"] < 0.5) & (finish <= 1.0 - self.margin)
        use_orbit = tolerant & orbit_ok.any(axis=1)
        rows = np.where(use_orbit[:, None], orbit_ok, valid)
        return _argmin_or_reject(finish, rows)


#: Job feature index of the first entry of the class one-hot (N_JOB_BASE_FEATURES in orbitcloud_env/observation.py).
_JOB_CLASS_START = 8
#: Job classes of every shipped scenario, in the one-hot's order (used when neither the env nor a file names them).
DEFAULT_CLASSES: tuple[str, ...] = ("interactive", "video", "batch")
#: Tuned parameters shipped as package data, one file per env id: ``agents/tuned/<env-id>.json``.
TUNED_DIR = Path(__file__).resolve().parents[1] / "tuned"  # agents/tuned/ (package data)
#: The parameters of ``tuned-admit`` and their neutral values (with these it is ``earliest-finish-admit``).
TUNED_PARAMS = ("admit_threshold", "ground_bias", "battery_reserve", "backlog_cap")
_NEUTRAL = {"admit_threshold": 1.0, "ground_bias": 0.0, "battery_reserve": 0.0, "backlog_cap": math.inf}


def tuned_params_path(env_id: str) -> Path:
    """The package-data file of ``tuned-admit``'s parameters for ``env_id`` (``module:`` prefixes dropped)."""
    return TUNED_DIR / f"{str(env_id).split(':')[-1]}.json"


def load_tuned_params(env_id: str) -> dict[str, Any] | None:
    """The stored tuning of ``env_id`` (``{"env_id", "classes", "params", "tuning"}``), or None when none ships.

    Raises:
        ValueError: a file that is not valid JSON or lacks ``params`` (one line, naming the file).
    """
    path = tuned_params_path(env_id)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ValueError(f"{path}: expected an object with a 'params' object")
    return data


def _env_id_of(env: Any) -> str | None:
    spec = getattr(env, "spec", None) or getattr(getattr(env, "unwrapped", None), "spec", None)
    return str(spec.id).split(":")[-1] if spec is not None and getattr(spec, "id", None) else None


def _env_classes(env: Any) -> tuple[str, ...] | None:
    sim = getattr(getattr(env, "unwrapped", env), "sim", None)
    names = getattr(sim, "job_class_names", None)
    return tuple(str(n) for n in names) if names is not None else None


class TunedAdmitPolicy(HeuristicPolicy):
    """``earliest-finish-admit`` with per-class admission, a ground/orbit preference and a battery reserve, its
    parameters tuned per env id (docs/evaluation.md, "The tuned baseline").

    Rule, for a job of class ``c`` (read from the job features' class one-hot) with estimated finish ``f`` of each
    row (``node_latency + node_wait + node_compute``, in deadlines)::

        admissible = valid & (f <= admit_threshold[c])
                     & (ground | node_soc >= battery_reserve)          # satellites keep a battery reserve
                     & (node_backlog <= backlog_cap[c])                # only when a cap is set (group "backlog")
        action     = argmin over admissible rows of f + ground_bias[c] * node_is_ground;  reject when none

    A negative ``ground_bias`` prefers data centres (a ground row wins over a satellite finishing up to
    ``-ground_bias`` deadlines earlier), a positive one prefers orbit. With every ``admit_threshold`` 1, every
    ``ground_bias`` 0, ``battery_reserve`` 0 and no backlog cap it is ``earliest-finish-admit`` action for action
    (tested): the earliest-finishing valid row is admissible exactly when it finishes within 1 deadline.

    Parameters come from, in increasing precedence: the neutral values above; the package-data file of the env's
    id (``agents/tuned/<env-id>.json``, written by ``benchmarks/tune_heuristics.py``; when the env has an id but no
    file, a warning says the neutral values are used); the ``params`` mapping; the keyword arguments. Per-class
    parameters take one number (every class) or a mapping ``{class name: number}`` (classes left out keep the
    value below them in precedence).

    Args:
        seed: unused (deterministic).
        env: the env the policy will act in (optional): its id selects the file, its job classes name the one-hot.
        env_id: the id whose file to read, instead of the env's (``""``: read none).
        classes: job class names in the one-hot's order (default: the env's, else the file's, else
            ``interactive, video, batch``).
        params: a mapping of the parameters below (e.g. a file's ``params``).
        admit_threshold: [deadlines] per class, > 0: reject when no row finishes within it.
        ground_bias: [deadlines] per class, finite: added to data-centre rows' finish when choosing.
        battery_reserve: [-] in [0, 1]: satellite rows whose ``node_soc`` is below it are skipped.
        backlog_cap: [60 s per server] per class, > 0 or None (no cap): rows whose ``node_backlog`` exceeds it are
            skipped (needs the observation group ``backlog``).
    """

    name = "tuned-admit"
    #: make_policy passes the env (its id selects the tuned parameters).
    takes_env = True

    def __init__(self, seed: int | None = None, env: Any = None, env_id: str | None = None,
                 classes: Any = None, params: Mapping[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(seed)
        unknown = sorted(set(overrides) - set(TUNED_PARAMS))
        if unknown:
            raise ValueError(f"tuned-admit: unknown parameter {unknown[0]!r}; allowed: {', '.join(TUNED_PARAMS)}")
        env_id = _env_id_of(env) if env_id is None and env is not None else env_id
        data = load_tuned_params(env_id) if env_id else None
        env_classes = _env_classes(env) if env is not None else None
        file_classes = tuple(data["classes"]) if data is not None and data.get("classes") else None
        if env_classes and file_classes and env_classes != file_classes:
            raise ValueError(f"tuned-admit: {tuned_params_path(env_id)} was tuned for job classes "
                             f"{list(file_classes)}, the env has {list(env_classes)}")
        self.classes = tuple(classes) if classes is not None else (env_classes or file_classes or DEFAULT_CLASSES)
        self.env_id = env_id or None
        if data is not None:
            self.source = str(tuned_params_path(env_id).name)
        else:
            self.source = "neutral defaults (earliest-finish-admit)"
            if env_id:
                warnings.warn(f"tuned-admit: no tuned parameters for {env_id} (no {tuned_params_path(env_id)}); "
                              "using the neutral ones, i.e. earliest-finish-admit; benchmarks/tune_heuristics.py "
                              "tunes them", UserWarning, stacklevel=3)
        n = len(self.classes)
        values = {k: np.full(n, v, dtype=np.float64) for k, v in _NEUTRAL.items()}
        for layer in ((data or {}).get("params") or {}, params or {}, overrides):
            for key, value in layer.items():
                if key not in TUNED_PARAMS:
                    raise ValueError(f"tuned-admit: unknown parameter {key!r}; allowed: {', '.join(TUNED_PARAMS)}")
                self._set(values, key, value)
        self.admit_threshold, self.ground_bias = values["admit_threshold"], values["ground_bias"]
        self.battery_reserve = float(values["battery_reserve"][0])
        self.backlog_cap = values["backlog_cap"]
        self._per_class = bool(np.ptp(self.admit_threshold) or np.ptp(self.ground_bias)
                               or np.ptp(np.nan_to_num(self.backlog_cap, posinf=1e300)))

    def _set(self, values: dict[str, np.ndarray], key: str, value: Any) -> None:
        if key == "battery_reserve":
            if isinstance(value, Mapping) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"tuned-admit: battery_reserve must be one number in [0, 1], got {value!r}")
            values[key][:] = float(value)
            return
        items = value.items() if isinstance(value, Mapping) else [(c, value) for c in self.classes]
        for cls, v in items:
            if cls not in self.classes:
                raise ValueError(f"tuned-admit: {key}: unknown job class {cls!r}; classes: {', '.join(self.classes)}")
            if key == "backlog_cap" and v is None:
                v = math.inf
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
            if key == "admit_threshold":
                ok = ok and 0.0 < v < math.inf
                allowed = "a number > 0 (deadlines)"
            elif key == "ground_bias":
                ok = ok and math.isfinite(v)
                allowed = "a finite number (deadlines)"
            else:
                ok = ok and v > 0.0
                allowed = "a number > 0 (60 s per server) or null"
            if not ok:
                raise ValueError(f"tuned-admit: {key}[{cls}] must be {allowed}, got {v!r}")
            values[key][self.classes.index(cls)] = float(v)

    def __repr__(self) -> str:
        return f"TunedAdmitPolicy(env_id={self.env_id!r}, source={self.source!r})"

    def as_params(self) -> dict[str, Any]:
        """The parameters as stored in a tuned file (``{name: {class: value}}``; battery_reserve one number)."""
        def per_class(a: np.ndarray) -> dict[str, float | None]:
            return {c: (None if math.isinf(v) else float(v)) for c, v in zip(self.classes, a)}

        return {"admit_threshold": per_class(self.admit_threshold), "ground_bias": per_class(self.ground_bias),
                "battery_reserve": self.battery_reserve, "backlog_cap": per_class(self.backlog_cap)}

    def _class_index(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        n_env = obs["node_valid"].shape[0]
        if not self._per_class:
            return np.zeros(n_env, dtype=np.int64)
        job = obs.get("job")
        n = len(self.classes)
        if job is None or job.shape[-1] < _JOB_CLASS_START + n:
            raise ValueError(f"tuned-admit: per-class parameters need the job features' class one-hot "
                             f"(job[{_JOB_CLASS_START}:{_JOB_CLASS_START + n}]); the observation has none")
        return np.argmax(job[:, _JOB_CLASS_START:_JOB_CLASS_START + n], axis=1)

    def _act(self, obs, valid, episode_start):
        finish = _finish_time(obs)
        cls = self._class_index(obs)
        ok = valid & (finish <= self.admit_threshold[cls][:, None])
        ground = obs["node_is_ground"] > 0.5
        if self.battery_reserve > 0.0:
            ok &= ground | (obs["node_soc"].astype(np.float64) >= self.battery_reserve)
        caps = self.backlog_cap[cls]
        if np.isfinite(caps).any():
            if "node_backlog" not in obs:
                raise ValueError("tuned-admit: backlog_cap needs the observation key 'node_backlog' (observation "
                                 "group 'backlog')")
            ok &= obs["node_backlog"].astype(np.float64) <= caps[:, None]
        bias = self.ground_bias[cls]
        score = finish + bias[:, None] * ground if np.any(bias) else finish
        return _argmin_or_reject(score, ok)


#: Registry of heuristic classes by name (see agents.available / agents.make_policy).
HEURISTICS: dict[str, type[HeuristicPolicy]] = {
    cls.name: cls
    for cls in (RandomPolicy, RoundRobinPolicy, NearestPolicy, LeastLoadedPolicy, EarliestFinishPolicy,
                EnergyAwarePolicy, GroundOnlyPolicy, EarliestFinishAdmitPolicy, SlackAwarePolicy,
                TunedAdmitPolicy)
}
