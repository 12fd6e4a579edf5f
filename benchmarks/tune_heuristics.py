"""Tune ``tuned-admit`` (agents/acting/heuristics.py) for one env id, on tuning or training seeds only, and ship the result.

The search: Optuna's TPE sampler (multivariate, seeded with ``--sampler-seed``, trials run one after another so the
same command proposes the same trials) maximises the mean episode return of ``tuned-admit`` over ``--seeds``
(paired: every trial plays the same episodes). The space, per job class ``c`` of the env:

| parameter | range | neutral (earliest-finish-admit) |
|---|---|---|
| ``admit_threshold[c]`` [deadlines] | log-uniform [0.05, 2] | 1 |
| ``ground_bias[c]`` [deadlines] | uniform [-1, 1] | 0 |
| ``battery_reserve`` [-] | uniform [0, 0.6] | 0 |

(``backlog_cap`` is not searched: it stays off.) The first trials are fixed: the neutral parameters (so the result
is never worse than ``earliest-finish-admit`` on the tuning seeds) and issue 20's hand rule (batch admitted only when
it finishes within 0.2 deadlines). The best trial's parameters are written atomically (temporary file, then rename)
to ``agents/tuned/<env-id>.json`` (package data, read by ``tuned-admit`` for that id), with the command, seeds,
trial count and the best and neutral returns; a Markdown report goes beside it (``<env-id>.md``).

Seeds: agents/common/seeds.py defines the ranges; this script takes seeds from the tuning (2000-2999) or training (0-999)
range only and refuses a test seed (1000-1999) with a one-line error.

Usage (the shipped OrbitCloud-v1 file was made by this command; see its report)::

    python benchmarks/tune_heuristics.py --env OrbitCloud-v1 --seeds 2000-2005 --trials 24 --n-jobs 2 --journal tune.journal

Needs Optuna: ``pip install -e ".[tune]"``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from agents.cli import OneLineParser, UsageError, parse_key_values  # noqa: E402
from agents.seeds import check_tuning_seeds, parse_seed_range  # noqa: E402

PROG = "tune_heuristics.py"
#: Search ranges (see the module docstring).
THRESHOLD_RANGE = (0.05, 2.0)
BIAS_RANGE = (-1.0, 1.0)
RESERVE_RANGE = (0.0, 0.6)
#: The hand rule of issue 20: batch admitted only within 0.2 deadlines.
HAND_RULE_BATCH_THRESHOLD = 0.2

_ENV_CACHE: dict[Any, Any] = {}


def _episode_return(env_id: str, env_kwargs: tuple, classes: tuple[str, ...], params: dict[str, Any],
                    seed: int) -> float:
    """The return of one episode of ``tuned-admit`` with ``params`` (no file read) on ``reset(seed=seed)``."""
    warnings.filterwarnings("ignore", message=".*is out of date.*")
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the ids
    from agents.heuristics import TunedAdmitPolicy

    key = (env_id, env_kwargs)
    env = _ENV_CACHE.get(key)
    if env is None:
        env = _ENV_CACHE[key] = gym.make(env_id, **dict(env_kwargs))
    policy = TunedAdmitPolicy(env_id="", classes=classes, params=params)
    base = env.unwrapped
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        action, _ = policy.predict(obs, action_masks=base.action_masks())
        obs, reward, terminated, truncated, _ = env.step(int(action))
        total += float(reward)
        done = terminated or truncated
    return total


def neutral_params(classes: tuple[str, ...]) -> dict[str, Any]:
    return {"admit_threshold": {c: 1.0 for c in classes}, "ground_bias": {c: 0.0 for c in classes},
            "battery_reserve": 0.0}


def hand_rule_params(classes: tuple[str, ...]) -> dict[str, Any]:
    p = neutral_params(classes)
    if "batch" in classes:
        p["admit_threshold"]["batch"] = HAND_RULE_BATCH_THRESHOLD
    return p


def _flat(params: dict[str, Any]) -> dict[str, float]:
    """Optuna's flat names (``admit_threshold.batch``) of a parameter set, for ``enqueue_trial``."""
    out = {"battery_reserve": float(params["battery_reserve"])}
    for key in ("admit_threshold", "ground_bias"):
        for c, v in params[key].items():
            out[f"{key}.{c}"] = float(v)
    return out


def _suggest(trial: Any, classes: tuple[str, ...]) -> dict[str, Any]:
    return {
        "admit_threshold": {c: trial.suggest_float(f"admit_threshold.{c}", *THRESHOLD_RANGE, log=True)
                            for c in classes},
        "ground_bias": {c: trial.suggest_float(f"ground_bias.{c}", *BIAS_RANGE) for c in classes},
        "battery_reserve": trial.suggest_float("battery_reserve", *RESERVE_RANGE),
    }


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Tune tuned-admit for one env id on tuning/training seeds (Optuna TPE) "
                                             "and write agents/tuned/<env-id>.json.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--env", default="OrbitCloud-v1", help="registered env id")
    p.add_argument("--seeds", default="2000-2007",
                   help="episode seeds A-B (inclusive), A or A,B,C: tuning 2000-2999 or training 0-999, never "
                        "test 1000-1999")
    p.add_argument("--trials", type=int, default=40, help="Optuna trials (the first two are fixed: neutral, hand rule)")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes (episodes of a trial in parallel)")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY:VALUE",
                   help="env overrides as key:value (e.g. max_time_s:300 for shorter episodes); recorded in the file")
    p.add_argument("--journal", default=None, metavar="PATH",
                   help="Optuna journal file: every finished trial is stored there, and the same command with the "
                        "same --journal continues an interrupted search (the remaining trials; the sampler restarts "
                        "from its seed, so the sequence differs from an uninterrupted run)")
    p.add_argument("-o", "--output", default=None,
                   help="parameters file (default: agents/tuned/<env-id>.json, the package data tuned-admit reads)")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    try:
        seeds = check_tuning_seeds(parse_seed_range(args.seeds))
        if args.trials < 1:
            raise UsageError(f"--trials must be >= 1, got {args.trials}")
        if args.n_jobs < 1:
            raise UsageError(f"--n-jobs must be >= 1, got {args.n_jobs}")
        env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    except ValueError as exc:  # UsageError is a ValueError
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        import optuna
    except ImportError:
        print(f"{PROG}: error: optuna is not installed; install the 'tune' extra: pip install -e \".[tune]\"",
              file=sys.stderr)
        return 2
    from agents.cli import environment_versions, resolve_env_id
    from agents.heuristics import tuned_params_path
    from agents.io import write_text_atomic

    try:
        env_id = resolve_env_id(args.env).split(":", 1)[-1]
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    import gymnasium as gym

    probe = gym.make(env_id, **env_kwargs)
    classes = tuple(str(c) for c in probe.unwrapped.sim.job_class_names)
    probe.close()
    out = Path(args.output) if args.output else tuned_params_path(env_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    kw = tuple(sorted(env_kwargs.items()))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=args.sampler_seed, multivariate=True)
    storage = None
    if args.journal:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(str(args.journal)))
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, load_if_exists=True,
                                study_name=f"tuned-admit {env_id} seeds {args.seeds} env {sorted(env_kwargs.items())}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        study.enqueue_trial(_flat(neutral_params(classes)))
        if "batch" in classes:
            study.enqueue_trial(_flat(hand_rule_params(classes)))
    else:
        print(f"continuing: {len(done)} trials in {args.journal}", flush=True)
    per_seed: dict[int, list[float]] = {t.number: t.user_attrs["returns"] for t in done}
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=args.n_jobs, mp_context=ctx) as pool:
        def objective(trial: Any) -> float:
            params = _suggest(trial, classes)
            rets = list(pool.map(_episode_return, *zip(*[(env_id, kw, classes, params, s) for s in seeds])))
            per_seed[trial.number] = rets
            trial.set_user_attr("returns", rets)
            value = float(np.mean(rets))
            print(f"trial {trial.number:3d}: mean return {value:9.1f}  ({time.perf_counter() - t0:6.0f} s)  "
                  f"{json.dumps(trial.params)}", flush=True)
            return value

        study.optimize(objective, n_trials=max(args.trials - len(done), 0))
    wall = time.perf_counter() - t0
    best = study.best_trial
    best_params = _suggest(optuna.trial.FixedTrial(best.params), classes)
    neutral = per_seed[0]
    command = "python benchmarks/tune_heuristics.py " + " ".join(shlex.quote(a) for a in args_list)
    data = {
        "env_id": env_id,
        "classes": list(classes),
        "params": best_params,
        "tuning": {
            "command": command, "method": f"optuna {optuna.__version__} TPESampler(seed={args.sampler_seed}, "
                                          "multivariate=True)",
            "seeds": seeds, "env_kwargs": env_kwargs, "trials": args.trials, "best_trial": best.number,
            "best_mean_return": best.value, "best_returns": per_seed[best.number],
            "neutral_mean_return": float(np.mean(neutral)), "neutral_returns": neutral,
            "wall_s": round(wall, 1), "n_jobs": args.n_jobs,
            "machine": f"{platform.machine()} {platform.python_version()}, {multiprocessing.cpu_count()} cpus",
            "versions": environment_versions(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }
    write_text_atomic(out, json.dumps(data, indent=2) + "\n")
    gain = (best.value - np.mean(neutral)) / abs(np.mean(neutral)) * 100.0
    rows = sorted(study.trials, key=lambda t: -(t.value if t.value is not None else -math.inf))[:8]
    lines = [
        f"# tuned-admit for {env_id}", "",
        f"Made by `{command}` ({wall:.0f} s, {args.n_jobs} worker(s), {data['tuning']['machine']}); "
        f"{data['tuning']['method']}, {args.trials} trials, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} episodes per "
        f"trial){', env kwargs ' + str(env_kwargs) if env_kwargs else ''}.", "",
        f"Best trial {best.number}: mean return {best.value:.1f}; neutral parameters (earliest-finish-admit, trial 0) "
        f"{np.mean(neutral):.1f}: {gain:+.1f} % of |neutral| on the tuning seeds (in-sample; the test-seed "
        "comparison is in docs/evaluation.md).", "",
        "Best parameters: `" + json.dumps(best_params) + "`", "",
        "| trial | mean return | " + " | ".join(sorted(best.params)) + " |",
        "|---:|---:|" + "---:|" * len(best.params),
    ]
    for t in rows:
        lines.append(f"| {t.number} | {t.value:.1f} | " + " | ".join(f"{t.params[k]:.3f}" for k in sorted(best.params))
                     + " |")
    report = out.with_suffix(".md")
    write_text_atomic(report, "\n".join(lines) + "\n")
    print(f"best trial {best.number}: {best.value:.1f} (neutral {np.mean(neutral):.1f}, {gain:+.1f} %); wrote {out} "
          f"and {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
