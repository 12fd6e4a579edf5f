"""Shared policies on the multi-agent env (orbitcloud_env.multiagent): SuperSuit vectorisation, training and a
per-agent comparison (multiagent), and its command (multiagent_cli, run by examples/multiagent_compare.py).
Imports agents.acting and agents.common."""
