#!/usr/bin/env python
"""Train skrl's PPO on an OrbitCloud id with masked logits, no glue code: the env is wrapped in
``ActionMaskInObservation`` (``{"action_mask", "observations"}``), skrl flattens that ``Dict`` observation into one
tensor, and the policy model takes it apart again with skrl's own ``unflatten_tensorized_space`` and sets the
logits of masked-out actions to -1e8 (probability 0), in sampling and in the PPO update alike.

Needs the ``clients`` extra (``pip install torch==2.13.0 && pip install -e ".[clients]" torch==2.13.0``; tested with
skrl 2.1.1)::

    python examples/skrl_ppo.py --env-id OrbitCloud-Small-v1 --timesteps 1024 --num-envs 4 --seed 0

``--timesteps`` counts vector steps (skrl's trainer timesteps), so the env steps are ``timesteps x num_envs``.
After training, the policy samples ``--eval-timesteps`` more vector steps and prints the masked-out actions the
env saw (``info["invalid_action"]``), which stay 0 when the mask is honoured. A bad flag prints one line on
stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from agents.cli import EXIT_USAGE, OneLineParser, UsageError, prog_name, resolve_env_id  # noqa: E402

PROG = "skrl_ppo.py"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="skrl PPO on an OrbitCloud env, masked logits.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--env-id", default="OrbitCloud-Small-v1", help="registered env id (OrbitCloud-*)")
    p.add_argument("--max-jobs", type=int, default=200, help="decisions per episode (episode.max_jobs)")
    p.add_argument("--num-envs", type=int, default=4, help="sub-envs of the Gymnasium vector env")
    p.add_argument("--timesteps", type=int, default=1024, help="training vector steps (env steps / num-envs)")
    p.add_argument("--rollouts", type=int, default=64, help="vector steps per PPO update")
    p.add_argument("--eval-timesteps", type=int, default=100, help="vector steps sampled after training")
    p.add_argument("--seed", type=int, default=0)
    return p


def make_env(env_id: str, num_envs: int, max_jobs: int):
    """The skrl-wrapped Gymnasium vector env (same-step autoreset) of ActionMaskInObservation envs; call
    ``skrl.utils.set_seed`` first (the wrapper's first reset takes that seed)."""
    import gymnasium as gym
    from skrl.envs.wrappers.torch import wrap_env

    import orbitcloud_env  # noqa: F401 - registers the ids
    from orbitcloud_env.wrappers import ActionMaskInObservation

    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                        wrappers=[ActionMaskInObservation], max_jobs=max_jobs)
    return wrap_env(envs, wrapper="gymnasium")  # resets once with skrl's seed (``skrl.utils.set_seed``)


def _models(env, device: str):
    from skrl.models.torch import CategoricalMixin, DeterministicMixin, Model
    from skrl.utils.spaces.torch import unflatten_tensorized_space
    from torch import nn

    obs_space = env.observation_space  # Dict({"action_mask", "observations"})
    obs_dim = obs_space["observations"].shape[0]
    n_actions = int(env.action_space.n)

    class Policy(CategoricalMixin, Model):
        def __init__(self) -> None:
            Model.__init__(self, observation_space=obs_space, action_space=env.action_space, device=device)
            CategoricalMixin.__init__(self, unnormalized_log_prob=True)
            self.net = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                                     nn.Linear(64, n_actions))

        def compute(self, inputs: dict[str, Any], role: str = ""):
            obs = unflatten_tensorized_space(self.observation_space, inputs["observations"])
            logits = self.net(obs["observations"])
            return logits.masked_fill(obs["action_mask"] < 0.5, -1e8), {}

    class Value(DeterministicMixin, Model):
        def __init__(self) -> None:
            Model.__init__(self, observation_space=obs_space, action_space=env.action_space, device=device)
            DeterministicMixin.__init__(self)
            self.net = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                                     nn.Linear(64, 1))

        def compute(self, inputs: dict[str, Any], role: str = ""):
            obs = unflatten_tensorized_space(self.observation_space, inputs["observations"])
            return self.net(obs["observations"]), {}

    return {"policy": Policy(), "value": Value()}


def _invalid(infos: dict[str, Any]) -> int:
    """Masked-out actions in one vector step (running sub-envs, and the last step of those just reset)."""
    import numpy as np

    n = 0
    for d in (infos, infos.get("final_info", {})):
        if "invalid_action" in d:
            n += int(np.asarray(d["invalid_action"])[d["_invalid_action"]].sum())
    return n


def train(env_id: str = "OrbitCloud-Small-v1", max_jobs: int = 200, num_envs: int = 4, timesteps: int = 1024,
          rollouts: int = 64, eval_timesteps: int = 100, seed: int = 0, log_dir: str | None = None
          ) -> dict[str, float]:
    """Train, then sample ``eval_timesteps`` vector steps with the stochastic policy; the figures printed."""
    import numpy as np
    import torch
    from skrl.agents.torch.ppo import PPO, PPO_CFG
    from skrl.memories.torch import RandomMemory
    from skrl.trainers.torch import SequentialTrainer
    from skrl.utils import set_seed

    set_seed(seed)
    env = make_env(env_id, num_envs, max_jobs)
    device = "cpu"
    models = _models(env, device)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = PPO_CFG(rollouts=rollouts, learning_epochs=4, mini_batches=4, learning_rate=3e-4,
                      entropy_loss_scale=0.01)
        cfg.experiment.directory = log_dir or tmp
        cfg.experiment.write_interval = 0  # no TensorBoard files
        cfg.experiment.checkpoint_interval = 0
        agent = PPO(models=models, memory=RandomMemory(memory_size=rollouts, num_envs=num_envs, device=device),
                    observation_space=env.observation_space, action_space=env.action_space, device=device, cfg=cfg)
        trainer = SequentialTrainer(env=env, agents=agent, cfg={"timesteps": timesteps, "headless": True,
                                                                "disable_progressbar": True,
                                                                "close_environment_at_exit": False})
        trainer.train()
        # Sample with the trained policy (stochastic, as in training) and count masked-out actions.
        agent.enable_training_mode(False, apply_to_models=True)
        observations, _ = env.reset()
        invalid = episodes = masked = 0
        with torch.no_grad():
            for t in range(eval_timesteps):
                actions, _ = agent.act(observations, None, timestep=t, timesteps=eval_timesteps)
                observations, _, terminated, truncated, infos = env.step(actions)
                invalid += _invalid(infos)
                masked += int((np.asarray(infos["action_mask"]) == 0).any(axis=1).sum())
                episodes += int(np.logical_or(terminated.cpu().numpy(), truncated.cpu().numpy()).sum())
    env.close()
    return {"train_env_steps": float(timesteps * num_envs), "eval_env_steps": float(eval_timesteps * num_envs),
            "eval_invalid_actions": float(invalid), "eval_episodes_ended": float(episodes),
            "eval_masked_steps": float(masked)}


def check_args(args: argparse.Namespace) -> None:
    for flag, value, low in (("--max-jobs", args.max_jobs, 1), ("--num-envs", args.num_envs, 1),
                             ("--timesteps", args.timesteps, 1), ("--rollouts", args.rollouts, 4),
                             ("--eval-timesteps", args.eval_timesteps, 1), ("--seed", args.seed, 0)):
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
        import skrl  # noqa: F401
    except ImportError:
        print(f"{prog}: error: skrl is not installed; pip install -e \".[clients]\" torch==2.13.0", file=sys.stderr)
        return 1
    s = train(args.env_id, args.max_jobs, args.num_envs, args.timesteps, args.rollouts, args.eval_timesteps,
              args.seed)
    print(f"skrl PPO on {args.env_id}: {s['train_env_steps']:.0f} training env steps; then "
          f"{s['eval_env_steps']:.0f} sampled env steps ({s['eval_episodes_ended']:.0f} episodes ended), "
          f"{s['eval_invalid_actions']:.0f} masked-out actions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
