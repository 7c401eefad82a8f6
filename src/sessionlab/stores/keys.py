"""One validation for every store, so a key that works in one store works in all of them.

A :class:`~claude_agent_sdk.types.SessionKey` names a file in :class:`JsonlSessionStore`, so a
session id such as ``../../etc/passwd`` would otherwise be a path traversal. The same rules
apply to the SQLite and Redis stores (where they are not a security need) so that a session
can be copied between stores without a key becoming invalid on the way.

A component (``project_key``, ``session_id``, each ``/``-separated part of ``subpath``) must be
non-empty, must not start with ``.`` (which also rules out ``.`` and ``..`` and keeps the file
store's ``.summaries`` folder out of the key space), must not contain ``/``, ``\\`` or NUL, and
must fit a file name. The CLI's own keys (sanitized cwd, UUID, ``subagents/agent-<id>``)
always pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from claude_agent_sdk.types import SessionKey

#: A component plus ``.jsonl`` must fit the usual 255-byte file name limit.
MAX_COMPONENT_BYTES = 240


class InvalidSessionKey(ValueError):
    """A key that could escape the store's root or collide with its bookkeeping."""


class Key(NamedTuple):
    """A validated key: ``subpath`` is ``None`` for the main transcript."""

    project_key: str
    session_id: str
    subpath: str | None

    @property
    def parts(self) -> tuple[str, ...]:
        """The subpath's components (empty for the main transcript)."""
        return tuple(self.subpath.split("/")) if self.subpath else ()

    def session_key(self) -> SessionKey:
        """The key as the SDK spells it (no ``subpath`` field for the main transcript)."""
        key: SessionKey = {"project_key": self.project_key, "session_id": self.session_id}
        if self.subpath is not None:
            key["subpath"] = self.subpath
        return key


def check_component(value: Any, what: str) -> str:
    """Return ``value`` if it is a safe single path component, else raise InvalidSessionKey."""
    if not isinstance(value, str) or not value:
        raise InvalidSessionKey(f"{what} must be a non-empty string, got {value!r}")
    if "\0" in value:
        raise InvalidSessionKey(f"{what} {value!r} contains a NUL byte")
    if "/" in value or "\\" in value:
        raise InvalidSessionKey(f"{what} {value!r} must not contain '/' or '\\'")
    if value.startswith("."):
        raise InvalidSessionKey(f"{what} {value!r} must not start with '.' ('..' escapes root)")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidSessionKey(f"{what} {value!r} is not valid Unicode") from None
    if size > MAX_COMPONENT_BYTES:
        raise InvalidSessionKey(f"{what} is {size} bytes long (limit {MAX_COMPONENT_BYTES})")
    return value


def check_subpath(value: Any) -> str:
    """A relative ``/``-separated path of safe components (``subagents/agent-1``)."""
    if not isinstance(value, str) or not value:
        raise InvalidSessionKey(
            f"subpath must be a non-empty string, got {value!r} (omit it for the main transcript)"
        )
    if value.startswith("/"):
        raise InvalidSessionKey(f"subpath {value!r} must be relative, not absolute")
    for part in value.split("/"):
        check_component(part, f"subpath component of {value!r}")
    return value


def parse_key(key: Any) -> Key:
    """Validate a ``SessionKey`` (or ``SessionListSubkeysKey``) mapping."""
    if not isinstance(key, dict):
        raise InvalidSessionKey(f"a session key is a dict, got {type(key).__name__}")
    subpath = key.get("subpath")
    return Key(
        check_component(key.get("project_key"), "project_key"),
        check_component(key.get("session_id"), "session_id"),
        None if subpath is None else check_subpath(subpath),
    )
