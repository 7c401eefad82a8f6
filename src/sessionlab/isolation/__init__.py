"""Isolated temporary sessions: one private, expiring workspace per user of a shared service.

A web service that runs agents for many people at once must keep each person's settings,
files and cached objects apart, forget them after a while, and stop one client from hoarding
resources. This package does that in small pieces:

* :mod:`~.ids`: session ids are server-made UUID4s, checked before any use (never a raw path);
* :mod:`~.clock`: an injectable clock, so TTL behaviour is tested without waiting;
* :mod:`~.state`: what a session holds (config, times, version, counters) and the limits;
* :mod:`~.store`: the :class:`SessionStore` protocol; :mod:`~.sqlite_store` (embedded default)
  and :mod:`~.redis_store` (a real Redis server) implement it, both enforcing the per-IP limit
  atomically;
* :mod:`~.folders`: per-session folders (uploads, temp, cache, an SQLite db) and the size cap;
* :mod:`~.cache`: per-process objects keyed by session id and config version;
* :mod:`~.manager`: :class:`SessionManager`, the one object an app talks to;
* :mod:`~.cleanup`: periodic removal of expired sessions and orphan folders.
"""

from __future__ import annotations

from sessionlab.isolation.cache import SessionCache
from sessionlab.isolation.cleanup import Cleaner, CleanupReport
from sessionlab.isolation.clock import Clock, ManualClock, SystemClock
from sessionlab.isolation.errors import (
    InvalidSessionId,
    IsolationError,
    SessionLimitExceeded,
    SessionNotFound,
    SessionTooLarge,
)
from sessionlab.isolation.folders import SessionFolders
from sessionlab.isolation.ids import new_session_id, validate_session_id
from sessionlab.isolation.manager import SessionManager
from sessionlab.isolation.sqlite_store import SqliteSessionStore
from sessionlab.isolation.state import Limits, SessionState
from sessionlab.isolation.store import SessionStore

__all__ = [
    "Cleaner",
    "CleanupReport",
    "Clock",
    "InvalidSessionId",
    "IsolationError",
    "Limits",
    "ManualClock",
    "SessionCache",
    "SessionFolders",
    "SessionLimitExceeded",
    "SessionManager",
    "SessionNotFound",
    "SessionState",
    "SessionStore",
    "SessionTooLarge",
    "SqliteSessionStore",
    "SystemClock",
    "new_session_id",
    "validate_session_id",
]
