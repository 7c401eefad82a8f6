"""Settings for the session registry, the connection pool and the operation timeouts.

:meth:`SystemConfig.from_env` reads the variables the seed system documents (``SM_*``,
``CP_*``, ``OPT_*``). A bad value stops start-up with one :class:`~sessionlab.errors.CourseError`
line naming the variable, the value and what is allowed: a typo in a deployment should fail
loudly at start, not show up hours later as "sessions vanish" or "the pool never fills".
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from sessionlab.errors import CourseError


@dataclass(frozen=True)
class RegistrySettings:
    """``timeout_minutes`` and ``cleanup_interval_minutes``: 0 means never / disabled."""

    max_sessions: int = 50
    timeout_minutes: float = 30.0
    cleanup_interval_minutes: float = 5.0


@dataclass(frozen=True)
class PoolSettings:
    """``max_age_minutes`` and ``max_uses``: 0 means no limit."""

    max_size: int = 10
    min_size: int = 2
    max_age_minutes: float = 60.0
    max_uses: int = 100


@dataclass(frozen=True)
class TimeoutSettings:
    """Seconds allowed to open a connection, close one, and answer one message."""

    create: float = 30.0
    destroy: float = 15.0
    message: float = 300.0


@dataclass(frozen=True)
class SystemConfig:
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SystemConfig:
        """Defaults overridden by any of the ``ENV_VARS`` present (empty counts as absent)."""
        env = os.environ if env is None else env
        sections: dict[str, dict[str, float | int]] = {"registry": {}, "pool": {}, "timeouts": {}}
        for name, (section, attribute, kind, minimum, strict) in ENV_VARS.items():
            raw = env.get(name, "").strip()
            if raw:
                sections[section][attribute] = _parse(name, raw, kind, minimum, strict)
        base = cls()
        return cls(
            registry=replace(base.registry, **sections["registry"]),  # type: ignore[arg-type]
            pool=replace(base.pool, **sections["pool"]),  # type: ignore[arg-type]
            timeouts=replace(base.timeouts, **sections["timeouts"]),  # type: ignore[arg-type]
        )

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        return {
            part.name: {
                f.name: getattr(getattr(self, part.name), f.name)
                for f in fields(getattr(self, part.name))
            }
            for part in fields(self)
        }


# variable -> (section, attribute, type, minimum, minimum excluded?)
ENV_VARS: dict[str, tuple[str, str, type, float, bool]] = {
    "SM_MAX_SESSIONS": ("registry", "max_sessions", int, 1, False),
    "SM_TIMEOUT_MINUTES": ("registry", "timeout_minutes", float, 0, False),
    "SM_CLEANUP_INTERVAL": ("registry", "cleanup_interval_minutes", float, 0, False),
    "CP_MAX_SIZE": ("pool", "max_size", int, 1, False),
    "CP_MIN_SIZE": ("pool", "min_size", int, 0, False),
    "CP_MAX_AGE_MINUTES": ("pool", "max_age_minutes", float, 0, False),
    "CP_MAX_USES": ("pool", "max_uses", int, 0, False),
    "OPT_CREATE_TIMEOUT": ("timeouts", "create", float, 0, True),
    "OPT_DESTROY_TIMEOUT": ("timeouts", "destroy", float, 0, True),
    "OPT_MESSAGE_TIMEOUT": ("timeouts", "message", float, 0, True),
}
_VARIABLE = {(s, a): name for name, (s, a, *_rest) in ENV_VARS.items()}
_ZERO_MEANS = {
    "SM_TIMEOUT_MINUTES": " (0 = never expire)",
    "SM_CLEANUP_INTERVAL": " (0 = no automatic cleanup)",
    "CP_MAX_AGE_MINUTES": " (0 = no age limit)",
    "CP_MAX_USES": " (0 = no use limit)",
}


def _allowed(name: str, kind: type, minimum: float, strict: bool) -> str:
    noun = "a whole number" if kind is int else "a number"
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    return f"{noun} {bound}{_ZERO_MEANS.get(name, '')}"


def _parse(name: str, raw: str, kind: type, minimum: float, strict: bool) -> int | float:
    """One variable's value, or a CourseError naming it, its value and what is allowed."""
    allowed = _allowed(name, kind, minimum, strict)
    try:
        value: int | float = int(raw) if kind is int else float(raw)
    except ValueError:
        raise CourseError(f"{name}={raw!r} is not valid: use {allowed}") from None
    _check(name, value, kind, minimum, strict, shown=repr(raw))
    return value


def _check(
    name: str, value: float, kind: type, minimum: float, strict: bool, *, shown: str = ""
) -> None:
    allowed = _allowed(name, kind, minimum, strict)
    shown = shown or repr(value)
    if isinstance(value, bool) or (kind is int and not isinstance(value, int)):
        raise CourseError(f"{name}={shown} is not valid: use {allowed}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise CourseError(f"{name}={shown} is out of range: use {allowed}")


def validate(config: SystemConfig) -> None:
    """Check every setting (also ones set in code, not only from the environment)."""
    for section in ("registry", "pool", "timeouts"):
        part = getattr(config, section)
        for f in fields(part):
            name = _VARIABLE[(section, f.name)]
            _, _, kind, minimum, strict = ENV_VARS[name]
            _check(name, getattr(part, f.name), kind, minimum, strict)
    if config.pool.min_size > config.pool.max_size:
        raise CourseError(
            f"CP_MIN_SIZE={config.pool.min_size} is larger than CP_MAX_SIZE="
            f"{config.pool.max_size}: the minimum pool size must be <= the maximum"
        )


def permanent_config(**overrides: object) -> SystemConfig:
    """The seed's "permanent sessions" profile: nothing expires, no automatic cleanup.

    Timeout 0 and cleanup interval 0; up to 500 sessions and 50 pooled connections.
    """
    config = SystemConfig(
        registry=RegistrySettings(max_sessions=500, timeout_minutes=0, cleanup_interval_minutes=0),
        pool=PoolSettings(max_size=50, min_size=2),
    )
    return replace(config, **overrides) if overrides else config  # type: ignore[arg-type]
