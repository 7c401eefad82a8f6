"""A SessionStore in one SQLite file: no server, safe across threads and processes.

Schema (``SCHEMA``): ``entries`` keeps each entry as JSON text in an ``AUTOINCREMENT``
sequence, which is the order :meth:`load` returns; a partial unique index on
``(project_key, session_id, subpath, uuid) WHERE uuid IS NOT NULL`` makes re-appending an
entry a no-op (``ON CONFLICT DO NOTHING``) while uuid-less entries are always appended.
``transcripts`` holds one row per written key (its existence is what makes :meth:`load`
return ``[]`` rather than ``None``) with its ``mtime_ms``; ``summaries`` the SDK's folded
summary per main transcript, stamped with that same ``mtime_ms``.

An append is one ``BEGIN IMMEDIATE`` transaction (:class:`~sessionlab.sqlite_db.SQLiteDatabase`):
the write lock is taken before the summary is read, so the read-fold-write of the summary
cannot race another appender. The main transcript's subpath is stored as ``''`` (a
``NULL`` would not take part in the primary keys).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from claude_agent_sdk import fold_session_summary
from claude_agent_sdk.types import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

from sessionlab.monitor.safety import open_private
from sessionlab.sqlite_db import SQLiteDatabase
from sessionlab.stores.blocking import BlockingStore
from sessionlab.stores.codec import encode_entry, entry_uuid, parse_line
from sessionlab.stores.keys import Key, check_component, parse_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    subpath     TEXT NOT NULL,
    uuid        TEXT,
    entry       TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_uuid
    ON entries (project_key, session_id, subpath, uuid) WHERE uuid IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_order ON entries (project_key, session_id, subpath, seq);
CREATE TABLE IF NOT EXISTS transcripts (
    project_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    subpath     TEXT NOT NULL,
    mtime_ms    INTEGER NOT NULL,
    PRIMARY KEY (project_key, session_id, subpath)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS summaries (
    project_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    mtime_ms    INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (project_key, session_id)
) WITHOUT ROWID;
"""
MAIN = ""  # the subpath column's value for a main transcript

_INSERT = (
    "INSERT INTO entries (project_key, session_id, subpath, uuid, entry) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (project_key, session_id, subpath, uuid) WHERE uuid IS NOT NULL DO NOTHING"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SQLiteSessionStore(BlockingStore):
    """All sessions of all projects in one SQLite database file (WAL mode, file mode 0600).

    ``append`` inserts the batch in order, skipping uuids the key already holds; ``load``
    returns the key's entries in insertion order, ``None`` if it was never written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: SQLiteDatabase | None = None
        self._init_lock = threading.Lock()

    def _database(self) -> SQLiteDatabase:
        """Create the file (0600: transcripts are private) and the schema on first use.

        Runs in a worker thread, so constructing the store never does I/O on the event loop.
        """
        with self._init_lock:
            if self._db is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.close(open_private(self.path, os.O_RDWR))
                db = SQLiteDatabase(self.path)
                db.connection().executescript(SCHEMA)
                self._db = db
            return self._db

    # -- the SessionStore protocol --------------------------------------------------------
    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        check_component(project_key, "project_key")
        rows = await self._query(
            "SELECT session_id, mtime_ms FROM transcripts WHERE project_key = ? AND subpath = ?",
            (project_key, MAIN),
        )
        return [{"session_id": sid, "mtime": mtime} for sid, mtime in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        check_component(project_key, "project_key")
        rows = await self._query(
            "SELECT session_id, mtime_ms, data FROM summaries WHERE project_key = ?",
            (project_key,),
        )
        return [{"session_id": s, "mtime": m, "data": orjson.loads(d)} for s, m, d in rows]

    async def delete(self, key: SessionKey) -> None:
        """Delete one subpath, or a main transcript with all its subpaths and its summary."""
        await anyio.to_thread.run_sync(self._delete, parse_key(key))

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        parsed = parse_key({"project_key": key["project_key"], "session_id": key["session_id"]})
        rows = await self._query(
            "SELECT subpath FROM transcripts "
            "WHERE project_key = ? AND session_id = ? AND subpath != ? ORDER BY subpath",
            (parsed.project_key, parsed.session_id, MAIN),
        )
        return [row[0] for row in rows]

    async def close(self) -> None:
        """Close every thread's connection (a later call reopens)."""
        if self._db is not None:
            self._db.close()

    async def __aenter__(self) -> SQLiteSessionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- worker-thread side ---------------------------------------------------------------
    async def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            return self._database().connection().execute(sql, args).fetchall()

        return await anyio.to_thread.run_sync(run)

    def _append(self, key: Key, entries: list[Any]) -> None:
        sub = key.subpath or MAIN
        rows = [
            (key.project_key, key.session_id, sub, entry_uuid(e), encode_entry(e).decode())
            for e in entries
        ]
        with self._database().transaction() as db:
            fresh = [e for e, row in zip(entries, rows, strict=True) if _inserted(db, row)]
            if not fresh:
                return
            (prev_mtime,) = db.execute(
                "SELECT coalesce(max(mtime_ms), 0) FROM transcripts "
                "WHERE project_key = ? AND session_id = ? AND subpath = ?",
                (key.project_key, key.session_id, sub),
            ).fetchone()
            mtime = max(now_ms(), prev_mtime)  # never backwards, even if the clock is
            db.execute(
                "INSERT INTO transcripts VALUES (?, ?, ?, ?) ON CONFLICT "
                "(project_key, session_id, subpath) DO UPDATE SET mtime_ms = excluded.mtime_ms",
                (key.project_key, key.session_id, sub, mtime),
            )
            if key.subpath is None:
                self._fold_summary(db, key, fresh, mtime)

    @staticmethod
    def _fold_summary(db: sqlite3.Connection, key: Key, fresh: list[Any], mtime: int) -> None:
        row = db.execute(
            "SELECT mtime_ms, data FROM summaries WHERE project_key = ? AND session_id = ?",
            (key.project_key, key.session_id),
        ).fetchone()
        prev: SessionSummaryEntry | None = None
        if row is not None:
            prev = {"session_id": key.session_id, "mtime": row[0], "data": orjson.loads(row[1])}
        folded = fold_session_summary(prev, key.session_key(), fresh)
        db.execute(
            "INSERT INTO summaries VALUES (?, ?, ?, ?) ON CONFLICT (project_key, session_id) "
            "DO UPDATE SET mtime_ms = excluded.mtime_ms, data = excluded.data",
            (key.project_key, key.session_id, mtime, orjson.dumps(folded["data"]).decode()),
        )

    def _load(self, key: Key) -> list[Any] | None:
        db = self._database().connection()
        args = (key.project_key, key.session_id, key.subpath or MAIN)
        # One read transaction, so the existence check and the rows see the same snapshot.
        db.execute("BEGIN")
        try:
            known = db.execute(
                "SELECT 1 FROM transcripts WHERE project_key = ? AND session_id = ? "
                "AND subpath = ?",
                args,
            ).fetchone()
            rows = db.execute(
                "SELECT entry FROM entries WHERE project_key = ? AND session_id = ? "
                "AND subpath = ? ORDER BY seq",
                args,
            ).fetchall()
        finally:
            db.execute("COMMIT")
        if known is None:
            return None
        return [parse_line(row[0].encode()) for row in rows]

    def _delete(self, key: Key) -> None:
        where = "project_key = ? AND session_id = ?"
        args: tuple[str, ...] = (key.project_key, key.session_id)
        with self._database().transaction() as db:
            if key.subpath is not None:
                where += " AND subpath = ?"
                args += (key.subpath,)
            else:
                db.execute(f"DELETE FROM summaries WHERE {where}", args)
            db.execute(f"DELETE FROM entries WHERE {where}", args)
            db.execute(f"DELETE FROM transcripts WHERE {where}", args)


def _inserted(db: sqlite3.Connection, row: tuple[Any, ...]) -> bool:
    """Insert one entry row; False when its uuid was already there (idempotent re-append)."""
    return db.execute(_INSERT, row).rowcount == 1
