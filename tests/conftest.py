"""Fixtures shared by the test modules (built once per session).

Hypothesis runs derandomised (profile "ci" below; HYPOTHESIS_PROFILE=explore for fresh examples).

Tiers: ``pytest -m "not slow"`` is the quick default tier; ``@pytest.mark.slow`` marks the end-to-end tests that
train, spawn worker processes or start a CLI in a subprocess. ``.ci/run`` runs both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    settings = None

if settings is not None:
    # Derandomised by default: the property tests draw the same examples on every run and machine, so a failure in
    # CI reproduces locally and a pass means the same thing everywhere (no example database written either).
    # HYPOTHESIS_PROFILE=explore draws fresh examples for a bug hunt.
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Env of the saved models (all-nodes action mode; the spaces do not depend on ``max_jobs``).
MODEL_ENV_ID = "OrbitCloud-Small-v0"


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """A model of every algorithm (``agents.rl.ALGOS``) for ``MODEL_ENV_ID``, saved to ``<algo>.zip``.

    Untrained (a save needs no training): the tests check loading, predicting and the evaluation pipeline, not
    what a policy learned. Shared by test_agents and test_evaluate.
    """
    import gymnasium as gym

    import orbitcloud_env  # noqa: F401 - registers the ids
    from agents.rl import ALGOS

    folder = tmp_path_factory.mktemp("models")
    env = gym.make(MODEL_ENV_ID, max_jobs=100)
    paths = {}
    for name, cls in ALGOS.items():
        extra = {"buffer_size": 1000} if name == "dqn" else {}
        model = cls("MultiInputPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [16]}, **extra)
        paths[name] = folder / f"{name}.zip"
        model.save(paths[name])
    env.close()
    return paths
