"""Isolated temporary sessions: one private, expiring workspace per user of a shared service.

A web service that runs agents for many people at once must keep each person's settings,
files and cached objects apart, forget them after a while, and stop one client from hoarding
resources. This package does that in small pieces:

* :mod:`~.state`: what a session holds (config, times, version, counters) and the limits;
* :mod:`~.state_store`: the :class:`StateStore` protocol; :mod:`~.sqlite_state_store`
  (embedded default) and :mod:`~.redis_state_store` (a real Redis server) implement it, both
  enforcing the per-IP limit atomically;
* :mod:`~.folders`: per-session folders (uploads, temp, cache, an SQLite db) and the size cap;
* :mod:`~.cache`: per-process objects keyed by session id and config version;
* :mod:`~.temporary_sessions`: :class:`TemporarySessionManager`, the one object an app talks to;
* :mod:`~.cleanup`: periodic removal of expired sessions and orphan folders.
* :mod:`~.turn_worker`: session turns on a real Celery worker that keeps one live client per
  session (lesson 7's exercise; imported on its own, it needs ``redis`` and ``celery``).
"""

from __future__ import annotations

from sessionlab.isolation.cache import SessionCache
from sessionlab.isolation.cleanup import Cleaner, SweepReport
from sessionlab.isolation.errors import (
    IsolationError,
    SessionNotFound,
    SessionTooLarge,
)
from sessionlab.isolation.folders import SessionFolders
from sessionlab.isolation.sqlite_state_store import SQLiteStateStore
from sessionlab.isolation.state import IsolationLimits, SessionState
from sessionlab.isolation.state_store import StateStore
from sessionlab.isolation.temporary_sessions import TemporarySessionManager

__all__ = [
    "Cleaner",
    "IsolationError",
    "IsolationLimits",
    "SQLiteStateStore",
    "SessionCache",
    "SessionFolders",
    "SessionNotFound",
    "SessionState",
    "SessionTooLarge",
    "StateStore",
    "SweepReport",
    "TemporarySessionManager",
]
