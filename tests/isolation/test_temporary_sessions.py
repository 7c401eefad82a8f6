"""The manager: folders, size cap, cache keyed by version, cleanup of expired and orphans."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sessionlab.isolation import (
    Cleaner,
    InvalidSessionId,
    IsolationLimits,
    ManualClock,
    SessionNotFound,
    SessionTooLarge,
    TemporarySessionManager,
    new_session_id,
)
from sessionlab.isolation.folders import SUBFOLDERS
from sessionlab.isolation.state_store import StateStore


@pytest.fixture
def manager(store: StateStore, clock: ManualClock, tmp_path: Path) -> TemporarySessionManager:
    limits = IsolationLimits(ttl_seconds=600, max_per_ip=3, max_bytes=10_000)
    return TemporarySessionManager(store, tmp_path / "root", limits=limits, clock=clock)


def test_each_session_gets_its_own_folders(manager: TemporarySessionManager) -> None:
    one, two = manager.create("10.0.0.1"), manager.create("10.0.0.1")
    for state in (one, two):
        folder = manager.folders.folder(state.session_id)
        assert folder.parent == manager.folders.root
        assert all((folder / name).is_dir() for name in SUBFOLDERS)
        assert manager.folders.db_path(state.session_id).is_file()
    manager.save_upload(one.session_id, "data.csv", b"a,b\n1,2\n")
    assert not (manager.folders.folder(two.session_id) / "uploads" / "data.csv").exists()


@pytest.mark.parametrize("name", ["../x.csv", "/etc/passwd", "..", ".hidden", "a/b.csv", ""])
def test_upload_names_cannot_escape(manager: TemporarySessionManager, name: str) -> None:
    session_id = manager.create("10.0.0.1").session_id
    with pytest.raises(ValueError):
        manager.save_upload(session_id, name, b"x")


def test_traversal_session_ids_are_refused(manager: TemporarySessionManager) -> None:
    for bad in ("../../etc", "../" + new_session_id()):
        with pytest.raises(InvalidSessionId):
            manager.folders.folder(bad)
        with pytest.raises(InvalidSessionId):
            manager.use(bad)


def test_size_cap_refuses_the_write_that_would_exceed_it(manager: TemporarySessionManager) -> None:
    session_id = manager.create("10.0.0.1").session_id
    used = manager.folders.size(session_id)  # the session's own SQLite db
    manager.save_upload(session_id, "a.bin", b"x" * (10_000 - used - 100))
    with pytest.raises(SessionTooLarge):
        manager.save_upload(session_id, "b.bin", b"x" * 101)
    assert not (manager.folders.folder(session_id) / "uploads" / "b.bin").exists()
    manager.save_upload(session_id, "a.bin", b"y" * 10)  # replacing frees the old bytes
    assert manager.folders.size(session_id) <= 10_000


def test_cache_is_per_session_and_per_config_version(manager: TemporarySessionManager) -> None:
    one, two = manager.create("10.0.0.1"), manager.create("10.0.0.2")
    built: list[str] = []

    def factory(label: str) -> object:
        built.append(label)
        return object()

    a = manager.cached(one.session_id, "agent", lambda: factory("one v1"))
    assert manager.cached(one.session_id, "agent", lambda: factory("again")) is a
    b = manager.cached(two.session_id, "agent", lambda: factory("two v1"))
    assert b is not a
    manager.configure(one.session_id, top_k=3)
    c = manager.cached(one.session_id, "agent", lambda: factory("one v2"))
    assert c is not a
    assert built == ["one v1", "two v1", "one v2"]
    assert manager.cache.size(one.session_id) == 1, "the old version's object was dropped"


def test_use_renews_and_expired_sessions_are_not_found(
    manager: TemporarySessionManager, clock: ManualClock
) -> None:
    session_id = manager.create("10.0.0.1").session_id
    clock.advance(500)
    assert manager.record_query(session_id) == 1
    clock.advance(500)  # 1000 s after creation, 500 after the last use: alive
    assert manager.use(session_id).counters == {"total_queries": 1}
    clock.advance(600)
    with pytest.raises(SessionNotFound):
        manager.use(session_id)


def test_cleanup_removes_expired_sessions_and_orphan_folders(
    manager: TemporarySessionManager, clock: ManualClock
) -> None:
    old = manager.create("10.0.0.1").session_id
    manager.cached(old, "agent", object)
    clock.advance(300)
    young = manager.create("10.0.0.1").session_id
    orphan = new_session_id()
    manager.folders.create(orphan)  # a folder whose record never made it to the store
    (manager.folders.root / "README.txt").write_text("not a session: left alone")
    clock.advance(301)
    report = Cleaner(manager).run_once()
    assert report.expired == [old]
    assert report.orphan_folders == [orphan]
    assert report.cache_entries == 1
    assert manager.folders.existing_ids() == [young]
    assert (manager.folders.root / "README.txt").exists()
    assert manager.stats()["live_sessions"] == 1


def test_periodic_cleanup_runs_in_the_background(
    manager: TemporarySessionManager, clock: ManualClock
) -> None:
    session_id = manager.create("10.0.0.1").session_id
    clock.advance(601)
    cleaner = Cleaner(manager)
    cleaner.start(interval=0.02)
    try:
        deadline = time.monotonic() + 10  # generous: only bounds a hang
        while manager.folders.existing_ids() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        cleaner.stop()
    assert manager.folders.existing_ids() == []
    assert cleaner.passes >= 1 and cleaner.last_error is None
    assert manager.peek(session_id) is None
