"""A multi-session chat bot: one isolated, capped, expiring history per conversation.

The seed's bot kept one global history, so every user's messages were mixed into every
answer. Here each Bot Framework ``conversation.id`` has its own history in a store (SQLite
or Redis, so it survives a restart), capped at 20 messages and forgotten after 30 minutes
of silence. Replies come from the course model over HTTP, exactly as a real client would
call the Messages API.

Modules: :mod:`~.activity` (validate what arrives), :mod:`~.history` (the stores),
:mod:`~.model_client` (the Messages API call), :mod:`~.app` (the FastAPI app),
:mod:`~.process` (run it as a real server process, for lessons and load tests).
"""

from __future__ import annotations

from sessionlab.bot.activity import Activity, BadActivity, parse_activity
from sessionlab.bot.history import (
    ConversationStats,
    HistoryLimits,
    HistoryStore,
    Message,
    RedisHistory,
    SQLiteHistory,
)

__all__ = [
    "Activity",
    "BadActivity",
    "ConversationStats",
    "HistoryLimits",
    "HistoryStore",
    "Message",
    "RedisHistory",
    "SQLiteHistory",
    "parse_activity",
]
