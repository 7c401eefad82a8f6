"""Calls in child processes started from a notebook's text: a race of real workers.

``race_in_children`` is what lesson 07's stampede stands on: if its workers did not really run
at once, a racy "count, then insert" would pass; if it waited forever on one broken worker, a
grade would hang. These tests race real processes on a real SQLite file.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from sessionlab.lessons.child_runs import notebook_cells, race_in_children, run_in_child

SCHEMA = "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, client_ip TEXT, expires_at REAL)"
CELLS = [
    """
import sqlite3
import threading
import time

COUNT = "SELECT COUNT(*) FROM sessions WHERE client_ip = ? AND expires_at > ?"
INSERT = "INSERT INTO sessions VALUES (?, ?, ?)"


def naive(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0):
    db = sqlite3.connect(db_path, timeout=30)
    try:
        (live,) = db.execute(COUNT, (client_ip, now)).fetchone()
        if live >= max_per_ip:
            return False
        time.sleep(pause)
        db.execute(INSERT, (session_id, client_ip, now + ttl))
        db.commit()
        return True
    finally:
        db.close()


def atomic(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0):
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        (live,) = db.execute(COUNT, (client_ip, now)).fetchone()
        if live >= max_per_ip:
            db.execute("ROLLBACK")
            return False
        time.sleep(pause)
        db.execute(INSERT, (session_id, client_ip, now + ttl))
        db.execute("COMMIT")
        return True
    finally:
        db.close()


class Guard:
    lock = threading.Lock()  # one per process: it serializes threads, never workers


def thread_locked(db_path, session_id, client_ip, **limits):
    with Guard.lock:
        return naive(db_path, session_id, client_ip, **limits)


def when(*_args, **_kwargs):
    return time.time()


def hangs(*_args, **_kwargs):
    time.sleep(600)
""",
    "print('a demo: never runs in a child')\nraise SystemExit('nor does this')\n",
]
LIMITS = {"now": 1000.0, "ttl": 3600, "max_per_ip": 5, "pause": 0.05}


def _race(tmp_path: Path, function: str, creators: int = 24) -> tuple[int, int]:
    db_path = tmp_path / "sessions.sqlite3"
    with sqlite3.connect(db_path) as db:
        db.execute(SCHEMA)
    calls = [(str(db_path), f"s{n}", "203.0.113.99") for n in range(creators)]
    runs = race_in_children(CELLS, function, calls, LIMITS)
    assert all(not run.error and not run.crashed for run in runs), [r.describe() for r in runs]
    with sqlite3.connect(db_path) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
    return sum(run.returned is True for run in runs), rows


def test_count_then_insert_loses_the_race(tmp_path: Path) -> None:
    won, rows = _race(tmp_path, "naive")
    assert won == rows and rows > 5, f"{rows} rows: the workers did not race"


def test_begin_immediate_holds_the_limit(tmp_path: Path) -> None:
    assert _race(tmp_path, "atomic") == (5, 5)


def test_a_lock_inside_one_process_does_not_hold_across_workers(tmp_path: Path) -> None:
    won, rows = _race(tmp_path, "thread_locked")
    assert won == rows > 5, "a threading.Lock made separate processes wait: they were not separate"


def test_every_worker_is_released_at_the_same_instant() -> None:
    runs = race_in_children(CELLS, "when", [()] * 12)
    started = [float(run.returned) for run in runs]  # type: ignore[arg-type]
    # Generous: the release is one close(); 12 processes wake within milliseconds when idle.
    assert max(started) - min(started) < 1.0, started


def test_a_worker_that_cannot_start_reports_and_blocks_nobody() -> None:
    began = time.monotonic()
    runs = race_in_children(CELLS, "no_such_function", [()] * 4, timeout=60)
    assert time.monotonic() - began < 30, "the race waited for workers that had died"
    assert {run.error for run in runs} == {"KeyError: 'no_such_function'"}


def test_a_hanging_worker_is_killed_at_the_timeout() -> None:
    runs = race_in_children(CELLS, "hangs", [()] * 2, timeout=2)
    assert all(run.crashed for run in runs), [run.describe() for run in runs]


def test_notebook_cells_prefer_the_graders_copy() -> None:
    assert notebook_cells({"SUBMITTED_CELLS": ["a = 1"], "In": ["b = 2"]}) == ["a = 1"]
    hidden = "### BEGIN " + "HIDDEN TESTS\nsecret = 1"
    assert notebook_cells({"In": ["", "b = 2", hidden]}) == ["", "b = 2"]
    with pytest.raises(RuntimeError, match="no notebook here"):
        notebook_cells({})


def test_one_call_in_a_child_still_reports_what_it_returned(tmp_path: Path) -> None:
    db_path = tmp_path / "one.sqlite3"
    with sqlite3.connect(db_path) as db:
        db.execute(SCHEMA)
    run = run_in_child(CELLS, "naive", str(db_path), "s1", "10.0.0.1")
    assert "missing 3 required keyword-only arguments" in run.error
