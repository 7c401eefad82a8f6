"""Session ids: made by the server, checked on every way in.

A session id ends up in a folder name and in store keys. Accepting anything a client sends
would let ``../../etc`` or ``a*`` reach a path or a key pattern, so an id is valid only when
it is exactly what :func:`new_session_id` produces: a lowercase, hyphenated UUID4.
"""

from __future__ import annotations

import re
import uuid

from sessionlab.isolation.errors import InvalidSessionId

# Version nibble 4, variant 8/9/a/b: the canonical text of uuid.uuid4(), nothing else.
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def new_session_id() -> str:
    """A fresh random session id (122 random bits: not guessable, not enumerable)."""
    return str(uuid.uuid4())


def validate_session_id(value: object) -> str:
    """``value`` if it is a canonical session id, else :class:`InvalidSessionId`.

    ``fullmatch`` (not ``match``): a trailing newline or suffix is refused too.
    """
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        shown = repr(value)[:60]
        raise InvalidSessionId(f"invalid session id {shown}: expected a lowercase UUID4")
    return value
