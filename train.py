#!/usr/bin/env python
"""Train an RL agent on OrbitCloud: ``python train.py --help``. The same command as the installed
``orbitcloud-train``; the code is agents/training/train_cli.py (see docs/training.md)."""

import sys

from agents.train_cli import main

if __name__ == "__main__":
    sys.exit(main())
