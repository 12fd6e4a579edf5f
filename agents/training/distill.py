"""Distillation of a privileged planner into an observation-only policy (``train.py --pretrain lookahead``).

The ``lookahead`` reference policy (agents/acting/lookahead.py) reads the simulator: it tries a few placements of each
job and rolls the strongest heuristic forward on the episode's real future jobs. It cannot be deployed (no scheduler
knows its future arrivals), but its decisions can be learned: run it on training seeds, record the observation it
was shown and the action it took, and fit the policy network to those pairs (behaviour cloning, as
:func:`agents.training.pretrain.pretrain_policy` does for a heuristic). The learned policy then acts on observations
alone, like the heuristics it is compared with. This is the "learning from a privileged expert" recipe (e.g. D. Chen,
B. Zhou, V. Koltun, P. Krahenbuhl, "Learning by Cheating", CoRL 2019; S. Ross, G. Gordon, J. A. Bagnell, "A
Reduction of Imitation Learning and Structured Prediction to No-Regret Online Learning" (DAgger), AISTATS 2011).

The planner costs about ``n_candidates * (horizon + 1)`` env steps per decision (about 20 ms on OrbitCloud-v1 on
this project's 2-core VM), so the demonstrations are collected in worker processes, one env and one planner each.
Workers play disjoint episode seeds drawn from ``numpy.random.SeedSequence([seed, worker, episode])``, and their
data are concatenated in worker order: the same arguments give the same demonstrations whatever the scheduling.

:func:`project_demonstrations` drops observation groups from recorded data, so one collection serves an ablation
over groups (benchmarks/ablation.py): the projected observation equals what an env configured without the group
shows in the same state (tests/integration/test_distill.py checks it).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["collect_expert_demonstrations", "project_demonstrations", "episode_seed", "save_demonstrations",
           "load_demonstrations", "check_demonstrations", "merge_demonstrations", "DemonstrationsError", "main"]

#: Format tag of the files written by :func:`save_demonstrations`.
FORMAT = "orbitcloud-demonstrations-1"


class DemonstrationsError(ValueError):
    """A demonstrations file that cannot be used (missing, not ours, or recorded on other spaces)."""


def episode_seed(seed: int, worker: int, episode: int) -> int:
    """[-] the env seed of ``episode`` of ``worker`` (a 32-bit draw, disjoint in practice from evaluation seeds)."""
    return int(np.random.SeedSequence([int(seed), int(worker), int(episode)]).generate_state(1)[0])


def _make_expert(env: Any, expert: str, expert_kwargs: Mapping[str, Any], seed: int) -> Any:
    import agents
    from agents.acting.lookahead import _LOOKAHEAD_CLASSES, LOOKAHEAD_VARIANTS, LookaheadPolicy, make_lookahead

    if expert in LOOKAHEAD_VARIANTS and expert_kwargs:
        return _LOOKAHEAD_CLASSES.get(expert, LookaheadPolicy)(env=env, **dict(expert_kwargs))
    if expert in LOOKAHEAD_VARIANTS:
        return make_lookahead(expert, env=env, seed=seed)
    return agents.make_policy(expert, env=env, seed=seed)


def _collect_worker(env_id: str, env_kwargs: Mapping[str, Any], expert: str, expert_kwargs: Mapping[str, Any],
                    n_decisions: int, seed: int, worker: int, rollin: str | None = None,
                    rollin_prob: float = 1.0) -> dict[str, Any]:
    """One worker's share: ``n_decisions`` decisions of ``expert`` over consecutive episodes of its own seeds; with
    ``rollin`` (a model file), each step takes that model's action with probability ``rollin_prob`` (DAgger: the
    expert labels the states the learner visits), else the expert's."""
    import gymnasium as gym

    import agents
    import orbitcloud_env  # noqa: F401  (registers the ids in a spawned worker)

    env = gym.make(env_id, **dict(env_kwargs))
    policy = _make_expert(env, expert, expert_kwargs, seed)
    learner = agents.make_policy(rollin, env=env) if rollin is not None else None
    mix = np.random.default_rng([int(seed), int(worker), 1])
    unwrapped = env.unwrapped
    obs_buf: dict[str, list[np.ndarray]] = {}
    masks, actions, rewards, dones, values = [], [], [], [], []
    n_actions = int(env.action_space.n)
    episode = 0
    obs, _ = env.reset(seed=episode_seed(seed, worker, episode))
    for _ in range(n_decisions):
        mask = np.asarray(unwrapped.action_masks(), dtype=bool)
        action, _ = policy.predict(obs, action_masks=mask)
        for k, v in obs.items():
            obs_buf.setdefault(k, []).append(np.asarray(v, dtype=np.float32).copy())
        masks.append(mask)
        actions.append(int(action))
        row = np.full(n_actions, np.nan, dtype=np.float32)
        for a, v in getattr(policy, "last_values", {}).items():
            row[a] = v
        values.append(row)
        if learner is not None and mix.random() < rollin_prob:
            action, _ = learner.predict(obs, action_masks=mask, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(int(action))
        rewards.append(float(reward))
        dones.append(bool(terminated or truncated))
        if dones[-1]:
            episode += 1
            obs, _ = env.reset(seed=episode_seed(seed, worker, episode))
    env.close()
    if dones:
        dones[-1] = True  # the share ends here: no return flows into the next worker's data
    return {"obs": {k: np.stack(v) for k, v in obs_buf.items()}, "masks": np.stack(masks),
            "actions": np.asarray(actions, dtype=np.int64), "rewards": np.asarray(rewards, dtype=np.float64),
            "dones": np.asarray(dones, dtype=bool), "values": np.stack(values)}


def collect_expert_demonstrations(env_id: str, n_decisions: int, *, env_kwargs: Mapping[str, Any] | None = None,
                                  expert: str = "lookahead", expert_kwargs: Mapping[str, Any] | None = None,
                                  n_workers: int = 1, seed: int = 0, verbose: int = 1, rollin: str | Path | None = None,
                                  rollin_prob: float = 1.0) -> dict[str, Any]:
    """Run ``expert`` (``lookahead``, with ``expert_kwargs`` for :class:`agents.acting.lookahead.LookaheadPolicy`, or
    any name of :func:`agents.make_policy`) for ``n_decisions`` decisions in all, split over ``n_workers``
    spawn-context processes (1: this process). With ``rollin`` (a saved model), the env follows that model's action
    with probability ``rollin_prob`` at each decision and the expert's otherwise, while the expert's action is what is
    recorded: DAgger's data, the expert's labels on the states the learner reaches (Ross et al. 2011).

    Returns the layout of :func:`agents.training.pretrain.collect_demonstrations`: ``obs`` (a dict of arrays),
    ``masks``, ``actions``, ``rewards`` and ``dones``, each with a leading ``(T, 1)`` shape (the workers' data one after
    the other; each worker's last decision is marked done), plus ``values`` (T, 1, n_actions): the lookahead's
    rollout value of each action it tried (NaN for the others; all NaN for other experts), the soft targets of
    :func:`agents.training.pretrain.pretrain_policy` with a ``temperature``.
    """
    if n_decisions < 1:
        raise ValueError(f"n_decisions: must be >= 1, got {n_decisions}")
    if n_workers < 1:
        raise ValueError(f"n_workers: must be >= 1, got {n_workers}")
    n_workers = min(n_workers, n_decisions)
    shares = [n_decisions // n_workers + (1 if w < n_decisions % n_workers else 0) for w in range(n_workers)]
    if not 0.0 <= rollin_prob <= 1.0:
        raise ValueError(f"rollin_prob: must be in [0, 1], got {rollin_prob}")
    rollin = None if rollin is None else str(rollin)
    args = [(env_id, dict(env_kwargs or {}), expert, dict(expert_kwargs or {}), shares[w], seed, w, rollin,
             float(rollin_prob)) for w in range(n_workers)]
    if n_workers == 1:
        parts = [_collect_worker(*args[0])]
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            parts = list(pool.map(_collect_worker, *zip(*args)))
    keys = parts[0]["obs"].keys()
    demos = {"obs": {k: np.concatenate([p["obs"][k] for p in parts])[:, None] for k in keys}}
    for name in ("masks", "actions", "rewards", "dones", "values"):
        demos[name] = np.concatenate([p[name] for p in parts])[:, None]
    if verbose:
        print(f"collected {demos['actions'].shape[0]} decisions of {expert} in {n_workers} worker(s)", flush=True)
    return demos


def project_demonstrations(demos: Mapping[str, Any], from_groups: Sequence[str],
                           to_groups: Sequence[str]) -> dict[str, Any]:
    """``demos`` recorded with observation groups ``from_groups``, as an env with ``to_groups`` (a subset, in the
    same relative order) would have shown them: the dropped groups' node keys and job features are removed."""
    from orbitcloud_env.observation import GROUP_NODE_KEYS, extra_job_features

    missing = [g for g in to_groups if g not in from_groups]
    if missing:
        raise ValueError(f"to_groups: {missing} were not recorded (recorded groups: {list(from_groups)})")
    kept_order = [g for g in from_groups if g in to_groups]
    if kept_order != list(to_groups):
        raise ValueError(f"to_groups: must keep the recorded order {kept_order}, got {list(to_groups)}")
    dropped = [g for g in from_groups if g not in to_groups]
    drop_keys = {key for g in dropped for key, _ in GROUP_NODE_KEYS[g]}
    obs = {k: v for k, v in demos["obs"].items() if k not in drop_keys}
    layout_from, layout_to = extra_job_features(from_groups), extra_job_features(to_groups)
    job = demos["obs"]["job"]
    n_base = job.shape[-1] - len(layout_from)
    keep = list(range(n_base)) + [n_base + layout_from.index(name) for name in layout_to]
    obs["job"] = job[..., keep]
    return {**demos, "obs": obs}


def save_demonstrations(path: str | Path, demos: Mapping[str, Any], *, env_id: str, groups: Sequence[str],
                        expert: str) -> Path:
    """Write ``demos`` to ``path`` (a ``.npz`` without pickled objects; written to a temporary file, then renamed),
    with the env id, the observation groups it was recorded with and the expert's name."""
    from agents.common.io import atomic_path

    path = Path(path)
    arrays = {f"obs/{k}": v for k, v in demos["obs"].items()}
    arrays.update({k: demos[k] for k in ("masks", "actions", "rewards", "dones", "values") if k in demos})
    meta = {"format": FORMAT, "env_id": env_id, "groups": list(groups), "expert": expert}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, __meta__=np.array(json.dumps(meta)), **arrays)
    return path


def load_demonstrations(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(demos, meta)`` from a file of :func:`save_demonstrations`; DemonstrationsError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DemonstrationsError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            if meta.get("format") != FORMAT:
                raise DemonstrationsError(f"{path} is not an OrbitCloud demonstrations file (format "
                                          f"{meta.get('format')!r}, expected {FORMAT!r})")
            demos: dict[str, Any] = {"obs": {k[4:]: data[k] for k in data.files if k.startswith("obs/")}}
            for k in ("masks", "actions", "rewards", "dones"):
                demos[k] = data[k]
            if "values" in data.files:
                demos["values"] = data["values"]
    except DemonstrationsError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DemonstrationsError(f"{path} is not an OrbitCloud demonstrations file ({exc})") from None
    n = demos["actions"].shape[:2]
    if len(n) != 2 or any(v.shape[:2] != n for v in (*demos["obs"].values(), demos["masks"], demos["rewards"],
                                                      demos["dones"])):
        raise DemonstrationsError(f"{path}: arrays of different lengths")
    return demos, meta


def check_demonstrations(demos: Mapping[str, Any], observation_space: Any, n_actions: int) -> None:
    """DemonstrationsError unless ``demos`` fit the env's Dict observation space and ``n_actions`` actions."""
    spaces = observation_space.spaces
    if set(demos["obs"]) != set(spaces):
        raise DemonstrationsError(f"observation keys differ from the env's: recorded {sorted(demos['obs'])}, env "
                                  f"{sorted(spaces)}")
    for k, space in spaces.items():
        if demos["obs"][k].shape[2:] != space.shape:
            raise DemonstrationsError(f"observation {k!r}: recorded shape {demos['obs'][k].shape[2:]}, env "
                                      f"{space.shape}")
    if demos["masks"].shape[2:] != (n_actions,) or demos["actions"].max(initial=0) >= n_actions:
        raise DemonstrationsError(f"actions: recorded for {demos['masks'].shape[2:]} actions, env has {n_actions}")


def merge_demonstrations(paths: Sequence[str | Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(demos, meta)`` of several files of :func:`save_demonstrations` one after the other; DemonstrationsError
    when they were recorded on different ids, observation groups or experts."""
    parts = [load_demonstrations(p) for p in paths]
    meta = parts[0][1]
    for path, (_, other) in zip(paths[1:], parts[1:]):
        if {k: other.get(k) for k in ("env_id", "groups", "expert")} != {k: meta.get(k) for k in
                                                                          ("env_id", "groups", "expert")}:
            raise DemonstrationsError(f"{path}: recorded with {other.get('expert')} on {other.get('env_id')} "
                                      f"{other.get('groups')}, {paths[0]} with {meta.get('expert')} on "
                                      f"{meta.get('env_id')} {meta.get('groups')}")
    demos: dict[str, Any] = {"obs": {k: np.concatenate([d["obs"][k] for d, _ in parts]) for k in parts[0][0]["obs"]}}
    for name in ("masks", "actions", "rewards", "dones", "values"):
        if all(name in d for d, _ in parts):
            demos[name] = np.concatenate([d[name] for d, _ in parts])
    return demos, meta


def _parser() -> Any:
    from agents.common.cli import OneLineParser

    p = OneLineParser(prog="python -m agents.distill", description="Collect a privileged planner's decisions into a "
                      ".npz for train.py --pretrain-demos (collect), relabel lookahead-admit's with estimates of the "
                      "expected gain (relabel), or join such files (merge).")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="run the expert on training episodes and save its decisions")
    c.add_argument("--env", default="OrbitCloud-v2", help="env id")
    c.add_argument("--expert", default="lookahead-admit", help="a lookahead variant or a heuristic's name")
    c.add_argument("--decisions", type=int, default=12_000, help="decisions in all (split over the workers)")
    c.add_argument("--workers", type=int, default=2, help="worker processes")
    c.add_argument("--seed", type=int, default=0, help="episode seeds are drawn from (seed, worker, episode)")
    c.add_argument("--rollin", default=None, metavar="MODEL",
                   help="DAgger: the env follows this model's actions (the expert's are recorded)")
    c.add_argument("--rollin-prob", type=float, default=1.0, help="with --rollin: probability of the model's action")
    c.add_argument("-o", "--output", required=True, help="the .npz to write")
    r = sub.add_parser("relabel", help="replace lookahead-admit's realised-future labels by cross-fitted estimates "
                       "of the expected gap (agents/training/relabel.py)")
    r.add_argument("inputs", nargs="+", help=".npz files of 'collect --expert lookahead-admit' (merged first)")
    r.add_argument("--max-global-rate", type=float, default=0.3,
                   help="above this recent global arrival rate (the observation's, [0, 1]) the label is tuned-admit's")
    r.add_argument("--margin", type=float, default=1.0, help="[value units] expected gain needed to overturn it")
    r.add_argument("--folds", type=int, default=5, help="cross-fitting folds")
    r.add_argument("--seed", type=int, default=0, help="folds and regressor initialisation")
    r.add_argument("-o", "--output", required=True, help="the .npz to write")
    m = sub.add_parser("merge", help="join demonstration files (same id, groups and expert)")
    m.add_argument("inputs", nargs="+", help=".npz files of 'collect'")
    m.add_argument("-o", "--output", required=True, help="the .npz to write")
    return p


def _relabel(args: Any) -> int:
    """``relabel``: merge the inputs, relabel their planned admissions, write the file and print the counts."""
    from agents.common.cli import UsageError
    from agents.training.relabel import relabel_admission

    demos, meta = merge_demonstrations(args.inputs)
    if meta.get("expert") != "lookahead-admit":
        raise DemonstrationsError(f"{args.inputs[0]}: recorded with {meta.get('expert')}; relabel needs "
                                  "lookahead-admit's (its two rollout values per planned batch job)")
    try:
        out, report = relabel_admission(demos, meta, max_global_rate=args.max_global_rate, margin=args.margin,
                                        folds=args.folds, seed=args.seed)
    except ValueError as exc:  # an argument or file relabel cannot use: one line, as for the other flags
        raise UsageError(str(exc)) from None
    save_demonstrations(args.output, out, env_id=meta["env_id"], groups=meta["groups"], expert=meta["expert"])
    print(f"{args.output}: {report['planned']} planned admissions relabelled ({report['trusted']} below the rate "
          f"cut, {report['admit_trusted']} of them now admit); out-of-fold estimate vs realised gap: correlation "
          f"{report['corr_estimate_gap']:.2f}; realised 60 s gain of the new labels over tuned-admit's: "
          f"{report['realised_gain_vs_prior']:+.0f} value units")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agents.distill collect|relabel|merge ...``: exit 0, or 2 with one line naming the flag or file."""
    import sys

    import gymnasium as gym

    import orbitcloud_env  # noqa: F401  (registers the ids)
    from agents.acting.lookahead import LOOKAHEAD_VARIANTS
    from agents.common.cli import UsageError, resolve_env_id

    args = _parser().parse_args(argv)
    try:
        if args.command == "merge":
            demos, meta = merge_demonstrations(args.inputs)
            save_demonstrations(args.output, demos, env_id=meta["env_id"], groups=meta["groups"], expert=meta["expert"])
            print(f"{args.output}: {demos['actions'].shape[0]} decisions of {meta['expert']} from "
                  f"{len(args.inputs)} files")
            return 0
        if args.command == "relabel":
            return _relabel(args)
        env_id = resolve_env_id(args.env)
        if args.decisions < 1 or args.workers < 1:
            raise UsageError(f"--decisions and --workers: must be >= 1, got {args.decisions} and {args.workers}")
        import agents

        if args.expert not in LOOKAHEAD_VARIANTS and args.expert not in agents.available():
            raise UsageError(f"--expert: unknown policy {args.expert!r} (allowed: "
                             f"{', '.join([*LOOKAHEAD_VARIANTS, *agents.available()])})")
        if args.rollin is not None and not Path(args.rollin).is_file():
            raise UsageError(f"--rollin: no such file: {args.rollin}")
        if not 0.0 <= args.rollin_prob <= 1.0:
            raise UsageError(f"--rollin-prob: must be in [0, 1], got {args.rollin_prob}")
        groups = list(gym.make(env_id).unwrapped.config.observation.groups)
        demos = collect_expert_demonstrations(env_id, args.decisions, expert=args.expert, n_workers=args.workers,
                                              seed=args.seed, rollin=args.rollin, rollin_prob=args.rollin_prob)
        save_demonstrations(args.output, demos, env_id=env_id, groups=groups, expert=args.expert)
        print(f"{args.output}: {demos['actions'].shape[0]} decisions of {args.expert} on {env_id}")
        return 0
    except (UsageError, DemonstrationsError) as exc:
        print(f"python -m agents.distill: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
