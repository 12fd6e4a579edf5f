"""Steps per second of every registered OrbitCloud id under a random policy, against a trivial env.

The trivial env has the same observation and action spaces and returns a precomputed observation, wrapped in the
same Gymnasium wrappers as ``gymnasium.make`` (order enforcing, passive checker): its rate is the floor of what any
env with these spaces could reach through this API, so ``ratio = orbitcloud / trivial``.

The random policy draws uniformly from the action space (masked-out actions are handled as rejections, which is the
cheapest path, so this also reports the share of valid actions). Memory: peak resident set size is printed, and
``--memory-steps`` runs that many steps (episodes reset as in training) on OrbitCloud-Small-v0 printing RSS at checkpoints to show it stays flat.

Usage:
    python benchmarks/env_throughput.py [--steps 20000] [--ids OrbitCloud-Small-v0 ...] [--memory-steps 1000000]
    python benchmarks/env_throughput.py --ids OrbitCloud-Mega-v0 --presets giga starlink2026
    python benchmarks/env_throughput.py --ids OrbitCloud-Starlink2026-v2 --walker-twin

``--walker-twin`` follows each catalogue id with its Walker twin (same scenario, full Walker shells of the inferred
structure): the same-size comparison for a catalogue's speed.

``--presets`` also runs presets that have no registered id yet (orbitcloud_env/presets/<name>.yaml, candidates
mode, wrapped as ``gymnasium.make`` wraps: order enforcing and the passive checker); ``make s`` is then the time to
build the env and reset it once (for a catalogue: parse and infer the structure, as a first load in a process does).

Run it pinned to one core for the per-core figures: ``taskset -c 0 python benchmarks/env_throughput.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker

import orbitcloud_env  # noqa: F401  (registers the ids)


class TrivialEnv(gym.Env):
    """Same spaces as a given env; returns one precomputed observation and zero reward."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, horizon: int) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self._obs = observation_space.sample()
        self._horizon = horizon
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action):
        self._t += 1
        return self._obs, 0.0, False, self._t >= self._horizon, {}


def _rss_mb() -> float:
    """Current resident set size [MB] (Linux /proc), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(env: gym.Env, steps: int, seed: int) -> tuple[float, float]:
    """(steps per second, share of valid actions) over ``steps`` random steps (resets included)."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.action_space.n, size=steps)
    unwrapped = env.unwrapped
    has_mask = hasattr(unwrapped, "action_masks")
    valid = 0
    t0 = time.perf_counter()
    for a in actions:
        if has_mask:
            valid += bool(unwrapped._mask[a])  # noqa: SLF001 - read without copying, not timed separately
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
    dt = time.perf_counter() - t0
    return steps / dt, valid / steps


def _is_catalogue(env_id: str) -> bool:
    from orbitcloud_env.config import load_config

    preset = gym.spec(env_id).kwargs.get("preset")
    return preset is not None and load_config(preset).constellation.tle_path is not None


def walker_twin(env_id: str):
    """The env of ``env_id`` (a catalogue scenario, 1,000 jobs per episode) with its constellation replaced by full
    Walker shells of the inferred structure: per meshed shell, its planes x median satellites per plane at its median
    altitude and inclination (delta when the planes close a ring, else a 180 deg star), at the catalogue's epoch."""
    import dataclasses

    from orbitcloud_env.config import ShellConfig
    from orbitcloud_env.env import OrbitCloudEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(env_id, max_jobs=1000).unwrapped
    cons = env.sim.constellation
    shells = [ShellConfig(planes=info.planes, sats_per_plane=info.sats_per_plane,
                          altitude_km=round(float(info.altitude_km), 1),
                          inclination_deg=round(float(info.inclination_deg), 2), phasing=1,
                          raan_spread_deg=360.0 if info.closed_seam else 180.0)
              for info in cons.shells if info is not None and getattr(info, "meshable", False) and info.planes > 0]
    first = shells[0]
    twin = dataclasses.replace(
        env.config.constellation, tle_path=None, planes=first.planes, sats_per_plane=first.sats_per_plane,
        altitude_km=first.altitude_km, inclination_deg=first.inclination_deg, phasing=1,
        raan_spread_deg=first.raan_spread_deg, extra_shells=tuple(shells[1:]),
        epoch_utc=cons.epoch.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return OrbitCloudEnv(config=dataclasses.replace(env.config, constellation=twin))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="timed steps per env id")
    parser.add_argument("--ids", nargs="*", default=None, help="env ids (default: every registered OrbitCloud id)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="*", default=[],
                        help="preset names or YAML stems of orbitcloud_env/presets to run as candidates-mode envs")
    parser.add_argument("--walker-twin", action="store_true",
                        help="after each id whose constellation is a catalogue, run its Walker twin: the same scenario "
                             "with the inferred shells built as full Walker shells (same planes, median satellites per "
                             "plane, altitude, inclination), the same-size comparison of issue 11")
    parser.add_argument("--memory-steps", type=int, default=0,
                        help="also run this many steps on OrbitCloud-Small-v0 and print RSS at checkpoints")
    args = parser.parse_args()
    ids = args.ids if args.ids is not None else sorted(i for i in gym.registry if i.startswith("OrbitCloud"))
    if args.ids is None and args.presets:
        ids = []
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# machine: {platform.processor() or platform.machine()}, os.cpu_count()={os.cpu_count()}, "
          f"cores usable by this process={affinity}, python {platform.python_version()}, numpy {np.__version__}")
    print(f"# {args.steps} random steps per id (uniform over the action space; episodes of 1,000 jobs)")
    print(f"{'env id':24s} {'nodes':>6s} {'actions':>7s} {'make s':>7s} {'steps/s':>9s} {'trivial/s':>10s} "
          f"{'ratio':>6s} {'valid':>6s}")
    runs = [(env_id, None) for env_id in ids] + [(f"preset:{name}", name) for name in args.presets]
    if args.walker_twin:
        runs = [r for env_id, preset in runs for r in ([(env_id, preset)] + (
            [(f"{env_id} Walker twin", env_id)] if preset is None and _is_catalogue(env_id) else []))]
    for env_id, preset in runs:
        t0 = time.perf_counter()
        if preset is None:
            env = gym.make(env_id, max_jobs=1000)
        elif env_id.endswith(" Walker twin"):
            env = PassiveEnvChecker(OrderEnforcing(walker_twin(preset)))
            env.reset(seed=args.seed)
        else:
            try:
                from benchmarks.network import preset_config
            except ImportError:  # run as a script: benchmarks/ itself is on sys.path
                from network import preset_config
            from orbitcloud_env.env import OrbitCloudEnv

            cfg = preset_config(preset, {"action_mode": "candidates", "max_jobs": 1000})
            env = PassiveEnvChecker(OrderEnforcing(OrbitCloudEnv(config=cfg)))
            env.reset(seed=args.seed)
        make_s = time.perf_counter() - t0
        _run(env, min(2000, args.steps), args.seed)  # warm-up: first topology buckets, caches
        rate, valid = _run(env, args.steps, args.seed + 1)
        trivial = PassiveEnvChecker(OrderEnforcing(TrivialEnv(env.observation_space, env.action_space, 1000)))
        with warnings.catch_warnings():  # it returns one shared observation object on purpose (the floor)
            warnings.simplefilter("ignore")
            trivial_rate, _ = _run(trivial, args.steps, args.seed)
        print(f"{env_id:24s} {env.unwrapped.sim.n_nodes:6d} {env.action_space.n:7d} {make_s:7.2f} {rate:9.0f} "
              f"{trivial_rate:10.0f} {rate / trivial_rate:6.3f} {valid:6.2f}")
        env.close()
    print(f"# peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.memory_steps:
        env = gym.make("OrbitCloud-Small-v0")  # episodes of the preset's length, reset as training does
        env.reset(seed=args.seed)
        rng = np.random.default_rng(args.seed)
        n = env.action_space.n
        checkpoints = {int(args.memory_steps * f) for f in (0.01, 0.25, 0.5, 0.75)} | {args.memory_steps}
        t0 = time.perf_counter()
        for i in range(1, args.memory_steps + 1):
            if env.step(int(rng.integers(n)))[3]:
                env.reset()
            if i in checkpoints:
                print(f"# memory: step {i:>9d}  RSS {_rss_mb():7.1f} MB  ({i / (time.perf_counter() - t0):.0f} "
                      f"steps/s)")
        print(f"# peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
