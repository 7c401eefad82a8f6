"""Conversation histories: capped, expiring, one per conversation id, in SQLite or Redis.

Both stores keep the same contract (:class:`HistoryStore`):

* :meth:`~HistoryStore.append` adds a whole turn (the user's message and the reply) in one
  atomic step and trims to the last ``max_messages``; a turn is never half stored, so a
  crash or a concurrent writer cannot lose one message of a pair;
* a conversation silent for ``ttl_seconds`` is forgotten: reads return nothing even before
  a purge removes it, and the next message starts a fresh history;
* time comes from the caller (``now``), so the app's injectable clock decides expiry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis

from sessionlab.bot.activity import validate_id
from sessionlab.sqlite_db import SQLiteDatabase


@dataclass(frozen=True)
class HistoryLimits:
    """The seed's defaults: the last 20 messages, forgotten after 30 minutes of silence."""

    max_messages: int = 20
    ttl_seconds: float = 30 * 60

    def __post_init__(self) -> None:
        if self.max_messages < 2 or self.ttl_seconds <= 0:
            raise ValueError(f"history limits out of range: {self}")


@dataclass(frozen=True)
class Message:
    """One stored message: ``role`` is ``"user"`` or ``"assistant"``."""

    role: str
    text: str
    at: float


@dataclass(frozen=True)
class ConversationStats:
    """Metadata only: what ``GET /sessions`` may show (never the text)."""

    conversation_id: str
    messages: int
    created_at: float
    last_activity: float


class HistoryStore(Protocol):
    """Where the bot keeps its conversations."""

    limits: HistoryLimits

    def history(self, conversation_id: str, *, now: float) -> list[Message]: ...

    def append(self, conversation_id: str, turn: list[tuple[str, str]], *, now: float) -> int: ...

    def stats(self, *, now: float) -> list[ConversationStats]: ...

    def purge_expired(self, *, now: float) -> list[str]: ...

    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    created_at      REAL NOT NULL,
    last_activity   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations ON DELETE CASCADE,
    role            TEXT NOT NULL,
    text            TEXT NOT NULL,
    at              REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, id);
"""


class SQLiteHistory:
    """:class:`HistoryStore` in one SQLite file (WAL; one connection per thread)."""

    def __init__(self, path: str | Path, limits: HistoryLimits | None = None) -> None:
        self._db = SQLiteDatabase(path)
        self.path = self._db.path
        self.limits = limits or HistoryLimits()
        self._db.connection().executescript(SCHEMA)  # idempotent; executescript commits itself

    def _alive_since(self, now: float) -> float:
        return now - self.limits.ttl_seconds

    def history(self, conversation_id: str, *, now: float) -> list[Message]:
        rows = self._db.connection().execute(
            "SELECT m.role, m.text, m.at FROM messages m JOIN conversations c "
            "USING (conversation_id) WHERE conversation_id = ? AND c.last_activity > ? "
            "ORDER BY m.id",
            (conversation_id, self._alive_since(now)),
        )
        return [Message(*row) for row in rows]

    def append(self, conversation_id: str, turn: list[tuple[str, str]], *, now: float) -> int:
        """Add the turn's messages atomically; returns the history length after trimming."""
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT last_activity FROM conversations WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            if row is not None and row[0] <= self._alive_since(now):
                # Expired but not purged yet: forget it, as if the purge had run.
                db.execute(
                    "DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,)
                )
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?) ON CONFLICT (conversation_id) "
                "DO UPDATE SET last_activity = excluded.last_activity",
                (conversation_id, now, now),
            )
            db.executemany(
                "INSERT INTO messages (conversation_id, role, text, at) VALUES (?, ?, ?, ?)",
                [(conversation_id, role, text, now) for role, text in turn],
            )
            db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id NOT IN (SELECT id FROM "
                "messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?)",
                (conversation_id, conversation_id, self.limits.max_messages),
            )
            (count,) = db.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return int(count)

    def stats(self, *, now: float) -> list[ConversationStats]:
        rows = self._db.connection().execute(
            "SELECT c.conversation_id, COUNT(m.id), c.created_at, c.last_activity "
            "FROM conversations c LEFT JOIN messages m USING (conversation_id) "
            "WHERE c.last_activity > ? GROUP BY c.conversation_id ORDER BY c.last_activity DESC",
            (self._alive_since(now),),
        )
        return [ConversationStats(*row) for row in rows]

    def purge_expired(self, *, now: float) -> list[str]:
        with self._db.transaction() as db:
            gone = [
                row[0]
                for row in db.execute(
                    "SELECT conversation_id FROM conversations WHERE last_activity <= ?",
                    (self._alive_since(now),),
                ).fetchall()
            ]
            db.execute(
                "DELETE FROM conversations WHERE last_activity <= ?", (self._alive_since(now),)
            )
        return gone

    def close(self) -> None:
        self._db.close()


# KEYS: list, meta hash, index zset. ARGV: now, expires_at, cap, backstop ms, id, then
# role/text/at triples as JSON strings.
APPEND_LUA = """
local expires = redis.call('HGET', KEYS[2], 'expires_at')
if expires and tonumber(expires) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  expires = nil
end
if not expires then redis.call('HSET', KEYS[2], 'created_at', ARGV[1]) end
for i = 6, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('HSET', KEYS[2], 'last_activity', ARGV[1], 'expires_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[5])
return redis.call('LLEN', KEYS[1])
"""
# KEYS: list, meta hash, index zset. ARGV: now, id. Deletes only if still expired.
PURGE_LUA = """
local expires = redis.call('HGET', KEYS[2], 'expires_at')
if expires and tonumber(expires) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
"""


class RedisHistory:
    """:class:`HistoryStore` on a Redis server: a list per conversation plus a meta hash."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        limits: HistoryLimits | None = None,
        *,
        prefix: str = "sessionlab:bot:",
    ) -> None:
        self.limits = limits or HistoryLimits()
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        self._append = self.client.register_script(APPEND_LUA)
        self._purge = self.client.register_script(PURGE_LUA)

    def _keys(self, conversation_id: str) -> list[str]:
        validate_id(conversation_id, "conversation id")  # a key, so the app's check again
        return [
            f"{self.prefix}h:{conversation_id}",
            f"{self.prefix}m:{conversation_id}",
            f"{self.prefix}index",
        ]

    def history(self, conversation_id: str, *, now: float) -> list[Message]:
        messages, meta = self._keys(conversation_id)[:2]
        with self.client.pipeline(transaction=True) as pipe:  # one consistent snapshot
            expires, items = pipe.hget(meta, "expires_at").lrange(messages, 0, -1).execute()
        if expires is None or float(expires) <= now:
            return []
        return [Message(**json.loads(item)) for item in items]

    def append(self, conversation_id: str, turn: list[tuple[str, str]], *, now: float) -> int:
        backstop_ms = int((self.limits.ttl_seconds + 60) * 1000)
        items = [json.dumps({"role": r, "text": t, "at": now}) for r, t in turn]
        return int(
            self._append(
                keys=self._keys(conversation_id),
                args=[
                    repr(now),
                    repr(now + self.limits.ttl_seconds),
                    self.limits.max_messages,
                    backstop_ms,
                    conversation_id,
                    *items,
                ],
            )
        )

    def stats(self, *, now: float) -> list[ConversationStats]:
        ids = self.client.zrevrangebyscore(f"{self.prefix}index", "+inf", f"({now!r}")
        with self.client.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                messages, meta = self._keys(conversation_id)[:2]
                pipe.llen(messages).hmget(meta, "created_at", "last_activity")
            answers = pipe.execute()
        found = []
        for index, conversation_id in enumerate(ids):
            count, (created, last) = answers[2 * index], answers[2 * index + 1]
            if created is not None and last is not None:
                found.append(ConversationStats(conversation_id, count, float(created), float(last)))
        return found

    def purge_expired(self, *, now: float) -> list[str]:
        candidates = self.client.zrangebyscore(f"{self.prefix}index", "-inf", repr(now))
        return [
            cid for cid in candidates if self._purge(keys=self._keys(cid), args=[repr(now), cid])
        ]

    def close(self) -> None:
        self.client.close()
