#!/usr/bin/env python
"""A CleanRL-style single-file PPO on an OrbitCloud id: a Gymnasium vector env, the action mask read from
``info["action_mask"]`` (int8, there at reset and every step), masked logits. No extra round trip to the
sub-envs (``envs.call("action_masks")``) and no wrapper of our own beyond Gymnasium's ``FlattenObservation``.

Needs only the core dependencies (torch, gymnasium)::

    python examples/cleanrl_ppo.py --env-id OrbitCloud-Small-v1 --total-timesteps 4096 --seed 0

The vector env runs in Gymnasium's same-step autoreset mode (``AutoresetMode.SAME_STEP``): a finished sub-env
is reset within the step, so every observation is a decision to take and the info's mask is that observation's;
the finished episode's last info is under ``info["final_info"]``. Prints per update the mean return of the episodes
that ended and the masked-out actions the env saw (``info["invalid_action"]``), which stay 0 when the mask is
honoured. A bad flag prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from agents.cli import EXIT_USAGE, OneLineParser, UsageError, prog_name, resolve_env_id  # noqa: E402

PROG = "cleanrl_ppo.py"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="CleanRL-style PPO on an OrbitCloud vector env, the mask from info.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-Small-v1", help="registered env id (OrbitCloud-*)")
    p.add_argument("--max-jobs", type=int, default=200, help="decisions per episode (episode.max_jobs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-timesteps", type=int, default=4096, help="env steps, all envs together")
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--num-steps", type=int, default=128, help="steps per env per rollout")
    p.add_argument("--learning-rate", type=float, default=2.5e-4)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--update-epochs", type=int, default=4)
    p.add_argument("--clip-coef", type=float, default=0.2)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)
    return p


def make_envs(env_id: str, num_envs: int, max_jobs: int):
    """A SyncVectorEnv of ``num_envs`` flattened OrbitCloud envs, same-step autoreset."""
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the ids

    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                        wrappers=[gym.wrappers.FlattenObservation], max_jobs=max_jobs)


def _agent(obs_dim: int, n_actions: int):
    import torch
    from torch import nn
    from torch.distributions import Categorical

    def layer(n_in: int, n_out: int, std: float = 2 ** 0.5) -> nn.Linear:
        lin = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(lin.weight, std)
        nn.init.constant_(lin.bias, 0.0)
        return lin

    class Agent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.critic = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, 1, 1.0))
            self.actor = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                       layer(64, n_actions, 0.01))

        def get_value(self, x: torch.Tensor) -> torch.Tensor:
            return self.critic(x)

        def get_action_and_value(self, x: torch.Tensor, mask: torch.Tensor, action: torch.Tensor | None = None):
            """``mask``: (B, n) bool, True where the action is valid; masked logits get -1e8 (probability 0)."""
            logits = self.actor(x).masked_fill(~mask, -1e8)
            dist = Categorical(logits=logits)
            if action is None:
                action = dist.sample()
            return action, dist.log_prob(action), dist.entropy(), self.critic(x)

    return Agent()


def _invalid(infos: dict[str, Any]) -> int:
    """Masked-out actions in one vector step: the info of running sub-envs and, for those that just finished and
    were reset, the episode's last info (``final_info``)."""
    import numpy as np

    n = 0
    for d in (infos, infos.get("final_info", {})):
        if "invalid_action" in d:
            n += int(np.asarray(d["invalid_action"])[d["_invalid_action"]].sum())
    return n


def train(args: argparse.Namespace, log: bool = True) -> dict[str, float]:
    """The PPO loop; returns the steps taken, the masked-out actions seen and the mean return of finished episodes."""
    import numpy as np
    import torch
    from torch import optim

    torch.manual_seed(args.seed)
    envs = make_envs(args.env_id, args.num_envs, args.max_jobs)
    obs_dim = int(envs.single_observation_space.shape[0])
    n_actions = int(envs.single_action_space.n)
    agent = _agent(obs_dim, n_actions)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    batch_size = args.num_envs * args.num_steps
    minibatch_size = max(1, batch_size // args.num_minibatches)
    n_updates = max(1, args.total_timesteps // batch_size)

    obs_buf = torch.zeros((args.num_steps, args.num_envs, obs_dim))
    mask_buf = torch.zeros((args.num_steps, args.num_envs, n_actions), dtype=torch.bool)
    act_buf = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)
    logp_buf, rew_buf, done_buf, val_buf = (torch.zeros((args.num_steps, args.num_envs)) for _ in range(4))

    obs, info = envs.reset(seed=args.seed)
    next_obs = torch.as_tensor(obs, dtype=torch.float32)
    next_mask = torch.as_tensor(info["action_mask"] == 1)  # int8 (num_envs, n) from info: no extra round trip
    next_done = torch.zeros(args.num_envs)
    steps = invalid = 0
    returns: list[float] = []
    episode_return = np.zeros(args.num_envs)
    start = time.perf_counter()
    for update in range(1, n_updates + 1):
        for t in range(args.num_steps):
            obs_buf[t], mask_buf[t], done_buf[t] = next_obs, next_mask, next_done
            with torch.no_grad():
                action, logp, _, value = agent.get_action_and_value(next_obs, next_mask)
            act_buf[t], logp_buf[t], val_buf[t] = action, logp, value.flatten()
            obs, reward, terminated, truncated, info = envs.step(action.numpy())
            steps += args.num_envs
            invalid += _invalid(info)
            episode_return += reward
            done = np.logical_or(terminated, truncated)
            returns.extend(episode_return[done].tolist())
            episode_return[done] = 0.0
            rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
            next_obs = torch.as_tensor(obs, dtype=torch.float32)
            next_mask = torch.as_tensor(info["action_mask"] == 1)  # the reset's mask for a sub-env just reset
            next_done = torch.as_tensor(done, dtype=torch.float32)
        with torch.no_grad():  # generalised advantage estimation
            next_value = agent.get_value(next_obs).flatten()
            adv = torch.zeros_like(rew_buf)
            last = torch.zeros(args.num_envs)
            for t in reversed(range(args.num_steps)):
                not_done = 1.0 - (next_done if t == args.num_steps - 1 else done_buf[t + 1])
                nxt = next_value if t == args.num_steps - 1 else val_buf[t + 1]
                delta = rew_buf[t] + args.gamma * nxt * not_done - val_buf[t]
                last = delta + args.gamma * args.gae_lambda * not_done * last
                adv[t] = last
            ret = adv + val_buf
        b_obs, b_mask = obs_buf.reshape(batch_size, obs_dim), mask_buf.reshape(batch_size, n_actions)
        b_act, b_logp = act_buf.reshape(-1), logp_buf.reshape(-1)
        b_adv, b_ret = adv.reshape(-1), ret.reshape(-1)
        for _ in range(args.update_epochs):
            for idx in torch.randperm(batch_size).split(minibatch_size):
                _, logp, entropy, value = agent.get_action_and_value(b_obs[idx], b_mask[idx], b_act[idx])
                ratio = (logp - b_logp[idx]).exp()
                mb_adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio,
                                    -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                v_loss = 0.5 * ((value.flatten() - b_ret[idx]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
        if log:
            recent = f"{np.mean(returns[-10:]):.3f}" if returns else "n/a"
            print(f"update {update}/{n_updates}: steps={steps} episodes={len(returns)} return_mean(last 10)={recent} "
                  f"invalid_actions={invalid} ({steps / (time.perf_counter() - start):.0f} steps/s)", flush=True)
    envs.close()
    return {"steps": float(steps), "invalid_actions": float(invalid), "episodes": float(len(returns)),
            "return_mean": float(np.mean(returns)) if returns else float("nan"),
            "masked_out_seen": float((~mask_buf).any(-1).sum())}


def check_args(args: argparse.Namespace) -> None:
    for flag, value, low in (("--max-jobs", args.max_jobs, 1), ("--total-timesteps", args.total_timesteps, 1),
                             ("--num-envs", args.num_envs, 1), ("--num-steps", args.num_steps, 1),
                             ("--num-minibatches", args.num_minibatches, 1), ("--update-epochs", args.update_epochs, 1),
                             ("--seed", args.seed, 0)):
        if value < low:
            raise UsageError(f"{flag}: must be >= {low}, got {value}")
    if not args.learning_rate > 0:
        raise UsageError(f"--learning-rate: must be > 0, got {args.learning_rate}")
    resolve_env_id(args.env_id, flag="--env-id")


def main(argv: Sequence[str] | None = None) -> int:
    prog = prog_name(PROG, argv)
    args = build_parser(prog).parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    s = train(args)
    print(f"PPO on {args.env_id}: {s['steps']:.0f} steps, {s['episodes']:.0f} episodes, "
          f"{s['invalid_actions']:.0f} masked-out actions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
