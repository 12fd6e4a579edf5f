"""Design check of the v2 objective: does any fixed admission rule win on every load regime?

Runs a few fixed, observation-only rules on low, medium and high load versions of a value-objective id
(``OrbitCloud-v2`` by default: the configured arrival rate times 0.5, 1 and 2, with the per-episode demand level
fixed at 1 so that each regime is what it says) and prints each rule's mean episode return per regime, its gap to
the best rule of that regime, and the rules that stay within ``--tolerance`` of the best on every regime. The issue's
design goal (issue 20) is that none does: the best admission depends on the load.

Rules:
- ``admit-all``: the earliest estimated finish, never rejecting a job a node can take (``earliest-finish``);
- ``earliest-finish-admit``: the same, rejecting a job whose earliest finish misses its deadline;
- ``shed-batch``: ``earliest-finish-admit``, rejecting every batch job;
- ``class-threshold-<t>``: ``earliest-finish-admit``, rejecting a batch job whose earliest finish exceeds ``t``
  deadlines (the class rule of issue 20, t = 0.2 there);
- ``tuned-admit`` when the heuristics registry has it (agents/acting/heuristics.py, issue 20 part B).

Usage:
    python benchmarks/objective_check.py [--env OrbitCloud-v2] [--seeds 900 901 902] [--max-time-s 300]

Episodes are short (``--max-time-s`` of simulated time) so that the check takes minutes on two cores; seeds
900.. are outside the training (0..) and README test (1000..) ranges.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np

import orbitcloud_env  # noqa: F401  (registers the ids)
from agents.heuristics import HEURISTICS, EarliestFinishAdmitPolicy, EarliestFinishPolicy, _finish_time
from orbitcloud_env.observation import N_JOB_BASE_FEATURES

#: Load regimes: name -> multiplier of the configured arrival rate.
REGIMES: dict[str, float] = {"low": 0.5, "medium": 1.0, "high": 2.0}


class ClassThresholdPolicy(EarliestFinishAdmitPolicy):
    """``earliest-finish-admit`` that also rejects a job of class ``job_class`` whose earliest estimated finish
    exceeds ``threshold`` deadlines (``threshold`` 0: every job of the class; the class is read from the job
    features' one-hot)."""

    def __init__(self, job_class: int, threshold: float) -> None:
        super().__init__()
        self.job_class, self.threshold = job_class, float(threshold)
        self.name = "shed-batch" if threshold == 0 else f"class-threshold-{threshold:g}"

    def _act(self, obs, valid, episode_start):
        actions = super()._act(obs, valid, episode_start)
        n_rows = valid.shape[1]
        finish = _finish_time(obs)
        placed = actions < n_rows
        best = np.where(placed, finish[np.arange(len(actions)), np.minimum(actions, n_rows - 1)], np.inf)
        of_class = obs["job"][:, N_JOB_BASE_FEATURES + self.job_class] > 0.5
        shed = of_class & placed & (best > self.threshold) if self.threshold > 0 else of_class
        return np.where(shed, n_rows, actions).astype(np.int64)


def make_rules(class_names: tuple[str, ...], thresholds: list[float]) -> list[Any]:
    """The rules of the module docstring for a scenario with these job classes (batch: the class named 'batch')."""
    if "batch" not in class_names:
        raise SystemExit(f"--env: the scenario has no 'batch' job class (classes: {', '.join(class_names)})")
    batch = class_names.index("batch")
    admit_all = EarliestFinishPolicy()
    admit_all.name = "admit-all"
    rules: list[Any] = [admit_all, EarliestFinishAdmitPolicy(), ClassThresholdPolicy(batch, 0.0)]
    rules += [ClassThresholdPolicy(batch, t) for t in thresholds]
    if "tuned-admit" in HEURISTICS:
        rules.append(HEURISTICS["tuned-admit"]())
    return rules


def run_episode(env: gym.Env, policy: Any, seed: int) -> tuple[float, int, dict[str, float], dict[str, dict]]:
    """One episode: (return, steps, final episode metrics, per job class the sum of each reward term)."""
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    terms: dict[str, dict[str, float]] = {}
    while True:
        action, _ = policy.predict(obs, action_masks=env.unwrapped.action_masks())
        obs, reward, terminated, truncated, info = env.step(int(action))
        total += float(reward)
        steps += 1
        by_class = terms.setdefault(info["job_class"], {})
        for name, value in info["rewards"].items():
            by_class[name] = by_class.get(name, 0.0) + value
        if terminated or truncated:
            return total, steps, info["episode_metrics"], terms


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="OrbitCloud-v2", help="a value-objective id (default: OrbitCloud-v2)")
    p.add_argument("--seeds", nargs="+", type=int, default=[900, 901, 902])
    p.add_argument("--max-time-s", type=float, default=300.0, help="[s] simulated time per episode (default 300)")
    p.add_argument("--thresholds", nargs="*", type=float, default=[0.2, 0.5],
                   help="batch thresholds of the class-threshold rules [deadlines] (default 0.2 0.5)")
    p.add_argument("--tolerance", type=float, default=0.05, help="gap to the best counted as a tie (default 0.05)")
    p.add_argument("--dump", default=None,
                   help="also write one JSON line per episode (regime, rule, seed, return, per-class sums of the reward "
                        "terms) to this file: the value terms scale with each class's price, so another price list's "
                        "returns follow without re-running")
    args = p.parse_args(argv)
    if args.env not in gym.registry:
        raise SystemExit(f"--env: unknown id {args.env!r}")
    if not args.max_time_s > 0 or not 0 <= args.tolerance < 1:
        raise SystemExit("--max-time-s must be > 0 and --tolerance in [0, 1)")
    probe = gym.make(args.env, max_time_s=args.max_time_s)
    cfg = probe.unwrapped.config
    if cfg.reward.objective != "value":
        raise SystemExit(f"--env: {args.env} does not use the value objective (reward.objective "
                         f"{cfg.reward.objective!r})")
    rate = cfg.workload.arrival_rate_per_s
    rules = make_rules(tuple(c.name for c in cfg.workload.job_classes), args.thresholds)
    print(f"{args.env}: {len(args.seeds)} seeds {args.seeds}, {args.max_time_s:g} s episodes, episode level fixed at "
          f"1; regimes = arrival rate x {', '.join(f'{k} {v:g}' for k, v in REGIMES.items())}")
    means: dict[str, dict[str, float]] = {}
    #: (regime, seed) -> realised arrival rate [jobs/s] (the job stream is the policy's exogenous input: the same
    #: for every rule on one regime and seed).
    load: dict[tuple[str, int], float] = {}
    returns: dict[tuple[str, int], dict[str, float]] = {}
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None  # noqa: SIM115 - closed below
    for regime, mult in REGIMES.items():
        env = gym.make(args.env, max_time_s=args.max_time_s, episode_level_sigma=0.0,
                       arrival_rate_per_s=rate * mult)
        means[regime] = {}
        for rule in rules:
            t0 = time.perf_counter()
            results = [run_episode(env, rule, s) for s in args.seeds]
            wall = time.perf_counter() - t0
            for s, r in zip(args.seeds, results):
                load.setdefault((regime, s), r[1] / max(r[2]["elapsed_s"], 1e-9))
                returns.setdefault((regime, s), {})[rule.name] = r[0]
                if dump is not None:
                    dump.write(json.dumps({"env": args.env, "regime": regime, "multiplier": mult, "rule": rule.name,
                                           "seed": s, "return": r[0], "max_time_s": args.max_time_s,
                                           "jobs_per_s": load[(regime, s)], "terms_by_class": r[3]}) + "\n")
            if dump is not None:
                dump.flush()
            rets = np.array([r[0] for r in results])
            steps = sum(r[1] for r in results)
            earned = np.mean([r[2]["value_earned_share"] for r in results])
            means[regime][rule.name] = float(rets.mean())
            per_seed = ", ".join(f"{x:.0f}" for x in rets)
            print(f"  {regime:>6} {rule.name:>22}: return {rets.mean():9.1f} (seeds {per_seed})"
                  f"  value earned {100 * earned:5.1f} %  {steps / wall:6.0f} steps/s", flush=True)
        env.close()
    if dump is not None:
        dump.close()
    names = [r.name for r in rules]
    print("\nmean return per regime (arrival-rate multiplier), gap to the regime's best rule:")
    within = _gap_table(means, names, args.tolerance)
    print(f"rules within {100 * args.tolerance:g} % of the best on every regime: "
          f"{', '.join(within) if within else 'none'}")
    # The realised load of an episode also follows its time of day and its quiet / normal / peak regimes, so the
    # multiplier is a coarse label: the same episodes again, in terciles of their realised arrival rate.
    order = sorted(load, key=load.get)
    thirds = [order[i * len(order) // 3:(i + 1) * len(order) // 3] for i in range(3)]
    by_load: dict[str, dict[str, float]] = {}
    for label, group in zip(("light", "busy", "heavy"), thirds):
        if not group:
            continue
        key = f"{label} {load[group[0]]:.1f}-{load[group[-1]]:.1f}/s"
        by_load[key] = {n: float(np.mean([returns[g][n] for g in group])) for n in names}
    print(f"\nthe same {len(order)} episodes in terciles of their realised arrival rate [jobs/s]:")
    within_load = _gap_table(by_load, names, args.tolerance)
    print(f"rules within {100 * args.tolerance:g} % of the best on every load tercile: "
          f"{', '.join(within_load) if within_load else 'none'}")


def _gap_table(means: dict[str, dict[str, float]], names: list[str], tolerance: float) -> list[str]:
    """Print each rule's mean return per group and its gap to the group's best; return the rules within
    ``tolerance`` of the best in every group."""
    print(f"{'rule':>22} " + " ".join(f"{k:>22}" for k in means))
    within = []
    for name in names:
        cells, ok = [], True
        for group in means:
            best = max(means[group].values())
            gap = (best - means[group][name]) / abs(best) if best else 0.0
            ok &= gap <= tolerance
            cells.append(f"{means[group][name]:9.1f} ({-100 * gap:+5.1f}%)")
        within += [name] if ok else []
        print(f"{name:>22} " + " ".join(f"{c:>22}" for c in cells))
    return within

if __name__ == "__main__":
    main()
