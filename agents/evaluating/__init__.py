"""Evaluation on paired seeds: the command (evaluate_cli: ``evaluate.py`` / ``orbitcloud-evaluate``), rollouts in
workers (rollouts), per-episode metrics (episode_metrics), the resumable episode journal (journal), statistics
(stats), reports and plots (reports, plots); evaluation is the one import of the three that do it. Imports
agents.acting and agents.common."""
