"""Fixtures for the isolation and bot tests: stores of both kinds.

Redis tests run against the real ``redis-server`` of the session-scoped ``redis_url`` fixture
in ``tests/conftest.py`` (shared with ``tests/stores``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionlab.isolation import ManualClock, SqliteSessionStore
from sessionlab.isolation.store import SessionStore

STORES = ("sqlite", "redis")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own, so Redis tests never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    store_kind: str, tmp_path: Path, prefix: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], SessionStore]]:
    """A factory of :class:`SessionStore` s that share one backend (like app processes do)."""
    made: list[SessionStore] = []

    def make() -> SessionStore:
        if store_kind == "sqlite":
            store: SessionStore = SqliteSessionStore(tmp_path / "sessions.sqlite3")
        else:
            from sessionlab.isolation.redis_store import RedisSessionStore

            url = request.getfixturevalue("redis_url")
            store = RedisSessionStore(url, prefix=prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], SessionStore]) -> SessionStore:
    return make_store()
