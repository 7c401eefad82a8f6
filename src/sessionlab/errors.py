"""The package's errors: one root, and the user-facing kind that carries a one-line remedy.

Every exception ``sessionlab`` raises on purpose derives from :class:`SessionLabError`, so a
caller (an app, a lesson, a test) can catch "anything the course decided to refuse" in one
clause and let real bugs through. Errors that also behave like a built-in (a bad id is a
``ValueError``, a missing session a ``KeyError``, a failed append an ``OSError``) keep that
built-in as a second base, so existing ``except ValueError`` code keeps working.

:class:`CourseError` is the subset a *person* acts on: its message is one line that says
what to do, and the command line prints it without a traceback.
"""

from __future__ import annotations

__all__ = ["CourseError", "InvalidSessionId", "SessionLabError", "SessionLimitError"]


class SessionLabError(Exception):
    """Root of every error the package raises on purpose."""


class InvalidSessionId(SessionLabError, ValueError):
    """The id is not a server-made session id (HTTP 400): it never reaches a path or a key."""


class CourseError(SessionLabError):
    """A problem with a clear, one-line remedy; the command line prints it without a traceback."""


class SessionLimitError(CourseError):
    """A limit on live sessions is reached: a registry's ``max_sessions`` (lesson 05) or an
    IP address's maximum of isolated sessions (lesson 07; HTTP 429 in the bot)."""
