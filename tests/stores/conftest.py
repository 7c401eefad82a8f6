"""Fixtures for the session-store tests: a factory of fresh, isolated stores of each kind.

Every call of ``make_store()`` gives a store that shares nothing with the previous one: a
new root folder, a new SQLite file, or a new Redis key prefix on the session's real
redis-server (``redis_url`` in ``tests/conftest.py``; Redis cases skip without the binary).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

pytest.importorskip("claude_agent_sdk", reason="needs the 'agent' extra (claude-agent-sdk)")

from claude_agent_sdk.types import SessionStore

from sessionlab.stores import JsonlSessionStore, RedisSessionStore, SQLiteSessionStore

KINDS = ("jsonl", "sqlite", "redis")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    """The Redis URL for the redis kind (starting the server on first use), else ``None``."""
    return str(request.getfixturevalue("redis_url")) if store_kind == "redis" else None


def new_store(kind: str, folder: Path, redis_url: str | None) -> SessionStore:
    if kind == "jsonl":
        return JsonlSessionStore(folder / "projects")
    if kind == "sqlite":
        return SQLiteSessionStore(folder / "sessions.sqlite3")
    assert redis_url is not None
    return RedisSessionStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}:")


@pytest.fixture
async def make_store(
    store_kind: str, backend: str | None, tmp_path: Path
) -> AsyncIterator[Callable[[], SessionStore]]:
    """A factory of fresh stores of ``store_kind``; all of them are closed afterwards."""
    made: list[SessionStore] = []
    numbers = itertools.count()

    def make() -> SessionStore:
        store = new_store(store_kind, tmp_path / f"store-{next(numbers)}", backend)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()  # type: ignore[attr-defined]


@pytest.fixture
async def reopen_store(
    backend: str | None,
) -> AsyncIterator[Callable[[SessionStore], SessionStore]]:
    """Another store object on the same storage (what a second process would open)."""
    made: list[SessionStore] = []

    def reopen(store: SessionStore) -> SessionStore:
        if isinstance(store, JsonlSessionStore):
            again: SessionStore = JsonlSessionStore(store.root)
        elif isinstance(store, SQLiteSessionStore):
            again = SQLiteSessionStore(store.path)
        else:
            assert isinstance(store, RedisSessionStore) and backend is not None
            again = RedisSessionStore(backend, prefix=store.prefix)
        made.append(again)
        return again

    yield reopen
    for store in made:
        await store.close()  # type: ignore[attr-defined]
