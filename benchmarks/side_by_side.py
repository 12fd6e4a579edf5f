"""Single-env steps per second of this checkout against another (e.g. a starting commit), alternating runs.

Each run is a fresh ``python`` process, pinned to one core with ``taskset -c CORE`` when available, that imports
``orbitcloud_env`` from one tree (``PYTHONPATH``), resets the id with ``--seed`` and times ``--steps`` decisions
of masked uniform random valid actions (episodes reset as in training) after 300 untimed ones. Rounds alternate
base, this tree, base, this tree, ... so that load drifting on a shared machine hits both alike. Two rates per run:
env steps per **CPU second** of the process (``time.process_time``; steadier when other jobs share the core) and
per **wall second**. The table gives each tree's median and range over the rounds, and the ratio of the medians.
With ``--copies N`` each run steps N copies behind SB3's VecEnv API instead (env steps summed over the copies): the
batched vector env in a tree that has ``agents.vec_env`` (either layout), N single envs in a ``DummyVecEnv`` in one that has not.

Usage (base tree: ``git worktree add /tmp/base <commit>``; remove it afterwards):
    python benchmarks/side_by_side.py --base /tmp/base [--ids OrbitCloud-v1 OrbitCloud-Small-v0] [--rounds 5]
        [--steps 3000] [--core 0] [--copies 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

#: The timed loop run in each tree's process; prints "<cpu steps/s> <wall steps/s>".
_RUN = """
import sys, time, warnings
import numpy as np
import gymnasium as gym
warnings.filterwarnings("ignore")
import orbitcloud_env  # noqa: F401
env_id, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = gym.make(env_id).unwrapped
env.reset(seed=seed)
draws = np.random.default_rng(seed).random((steps + 300, env.action_space.n))
def run(first, n):
    for k in range(first, first + n):
        if env.step(int(np.argmax(draws[k] * env.action_masks())))[3]:
            env.reset()
run(0, 300)
c, w = time.process_time(), time.perf_counter()
run(300, steps)
print(steps / (time.process_time() - c), steps / (time.perf_counter() - w))
"""


#: ``--copies N``: N copies behind SB3's VecEnv API, masks through ``env_method("action_masks")`` as MaskablePPO
#: asks for them; the batched env where the tree has it (agents.vec_env), else a DummyVecEnv of N ``gym.make`` envs.
_RUN_COPIES = """
import sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
import orbitcloud_env  # noqa: F401
env_id, steps, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    from agents.vec_env import make_batched_vec_env
    venv = make_batched_vec_env(env_id, n, seed=seed)
except ImportError:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv
    venv = make_vec_env(env_id, n_envs=n, seed=seed, vec_env_cls=DummyVecEnv)
venv.reset()
rng = np.random.default_rng(seed)
def run(k):
    for _ in range(k):
        masks = np.stack(venv.env_method("action_masks"))
        venv.step(np.argmax(rng.random(masks.shape) * masks, axis=1))
run(max(300 // n, 5))
k = -(-steps // n)
c, w = time.process_time(), time.perf_counter()
run(k)
print(k * n / (time.process_time() - c), k * n / (time.perf_counter() - w))
"""


def _run(tree: Path, env_id: str, steps: int, seed: int, core: int | None, copies: int = 0) -> tuple[float, float]:
    cmd = [sys.executable, "-c", _RUN, env_id, str(steps), str(seed)]
    if copies:
        cmd = [sys.executable, "-c", _RUN_COPIES, env_id, str(steps), str(seed), str(copies)]
    if core is not None:
        cmd = ["taskset", "-c", str(core)] + cmd
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"error: run in {tree} failed: {out.stderr.strip().splitlines()[-1:]}")
    cpu, wall = (float(x) for x in out.stdout.split())
    return cpu, wall


def _cell(values: list[float]) -> str:
    return f"{np.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="side_by_side.py", description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--base", required=True, type=Path, help="the other tree (a checkout of the base commit)")
    p.add_argument("--ids", nargs="+", default=["OrbitCloud-v1", "OrbitCloud-Small-v0"], help="env ids")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per id, >= 1")
    p.add_argument("--steps", type=int, default=3000, help="timed steps per run, >= 1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--core", type=int, default=0, help="core to pin to (taskset); < 0: no pinning")
    p.add_argument("--copies", type=int, default=0,
                   help="N > 0: time N copies behind SB3's VecEnv (the batched env where a tree has agents.vec_env, "
                        "else N single envs in a DummyVecEnv) instead of one env")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 1 or args.copies < 0:
        p.error("--rounds / --steps: must be integers >= 1; --copies >= 0")
    if not (args.base / "orbitcloud_env").is_dir():
        p.error(f"--base: {args.base} holds no orbitcloud_env package")
    core = args.core if args.core >= 0 and shutil.which("taskset") else None
    here = Path(__file__).resolve().parent.parent
    print(f"# {' '.join(['python', 'benchmarks/side_by_side.py'] + (sys.argv[1:] if argv is None else argv))}")
    print(f"# load average before {'/'.join(f'{x:.2f}' for x in os.getloadavg())}; core {core}")
    rows = []
    for env_id in args.ids:
        got: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
        for _ in range(args.rounds):
            got["base"].append(_run(args.base.resolve(), env_id, args.steps, args.seed, core, args.copies))
            got["this"].append(_run(here, env_id, args.steps, args.seed, core, args.copies))
        rows.append((env_id, got))
        print(f"# {env_id}: base {got['base']}, this {got['this']}", flush=True)
    print(f"# load average after {'/'.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| env id | base steps/CPU-s | this steps/CPU-s | ratio | base steps/wall-s | this steps/wall-s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for env_id, got in rows:
        cells = []
        for k in (0, 1):
            b, t = [r[k] for r in got["base"]], [r[k] for r in got["this"]]
            cells += [_cell(b), _cell(t), f"{np.median(t) / np.median(b):.2f}x"]
        print(f"| {env_id} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
