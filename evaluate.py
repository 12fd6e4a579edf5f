#!/usr/bin/env python
"""Evaluate heuristics and trained models on OrbitCloud: ``python evaluate.py --help``. The same command as the
installed ``orbitcloud-evaluate``; the code is agents/evaluating/evaluate_cli.py (see docs/evaluation.md)."""

import sys

from agents.evaluate_cli import main

if __name__ == "__main__":
    sys.exit(main())
