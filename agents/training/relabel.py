"""Denoised admission labels for distillation (``python -m agents.distill relabel``).

Description:
    ``lookahead-admit`` (agents/acting/lookahead.py) labels each planned batch job with the rollout value of its two
    choices, place and reject, each followed by ``tuned-admit`` for 60 s of the episode's *realised* arrivals. One
    realised future is one sample: the value gap (place minus reject) has a median of a few value units and a heavy
    negative tail (a surge that the admitted job blocks), so a student fitted to those labels, hard or soft, learns
    mostly noise (docs/training.md, "OrbitCloud-v2"). This module replaces the labels of planned decisions by an
    estimate of the *expected* gap given what the policy can see:

    1. Summary features of each planned decision, all read from the observation (:data:`FEATURES`): the job's work,
       the recent global and regional arrival rates, the rate trend and the 600 s rate, the episode's progress, the
       placement row's estimated finish, utilisation, backlog, wait, compute time and whether it is a data centre,
       and the mean utilisation, backlog and queue over the valid rows.
    2. A small regressor of the realised gap on those features (a 32-32 tanh MLP, mean squared error, so that it
       estimates the conditional *mean*, tail included), fitted by K-fold cross-fitting: every decision's estimate
       comes from a model that never saw that decision's own realised future.
    3. New labels: where the recent global arrival rate is below ``max_global_rate`` the values become
       ``(estimate - margin, 0)`` for (place, reject); above it, the prior's decision (``tuned-admit``) with value
       ``PRIOR_VALUE`` against 0. The cut exists because a 60 s rollout cannot see what a batch job admitted in a
       surge costs: the queues it lengthens outlast the rollout, and the estimates there stay positive while
       admitting loses (training seed 309: a 3x surge at 340 s; docs/training.md). ``margin`` (value units) asks for
       a clear expected gain before overturning the prior.

    Unplanned decisions keep their recorded action (``values`` all NaN: hard targets). ``train.py --pretrain-demos
    FILE --pretrain-temperature T`` then fits the policy to softmax(values / T).

Reference for the cross-fitting: V. Chernozhukov et al., "Double/debiased machine learning for treatment and
structural parameters", The Econometrics Journal 21 (2018), section 3 (sample splitting).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["FEATURES", "PRIOR_VALUE", "admission_features", "relabel_admission"]

#: Names of the summary features (job features by the observation's names; ``row.*`` of the placement row;
#: ``mean.*`` over the valid rows; ``valid_share`` the share of valid rows).
FEATURES = ("job.work", "job.global_rate", "job.region_rate", "job.progress", "job.rate_trend", "job.long_rate",
            "row.node_finish", "row.node_utilisation", "row.node_backlog", "row.node_wait", "row.node_compute",
            "row.node_is_ground", "mean.node_utilisation", "mean.node_backlog", "mean.node_queue", "valid_share")
#: [value units] label value of the prior's decision where the rollouts are not trusted (vs 0 for the other).
PRIOR_VALUE = 10.0


def _job_index(groups: Sequence[str], n_job: int) -> dict[str, int]:
    from orbitcloud_env.observation import extra_job_features

    layout = extra_job_features(groups)
    base = n_job - len(layout)
    index = {name: base + i for i, name in enumerate(layout)}
    missing = [n for n in ("global_rate", "region_rate", "progress", "rate_trend", "long_rate") if n not in index]
    if missing:
        raise ValueError(f"relabel needs the observation groups load, progress and trend (missing job features "
                         f"{missing}; recorded groups {list(groups)})")
    index["work"] = 0
    return index


def admission_features(obs: Mapping[str, np.ndarray], place: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """(N, len(FEATURES)) float32 summary features of N observations (arrays with a leading N) whose placement row
    is ``place`` (N,)."""
    job = np.asarray(obs["job"])
    index = _job_index(groups, job.shape[1])
    r = np.arange(job.shape[0])
    valid = np.asarray(obs["node_valid"]) > 0.5
    n_valid = np.maximum(valid.sum(axis=1), 1)
    cols = []
    for name in FEATURES:
        kind, _, key = name.partition(".")
        if kind == "job":
            cols.append(job[:, index[key]])
        elif kind == "row":
            cols.append(np.asarray(obs[key])[r, place])
        elif kind == "mean":
            cols.append((np.asarray(obs[key]) * valid).sum(axis=1) / n_valid)
        else:
            cols.append(valid.mean(axis=1))
    return np.stack(cols, axis=1).astype(np.float32)


def _fit_regressor(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> Any:
    """A 32-32 tanh MLP fitted to ``y`` by mean squared error (Adam, lr 3e-3, weight decay 1e-4, batches of 256)."""
    import torch as th

    gen = th.Generator().manual_seed(int(seed))
    with th.random.fork_rng(devices=[]):  # seeded initialisation without moving the caller's global generator
        th.manual_seed(int(seed))
        net = th.nn.Sequential(th.nn.Linear(x.shape[1], 32), th.nn.Tanh(), th.nn.Linear(32, 32), th.nn.Tanh(),
                               th.nn.Linear(32, 1))
    opt = th.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    xt, yt = th.as_tensor(x), th.as_tensor(y, dtype=th.float32)
    for _ in range(epochs):
        perm = th.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 256):
            b = perm[i:i + 256]
            loss = th.nn.functional.mse_loss(net(xt[b]).squeeze(-1), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def cross_fitted_gaps(x: np.ndarray, gap: np.ndarray, *, folds: int = 5, seed: int = 0,
                      epochs: int = 60) -> np.ndarray:
    """Out-of-fold estimates of E[gap | x]: ``folds`` random folds, each predicted by a regressor fitted on the
    others (inputs standardised on those others)."""
    import torch as th

    if folds < 2 or folds > len(gap):
        raise ValueError(f"folds: must be in [2, {len(gap)}] (the planned decisions), got {folds}")
    fold = np.random.default_rng(seed).permutation(len(gap)) % folds
    out = np.empty(len(gap))
    for k in range(folds):
        train, test = fold != k, fold == k
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
        net = _fit_regressor((x[train] - mu) / sd, gap[train], seed + k, epochs)
        with th.no_grad():
            out[test] = net(th.as_tensor((x[test] - mu) / sd)).squeeze(-1).numpy()
    return out


def _planned(values: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of planned admissions (exactly two finite values, one of them reject) and their placement action."""
    finite = np.isfinite(values)
    planned = (finite.sum(axis=1) == 2) & finite[:, n_rows]
    place = np.argmax(finite[:, :n_rows], axis=1)
    return np.flatnonzero(planned), place


def relabel_admission(demos: Mapping[str, Any], meta: Mapping[str, Any], *, max_global_rate: float = 0.3,
                      margin: float = 1.0, folds: int = 5, seed: int = 0, epochs: int = 60) -> tuple[dict, dict]:
    """``(demos, report)``: ``demos`` (recorded by ``lookahead-admit``) with the values of planned decisions replaced
    as the module docstring says; ``report`` counts the decisions relabelled and the estimates' quality."""
    from agents.acting.heuristics import TunedAdmitPolicy

    if not (max_global_rate > 0 and np.isfinite(max_global_rate)):
        raise ValueError(f"max_global_rate: must be a finite number > 0, got {max_global_rate!r}")
    if not np.isfinite(margin):
        raise ValueError(f"margin: must be a finite number of value units, got {margin!r}")
    if "values" not in demos:
        raise ValueError("relabel needs demonstrations with rollout values (collected with lookahead-admit)")
    shape = demos["actions"].shape
    values = demos["values"].reshape(shape[0] * shape[1], -1).astype(np.float64)
    obs = {k: v.reshape(shape[0] * shape[1], *v.shape[2:]) for k, v in demos["obs"].items()}
    n_rows = values.shape[1] - 1
    rows, place_all = _planned(values, n_rows)
    if len(rows) < folds:
        raise ValueError(f"relabel: {len(rows)} planned admissions in the file, fewer than folds={folds}")
    sub = {k: v[rows] for k, v in obs.items()}
    place = place_all[rows]
    gap = values[rows, place] - values[rows, n_rows]
    x = admission_features(sub, place, meta["groups"])
    estimate = cross_fitted_gaps(x, gap, folds=folds, seed=seed, epochs=epochs)
    prior = np.asarray(TunedAdmitPolicy(env_id=str(meta["env_id"])).predict(sub)[0]).reshape(-1)
    trusted = x[:, FEATURES.index("job.global_rate")] < max_global_rate
    new = np.full((len(rows), values.shape[1]), np.nan)
    r = np.arange(len(rows))
    new[r, place] = np.where(trusted, estimate - margin, np.where(prior == n_rows, 0.0, PRIOR_VALUE))
    new[r, n_rows] = np.where(trusted, 0.0, np.where(prior == n_rows, PRIOR_VALUE, 0.0))
    values[rows] = new
    out = {**demos, "values": values.reshape(demos["values"].shape).astype(np.float32)}
    report = {"planned": int(len(rows)), "trusted": int(trusted.sum()),
              "admit_trusted": int((estimate[trusted] > margin).sum()),
              "corr_estimate_gap": float(np.corrcoef(estimate, gap)[0, 1]),
              "realised_gain_vs_prior": float(np.sum(gap * ((np.where(trusted, estimate > margin, prior != n_rows))
                                                             .astype(float) - (prior != n_rows))))}
    return out, report
