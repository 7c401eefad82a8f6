""":class:`TemporarySessionManager`: the one object a web app talks to about isolated sessions.

It ties a store (records, TTL, per-IP limit), the folders (files, size cap) and the cache
(live objects) together, with one clock for every decision. Every call that *uses* a session
renews its TTL, like the seed's "60 minutes, renewed on every use".
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from sessionlab.isolation.cache import SessionCache
from sessionlab.isolation.clock import Clock, SystemClock
from sessionlab.isolation.errors import SessionNotFound
from sessionlab.isolation.folders import SessionFolders
from sessionlab.isolation.ids import new_session_id, validate_session_id
from sessionlab.isolation.state import IsolationLimits, SessionState
from sessionlab.isolation.state_store import StateStore
from sessionlab.paths import course_home

DEFAULT_CONFIG: dict[str, Any] = {"model": "course-model", "top_k": 10, "advanced_mode": False}


def default_root() -> Path:
    """``<course home>/isolation/sessions``: never the user's real home folders."""
    return course_home() / "isolation" / "sessions"


class TemporarySessionManager:
    """Create, use, reconfigure and end isolated temporary sessions."""

    def __init__(
        self,
        store: StateStore,
        root: str | Path | None = None,
        *,
        limits: IsolationLimits | None = None,
        clock: Clock | None = None,
        cache: SessionCache | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or IsolationLimits()
        self.clock = clock or SystemClock()
        self.folders = SessionFolders(root or default_root(), max_bytes=self.limits.max_bytes)
        self.cache = cache or SessionCache()

    def create(self, client_ip: str, config: dict[str, Any] | None = None) -> SessionState:
        """A new session for ``client_ip`` (SessionLimitExceeded past the per-IP limit)."""
        session_id = new_session_id()
        state = self.store.create(
            session_id,
            client_ip,
            {**DEFAULT_CONFIG, **(config or {})},
            now=self.clock.now(),
            ttl=self.limits.ttl_seconds,
            max_per_ip=self.limits.max_per_ip,
        )
        self.folders.create(session_id)
        return state

    def use(self, session_id: str) -> SessionState:
        """The live session, TTL renewed; SessionNotFound if it expired or never existed."""
        validate_session_id(session_id)
        state = self.store.touch(session_id, now=self.clock.now(), ttl=self.limits.ttl_seconds)
        if state is None:
            raise SessionNotFound(f"no live session {session_id}")
        return state

    def peek(self, session_id: str) -> SessionState | None:
        """The live session without renewing it (monitoring must not keep sessions alive)."""
        return self.store.get(validate_session_id(session_id), now=self.clock.now())

    def configure(self, session_id: str, **changes: Any) -> SessionState:
        """Change the session's config; the version goes up, so cached objects are rebuilt."""
        state = self.store.update_config(
            validate_session_id(session_id),
            changes,
            now=self.clock.now(),
            ttl=self.limits.ttl_seconds,
        )
        if state is None:
            raise SessionNotFound(f"no live session {session_id}")
        return state

    def record_query(self, session_id: str) -> int:
        """Count one query against the session (renews it too)."""
        self.use(session_id)
        value = self.store.add_counter(session_id, "total_queries", 1, now=self.clock.now())
        if value is None:
            raise SessionNotFound(f"no live session {session_id}")
        return value

    def save_upload(self, session_id: str, name: str, data: bytes) -> Path:
        """Store an upload in the session's folder, within its size cap."""
        self.use(session_id)
        return self.folders.save_upload(session_id, name, data)

    def cached(self, session_id: str, key: Hashable, factory: Any) -> Any:
        """A per-session object for the session's current config version."""
        return self.cache.get_or_create(self.use(session_id), key, factory)

    def end(self, session_id: str) -> bool:
        """Delete the session, its folder and its cached objects now."""
        existed = self.store.delete(validate_session_id(session_id))
        self.folders.remove(session_id)
        self.cache.drop(session_id)
        return existed

    def stats(self) -> dict[str, Any]:
        """Counts only: how many live sessions, how many per IP (never configs or files)."""
        now = self.clock.now()
        live = self.store.live_ids(now=now)
        per_ip: dict[str, int] = {}
        for session_id in live:
            state = self.store.get(session_id, now=now)
            if state is not None:
                per_ip[state.client_ip] = per_ip.get(state.client_ip, 0) + 1
        return {
            "live_sessions": len(live),
            "per_ip": per_ip,
            "ttl_minutes": self.limits.ttl_seconds / 60,
            "max_per_ip": self.limits.max_per_ip,
        }
