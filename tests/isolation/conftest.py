"""Fixtures for the isolation and bot tests: a real redis-server, stores of both kinds.

Redis tests run against a real ``redis-server`` started here on a free loopback port, in a
temporary folder, without persistence. They skip, saying why, only when the binary is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionlab.isolation import ManualClock, SqliteSessionStore
from sessionlab.isolation.store import SessionStore

STORES = ("sqlite", "redis")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` of a private redis-server for this test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    import redis

    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"redis-server on port {port} did not start")
            time.sleep(0.05)
    client.close()
    yield url
    process.terminate()
    process.wait(timeout=10)


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
