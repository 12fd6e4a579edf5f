"""An unknown keyword to ``gymnasium.make`` is a TypeError in Python's words (research wrappers such as TorchRL's
``GymEnv`` probe optional keywords like ``frameskip`` and rely on it); a bad value stays a ValueError."""

from __future__ import annotations

import gymnasium as gym
import pytest

import orbitcloud_env  # noqa: F401 - registers the ids
from orbitcloud_env.config import ConfigError, UnknownFieldError, load_config

ENV_ID = "OrbitCloud-Small-v0"


def test_unknown_keyword_is_a_type_error_in_pythons_words():
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make(ENV_ID, frameskip=4)


def test_unknown_keyword_is_still_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as info:
        gym.make(ENV_ID, max_jbs=50)
    assert isinstance(info.value, TypeError)
    assert "unexpected keyword argument 'max_jbs'" in str(info.value)
    assert "did you mean 'episode.max_jobs'" in str(info.value)


def test_bad_value_is_a_value_error_not_a_type_error():
    with pytest.raises(ValueError) as info:
        gym.make(ENV_ID, max_jobs=-1)
    assert isinstance(info.value, ConfigError) and not isinstance(info.value, TypeError)
    assert "max_jobs" in str(info.value)


def test_unknown_field_outside_keywords_keeps_the_config_wording():
    """load_config with an unknown dotted field: the same error class, without the keyword-argument wording."""
    with pytest.raises(UnknownFieldError, match="unknown config field 'episode.max_jbs'") as info:
        load_config("small", {"episode.max_jbs": 3})
    assert "keyword argument" not in str(info.value)
    assert info.value.field == "episode.max_jbs"
