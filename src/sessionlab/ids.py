"""Session ids: what a valid one looks like, checked on every way in.

Two kinds of id reach this package, and both end up in file names and store keys, so each
is checked against exactly one pattern before use (never a raw path or a key pattern):

* **A Claude Code session id** (a transcript's file name, ``--session-id``, ``sessionId`` in
  a line): a hyphenated 8-4-4-4-12 hex UUID; :func:`is_uuid` accepts any case,
  :data:`LOWERCASE_UUID` only the lowercase text the CLI writes.
* **A server-made session id** (an isolated session, lesson 07): exactly what
  :func:`new_session_id` produces, a lowercase UUID4; :func:`validate_session_id` refuses
  anything else, so ``../../etc`` or ``a*`` never reaches a folder name or a Redis key.

Every check is a ``fullmatch``: a trailing newline or suffix is refused too.
"""

from __future__ import annotations

import re
import uuid

from sessionlab.errors import InvalidSessionId

__all__ = [
    "LOWERCASE_UUID",
    "SESSION_ID",
    "UUID",
    "is_uuid",
    "new_session_id",
    "short_id",
    "validate_session_id",
]

#: Any hyphenated 8-4-4-4-12 hex UUID, either case.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: A UUID as the CLI writes it: lowercase, any version.
LOWERCASE_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Version nibble 4, variant 8/9/a/b: the canonical text of uuid.uuid4(), nothing else.
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def is_uuid(value: str) -> bool:
    """True for a hyphenated 8-4-4-4-12 hex UUID, the only form the CLI uses for session ids."""
    return UUID.fullmatch(value) is not None


def short_id(value: object, width: int = 8) -> str:
    """An id for a person to read: its first ``width`` characters and ``…`` (``-`` for
    ``None``). Why not the whole id: a 36-character uuid in a printed line is what makes a
    notebook wrap mid-word; why the ``…``: a cut id must never pass for a whole one."""
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= width else text[:width] + "…"


def new_session_id() -> str:
    """A fresh random session id (122 random bits: not guessable, not enumerable)."""
    return str(uuid.uuid4())


def validate_session_id(value: object) -> str:
    """``value`` if it is a server-made session id, else :class:`InvalidSessionId`."""
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        shown = repr(value)[:60]
        raise InvalidSessionId(f"invalid session id {shown}: expected a lowercase UUID4")
    return value
