"""Registration of the OrbitCloud ids with Gymnasium (idempotent; runs on ``import orbitcloud_env``)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

_ENTRY_POINT = "orbitcloud_env.env:OrbitCloudEnv"
#: The batched vector env of every id: ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.
_VECTOR_ENTRY_POINT = "orbitcloud_env.vector:OrbitCloudVectorEnv"

#: Registered ids and their keyword arguments (each is a preset plus an action mode). The ``-v1`` ids are the
#: default, congested and time-varying scenarios; the ``-v0`` ids keep the first release's light-load dynamics and
#: spaces (presets ``*-v0``), so that published v0 numbers stay reproducible. ``OrbitCloud-Starlink2026-v2`` is the
#: catalogue with inter-shell bridge ISLs (``links.inter_shell_isls``: one connected operational mesh). The other
#: ``-v2`` ids are the v1 scenarios under the value objective (presets ``*-v2``: each job worth its class's price x
#: its work, SLA credits for late results, a wider per-episode demand level, observation groups value and trend);
#: ``OrbitCloud-Starlink2026-v3`` is the catalogue with bridges (Starlink2026-v2) under that objective.
ENV_IDS: dict[str, dict[str, object]] = {
    "OrbitCloud-v1": {"preset": "starlink", "action_mode": "candidates"},
    "OrbitCloud-Small-v1": {"preset": "small", "action_mode": "all_nodes"},
    "OrbitCloud-Kuiper-v1": {"preset": "kuiper", "action_mode": "candidates"},
    "OrbitCloud-Mega-v1": {"preset": "mega", "action_mode": "candidates"},
    "OrbitCloud-Giga-v1": {"preset": "giga", "action_mode": "candidates"},
    "OrbitCloud-Starlink2026-v1": {"preset": "starlink2026", "action_mode": "candidates"},
    "OrbitCloud-Starlink2026-v2": {"preset": "starlink2026", "action_mode": "candidates", "inter_shell_isls": True},
    "OrbitCloud-v0": {"preset": "starlink-v0", "action_mode": "candidates"},
    "OrbitCloud-Small-v0": {"preset": "small-v0", "action_mode": "all_nodes"},
    "OrbitCloud-Kuiper-v0": {"preset": "kuiper-v0", "action_mode": "candidates"},
    "OrbitCloud-Mega-v0": {"preset": "mega-v0", "action_mode": "candidates"},
    "OrbitCloud-v2": {"preset": "starlink-v2", "action_mode": "candidates"},
    "OrbitCloud-Small-v2": {"preset": "small-v2", "action_mode": "all_nodes"},
    "OrbitCloud-Kuiper-v2": {"preset": "kuiper-v2", "action_mode": "candidates"},
    "OrbitCloud-Starlink2026-v3": {"preset": "starlink2026-v3", "action_mode": "candidates"},
}


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS`; a second call does nothing.

    The horizon is the scenario's ``episode.max_jobs`` (the env truncates itself), so no ``max_episode_steps`` is
    set in the spec: a ``TimeLimit`` there would silently cut episodes that a user lengthened with ``max_jobs``.
    Each id's ``vector_entry_point`` is the batched :class:`~orbitcloud_env.vector.OrbitCloudVectorEnv` (so
    ``gym.make_vec(id, num_envs=N)`` returns it unless another ``vectorization_mode`` is asked for).
    """
    first = next(iter(ENV_IDS))
    if first in gym.registry:
        return
    for env_id, kwargs in ENV_IDS.items():
        gym.register(id=env_id, entry_point=_ENTRY_POINT, vector_entry_point=_VECTOR_ENTRY_POINT,
                     kwargs=dict(kwargs))
