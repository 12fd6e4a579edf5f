"""How often ``kill -9`` during training leaves a checkpoint, best model or evaluation log that does not load.

Run from the repository root:

    python -m benchmarks.kill_checkpoints [--runs 8] [--net 512] [--code-root .] [--work /tmp/kill9]

Each run starts ``train.py`` (PPO on OrbitCloud-Small-v0, a checkpoint every 32 steps, an evaluation every 64, a
``[net, net]`` network: the bigger it is, the longer each save and the likelier a kill lands in one), waits for the
third checkpoint, waits a random 0-1.5 s (seeded) and sends SIGKILL. Then every kept ``.zip`` (loaded with
Stable-Baselines3's ``PPO.load``) and ``evaluations.npz`` is opened; hidden temporary files are not counted.
``--code-root`` points at the checkout whose train.py runs (e.g. an export of an older commit, to compare).
Prints each run's unloadable files and the totals.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--net", type=int, default=512, help="hidden units of each of the two layers")
    p.add_argument("--code-root", default=".", help="checkout whose train.py is run")
    p.add_argument("--work", default="kill9_runs", help="folder for the runs (logs/ goes under it)")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill delays")
    args = p.parse_args()

    import numpy as np
    from stable_baselines3 import PPO

    warnings.filterwarnings("ignore")
    root, work = Path(args.code_root).resolve(), Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONWARNINGS="ignore")
    flags = ["--algo", "ppo", "--env", "OrbitCloud-Small-v0", "--seed", "0", "--n-envs", "1", "--env-kwargs",
             "max_jobs:20", "--hyperparams", "n_steps:32", "batch_size:32", "n_epochs:1",
             f"policy_kwargs:dict(net_arch=[{args.net}, {args.net}])", "--verbose", "0", "-n", "10000000",
             "--save-freq", "32", "--eval-freq", "64", "--eval-episodes", "1"]
    rng = random.Random(args.seed)
    bad_runs = bad_files = total = 0
    base = work / "logs" / "ppo"
    first = 1 + max((int(d.name.rsplit("_", 1)[1]) for d in base.glob("OrbitCloud-Small-v0_*")), default=0)
    for n in range(first, first + args.runs):
        run_dir = base / f"OrbitCloud-Small-v0_{n}"
        proc = subprocess.Popen([sys.executable, str(root / "train.py"), *flags], cwd=work, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(list(run_dir.glob("rl_model_*_steps.zip"))) < 3:
            if proc.poll() is not None:
                sys.exit(f"train.py exited with status {proc.returncode} before its third checkpoint")
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        broken = []
        for f in sorted(run_dir.iterdir()):
            if f.name.startswith(".") or f.suffix not in (".zip", ".npz"):
                continue
            total += 1
            try:
                if f.suffix == ".zip":
                    PPO.load(f, device="cpu")
                else:
                    with np.load(f) as log:
                        log["timesteps"]
            except Exception:  # noqa: BLE001 - any failure to load counts
                broken.append(f"{f.name} ({f.stat().st_size} B)")
        bad_runs += bool(broken)
        bad_files += len(broken)
        print(f"run {n}: unloadable: {', '.join(broken) or 'none'}", flush=True)
    print(f"{root}: {bad_runs} of {args.runs} runs left an unloadable file ({bad_files} of {total} files)")


if __name__ == "__main__":
    main()
