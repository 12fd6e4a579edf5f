"""OrbitCloud: a Gymnasium environment for job placement in an orbital compute cloud.

Importing the package registers ``OrbitCloud-v0``, ``OrbitCloud-Small-v0``, ``OrbitCloud-Kuiper-v0`` and
``OrbitCloud-Mega-v0``::

    import gymnasium as gym
    import orbitcloud_env  # noqa: F401  (registers the ids)
    env = gym.make("OrbitCloud-Small-v0", max_jobs=200)
"""

from orbitcloud_env.config import ConfigError, ScenarioConfig, available_presets, load_config
from orbitcloud_env.registration import ENV_IDS, register_envs

__version__ = "0.1.0"

register_envs()


def __getattr__(name: str):
    # Lazy so that importing the package (and so registration) stays cheap.
    if name == "OrbitCloudEnv":
        from orbitcloud_env.env import OrbitCloudEnv

        return OrbitCloudEnv
    if name == "Simulator":
        from orbitcloud_env.simulator import Simulator

        return Simulator
    raise AttributeError(f"module 'orbitcloud_env' has no attribute {name!r}")


__all__ = ["ConfigError", "ScenarioConfig", "available_presets", "load_config", "ENV_IDS", "register_envs",
           "OrbitCloudEnv", "Simulator", "__version__"]
