"""The module paths of the flat layout (``agents.heuristics``, ``agents.policies``, ...), kept importable.

Until the subpackages, every module sat directly in agents/. Saved models name their classes by those paths (the
shipped models/*.zip hold ``agents.policies.RowScoringPolicy``), and scripts, notebooks and the installed commands
import them (``agents.heuristics``, ``agents.train_cli:main``). :data:`OLD_PATHS` maps each old path to its module
now, and :class:`OldPathFinder` (installed by ``agents/__init__.py``) answers an import of an old path with the
module itself, not a copy: ``agents.heuristics is agents.acting.heuristics``, so monkeypatching either name and
unpickling by either path see the same objects. ``python -m agents.learning_curve`` runs the moved module's code.

New code imports the subpackage paths; this table only grows (a module that moves again keeps its old path here).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import CodeType, ModuleType

#: Old dotted path -> the module's path now.
OLD_PATHS = {f"agents.{name}": f"agents.{package}.{name}" for package, names in {
    "common": ("cli", "io", "locks", "provenance", "safeload", "seeds"),
    "acting": ("heuristics", "lookahead", "policies", "registry", "rl", "rllib_masking"),
    "training": ("callbacks", "distill", "hyperparameters", "learning_curve", "pretrain", "runs", "train_cli",
                 "vec_env", "zoo"),
    "evaluating": ("episode_metrics", "evaluate_cli", "evaluation", "journal", "plots", "reports", "rollouts",
                   "stats"),
    "marl": ("multiagent", "multiagent_cli"),
}.items() for name in names}


class OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path of :data:`OLD_PATHS`; loading it imports the module at its new path and returns that."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = OLD_PATHS.get(fullname)
        if new is None:
            return None
        origin = getattr(importlib.util.find_spec(new), "origin", None)  # runpy (python -m) sets __file__ from it
        return importlib.machinery.ModuleSpec(fullname, self, origin=origin)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The import system keeps the module's own __name__ and __file__ (it fills only missing ones), stores it in
        # sys.modules under the old path too, sets it as the package's attribute, and sets __spec__ to this spec.
        module = importlib.import_module(OLD_PATHS[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (create_module returned the imported module); give it back its own ``__spec__``."""
        own = getattr(module.__spec__, "loader_state", None)
        if isinstance(own, importlib.machinery.ModuleSpec):
            module.__spec__ = own

    def get_code(self, fullname: str) -> CodeType | None:
        """The moved module's code, for ``python -m <old path>`` (runpy runs it as ``__main__``)."""
        new = OLD_PATHS[fullname]
        return importlib.util.find_spec(new).loader.get_code(new)


def install() -> None:
    """Put the finder first in ``sys.meta_path``, once. First: an editable install of an older checkout (or a stale
    agents/heuristics.py) would otherwise answer an old path with a second, different module."""
    if not any(isinstance(finder, OldPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, OldPathFinder())
