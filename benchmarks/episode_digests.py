"""Digest of full episodes of every registered id: proves a refactor leaves episodes bit-identical.

For each id and seed, one masked-random episode and one earliest-finish episode are run (each truncated at
``--max-jobs`` decisions); every observation array, reward and info (JSON, sorted keys; without ``action_mask``, a function of the observation)
is hashed with SHA-256.
Print the digests before and after a change and compare (``diff``): identical lines mean identical episodes.
Info keys in ``IGNORED_INFO_KEYS`` (``action_mask``: a copy of the mask, which the observation already determines)
are left out of the digest.

``--write FILE`` stores short-episode digests (``STORED_*`` below) of every registered id, or of ``--ids`` merged into
what FILE holds, as JSON; ``tests/integration/test_episode_digests.py`` checks the ids of
``tests/data/episode_digests.json`` against it on every test run, so that a change to an existing id's episodes fails
until the id's version is bumped (Gymnasium's rule).

Usage:
    python benchmarks/episode_digests.py [--ids OrbitCloud-v0 ...] [--seeds 0 1] [--max-jobs 300] > before.txt
    python benchmarks/episode_digests.py --write tests/data/episode_digests.json [--ids OrbitCloud-Small-v2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401  (registers the ids)
from agents.heuristics import estimated_finish

#: Info keys left out of every digest: ``action_mask`` repeats ``env.action_masks()``, which the episode determines.
IGNORED_INFO_KEYS: tuple[str, ...] = ("action_mask",)
#: The stored digests' episodes: short (a few seconds for all ids on one core), one seed, both policies.
STORED_MAX_JOBS = 150
STORED_SEEDS: tuple[int, ...] = (0,)
POLICIES: tuple[str, ...] = ("random", "earliest-finish")
#: episode_metrics keys left out of the stored digests (compare like the project's digest check,
#: ``--drop-metrics elapsed_s``).
STORED_DROP_METRICS: tuple[str, ...] = ("elapsed_s",)


def _finish_action(obs: dict, mask: np.ndarray) -> int:
    finish = np.where(mask[:-1], estimated_finish(obs), np.inf)
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
        info = {k: v for k, v in info.items() if k not in IGNORED_INFO_KEYS}
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


def registered_ids() -> list[str]:
    """Every registered OrbitCloud id, sorted."""
    return sorted(k for k in gym.registry if k.startswith("OrbitCloud"))


def stored_digests(env_id: str) -> dict[str, str]:
    """``{"<seed>/<policy>": digest}`` of one id's short episodes (the ``STORED_*`` settings)."""
    return {f"{seed}/{policy}": episode_digest(env_id, seed, policy, STORED_MAX_JOBS, STORED_DROP_METRICS)
            for seed in STORED_SEEDS for policy in POLICIES}


def stored_settings() -> dict:
    return {"max_jobs": STORED_MAX_JOBS, "seeds": list(STORED_SEEDS), "policies": list(POLICIES),
            "drop_metrics": list(STORED_DROP_METRICS), "ignored_info_keys": list(IGNORED_INFO_KEYS)}


def write_stored(path: Path, ids: list[str] | None) -> None:
    """Compute the stored digests of ``ids`` (None: every registered id) and merge them into ``path`` (written to a
    temporary file, then renamed)."""
    data = {"settings": stored_settings(), "digests": {}}
    if path.exists() and ids is not None:
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("settings") != data["settings"]:
            raise SystemExit(f"{path}: stored with other settings {old.get('settings')}; rewrite every id "
                             f"(--write without --ids)")
        data["digests"] = old["digests"]
    for env_id in ids or registered_ids():
        data["digests"][env_id] = stored_digests(env_id)
        print(env_id, data["digests"][env_id], flush=True)
    data["digests"] = dict(sorted(data["digests"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ids", nargs="*", default=None, help="env ids (default: every registered OrbitCloud id)")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--max-jobs", type=int, default=300)
    p.add_argument("--drop-metrics", nargs="*", default=[],
                   help="episode_metrics keys left out of the digest (to compare with digests made before they "
                        "were added)")
    p.add_argument("--write", type=Path, default=None, metavar="FILE",
                   help="store the short-episode digests (fixed settings: --seeds, --max-jobs and --drop-metrics do "
                        "not apply) of --ids, or of every registered id, in FILE (JSON), e.g. "
                        "tests/data/episode_digests.json")
    args = p.parse_args()
    unknown = sorted(set(args.ids or ()) - set(registered_ids()))
    if unknown:
        p.error(f"--ids: not registered: {', '.join(unknown)} (registered: {', '.join(registered_ids())})")
    if args.write is not None:
        write_stored(args.write, args.ids or None)
        return
    for env_id in args.ids or registered_ids():
        for seed in args.seeds:
            for policy in POLICIES:
                digest = episode_digest(env_id, seed, policy, args.max_jobs, tuple(args.drop_metrics))
                print(env_id, seed, policy, digest, flush=True)


if __name__ == "__main__":
    main()
