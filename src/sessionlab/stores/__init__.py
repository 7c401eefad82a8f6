"""SessionStore adapters for ``claude-agent-sdk``: a JSONL tree, SQLite and Redis.

A ``SessionStore`` is a *secondary* copy: the CLI still writes its local transcript, and the
SDK mirrors every line it wrote to ``options.session_store`` (see ``docs/session-stores.md``).
All three stores pass the SDK's own conformance suite with every optional method.

``RedisSessionStore`` is imported on first use, so this package imports without ``redis``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionlab.stores.jsonl_store import JsonlSessionStore
from sessionlab.stores.keys import InvalidSessionKey
from sessionlab.stores.sqlite_store import SQLiteSessionStore

if TYPE_CHECKING:  # pragma: no cover
    from sessionlab.stores.redis_store import RedisSessionStore

__all__ = ["InvalidSessionKey", "JsonlSessionStore", "RedisSessionStore", "SQLiteSessionStore"]


def __getattr__(name: str) -> Any:
    """PEP 562: ``redis`` is an optional dependency (the ``bot`` extra)."""
    if name == "RedisSessionStore":
        from sessionlab.stores.redis_store import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
