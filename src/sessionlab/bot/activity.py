"""What the bot accepts: a Bot Framework-style ``message`` activity, checked field by field.

Everything the client sends is untrusted. A conversation id becomes a store key, so it must
match a strict pattern (the characters real channels use, no ``..``, no separators); a
missing or odd field is refused with a message that names it, before anything is stored.
Every activity names its conversation (the app checks the sender's token against it, even for
a ``typing`` activity that stores nothing); only messages need ``from.id`` and ``text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sessionlab.errors import SessionLabError

MAX_TEXT_CHARS = 4000
MAX_ID_CHARS = 256
# Letters, digits and the punctuation real channel ids use ("19:abc@thread.v2", "a|livechat").
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:|@=;+-]*")


class BadActivity(SessionLabError, ValueError):
    """The request is not an activity the bot can handle (HTTP 400)."""


@dataclass(frozen=True)
class Activity:
    """The fields of a message activity the bot uses."""

    type: str
    conversation_id: str
    user_id: str
    text: str
    activity_id: str | None = None


def validate_id(value: object, field: str) -> str:
    """A channel id that is safe as a store key, or :class:`BadActivity`."""
    if not isinstance(value, str) or not value:
        raise BadActivity(f"{field} is required (a non-empty string)")
    if len(value) > MAX_ID_CHARS:
        raise BadActivity(f"{field} is longer than {MAX_ID_CHARS} characters")
    if not _ID.fullmatch(value) or ".." in value:
        raise BadActivity(f"{field} has characters that are not allowed: {value[:40]!r}")
    return value


def _object(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if not isinstance(value, dict):
        raise BadActivity(f"{field} is required (an object with an 'id')")
    return value


def parse_activity(body: Any) -> Activity:
    """The activity in a decoded JSON body; :class:`BadActivity` names the first problem.

    Only ``type`` and ``conversation.id`` are read for other activities (typing,
    conversationUpdate...): the app acknowledges them without storing anything.
    """
    if not isinstance(body, dict):
        raise BadActivity("the body must be a JSON object (an activity)")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadActivity("type is required (e.g. 'message')")
    if len(kind) > MAX_ID_CHARS:
        raise BadActivity(f"type is longer than {MAX_ID_CHARS} characters")
    conversation_id = validate_id(_object(body, "conversation").get("id"), "conversation.id")
    if kind != "message":
        return Activity(kind, conversation_id, "", "")
    user_id = validate_id(_object(body, "from").get("id"), "from.id")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadActivity("text is required for a message activity (a non-empty string)")
    if len(text) > MAX_TEXT_CHARS:
        raise BadActivity(f"text is longer than {MAX_TEXT_CHARS} characters")
    try:
        text.encode("utf-8")  # JSON can carry a lone surrogate ("\ud800"); no store can keep one
    except UnicodeEncodeError:
        raise BadActivity("text contains a lone surrogate (not valid Unicode text)") from None
    activity_id = body.get("id")
    if activity_id is not None and (
        not isinstance(activity_id, str) or not 0 < len(activity_id) <= MAX_ID_CHARS
    ):
        raise BadActivity(f"id must be a string of 1 to {MAX_ID_CHARS} characters")
    return Activity(kind, conversation_id, user_id, text.strip(), activity_id)
