"""Configuration from SM_*/CP_*/OPT_* variables: defaults, overrides, and one-line errors."""

from __future__ import annotations

import pytest

from sessionlab.errors import CourseError
from sessionlab.lifecycle import (
    PoolSettings,
    RegistrySettings,
    SystemConfig,
    TimeoutSettings,
    permanent_config,
)
from sessionlab.lifecycle.config import ENV_VARS


def test_defaults_are_the_seed_values():
    config = SystemConfig.from_env({})
    assert config.registry == RegistrySettings(50, 30.0, 5.0)
    assert config.pool == PoolSettings(10, 2, 60.0, 100)
    assert config.timeouts == TimeoutSettings(30.0, 15.0, 300.0)


def test_every_variable_overrides_its_setting():
    env = {
        "SM_MAX_SESSIONS": "7",
        "SM_TIMEOUT_MINUTES": "0",
        "SM_CLEANUP_INTERVAL": "2.5",
        "CP_MAX_SIZE": "4",
        "CP_MIN_SIZE": "4",
        "CP_MAX_AGE_MINUTES": "0",
        "CP_MAX_USES": "0",
        "OPT_CREATE_TIMEOUT": "1.5",
        "OPT_DESTROY_TIMEOUT": "2",
        "OPT_MESSAGE_TIMEOUT": " 60 ",
    }
    config = SystemConfig.from_env(env)
    assert config.as_dict() == {
        "registry": {"max_sessions": 7, "timeout_minutes": 0.0, "cleanup_interval_minutes": 2.5},
        "pool": {"max_size": 4, "min_size": 4, "max_age_minutes": 0.0, "max_uses": 0},
        "timeouts": {"create": 1.5, "destroy": 2.0, "message": 60.0},
    }
    assert set(env) == set(ENV_VARS)


def test_empty_values_count_as_unset():
    assert SystemConfig.from_env({"SM_MAX_SESSIONS": "", "CP_MAX_SIZE": "  "}) == SystemConfig()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SM_MAX_SESSIONS": "abc"}, "SM_MAX_SESSIONS='abc' is not valid: use a whole number >= 1"),
        ({"SM_MAX_SESSIONS": "2.5"}, "SM_MAX_SESSIONS='2.5' is not valid: use a whole number"),
        ({"SM_MAX_SESSIONS": "0"}, "SM_MAX_SESSIONS='0' is out of range: use a whole number >= 1"),
        ({"SM_TIMEOUT_MINUTES": "-5"}, "SM_TIMEOUT_MINUTES='-5' is out of range"),
        ({"SM_TIMEOUT_MINUTES": "nan"}, "SM_TIMEOUT_MINUTES='nan' is out of range"),
        ({"SM_CLEANUP_INTERVAL": "inf"}, "SM_CLEANUP_INTERVAL='inf' is out of range"),
        ({"CP_MAX_SIZE": "ten"}, "CP_MAX_SIZE='ten' is not valid"),
        ({"CP_MIN_SIZE": "-1"}, "CP_MIN_SIZE='-1' is out of range: use a whole number >= 0"),
        ({"CP_MAX_USES": "1e3"}, "CP_MAX_USES='1e3' is not valid"),
        ({"CP_MAX_AGE_MINUTES": "-0.1"}, "(0 = no age limit)"),
        ({"OPT_CREATE_TIMEOUT": "0"}, "OPT_CREATE_TIMEOUT='0' is out of range: use a number > 0"),
        ({"OPT_MESSAGE_TIMEOUT": "soon"}, "OPT_MESSAGE_TIMEOUT='soon' is not valid"),
        (
            {"CP_MIN_SIZE": "5", "CP_MAX_SIZE": "3"},
            "CP_MIN_SIZE=5 is larger than CP_MAX_SIZE=3",
        ),
    ],
)
def test_bad_values_fail_with_one_line_naming_variable_value_and_rule(env, expected):
    with pytest.raises(CourseError) as caught:
        SystemConfig.from_env(env)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_settings_made_in_code_are_validated_too():
    with pytest.raises(CourseError, match="CP_MIN_SIZE=3 is larger than CP_MAX_SIZE=2"):
        SystemConfig(pool=PoolSettings(max_size=2, min_size=3))
    with pytest.raises(CourseError, match="SM_MAX_SESSIONS=-1 is out of range"):
        SystemConfig(registry=RegistrySettings(max_sessions=-1))
    with pytest.raises(CourseError, match="SM_MAX_SESSIONS=True is not valid"):
        SystemConfig(registry=RegistrySettings(max_sessions=True))


def test_permanent_profile():
    config = permanent_config()
    assert config.registry == RegistrySettings(500, 0, 0)
    assert config.pool.max_size == 50
