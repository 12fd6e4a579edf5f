"""Digest of full episodes of every registered id: proves a refactor leaves episodes bit-identical.

For each id and seed, one masked-random episode and one earliest-finish episode are run (each truncated at
``--max-jobs`` decisions); every observation array, reward and info (JSON, sorted keys; without ``action_mask``, a function of the observation)
is hashed with SHA-256.
Print the digests before and after a change and compare (``diff``): identical lines mean identical episodes.

Usage:
    python benchmarks/episode_digests.py [--ids OrbitCloud-v0 ...] [--seeds 0 1] [--max-jobs 300] > before.txt
"""

from __future__ import annotations

import argparse
import hashlib
import json

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401  (registers the ids)


def _finish_action(obs: dict, mask: np.ndarray) -> int:
    finish = obs["node_latency"].astype(np.float64) + obs["node_wait"] + obs["node_compute"]
    finish = np.where(mask[:-1], finish, np.inf)
    return int(np.argmin(finish)) if np.isfinite(finish).any() else len(mask) - 1


def episode_digest(env_id: str, seed: int, policy: str, max_jobs: int, drop_metrics: tuple[str, ...] = (),
                   **kwargs) -> str:
    env = gym.make(env_id, max_jobs=max_jobs, **kwargs)
    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    obs, info = env.reset(seed=seed)
    done = False
    while True:
        # info["action_mask"] is left out: it is the observation's mask (hashed through node_valid), and digests made
        # before it was added stay comparable. Numbers in info are numpy scalars (np.float64, a float subclass, and
        # np.int64) or 0-d bool arrays: json writes them as it wrote the Python floats, ints and bools they replace.
        info = {k: v for k, v in info.items() if k != "action_mask"}
        if drop_metrics and "episode_metrics" in info:  # compare with digests made before a metric was added
            info = {**info, "episode_metrics": {k: v for k, v in info["episode_metrics"].items()
                                                if k not in drop_metrics}}
        for k in sorted(obs):
            h.update(k.encode())
            h.update(np.ascontiguousarray(obs[k]).tobytes())
        h.update(json.dumps(info, sort_keys=True, default=lambda v: np.asarray(v).tolist()).encode())
        if done:
            break
        mask = env.unwrapped.action_masks()
        if policy == "random":
            action = int(rng.choice(np.flatnonzero(mask)))
        else:
            action = _finish_action(obs, mask)
        obs, reward, terminated, truncated, info = env.step(action)
        h.update(np.float64(reward).tobytes())
        done = terminated or truncated
    env.close()
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ids", nargs="*", default=None, help="env ids (default: every registered OrbitCloud id)")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--max-jobs", type=int, default=300)
    p.add_argument("--drop-metrics", nargs="*", default=[],
                   help="episode_metrics keys left out of the digest (to compare with digests made before they "
                        "were added)")
    args = p.parse_args()
    ids = args.ids or sorted(k for k in gym.registry if k.startswith("OrbitCloud"))
    for env_id in ids:
        for seed in args.seeds:
            for policy in ("random", "earliest-finish"):
                print(env_id, seed, policy, episode_digest(env_id, seed, policy, args.max_jobs, tuple(args.drop_metrics)), flush=True)


if __name__ == "__main__":
    main()
