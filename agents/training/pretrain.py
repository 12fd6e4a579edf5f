"""Warm start: behaviour cloning of a heuristic into a policy before reinforcement learning (``train.py --pretrain``).

PPO from a random policy spends most of a short budget relearning what ``earliest-finish`` already knows (which row
finishes first). Cloning a heuristic first, then fine-tuning with PPO, starts the search at the heuristic's return;
the same idea as the supervised warm starts of learned schedulers. The value head is fitted to the heuristic's
discounted returns at the same time, so PPO's first advantages are meaningful.

Works with any SB3 actor-critic policy whose ``evaluate_actions`` gives log-probabilities (PPO, A2C, MaskablePPO; for
MaskablePPO the env's action masks are applied).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["collect_demonstrations", "pretrain_policy"]


def collect_demonstrations(vec_env: Any, heuristic: Any, n_steps: int) -> dict[str, Any]:
    """Run ``heuristic`` on ``vec_env`` for ``n_steps`` decisions in all; return observations, masks, actions,
    rewards and episode-start flags, each with a leading (T, n_envs) shape."""
    from sb3_contrib.common.maskable.utils import get_action_masks

    n_envs = vec_env.num_envs
    obs = vec_env.reset()
    steps = max(1, n_steps // n_envs)
    obs_buf: dict[str, list] = {k: [] for k in obs}
    masks, actions, rewards, dones = [], [], [], []
    starts = np.ones(n_envs, dtype=bool)
    for _ in range(steps):
        m = get_action_masks(vec_env)
        a, _ = heuristic.predict(obs, episode_start=starts, action_masks=m)
        for k, v in obs.items():
            obs_buf[k].append(np.asarray(v).copy())
        masks.append(m)
        actions.append(np.asarray(a, dtype=np.int64))
        obs, r, d, _ = vec_env.step(np.asarray(a))
        rewards.append(np.asarray(r, dtype=np.float64))
        dones.append(np.asarray(d, dtype=bool))
        starts = dones[-1]
    return {"obs": {k: np.stack(v) for k, v in obs_buf.items()}, "masks": np.stack(masks),
            "actions": np.stack(actions), "rewards": np.stack(rewards), "dones": np.stack(dones)}


def _discounted_returns(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    out = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * running * (~dones[t])
        out[t] = running
    return out


def soft_targets(values: np.ndarray, actions: np.ndarray, temperature: float) -> np.ndarray:
    """(B, A) target distributions: softmax(values / temperature) over each row's finite values (the actions the
    expert tried; agents/training/distill.py), one-hot on the taken action where a row has fewer than two."""
    finite = np.isfinite(values)
    z = np.where(finite, values / temperature, -np.inf)
    z = z - np.max(np.where(finite, z, -np.inf), axis=1, keepdims=True, initial=-np.inf)
    with np.errstate(invalid="ignore"):
        p = np.where(finite, np.exp(z), 0.0)
        p = p / p.sum(axis=1, keepdims=True)
    one_hot = np.zeros_like(values, dtype=np.float64)
    one_hot[np.arange(actions.size), actions] = 1.0
    return np.where((finite.sum(axis=1) >= 2)[:, None], p, one_hot)


def pretrain_policy(model: Any, demos: dict[str, Any], *, epochs: int = 5, batch_size: int = 512,
                    learning_rate: float = 1e-3, temperature: float = 0.0, seed: int = 0,
                    verbose: int = 1) -> dict[str, float]:
    """Fit ``model.policy`` to the demonstrations: cross-entropy on the actions plus the value head's squared error
    on the discounted returns (``model.gamma``). Returns the final losses and the action agreement [0, 1].

    ``temperature`` > 0 (reward units; demonstrations with ``values``, e.g. the lookahead's): the cross-entropy
    is taken against softmax(rollout value / temperature) over the actions the expert tried instead of its
    chosen action, so the policy learns how much better each candidate was, not only which one won on that
    seed's future (the expected value given the observation is what a policy without the future can act on)."""
    import torch as th

    policy = model.policy
    T, n = demos["actions"].shape
    flat = {k: v.reshape(T * n, *v.shape[2:]) for k, v in demos["obs"].items()}
    actions = demos["actions"].reshape(-1)
    masks = demos["masks"].reshape(T * n, -1)
    returns = _discounted_returns(demos["rewards"], demos["dones"], float(model.gamma)).reshape(-1)
    targets = None
    if temperature > 0:
        if "values" not in demos:
            raise ValueError("temperature > 0 needs demonstrations with 'values' (the lookahead's)")
        targets = soft_targets(demos["values"].reshape(T * n, -1).astype(np.float64), actions, temperature)
    optimiser = th.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng(seed)
    masked = "action_masks" in policy.evaluate_actions.__code__.co_varnames
    stats: dict[str, float] = {}
    policy.set_training_mode(True)
    for epoch in range(epochs):
        order = rng.permutation(actions.shape[0])
        total_pi = total_v = 0.0
        for start in range(0, order.size, batch_size):
            idx = order[start:start + batch_size]
            loss_pi, loss_v = _batch_losses(policy, flat, actions, masks if masked else None, returns, targets, idx)
            loss = loss_pi + 0.5 * loss_v
            optimiser.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            optimiser.step()
            total_pi += loss_pi.item() * idx.size
            total_v += loss_v.item() * idx.size
        stats = {"bc_loss": total_pi / order.size, "value_loss": total_v / order.size}
        if verbose:
            print(f"pretrain epoch {epoch + 1}/{epochs}: action NLL {stats['bc_loss']:.4f}, "
                  f"value MSE {stats['value_loss']:.3f}", flush=True)
    policy.set_training_mode(False)
    stats["agreement"] = _agreement(policy, flat, actions, masks if masked else None, rng)
    if verbose:
        print(f"pretrain: greedy action agrees with the demonstrations on {stats['agreement']:.1%} of decisions",
              flush=True)
    return stats


def _batch_losses(policy: Any, flat: dict[str, np.ndarray], actions: np.ndarray, masks: np.ndarray | None,
                  returns: np.ndarray, targets: np.ndarray | None, idx: np.ndarray) -> tuple[Any, Any]:
    """(action loss, value loss) on the rows ``idx``: the cross-entropy on the expert's actions, or against the
    soft ``targets`` when given; the value head's squared error on the returns. ``masks``: None for a policy
    without action masks."""
    import torch as th

    obs_t = {k: th.as_tensor(v[idx], device=policy.device) for k, v in flat.items()}
    act_t = th.as_tensor(actions[idx], device=policy.device)
    kwargs = {"action_masks": masks[idx]} if masks is not None else {}
    if targets is None:
        values, log_prob, _ = policy.evaluate_actions(obs_t, act_t, **kwargs)
        loss_pi = -log_prob.mean()
    else:  # the whole distribution is needed: one actor pass, one critic pass (not evaluate_actions too)
        log_p = policy.get_distribution(obs_t, **kwargs).distribution.logits
        values = policy.predict_values(obs_t)
        tgt = th.as_tensor(targets[idx], dtype=log_p.dtype, device=policy.device)
        loss_pi = -(tgt * log_p.clamp(min=-1e4)).sum(dim=1).mean()
    ret_t = th.as_tensor(returns[idx], dtype=values.dtype, device=policy.device)
    loss_v = th.nn.functional.mse_loss(values.flatten(), ret_t)
    return loss_pi, loss_v


def _agreement(policy: Any, flat: dict[str, np.ndarray], actions: np.ndarray, masks: np.ndarray | None,
               rng: np.random.Generator) -> float:
    """The fraction of (up to 4096 sampled) decisions where the policy's greedy action is the expert's."""
    import torch as th

    with th.no_grad():
        idx = rng.choice(actions.shape[0], size=min(4096, actions.shape[0]), replace=False)
        obs_t = {k: th.as_tensor(v[idx], device=policy.device) for k, v in flat.items()}
        kwargs = {"action_masks": masks[idx]} if masks is not None else {}
        dist = policy.get_distribution(obs_t, **kwargs)
        greedy = dist.distribution.probs.argmax(dim=1).cpu().numpy()
    return float(np.mean(greedy == actions[idx]))
