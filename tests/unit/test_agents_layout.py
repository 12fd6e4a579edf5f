"""The layout of agents/ (docs/architecture.md): the subpackages and their layering, the module paths of the flat
layout that saved models and scripts still use, and no function over 60 lines (read from the source)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "agents"
MAX_FUNCTION_LINES = 60

#: Subpackage -> the packages of agents/ it may import (besides itself and the ``agents`` facade): a layered DAG.
LAYERS = {
    "common": (),
    "acting": ("common",),
    "training": ("acting", "common"),
    "evaluating": ("acting", "common"),
    "marl": ("acting", "common"),
}

#: Every module of the flat layout (agents/<name>.py until the subpackages) -> its public names then, checked to
#: be importable by the old path still (models/*.zip unpickle ``agents.policies.RowScoringPolicy``; scripts import
#: ``agents.heuristics``, the installed commands ``agents.train_cli:main``).
OLD_MODULES = {
    "callbacks": ("AtomicCheckpointCallback BEST_MODEL EVALUATIONS MaskableMetricsEvalCallback "
                  "MetricsEvalCallback TrainEpisodeMetrics"),
    "cli": ("EXIT_TERMINATED EXIT_USAGE OneLineParser Terminated UsageError check_folder_writable "
            "environment_versions parse_key_values parse_value prog_name resolve_env_id sigterm_as_interrupt"),
    "distill": ("DemonstrationsError FORMAT check_demonstrations collect_expert_demonstrations episode_seed "
                "load_demonstrations project_demonstrations save_demonstrations"),
    "episode_metrics": ("CLASS_COUNT_KEYS CLASS_VALUE_KEYS EpisodeRecorder EpisodeResult METRICS MetricInfo "
                        "REGIONS REGION_NAMES VALUE_METRIC_KEYS episode_metrics_from_infos region_column "
                        "region_of"),
    "evaluate_cli": ("COMMAND_FILE EXIT_INTERRUPTED EXIT_TERMINATED EXIT_USAGE PROG RESUME_KEYS build_parser "
                     "main"),
    "evaluation": ("EnvSpec EpisodeRecorder EpisodeResult EvaluationError METRICS MetricInfo NOT_BASELINES "
                   "PolicySpec REGIONS REGION_NAMES SUMMARY_METRICS UPPER_BOUND baseline_sentence build_policy "
                   "episode_metrics_from_infos evaluate format_summary_md json_safe make_env region_column "
                   "region_of render_episode_frames resolve_policy run_episode strongest_heuristic "
                   "summarize_results to_dict upper_bound_result write_outputs"),
    "heuristics": ("DEFAULT_CLASSES EarliestFinishAdmitPolicy EarliestFinishPolicy EnergyAwarePolicy "
                   "FINISH_KEYS GroundOnlyPolicy HEURISTICS HeuristicPolicy LeastLoadedPolicy NearestPolicy "
                   "REQUIRED_KEYS RandomPolicy RoundRobinPolicy SlackAwarePolicy TUNED_DIR TUNED_PARAMS "
                   "TunedAdmitPolicy estimated_finish load_tuned_params tuned_params_path"),
    "hyperparameters": ("FLAG_KEYS HYPERPARAMS_DIR SCHEDULE_KEYS SPECIAL_KEYS UNSUPPORTED_KEYS "
                        "build_algo_kwargs hyperparams_for load_conf_file normalize_kwargs resolve_hyperparams "
                        "resolve_prior_params rollout_rounding_notice"),
    "io": "atomic_path write_text_atomic",
    "journal": ("EPISODES_CSV EpisodeJournal JOURNAL JournalError command_hash read_journal result_from_json "
                "result_to_json"),
    "learning_curve": "CurveError EVAL_SEED_OFFSET main reference_returns write_learning_curve",
    "locks": "FolderInUseError FolderLock LOCK_FILE folder_holder lock_folder",
    "lookahead": "LONG_HORIZON_S LOOKAHEAD_VARIANTS LookaheadPolicy",
    "multiagent": "AgentScores VecMasksFromObservation evaluate_shared make_vec_env train_shared",
    "multiagent_cli": "DEFAULT_HEURISTICS EXIT_USAGE PROG build_parser format_table main",
    "plots": "latency_cdf metric_bars region_latency save_animation",
    "policies": "ACTION_SETS PRIOR_PARAMS RowFeaturesExtractor RowScorer RowScoringPolicy check_prior_params",
    "pretrain": "collect_demonstrations pretrain_policy soft_targets",
    "provenance": "trained_env_id trained_on_notice",
    "registry": ("ALGOS HEURISTICS LOOKAHEAD_VARIANTS REQUIRED_KEYS available available_algorithms "
                 "available_policies make_policy"),
    "reports": ("METRICS NOT_BASELINES REGION_NAMES SUMMARY_CSV_STATS SUMMARY_METRICS baseline_sentence "
                "format_summary_md format_value_table json_safe strongest_heuristic summarize_results to_dict "
                "write_outputs"),
    "rl": ("ALGOS IncompatibleSpaceError LoadedPolicy PACKAGE_POLICIES POLICY UntrustedFileError "
           "available_algorithms check_algo_env detect_algo linear_schedule load load_model masks_from_obs "
           "parse_policy_kwargs resolve_algo resolve_policy"),
    "rllib_masking": "MASK_KEY MaskedPPOTorchRLModule OBS_KEY",
    "rollouts": ("EnvSpec EvaluationError PolicySpec UPPER_BOUND build_policy evaluate make_env "
                 "render_episode_frames resolve_policy run_episode upper_bound_result"),
    "runs": "next_run_dir plain remove_run_dir",
    "safeload": ("ALLOWED_GLOBALS DISPOSABLE_FIELDS RestrictedUnpickler TRUST_HINT UntrustedFileError "
                 "check_weights decode_model_data load_vecnormalize open_model_archive restricted_loads"),
    "seeds": "TEST TRAINING TUNING check_tuning_seeds parse_seed_range",
    "stats": ("DEFAULT_CONFIDENCE DEFAULT_RESAMPLES Interval aggregate bootstrap_ci iqm jain_index "
              "normalized_score normalized_score_ci paired_gap_ci paired_win_rate probability_of_improvement "
              "probability_of_improvement_ci summarize"),
    "train_cli": ("EXIT_INTERRUPTED EXIT_TERMINATED EXIT_USAGE PROG UsageError build_parser check_device "
                  "importable_env_id main parse_key_values probe_env probe_model run train"),
    "vec_env": "OrbitCloudVecEnv make_batched_vec_env supports_batched",
    "zoo": "COMMANDS main",
}

#: Where each old module lives now.
NEW_PACKAGE = {
    "common": "cli io locks provenance safeload seeds",
    "acting": "heuristics lookahead policies registry rl rllib_masking",
    "training": "callbacks distill hyperparameters learning_curve pretrain runs train_cli vec_env zoo",
    "evaluating": "episode_metrics evaluate_cli evaluation journal plots reports rollouts stats",
    "marl": "multiagent multiagent_cli",
}
HOME = {name: package for package, names in NEW_PACKAGE.items() for name in names.split()}
#: Needs an optional extra that may be missing (``rllib``); its path is still resolved.
OPTIONAL = {"rllib_masking": "ray"}


def _long_functions(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # decorators left out, the docstring counted
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(folder.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_agents_is_over_60_lines():
    long = _long_functions(AGENTS)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {long}"


def test_the_length_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert [f.split()[1] for f in _long_functions(tmp_path)] == ["long"]


def test_the_subpackages_exist_and_only_the_facade_stays_at_the_top():
    for package in LAYERS:
        assert (AGENTS / package / "__init__.py").is_file(), package
        assert importlib.import_module(f"agents.{package}").__doc__, f"agents.{package} says what it holds"
    top = sorted(p.name for p in AGENTS.glob("*.py"))
    assert top == ["__init__.py", "_old_paths.py"], f"a module directly in agents/ belongs in a subpackage: {top}"
    assert set(HOME) == set(OLD_MODULES)
    for name, package in HOME.items():
        assert (AGENTS / package / f"{name}.py").is_file(), f"agents/{package}/{name}.py"


def test_pyproject_ships_every_subpackage():
    import tomllib  # Python 3.11+

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert {f"agents.{p}" for p in LAYERS} <= set(packages)
    assert {"agents", "agents.hyperparams", "agents.tuned"} <= set(packages)  # the data folders stay at the top


def _agents_imports(path: Path) -> set[str]:
    """The subpackages of agents/ that a file imports (lazy imports included; ``import agents`` left out)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        out |= {n.split(".")[1] for n in names if n.startswith("agents.") and n.count(".") >= 1}
    return out


def test_the_subpackages_are_layered():
    bad = []
    for package, allowed in LAYERS.items():
        for path in sorted((AGENTS / package).glob("*.py")):
            for other in _agents_imports(path) - {package, *allowed}:
                bad.append(f"{path.relative_to(ROOT)} imports agents.{other} (agents.{package} may import "
                           f"{', '.join(allowed) or 'nothing of agents'})")
    assert not bad, bad


def test_the_layer_walker_sees_known_imports():
    assert _agents_imports(AGENTS / "training" / "hyperparameters.py") >= {"acting", "common"}  # lazy ones too
    assert _agents_imports(AGENTS / "evaluating" / "reports.py") >= {"evaluating", "common"}  # from agents.x import y


@pytest.mark.parametrize("name", sorted(OLD_MODULES))
def test_the_old_module_path_imports_the_same_module_with_its_names(name):
    new = f"agents.{HOME[name]}.{name}"
    assert importlib.util.find_spec(f"agents.{name}") is not None
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    old_module = importlib.import_module(f"agents.{name}")
    assert old_module is importlib.import_module(new)  # one module: monkeypatching either path patches both
    assert old_module.__name__ == new and old_module.__spec__.name == new
    missing = [n for n in OLD_MODULES[name].split() if not hasattr(old_module, n)]
    assert not missing, f"agents.{name} lost {missing}"
    assert sorted(OLD_MODULES[name].split()) == sorted(set(OLD_MODULES[name].split()))


def test_old_paths_resolve_as_attributes_and_in_pickles():
    import pickle

    import agents

    assert agents.heuristics is importlib.import_module("agents.acting.heuristics")
    # A model saved before the subpackages names its policy class by the flat path (models/*.zip).
    old_reference = pickle.dumps(agents.heuristics.HeuristicPolicy, protocol=0).replace(b"agents.acting.heuristics",
                                                                           b"agents.heuristics")
    assert b"agents.heuristics" in old_reference
    assert pickle.loads(old_reference) is agents.acting.heuristics.HeuristicPolicy


def test_python_dash_m_runs_an_old_path(monkeypatch, capsys):
    """``python -m agents.learning_curve --help``, in process (a fresh interpreter has not imported it yet)."""
    monkeypatch.delitem(sys.modules, "agents.learning_curve", raising=False)
    monkeypatch.setattr("sys.argv", ["learning_curve", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("agents.learning_curve", run_name="__main__", alter_sys=True)
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out
