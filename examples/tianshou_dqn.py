#!/usr/bin/env python
"""Train Tianshou's DQN on an OrbitCloud id with the action mask, no glue code: the env is wrapped in
``ActionMaskInObservation(obs_key="obs", mask_key="mask", dtype=np.int8)``, the ``{"obs", "mask"}`` layout that
Tianshou's Q-learning policy reads (it hands ``obs.obs`` to the network and pushes masked actions' Q-values below
the smallest one, in greedy and in epsilon-random actions alike).

Needs the ``clients`` extra (``pip install torch==2.13.0 && pip install -e ".[clients]" torch==2.13.0``; tested with
tianshou 2.0.1)::

    python examples/tianshou_dqn.py --env-id OrbitCloud-Small-v1 --steps 3000 --seed 0

Prints the training steps, the mean return of a few greedy test episodes and the masked-out actions the env saw
(``info["invalid_action"]``) in training and test, which stay 0 when the mask is honoured. A bad flag prints one
line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from agents.cli import EXIT_USAGE, OneLineParser, UsageError, prog_name, resolve_env_id  # noqa: E402

PROG = "tianshou_dqn.py"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="Tianshou DQN on an OrbitCloud env, action mask honoured.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-Small-v1", help="registered env id (OrbitCloud-*)")
    p.add_argument("--max-jobs", type=int, default=200, help="decisions per episode (episode.max_jobs)")
    p.add_argument("--steps", type=int, default=3000, help="training env steps (all envs together)")
    p.add_argument("--n-envs", type=int, default=2, help="training envs (Tianshou's DummyVectorEnv)")
    p.add_argument("--test-episodes", type=int, default=2, help="greedy test episodes after training")
    p.add_argument("--seed", type=int, default=0, help="seed of torch, the envs and the exploration")
    return p


def make_env(env_id: str, max_jobs: int):
    """The OrbitCloud env in Tianshou's masked layout: ``obs["obs"]`` (flattened float32), ``obs["mask"]`` (int8)."""
    import gymnasium as gym
    import numpy as np

    import orbitcloud_env  # noqa: F401 - registers the ids
    from orbitcloud_env.wrappers import ActionMaskInObservation

    return ActionMaskInObservation(gym.make(env_id, max_jobs=max_jobs), obs_key="obs", mask_key="mask",
                                   dtype=np.int8)


def _q_network(obs_dim: int, n_actions: int):
    import torch
    from torch import nn

    class QNet(nn.Module):
        """Q-values of every action from the flattened observation (Tianshou passes ``obs.obs`` here)."""

        def __init__(self) -> None:
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(obs_dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                     nn.Linear(128, n_actions))

        def forward(self, obs: Any, state: Any = None, info: Any = None):
            return self.mlp(torch.as_tensor(obs, dtype=torch.float32)), state

    return QNet()


def train(env_id: str = "OrbitCloud-Small-v1", max_jobs: int = 200, steps: int = 3000, n_envs: int = 2,
          test_episodes: int = 2, seed: int = 0, verbose: bool = False) -> dict[str, float]:
    """Train DQN for ``steps`` env steps, then run greedy test episodes; the figures :func:`main` prints."""
    import numpy as np
    import torch
    from tianshou.algorithm import DQN
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.trainer import OffPolicyTrainerParams

    torch.manual_seed(seed)
    probe = make_env(env_id, max_jobs)
    obs_dim = probe.observation_space["obs"].shape[0]
    n_actions = int(probe.action_space.n)
    probe.close()
    train_envs = DummyVectorEnv([lambda: make_env(env_id, max_jobs) for _ in range(n_envs)])
    test_envs = DummyVectorEnv([lambda: make_env(env_id, max_jobs)])
    train_envs.seed(seed)
    test_envs.seed(seed + 10_000)
    policy = DiscreteQLearningPolicy(model=_q_network(obs_dim, n_actions), action_space=probe.action_space,
                                     observation_space=probe.observation_space, eps_training=0.1,
                                     eps_inference=0.0)
    algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.99, n_step_return_horizon=1,
                    target_update_freq=200)
    # Room for every step (its info is counted below). No ``collect(random=True)`` warm-up: Tianshou samples those
    # actions from the action space, without the mask; epsilon-greedy exploration does honour it.
    buffer = VectorReplayBuffer(steps + 64 * n_envs, n_envs)
    train_collector = Collector(algorithm, train_envs, buffer, exploration_noise=True)
    train_collector.reset()
    algorithm.run_training(OffPolicyTrainerParams(
        training_collector=train_collector, max_epochs=1, epoch_num_steps=steps, collection_step_num_env_steps=64,
        batch_size=64, update_step_num_gradient_steps_per_sample=0.25, test_collector=None,
        verbose=verbose, show_progress=verbose))
    stored = buffer.info
    train_invalid = int(np.asarray(stored.invalid_action[: len(buffer)], dtype=bool).sum())
    # Greedy test episodes, each step's info checked for a masked-out action.
    test_collector = Collector(algorithm, test_envs, VectorReplayBuffer(test_episodes * max_jobs + 1, 1))
    test_collector.reset()
    stats = test_collector.collect(n_episode=test_episodes)
    test_buffer = test_collector.buffer
    test_invalid = int(np.asarray(test_buffer.info.invalid_action[: len(test_buffer)], dtype=bool).sum())
    masked = int((np.asarray(buffer.obs.mask[: len(buffer)]) == 0).any(axis=1).sum())  # steps with a masked action
    train_envs.close()
    test_envs.close()
    return {"train_steps": float(len(buffer)), "train_invalid_actions": float(train_invalid),
            "test_episodes": float(stats.n_collected_episodes), "test_return_mean": float(stats.returns.mean()),
            "test_steps": float(len(test_buffer)), "test_invalid_actions": float(test_invalid),
            "train_masked_steps": float(masked)}


def check_args(args: argparse.Namespace) -> None:
    for flag, value, low in (("--max-jobs", args.max_jobs, 1), ("--steps", args.steps, 64),
                             ("--n-envs", args.n_envs, 1),
                             ("--test-episodes", args.test_episodes, 1), ("--seed", args.seed, 0)):
        if value < low:
            raise UsageError(f"{flag}: must be >= {low}, got {value}")
    resolve_env_id(args.env_id, flag="--env-id")


def main(argv: Sequence[str] | None = None) -> int:
    prog = prog_name(PROG, argv)
    args = build_parser(prog).parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        import tianshou  # noqa: F401
    except ImportError:
        print(f"{prog}: error: tianshou is not installed; pip install -e \".[clients]\" torch==2.13.0",
              file=sys.stderr)
        return 1
    s = train(args.env_id, args.max_jobs, args.steps, args.n_envs, args.test_episodes, args.seed)
    print(f"DQN on {args.env_id}: {s['train_steps']:.0f} training steps stored, "
          f"{s['train_invalid_actions']:.0f} masked-out actions; {s['test_episodes']:.0f} greedy test episodes "
          f"({s['test_steps']:.0f} steps): mean return {s['test_return_mean']:.3f}, "
          f"{s['test_invalid_actions']:.0f} masked-out actions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
