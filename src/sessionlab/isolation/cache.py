"""Per-session object cache, keyed by session id *and* config version.

Some objects cannot live in a store (a database connection, a loaded model, an agent).
The seed's worker keeps them per process in ``{session_id: {cache_key: object}}``. Putting
the session id first makes isolation structural (one session's lookup can only ever see its
own entries) and makes dropping a session one ``pop``. Putting the config version in the key
means a config change is never answered by an object built for the old config.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from sessionlab.isolation.state import SessionState


class SessionCache:
    """``{session_id: {(version, key): object}}`` with hit/miss counts, thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[tuple[int, Hashable], Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_create(self, state: SessionState, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The cached object for this session, config version and key; built once."""
        slot = (state.version, key)
        with self._lock:
            entries = self._entries.setdefault(state.session_id, {})
            if slot in entries:
                self.hits += 1
                return entries[slot]
            self.misses += 1
            # Entries of older versions are dead weight: the config they were built for is gone.
            for old in [s for s in entries if s[0] != state.version]:
                del entries[old]
            entries[slot] = value = factory()
            return value

    def drop(self, session_id: str) -> int:
        """Forget a session's objects; returns how many there were."""
        with self._lock:
            return len(self._entries.pop(session_id, {}))

    def sessions(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def size(self, session_id: str) -> int:
        with self._lock:
            return len(self._entries.get(session_id, {}))
