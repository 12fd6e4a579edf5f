"""Evaluation of policies on paired seeds: one import for the three modules that do it.

- :mod:`agents.evaluating.episode_metrics`: per-episode metrics from the env's per-step infos (the env's own metrics
  through ``orbitcloud_env.metrics``, plus regions, Jain's index, invalid-action rate and reward terms);
- :mod:`agents.evaluating.rollouts`: picklable env and policy specs, building envs and policies, one episode, the worker
  pool, the upper-bound reference rows, episode frames;
- :mod:`agents.evaluating.reports`: aggregation per policy (statistics in :mod:`agents.evaluating.stats`),
  summary.md/.csv/.json, episodes.csv, probability_of_improvement.csv and the plots.

The command line (``orbitcloud-evaluate`` / ``evaluate.py``, agents/evaluating/evaluate_cli.py) checks every flag once,
before any episode runs.
"""

from agents.evaluating.episode_metrics import (
    METRICS,
    REGION_NAMES,
    REGIONS,
    EpisodeRecorder,
    EpisodeResult,
    MetricInfo,
    episode_metrics_from_infos,
    region_column,
    region_of,
)
from agents.evaluating.reports import (
    NOT_BASELINES,
    SUMMARY_METRICS,
    baseline_sentence,
    format_summary_md,
    json_safe,
    strongest_heuristic,
    summarize_results,
    to_dict,
    write_outputs,
)
from agents.evaluating.rollouts import (
    UPPER_BOUND,
    EnvSpec,
    EvaluationError,
    PolicySpec,
    build_policy,
    evaluate,
    make_env,
    render_episode_frames,
    resolve_policy,
    run_episode,
    upper_bound_result,
)

__all__ = [
    "METRICS", "REGION_NAMES", "REGIONS", "EpisodeRecorder", "EpisodeResult", "MetricInfo",
    "episode_metrics_from_infos", "region_column", "region_of",
    "NOT_BASELINES", "SUMMARY_METRICS", "baseline_sentence", "format_summary_md", "json_safe",
    "strongest_heuristic", "summarize_results", "to_dict", "write_outputs",
    "UPPER_BOUND", "EnvSpec", "EvaluationError", "PolicySpec", "build_policy", "evaluate", "make_env",
    "render_episode_frames", "resolve_policy", "run_episode", "upper_bound_result",
]
