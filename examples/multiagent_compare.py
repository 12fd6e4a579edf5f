#!/usr/bin/env python
"""Compare a shared learned policy with shared heuristics on the multi-agent env (docs/multiagent.md):
``python examples/multiagent_compare.py --help``. The code is agents/marl/multiagent_cli.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's agents/ and orbitcloud_env/

from agents.multiagent_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
