"""Run an rl-baselines3-zoo command with the OrbitCloud ids registered: ``python -m agents.zoo COMMAND [ARGS]``.

rl-zoo3's ``train`` and ``enjoy`` take ``--gym-packages orbitcloud_env`` to import the package that registers the
ids, but ``record_video`` (rl-zoo3 2.9.2) has no such flag: it looks the id up in Gymnasium's registry and fails
with a ``KeyError`` for an id registered on import (Gymnasium 1.x has no plugin entry points). This module imports
``orbitcloud_env`` and then runs ``rl_zoo3.<COMMAND>`` as ``python -m rl_zoo3.<COMMAND>`` would, so no command needs
a shim of the user's own::

    python -m rl_zoo3.train --algo ppo --env OrbitCloud-Small-v1 --gym-packages orbitcloud_env \\
        -conf agents/hyperparams/ppo.yml -f logs
    python -m rl_zoo3.enjoy --algo ppo --env OrbitCloud-Small-v1 --gym-packages orbitcloud_env -f logs --no-render
    python -m agents.zoo record_video --algo ppo --env OrbitCloud-Small-v1 -f logs -n 200

Needs rl-zoo3 (not a dependency of the package; docs/clients.md). A command outside :data:`COMMANDS` or a missing
rl-zoo3 prints one line on stderr and exits with status 2 or 1.
"""

from __future__ import annotations

import runpy
import sys
from typing import Sequence

__all__ = ["COMMANDS", "main"]

#: rl-zoo3 modules this runner starts (``python -m rl_zoo3.<name>``).
COMMANDS = ("train", "enjoy", "record_video", "record_training")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        got = repr(args[0]) if args else "nothing"
        print(f"agents.zoo: error: COMMAND: expected one of {', '.join(COMMANDS)}, got {got}", file=sys.stderr)
        return 2
    try:
        import rl_zoo3  # noqa: F401
    except ImportError:
        print("agents.zoo: error: rl-zoo3 is not installed; pip install rl_zoo3 (docs/clients.md)", file=sys.stderr)
        return 1
    import orbitcloud_env  # noqa: F401 - registers the OrbitCloud ids in this process

    command, rest = args[0], args[1:]
    saved = sys.argv
    sys.argv = [f"rl_zoo3.{command}", *rest]
    try:
        runpy.run_module(f"rl_zoo3.{command}", run_name="__main__", alter_sys=True)
    except SystemExit as exc:  # argparse's --help and errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
