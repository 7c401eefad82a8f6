"""What one isolated session holds, and the limits every store enforces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class IsolationLimits:
    """The service's limits (the seed's defaults: 60 min TTL, 5 per IP, 200 MB each)."""

    ttl_seconds: float = 60 * 60
    max_per_ip: int = 5
    max_bytes: int = 200 * MB
    cleanup_interval: float = 5 * 60

    def __post_init__(self) -> None:
        if self.ttl_seconds <= 0 or self.max_per_ip < 1 or self.max_bytes < 0:
            raise ValueError(f"limits out of range: {self}")


@dataclass(frozen=True)
class SessionState:
    """One session's record in the store.

    ``version`` goes up on every config change: caches key on it, so an object built for an
    old config is never served for the new one. ``expires_at`` is ``last_seen + ttl``: using
    the session renews it.
    """

    session_id: str
    client_ip: str
    created_at: float
    last_seen: float
    expires_at: float
    version: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def alive(self, now: float) -> bool:
        """Still usable at ``now`` (the expiry instant itself counts as expired)."""
        return now < self.expires_at

    def renewed(self, now: float, ttl: float) -> SessionState:
        return replace(self, last_seen=now, expires_at=now + ttl)

    def config_json(self) -> str:
        return json.dumps(self.config, sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "client_ip": self.client_ip,
            "created_at": self.created_at,
            "last_seen": self.last_seen,
            "expires_at": self.expires_at,
            "version": self.version,
            "config": dict(self.config),
            "counters": dict(self.counters),
        }
