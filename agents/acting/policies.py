"""``RowScoringPolicy``: a MaskablePPO policy that scores each candidate row with one shared network.

Description:
    In candidates mode the observation is a table: ``M`` rows (candidate nodes), each with the same per-node
    features (``node_wait``, ``node_finish``, ``node_rank``, ...), plus the job's features. The default
    ``MultiInputPolicy`` flattens that table into one vector, so it must learn the same rule ("prefer the row that
    finishes first") once per row position, and it overfits small data sets (cloning ``lookahead`` from 20,000
    decisions: 94 % agreement on the training decisions, 65 % on held-out ones; this policy: see docs/training.md).
    This policy applies one small MLP to every row (the row's features and the job's), which gives that row's
    logit; a second MLP gives the reject logit from the job's features and the mean of the rows' hidden states. The
    actor is therefore equivariant to the order of the rows, as in per-node scoring schedulers (H. Mao et al.,
    "Learning Scheduling Algorithms for Data Processing Clusters" (Decima), SIGCOMM 2019). The critic is the
    usual MLP over the flattened observation.

Observation:
    A Dict space with ``M``-long per-node keys and one ``job`` vector (the OrbitCloud candidates layout).

Action:
    ``Discrete(M + 1)``: a row, or the last action (reject).

Residual prior (``prior_logit`` > 0): ``prior_logit`` is added to the logit of a heuristic's action, computed from
the same observation, so the policy starts as that heuristic (with a small output layer) and what is learned is when
to deviate from it: residual policy learning (T. Silver, K. Allen, J. Tenenbaum, L. Kaelbling, "Residual Policy
Learning", arXiv:1812.06298, 2018). The policy still sees only observations. The heuristic is
``earliest-finish-admit`` by default; ``prior_params`` makes it ``tuned-admit`` (agents/acting/heuristics.py) with the
given per-class admission thresholds, per-class ground bias and battery reserve (plain numbers, so a saved model holds
no code): ``prior_params=dict(admit_threshold=[...], ground_bias=[...], battery_reserve=0.2)``, one entry per job class
in the one-hot's order.

Use ``policy="RowScoringPolicy"`` in a hyperparameters file or ``MaskablePPO(RowScoringPolicy, env)``; saved models
load with :func:`agents.load` as any other (the class is found by its module path).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.acting.heuristics import FINISH_KEYS as _FINISH_KEYS  # the keys of the estimated finish (one home)

__all__ = ["RowFeaturesExtractor", "RowScorer", "RowScoringPolicy"]

#: Job feature index of the first entry of the class one-hot (orbitcloud_env/observation.py's base job features).
_JOB_CLASS_START = 8
#: Logit of an action the ``admission`` action set leaves out (finite, so no NaN in the softmax or its gradient).
_MASKED_LOGIT = -1e8
#: The action sets of RowScoringPolicy: every row and reject, or only the prior's placement row and reject.
ACTION_SETS = ("all", "admission")
#: The keys a ``prior_params`` entry may hold (tuned-admit's parameters that act on the row table).
PRIOR_PARAMS = ("admit_threshold", "ground_bias", "battery_reserve")


def check_prior_params(prior_params: Any) -> dict[str, Any] | None:
    """``prior_params`` as plain lists and floats; ValueError naming the key for anything else."""
    if prior_params is None:
        return None
    if not isinstance(prior_params, dict):
        raise ValueError(f"prior_params: a dict with keys {', '.join(PRIOR_PARAMS)}, got {prior_params!r}")
    unknown = sorted(set(prior_params) - set(PRIOR_PARAMS))
    if unknown:
        raise ValueError(f"prior_params: unknown key {unknown[0]!r}; allowed: {', '.join(PRIOR_PARAMS)}")
    out: dict[str, Any] = {}
    for key in ("admit_threshold", "ground_bias"):
        if key in prior_params:
            values = prior_params[key]
            values = list(values) if isinstance(values, (list, tuple)) else None
            if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) or (
                    key == "admit_threshold" and min(values) <= 0):
                raise ValueError(f"prior_params[{key!r}]: a list of finite numbers, one per job class"
                                 f"{' (> 0)' if key == 'admit_threshold' else ''}, got {prior_params[key]!r}")
            out[key] = [float(v) for v in values]
    reserve = prior_params.get("battery_reserve", 0.0)
    if not isinstance(reserve, (int, float)) or not 0.0 <= reserve <= 1.0:
        raise ValueError(f"prior_params['battery_reserve']: a number in [0, 1], got {reserve!r}")
    out["battery_reserve"] = float(reserve)
    lengths = {len(v) for k, v in out.items() if k != "battery_reserve"}
    if len(lengths) > 1:
        raise ValueError(f"prior_params: admit_threshold and ground_bias need one entry per job class each, got "
                         f"{len(out['admit_threshold'])} and {len(out['ground_bias'])}")
    return out


def _row_keys(observation_space: spaces.Dict) -> tuple[list[str], int, int]:
    """(per-row keys in the space's order, M rows, J job features); ValueError for another layout."""
    if not isinstance(observation_space, spaces.Dict) or "job" not in observation_space.spaces:
        raise ValueError("RowScoringPolicy needs a Dict observation with a 'job' vector (OrbitCloud's layout)")
    job = observation_space.spaces["job"]
    rows = [k for k in observation_space.spaces if k != "job"]
    shapes = {observation_space.spaces[k].shape for k in rows}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or len(job.shape) != 1:
        raise ValueError(f"RowScoringPolicy needs per-row keys of one shape (M,), got {sorted(map(str, shapes))}")
    return rows, int(next(iter(shapes))[0]), int(job.shape[0])


class RowFeaturesExtractor(BaseFeaturesExtractor):
    """The observation as one flat vector in a fixed layout: the (M, F) row table row by row, then the job."""

    def __init__(self, observation_space: spaces.Dict) -> None:
        keys, m, j = _row_keys(observation_space)
        super().__init__(observation_space, features_dim=m * len(keys) + j)
        self.row_keys = keys

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        rows = th.stack([observations[k].float() for k in self.row_keys], dim=-1)  # (B, M, F)
        return th.cat([rows.flatten(1), observations["job"].float()], dim=1)


def _mlp(sizes: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


class RowScorer(nn.Module):
    """The policy's ``mlp_extractor``: the actor's latent is the M + 1 logits, the critic's an MLP's output."""

    def __init__(self, n_rows: int, n_row_features: int, n_job: int, row_arch: Sequence[int],
                 vf_arch: Sequence[int], activation: type[nn.Module], prior_logit: float = 0.0,
                 finish_index: Sequence[int] = (), valid_index: int = -1, admit_threshold: float = 1.0,
                 prior_params: dict[str, Any] | None = None, ground_index: int = -1, soc_index: int = -1,
                 action_set: str = "all") -> None:
        super().__init__()
        self.action_set = action_set
        self.n_rows, self.n_features, self.n_job = n_rows, n_row_features, n_job
        self.prior_logit = float(prior_logit)
        self.finish_index = [int(i) for i in finish_index]
        self.valid_index = int(valid_index)
        self.admit_threshold = float(admit_threshold)
        self.ground_index, self.soc_index = int(ground_index), int(soc_index)
        params = prior_params or {}
        n_classes = len(params.get("admit_threshold", params.get("ground_bias", [])))
        if n_classes and _JOB_CLASS_START + n_classes > n_job:
            raise ValueError(f"prior_params: {n_classes} job classes need job features [{_JOB_CLASS_START}:"
                             f"{_JOB_CLASS_START + n_classes}], the observation has {n_job}")
        self.n_classes = n_classes
        # Buffers, never trained and not in the state dict (rebuilt from prior_params, so models saved before
        # prior_params existed load unchanged).
        self.register_buffer("class_threshold", th.tensor(params.get("admit_threshold", [admit_threshold] * max(
            n_classes, 1)), dtype=th.float32), persistent=False)
        self.register_buffer("class_ground_bias", th.tensor(params.get("ground_bias", [0.0] * max(n_classes, 1)),
                                                            dtype=th.float32), persistent=False)
        self.battery_reserve = float(params.get("battery_reserve", 0.0))
        self.row_net = _mlp([n_row_features + n_job, *row_arch], activation)
        self.row_head = nn.Linear(row_arch[-1], 1)
        self.reject_net = nn.Sequential(_mlp([row_arch[-1] + n_job, *row_arch], activation),
                                        nn.Linear(row_arch[-1], 1))
        self.value_net = _mlp([n_rows * n_row_features + n_job, *vf_arch], activation)
        self.latent_dim_pi = n_rows + 1
        self.latent_dim_vf = vf_arch[-1]

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        b = features.shape[0]
        rows = features[:, : self.n_rows * self.n_features].view(b, self.n_rows, self.n_features)
        job = features[:, self.n_rows * self.n_features:]
        h = self.row_net(th.cat([rows, job[:, None, :].expand(b, self.n_rows, self.n_job)], dim=-1))
        scores = self.row_head(h).squeeze(-1)
        reject = self.reject_net(th.cat([h.mean(dim=1), job], dim=-1))
        logits = th.cat([scores, reject], dim=-1)
        if self.prior_logit:
            logits = logits + self.prior_logit * self.prior_choice(rows, job)
        if self.action_set == "admission":
            # Only two actions stay: the placement row (the prior's, or the earliest-finishing valid row when the
            # prior rejects) and reject; the policy learns when to admit.
            allowed = self.admission_actions(rows, job)
            logits = th.where(allowed, logits, th.full_like(logits, _MASKED_LOGIT))
        return logits

    def admission_actions(self, rows: th.Tensor, job: th.Tensor | None = None) -> th.Tensor:
        """(B, M + 1) bool: the placement row of :meth:`prior_choice` (when the prior rejects, the valid row of lowest
        estimated finish) and reject; the ``action_set="admission"`` policy chooses between these two."""
        admit_row, _, efa_row, any_valid = self._prior_rows(rows, job)
        choice = th.where(admit_row < self.n_rows, admit_row, efa_row)
        allowed = nn.functional.one_hot(th.where(any_valid, choice, th.full_like(choice, self.n_rows)),
                                        self.n_rows + 1).bool()
        allowed[:, -1] = True
        return allowed

    def prior_choice(self, rows: th.Tensor, job: th.Tensor | None = None) -> th.Tensor:
        """(B, M + 1) one-hot of the prior heuristic's action on the (B, M, F) rows and (B, J) job features.

        Without ``prior_params``: ``earliest-finish-admit``, the valid row of lowest estimated finish (latency +
        wait + compute, in deadlines), or reject when none is valid or that finish exceeds the admission threshold.
        With them: ``tuned-admit``, rows admissible when valid, finishing within the job class's threshold and (for
        satellites) at or above the battery reserve; the admissible row of lowest finish plus the class's ground
        bias on data-centre rows; reject when none (agents/acting/heuristics.py; float32 here, so exact ties may break
        otherwise)."""
        choice, _, _, _ = self._prior_rows(rows, job)
        return nn.functional.one_hot(choice, self.n_rows + 1).to(rows.dtype)

    def _prior_rows(self, rows: th.Tensor, job: th.Tensor | None) -> tuple[th.Tensor, th.Tensor, th.Tensor,
                                                                             th.Tensor]:
        """(prior's action (M = reject), any admissible row, earliest-finishing valid row, any valid row), each (B,)."""
        finish = rows[..., self.finish_index].sum(dim=-1)
        valid = rows[..., self.valid_index] > 0.5
        inf = th.full_like(finish, float("inf"))
        _, efa_row = th.where(valid, finish, inf).min(dim=1)
        any_valid = valid.any(dim=1)
        if self.n_classes and job is not None:
            cls = job[:, _JOB_CLASS_START:_JOB_CLASS_START + self.n_classes].argmax(dim=1)
            threshold, bias = self.class_threshold[cls][:, None], self.class_ground_bias[cls][:, None]
        else:
            threshold, bias = self.class_threshold[:1][:, None], self.class_ground_bias[:1][:, None]
        admissible = valid & (finish <= threshold)
        if self.ground_index >= 0:
            ground = rows[..., self.ground_index] > 0.5
            if self.battery_reserve > 0 and self.soc_index >= 0:
                admissible = admissible & (ground | (rows[..., self.soc_index] >= self.battery_reserve))
            finish = finish + bias * ground.to(finish.dtype)
        _, choice = th.where(admissible, finish, inf).min(dim=1)
        any_admissible = admissible.any(dim=1)
        choice = th.where(any_admissible, choice, th.full_like(choice, self.n_rows))
        return choice, any_admissible, efa_row, any_valid

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features)

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class RowScoringPolicy(MaskableActorCriticPolicy):
    """MaskablePPO policy with a shared per-row scorer (see the module docstring).

    Args (besides MaskableActorCriticPolicy's):
        row_arch: [-] hidden sizes of the per-row MLP (and of the reject MLP), default (128, 128).
        prior_logit: [-] weight of the prior heuristic's action added to the logits (0: no prior).
        prior_params: tuned-admit's parameters for the prior (see the module docstring); None: earliest-finish-admit.
        action_set: "all" (every row and reject) or "admission" (the prior's placement row, or the earliest-finishing
            valid row when the prior rejects, and reject: the policy learns when to admit; needs prior_logit > 0).
        net_arch: ``dict(vf=[...])`` hidden sizes of the critic, default [256, 256] (``pi`` is ignored).
    """

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule: Any,
                 row_arch: Sequence[int] = (128, 128), prior_logit: float = 0.0,
                 prior_params: dict[str, Any] | None = None, action_set: str = "all", **kwargs: Any) -> None:
        _, m, _ = _row_keys(observation_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != m + 1:
            raise ValueError(f"RowScoringPolicy needs Discrete(M + 1) = Discrete({m + 1}) actions (the rows and "
                             f"reject: candidates mode), got {action_space}")
        if not row_arch or any(int(s) < 1 for s in row_arch):
            raise ValueError(f"row_arch: a non-empty list of sizes >= 1, got {row_arch!r}")
        self.row_arch = [int(s) for s in row_arch]
        if not (prior_logit >= 0 and prior_logit < float("inf")):
            raise ValueError(f"prior_logit: a finite number >= 0, got {prior_logit!r}")
        self.prior_logit = float(prior_logit)
        self.prior_params = check_prior_params(prior_params)
        if action_set not in ACTION_SETS:
            raise ValueError(f"action_set: one of {', '.join(ACTION_SETS)}, got {action_set!r}")
        self.action_set = action_set
        kwargs.setdefault("features_extractor_class", RowFeaturesExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        keys, m, j = _row_keys(self.observation_space)
        arch = self.net_arch if isinstance(self.net_arch, dict) else {}
        vf_arch = list(arch.get("vf", [256, 256])) or [256, 256]
        prior: dict[str, Any] = {}
        if self.prior_logit:
            missing = [k for k in (*_FINISH_KEYS, "node_valid") if k not in keys]
            if missing:
                raise ValueError(f"prior_logit > 0 needs observation keys {missing}")
            prior = {"prior_logit": self.prior_logit, "finish_index": [keys.index(k) for k in _FINISH_KEYS],
                     "valid_index": keys.index("node_valid")}
            if self.prior_params is not None:
                missing = [k for k in ("node_is_ground", "node_soc") if k not in keys]
                if missing:
                    raise ValueError(f"prior_params needs observation keys {missing}")
                prior.update(prior_params=self.prior_params, ground_index=keys.index("node_is_ground"),
                             soc_index=keys.index("node_soc"))
        if self.action_set != "all":
            if not self.prior_logit:
                raise ValueError(f"action_set {self.action_set!r} needs prior_logit > 0 (the prior places the job)")
            prior["action_set"] = self.action_set
        self.mlp_extractor = RowScorer(m, len(keys), j, self.row_arch, vf_arch, self.activation_fn, **prior)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the scorer's output already is the logits
        if self.prior_logit:  # small learned logits at first: the policy starts as the prior's heuristic
            for layer in (self.mlp_extractor.row_head, self.mlp_extractor.reject_net[-1]):
                self.init_weights(layer, gain=0.01)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["row_arch"] = self.row_arch
        data["prior_logit"] = self.prior_logit
        if self.prior_params is not None:  # older models have no such key and load as before
            data["prior_params"] = self.prior_params
        if self.action_set != "all":
            data["action_set"] = self.action_set
        return data
