"""Fixtures for the isolation and bot tests: stores of both kinds.

Redis tests run against the real ``redis-server`` of the session-scoped ``redis_url`` fixture
in ``tests/conftest.py`` (shared with ``tests/stores``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionlab.isolation import ManualClock, SQLiteStateStore
from sessionlab.isolation.state_store import StateStore

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
) -> Iterator[Callable[[], StateStore]]:
    """A factory of :class:`StateStore` s that share one backend (like app processes do)."""
    made: list[StateStore] = []

    def make() -> StateStore:
        if store_kind == "sqlite":
            store: StateStore = SQLiteStateStore(tmp_path / "sessions.sqlite3")
        else:
            from sessionlab.isolation.redis_state_store import RedisStateStore

            url = request.getfixturevalue("redis_url")
            store = RedisStateStore(url, prefix=prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], StateStore]) -> StateStore:
    return make_store()
