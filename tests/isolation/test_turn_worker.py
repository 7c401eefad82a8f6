"""Lesson 7's turn worker: a real Celery worker (a fork of this process) on a real Redis.

Each test starts its own ``redis-server`` on a socket file (the way the lesson and its grader
do) and a worker serving a small clients class; what the worker did is read from the disk and
from Redis, never from the worker's own account of it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sessionlab.isolation.turn_worker import (
    TranscriptClient,
    TurnError,
    TurnWorkers,
    broker_url,
    send_turn,
)
from sessionlab.redis_server import private_redis


@pytest.fixture
def url() -> Iterator[str]:
    # A short folder: a UNIX socket path must fit in 108 bytes.
    folder = Path(f"/tmp/l07t-{uuid.uuid4().hex[:8]}")
    try:
        with private_redis(folder, unix_socket=True) as address:
            yield address
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def workers() -> Iterator[TurnWorkers]:
    made = TurnWorkers()
    yield made
    made.stop_all()


class Reusing:
    """One client per session, as the lesson's reference answer keeps them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clients: dict[str, TranscriptClient] = {}

    def handle_turn(self, session_id: str, text: str) -> dict[str, Any]:
        if session_id == "refused":
            raise LookupError("no such session")
        if session_id not in self.clients:
            self.clients[session_id] = TranscriptClient(self.root / session_id)
        return self.clients[session_id].send(text)


class Fresh(Reusing):
    """A new client per turn: the fragmentation the lesson shows first."""

    def handle_turn(self, session_id: str, text: str) -> dict[str, Any]:
        return TranscriptClient(self.root / session_id).send(text)


def _transcripts(folder: Path) -> list[list[str]]:
    return [
        [json.loads(line)["text"] for line in path.read_text().splitlines()]
        for path in sorted((folder / "transcripts").glob("*.jsonl"))
    ]


def test_unix_socket_redis_has_no_tcp_port(url: str) -> None:
    assert url.startswith("unix://") and url.endswith("redis.sock?db=0")
    client = redis.Redis.from_url(url)
    try:
        assert client.config_get("port")["port"] == "0"
        path = url.removeprefix("unix://").split("?")[0]
        assert os.stat(path).st_mode & 0o777 == 0o700, "only the owner may connect"
    finally:
        client.close()
    assert broker_url(url) == "redis+socket://" + url.removeprefix("unix://").split("?")[0]
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(url.removeprefix("unix://").split("?")[0])


@pytest.mark.slow
def test_worker_reuses_one_client_per_session_and_keeps_sessions_apart(
    url: str, workers: TurnWorkers, tmp_path: Path
) -> None:
    worker = workers.start(Reusing, tmp_path, url)
    turns = [("a", "one"), ("b", "uno"), ("a", "two"), ("b", "dos"), ("a", "three")]
    replies = [send_turn(url, sid, text) for sid, text in turns]
    assert _transcripts(tmp_path / "a") == [["one", "two", "three"]]
    assert _transcripts(tmp_path / "b") == [["uno", "dos"]]
    assert {r["worker_pid"] for r in replies} == {worker.pid}, "one worker process served all"
    assert [r["turn"] for r in replies] == [1, 1, 2, 2, 3]
    with pytest.raises(TurnError, match="LookupError"):
        send_turn(url, "refused", "let me in")
    assert not (tmp_path / "refused").exists()
    worker.stop()
    assert not worker.alive()


@pytest.mark.slow
def test_a_client_per_turn_fragments_the_session(
    url: str, workers: TurnWorkers, tmp_path: Path
) -> None:
    workers.start(Fresh, tmp_path, url)
    for text in ("one", "two", "three"):
        send_turn(url, "a", text)
    assert sorted(_transcripts(tmp_path / "a")) == [["one"], ["three"], ["two"]]


class Broken:
    def __init__(self, root: Path) -> None:
        raise RuntimeError("cannot build")


@pytest.mark.slow
def test_a_broken_clients_class_is_reported_and_the_worker_keeps_serving(
    url: str, workers: TurnWorkers, tmp_path: Path
) -> None:
    worker = workers.start(Broken, tmp_path, url)
    for _ in range(2):
        with pytest.raises(TurnError, match="RuntimeError"):
            send_turn(url, "a", "hello")
    assert worker.alive()


@pytest.mark.slow
def test_the_worker_is_bounded_by_its_lifetime(
    url: str, workers: TurnWorkers, tmp_path: Path
) -> None:
    worker = workers.start(Reusing, tmp_path, url, lifetime=1.0)
    deadline = time.monotonic() + 15
    while worker.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not worker.alive(), "the worker stops itself when its lifetime is over"
    with pytest.raises(TurnError, match="no reply"):
        send_turn(url, "a", "anyone?", timeout=1)


def test_a_server_for_untrusted_clients_refuses_modules_config_and_files(tmp_path: Path) -> None:
    folder = Path(f"/tmp/l07t-{uuid.uuid4().hex[:8]}")
    try:
        with private_redis(folder, unix_socket=True, untrusted_clients=True) as address:
            client = redis.Redis.from_url(address)
            try:
                client.set("k", "v")
                assert client.eval("return redis.call('GET', KEYS[1])", 1, "k") == b"v"
                for command in [
                    ("CONFIG", "SET", "dir", str(tmp_path)),
                    ("MODULE", "LOAD", str(tmp_path / "x.so")),
                    ("SAVE",),
                    ("DEBUG", "SEGFAULT"),
                    ("SHUTDOWN",),
                ]:
                    with pytest.raises(redis.ResponseError, match="unknown command"):
                        client.execute_command(*command)
                assert client.ping()
            finally:
                client.close()
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    assert list(tmp_path.iterdir()) == []


def test_replies_are_plain_json_only(url: str) -> None:
    from sessionlab.isolation.turn_worker import _reply

    client = redis.Redis.from_url(url)
    try:
        for raw, message in [
            (b"not json", "not JSON"),
            (b'["a list"]', "not a reply"),
            (b"x" * ((1 << 20) + 1), "too big"),
        ]:
            client.rpush("k", raw)
            with pytest.raises(TurnError, match=message):
                _reply(client, "k", 2)
        with pytest.raises(TurnError, match="no reply"):
            _reply(client, "k", 0.3)
    finally:
        client.close()
