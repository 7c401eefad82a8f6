"""What can go wrong with an isolated session; an app maps each to one HTTP status.

The per-IP session limit is :class:`sessionlab.errors.SessionLimitError` (HTTP 429), shared
with the lifecycle registry's limit, and a bad id is :class:`sessionlab.errors.InvalidSessionId`
(HTTP 400), raised by :mod:`sessionlab.ids`: one concept, one class.
"""

from __future__ import annotations

from sessionlab.errors import SessionLabError


class IsolationError(SessionLabError):
    """Base class: a request about a session that the service refuses, with the reason."""


class SessionNotFound(IsolationError, KeyError):
    """No live session with that id: never created, expired or deleted (HTTP 404)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "session not found"


class SessionTooLarge(IsolationError):
    """Writing this would take the session over its size cap (HTTP 413)."""
