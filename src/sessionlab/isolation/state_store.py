"""The :class:`StateStore` protocol: what the manager needs from a backend.

Two implementations: :class:`~.sqlite_state_store.SQLiteStateStore` (a file, no server: the
default) and :class:`~.redis_state_store.RedisStateStore` (a Redis server shared by several app
processes). Both take ``now`` from the caller, so the manager's injectable clock decides
expiry, not the backend's own clock.

The contract every backend must keep:

* :meth:`create` is **atomic** with its per-IP check: with ``max_per_ip`` = 5, any number of
  concurrent creators from one IP (threads or processes) yield at most 5 live sessions;
* :meth:`touch` renews the TTL; an expired session is never returned, even before it is
  purged;
* ids are validated before they are used as keys.
"""

from __future__ import annotations

from typing import Any, Protocol

from sessionlab.isolation.state import SessionState


class StateStore(Protocol):
    """Persistent session records with TTL and a per-IP limit."""

    def create(
        self,
        session_id: str,
        client_ip: str,
        config: dict[str, Any],
        *,
        now: float,
        ttl: float,
        max_per_ip: int,
    ) -> SessionState:
        """Insert a session, or raise SessionLimitExceeded if the IP has max_per_ip live ones."""
        ...

    def get(self, session_id: str, *, now: float) -> SessionState | None:
        """The live session, without renewing it (for monitoring)."""
        ...

    def touch(self, session_id: str, *, now: float, ttl: float) -> SessionState | None:
        """Renew and return the live session, or ``None`` if there is none."""
        ...

    def update_config(
        self, session_id: str, changes: dict[str, Any], *, now: float, ttl: float
    ) -> SessionState | None:
        """Merge ``changes`` into the config, bump the version, renew; ``None`` if gone."""
        ...

    def add_counter(self, session_id: str, name: str, amount: int, *, now: float) -> int | None:
        """Add to a counter atomically and return its new value; ``None`` if gone."""
        ...

    def delete(self, session_id: str) -> bool:
        """Remove a session; True if it existed."""
        ...

    def live_ids(self, *, now: float) -> list[str]:
        """Ids of every live session."""
        ...

    def count_for_ip(self, client_ip: str, *, now: float) -> int:
        """How many live sessions the IP holds."""
        ...

    def purge_expired(self, *, now: float) -> list[str]:
        """Delete every expired session and return their ids."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
