"""The embedded session store: one SQLite file, no server, safe across threads and processes.

Why it is atomic: :meth:`SQLiteStateStore.create` counts the IP's live sessions and inserts
the new one inside one ``BEGIN IMMEDIATE`` transaction. ``IMMEDIATE`` takes SQLite's write
lock *before* the count, so two creators can never both read "4 of 5" and both insert; the
second waits (``busy_timeout``) and then sees 5. A plain ``BEGIN`` would only take the lock at
the ``INSERT``, after both had counted.

Each thread gets its own connection (SQLite connections must not be shared across threads),
in autocommit mode so transactions are explicit: :class:`~sessionlab.sqlite_db.SQLiteDatabase`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sessionlab.isolation.errors import SessionLimitExceeded
from sessionlab.isolation.ids import validate_session_id
from sessionlab.isolation.state import SessionState
from sessionlab.sqlite_db import SQLiteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    client_ip  TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen  REAL NOT NULL,
    expires_at REAL NOT NULL,
    version    INTEGER NOT NULL,
    config     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_ip ON sessions (client_ip, expires_at);
CREATE TABLE IF NOT EXISTS counters (
    session_id TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    PRIMARY KEY (session_id, name)
);
"""


class SQLiteStateStore:
    """:class:`~sessionlab.isolation.state_store.StateStore` on one SQLite file (WAL mode)."""

    def __init__(self, path: str | Path) -> None:
        self._db = SQLiteDatabase(path)
        self.path = self._db.path
        self._db.connection().executescript(SCHEMA)  # idempotent; executescript commits itself

    def close(self) -> None:
        self._db.close()

    # --- reading ---------------------------------------------------------------------------
    def _load(self, db: sqlite3.Connection, session_id: str, now: float) -> SessionState | None:
        row = db.execute(
            "SELECT session_id, client_ip, created_at, last_seen, expires_at, version, config "
            "FROM sessions WHERE session_id = ? AND expires_at > ?",
            (session_id, now),
        ).fetchone()
        if row is None:
            return None
        counters = dict(
            db.execute("SELECT name, value FROM counters WHERE session_id = ?", (session_id,))
        )
        return SessionState(
            session_id=row[0],
            client_ip=row[1],
            created_at=row[2],
            last_seen=row[3],
            expires_at=row[4],
            version=row[5],
            config=json.loads(row[6]),
            counters=counters,
        )

    def get(self, session_id: str, *, now: float) -> SessionState | None:
        validate_session_id(session_id)
        return self._load(self._db.connection(), session_id, now)

    def live_ids(self, *, now: float) -> list[str]:
        rows = self._db.connection().execute(
            "SELECT session_id FROM sessions WHERE expires_at > ? ORDER BY created_at", (now,)
        )
        return [row[0] for row in rows]

    def count_for_ip(self, client_ip: str, *, now: float) -> int:
        row = (
            self._db.connection()
            .execute(
                "SELECT COUNT(*) FROM sessions WHERE client_ip = ? AND expires_at > ?",
                (client_ip, now),
            )
            .fetchone()
        )
        return int(row[0])

    # --- writing ---------------------------------------------------------------------------
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
        validate_session_id(session_id)
        with self._db.transaction() as db:
            (live,) = db.execute(
                "SELECT COUNT(*) FROM sessions WHERE client_ip = ? AND expires_at > ?",
                (client_ip, now),
            ).fetchone()
            if live >= max_per_ip:
                raise SessionLimitExceeded(
                    f"{client_ip} already has {live} live sessions (limit {max_per_ip})"
                )
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, 1, ?)",
                (session_id, client_ip, now, now, now + ttl, json.dumps(config, sort_keys=True)),
            )
        return SessionState(session_id, client_ip, now, now, now + ttl, 1, dict(config), {})

    def touch(self, session_id: str, *, now: float, ttl: float) -> SessionState | None:
        validate_session_id(session_id)
        with self._db.transaction() as db:
            changed = db.execute(
                "UPDATE sessions SET last_seen = ?, expires_at = ? "
                "WHERE session_id = ? AND expires_at > ?",
                (now, now + ttl, session_id, now),
            ).rowcount
            return self._load(db, session_id, now) if changed else None

    def update_config(
        self, session_id: str, changes: dict[str, Any], *, now: float, ttl: float
    ) -> SessionState | None:
        validate_session_id(session_id)
        with self._db.transaction() as db:
            current = self._load(db, session_id, now)
            if current is None:
                return None
            config = {**current.config, **changes}
            db.execute(
                "UPDATE sessions SET config = ?, version = version + 1, last_seen = ?, "
                "expires_at = ? WHERE session_id = ?",
                (json.dumps(config, sort_keys=True), now, now + ttl, session_id),
            )
            return self._load(db, session_id, now)

    def add_counter(self, session_id: str, name: str, amount: int, *, now: float) -> int | None:
        validate_session_id(session_id)
        with self._db.transaction() as db:
            if self._load(db, session_id, now) is None:
                return None
            (value,) = db.execute(
                "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT (session_id, name) "
                "DO UPDATE SET value = value + excluded.value RETURNING value",
                (session_id, name, amount),
            ).fetchone()
            return int(value)

    def delete(self, session_id: str) -> bool:
        validate_session_id(session_id)
        with self._db.transaction() as db:
            return (
                db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,)).rowcount > 0
            )

    def purge_expired(self, *, now: float) -> list[str]:
        with self._db.transaction() as db:
            gone = [
                row[0]
                for row in db.execute(
                    "SELECT session_id FROM sessions WHERE expires_at <= ?", (now,)
                ).fetchall()
            ]
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        return gone
