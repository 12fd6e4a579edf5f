"""The reward of one decision: named terms weighted by :class:`~orbitcloud_env.config.RewardConfig`, in one place.

The env (one job, Python floats) and the upper bound (orbitcloud_env/bounds.py: one job on every node at once, numpy
arrays) both call :func:`reward_terms` and :func:`total`, so the formula is written once. No Gymnasium here.

Two objectives (``reward.objective``), formulas in the env docstring and docs/scenarios.md:

- ``"count"`` (v0, v1): every job weighs the same: ``latency, miss, drop, rejection, invalid_action, energy``.
- ``"value"`` (v2): each job carries a value ``v = price_per_gflop(class) x work_gflop`` [value units]; an on-time
  result earns it (term ``value``), a late or lost one forfeits it and pays ``sla_penalty_fraction x v`` (term
  ``sla``), a rejection forgoes it (0 unless ``reject_penalty`` says otherwise); the latency term is weighted by
  the value (``-latency_weight v min(latency / deadline, latency_clip)``), so it stays a share of what the job is
  worth; energy and invalid actions as in ``"count"``.

The terms of ``"count"`` are the v1 terms, in the v1 order and with the v1 arithmetic (bit-identical episodes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reward_terms", "total", "COUNT_TERMS", "VALUE_TERMS"]

#: Names of the terms (``info["rewards"]``) of each objective, in summation order.
COUNT_TERMS: tuple[str, ...] = ("latency", "miss", "drop", "rejection", "invalid_action", "energy")
VALUE_TERMS: tuple[str, ...] = COUNT_TERMS + ("value", "sla")


def _where(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``, elementwise when ``cond`` is an array (one formula for one job and for many)."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return a if cond else b


def _minimum(a: Any, b: float) -> Any:
    return np.minimum(a, b) if isinstance(a, np.ndarray) else min(a, b)


def reward_terms(w: Any, *, served: Any, missed: Any, lost: Any, rejected: Any, invalid: Any,
                 latency_ratio: Any, energy_j: Any, value: Any = 0.0) -> dict[str, Any]:
    """The named reward terms of one decision (scalars), or of one job on each of several nodes (arrays).

    Args:
        w: the scenario's :class:`~orbitcloud_env.config.RewardConfig`.
        served: the result came back (met or missed); missed: served after the deadline; lost: placed but its
            result never came back (dropped or failed); rejected: not placed (the reject action or an invalid one);
            invalid: the action was masked out.
        latency_ratio: [-] the job's latency / its deadline (any value where not served).
        energy_j: [J] the energy the energy term counts (``w.energy_source``: battery energy or all energy).
        value: [value units] the job's value, price per GFLOP of its class x its work (objective "value").

    Returns:
        ``{term: value}`` with the keys of :data:`COUNT_TERMS` or :data:`VALUE_TERMS` (``w.objective``); floats
        for scalar inputs, arrays (broadcast) otherwise. Their :func:`total` is the reward.
    """
    value_mode = w.objective == "value"
    scale = value if value_mode else 1.0  # the latency term is a share of the job's value under "value"
    terms = {
        "latency": _where(served, -w.latency_weight * scale * _minimum(latency_ratio, w.latency_clip)
                          if value_mode else -w.latency_weight * _minimum(latency_ratio, w.latency_clip), 0.0),
        "miss": _where(missed, -w.miss_penalty, 0.0),
        "drop": _where(lost, -w.drop_penalty, 0.0),
        "rejection": _where(rejected, -w.reject_penalty, 0.0),
        "invalid_action": _where(invalid, -w.invalid_action_penalty, 0.0),
        "energy": -w.energy_weight * energy_j / w.energy_scale_j,
    }
    if value_mode:
        if any(isinstance(x, np.ndarray) for x in (served, missed, lost)):
            met, late = np.logical_and(served, np.logical_not(missed)), np.logical_or(missed, lost)
        else:
            met, late = bool(served) and not missed, bool(missed) or bool(lost)
        terms["value"] = _where(met, value, 0.0)
        terms["sla"] = _where(late, -w.sla_penalty_fraction * value, 0.0)
    return terms


def total(terms: dict[str, Any]) -> Any:
    """The reward: the sum of the terms in their order (as the env has always summed them)."""
    return sum(terms.values())
