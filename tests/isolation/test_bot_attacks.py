"""Attacks on the multi-session bot: other senders, oracles, guessing, Host, hostile bodies.

Before this file the bot trusted ``conversation.id``: posting to someone else's id returned
their history ("Your pin is 7731"), and the reply's ``historyLength`` told a guesser which ids
existed. Each test plays one attacker, in-process on both stores (Starlette's TestClient runs
the real app) or against the real uvicorn server where the attack is about the wire (Host
headers, hang-ups, timing).
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import statistics
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sessionlab.bot.app import create_app
from sessionlab.bot.client import BotConversation, message, start_conversation
from sessionlab.bot.history import (
    ConversationStats,
    HistoryLimits,
    HistoryStore,
    Message,
    RedisHistory,
    SQLiteHistory,
)
from sessionlab.bot.process import BotProcess
from sessionlab.bot.tokens import ConversationTokens, new_key
from sessionlab.clock import FakeClock
from sessionlab.model import CourseModel
from sessionlab.redis_server import private_redis

LOCAL = "http://127.0.0.1"
PIN = "my pin is 7731"


class WatchedStore:
    """A real store that counts every call: proof of what a refused request touched."""

    def __init__(self, inner: HistoryStore) -> None:
        self.inner = inner
        self.limits = inner.limits
        self.calls: list[str] = []

    def history(self, conversation_id: str, *, now: float) -> list[Message]:
        self.calls.append("history")
        return self.inner.history(conversation_id, now=now)

    def append(self, conversation_id: str, turn: list[tuple[str, str]], *, now: float) -> int:
        self.calls.append("append")
        return self.inner.append(conversation_id, turn, now=now)

    def stats(self, *, now: float) -> list[ConversationStats]:
        self.calls.append("stats")
        return self.inner.stats(now=now)

    def purge_expired(self, *, now: float) -> list[str]:
        return self.inner.purge_expired(now=now)

    def conversation_key(self) -> bytes:
        return self.inner.conversation_key()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


@pytest.fixture
def store(
    store_kind: str, tmp_path: Path, prefix: str, request: pytest.FixtureRequest
) -> Iterator[WatchedStore]:
    if store_kind == "sqlite":
        inner: HistoryStore = SQLiteHistory(tmp_path / "histories.sqlite3", HistoryLimits())
    else:
        inner = RedisHistory(request.getfixturevalue("redis_url"), HistoryLimits(), prefix=prefix)
    watched = WatchedStore(inner)
    yield watched
    watched.close()


@pytest.fixture
def client(store: WatchedStore, model: CourseModel) -> Iterator[TestClient]:
    app = create_app(store, model.url, clock=FakeClock())
    with TestClient(app, base_url=LOCAL) as test_client:
        yield test_client


def start(client: TestClient) -> BotConversation:
    body = client.post("/api/conversations").json()
    return BotConversation(body["conversationId"], body["token"])


def post(
    client: TestClient, conversation_id: str, text: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post("/api/messages", json=message(conversation_id, text), headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def without_date(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "date")
    return response.status_code, headers, response.content


# --- another sender -------------------------------------------------------------------------------


def test_another_sender_gets_403_and_nothing_of_the_history(
    client: TestClient, store: WatchedStore, model: CourseModel
) -> None:
    ana, mallory = start(client), start(client)
    assert post(client, ana.id, PIN, ana.headers).status_code == 200
    assert post(client, mallory.id, "hello", mallory.headers).status_code == 200
    before = store.inner.history(ana.id, now=time.time())
    store.calls.clear()
    seen_by_model = len(model.records)

    attempts = {
        "mallory's own token": mallory.headers,
        "ana's token, one character changed": bearer(
            ana.token[:-1] + "A" if ana.token[-1] != "A" else ana.token[:-1] + "B"
        ),
        "ana's token, truncated": bearer(ana.token[:20]),
        "a token of the right length": bearer("A" * len(ana.token)),
        "lowercase scheme, mallory's token": {"authorization": f"bearer {mallory.token}"},
    }
    for name, headers in attempts.items():
        response = post(client, ana.id, "what is my pin?", headers)
        assert response.status_code == 403, name
        assert response.json() == {"error": "this token was not issued for this conversation"}
        assert "7731" not in response.text
    for headers in ({}, {"authorization": "Basic YW5hOnB3"}, {"authorization": "Bearer"}):
        response = post(client, ana.id, "what is my pin?", headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    # Refused before any store call or model call: nothing was read, nothing was written.
    assert store.calls == []
    assert len(model.records) == seen_by_model
    assert store.inner.history(ana.id, now=time.time()) == before
    # Ana still has her conversation.
    answer = post(client, ana.id, "what is my pin?", ana.headers).json()["text"]
    assert answer == "Your pin is 7731."


def test_a_typing_activity_needs_the_token_too(client: TestClient) -> None:
    ana, mallory = start(client), start(client)
    typing = {"type": "typing", "conversation": {"id": ana.id}}
    assert client.post("/api/messages", json=typing, headers=mallory.headers).status_code == 403
    assert client.post("/api/messages", json=typing, headers=ana.headers).status_code == 202


def test_refusals_are_the_same_bytes_whatever_the_conversation_holds(
    client: TestClient, store: WatchedStore
) -> None:
    """No length oracle: a long conversation, a short one and an id never issued all get the
    same status, headers and body, and none of them touched the store."""
    long, short, mallory = start(client), start(client), start(client)
    for number in range(12):
        post(client, long.id, f"note {number} " + "z" * 3000, long.headers)
    post(client, short.id, "hi", short.headers)
    never = "conv-" + "0" * 32
    store.calls.clear()
    refusals = [
        without_date(post(client, target, "hi", mallory.headers))
        for target in (long.id, short.id, never)
    ]
    assert refusals[0] == refusals[1] == refusals[2]
    assert store.calls == []
    # The owner's reply carries no length either.
    reply = post(client, long.id, "hello", long.headers).json()
    assert set(reply) == {"type", "conversation", "from", "recipient", "text"}


def test_ids_cannot_be_guessed_and_tokens_fit_only_their_id(
    client: TestClient, store: WatchedStore, tmp_path: Path
) -> None:
    issued = [start(client) for _ in range(500)]
    ids = {c.id for c in issued}
    assert len(ids) == 500 and len({c.token for c in issued}) == 500
    assert all(re.fullmatch(r"conv-[0-9a-f]{32}", c.id) for c in issued)  # 128 random bits
    first, second = issued[0], issued[1]
    assert post(client, second.id, "hi", first.headers).status_code == 403
    neighbour = first.id[:-1] + ("0" if first.id[-1] != "0" else "1")
    assert post(client, neighbour, "hi", first.headers).status_code == 403
    # A token made with another key (another bot's store) is worthless here.
    foreign = ConversationTokens(new_key()).token_for(first.id)
    assert post(client, first.id, "hi", bearer(foreign)).status_code == 403
    # A client-chosen id cannot be claimed: there is no token for it.
    assert post(client, "tab-1", "hi", first.headers).status_code == 403


def test_two_apps_on_one_store_accept_the_same_tokens(
    store: WatchedStore, model: CourseModel
) -> None:
    """Processes behind a load balancer share the store, hence the key: no sticky sessions."""
    with (
        TestClient(create_app(store, model.url), base_url=LOCAL) as one,
        TestClient(create_app(store, model.url), base_url=LOCAL) as two,
    ):
        chat = start(one)
        assert post(one, chat.id, PIN, chat.headers).status_code == 200
        assert post(two, chat.id, "what is my pin?", chat.headers).json()["text"] == (
            "Your pin is 7731."
        )


def test_another_store_has_another_key(tmp_path: Path) -> None:
    one = SQLiteHistory(tmp_path / "a.sqlite3")
    two = SQLiteHistory(tmp_path / "b.sqlite3")
    again = SQLiteHistory(tmp_path / "a.sqlite3")
    try:
        assert one.conversation_key() == again.conversation_key() != two.conversation_key()
        assert len(one.conversation_key()) == 32
    finally:
        for store in (one, two, again):
            store.close()


def test_a_broken_store_is_a_503_and_one_log_line(
    tmp_path: Path, model: CourseModel, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteHistory(tmp_path / "histories.sqlite3")
    try:
        with TestClient(create_app(store, model.url), base_url=LOCAL) as client:
            chat = start(client)
            with sqlite3.connect(tmp_path / "histories.sqlite3") as vandal:
                vandal.execute("DROP TABLE messages")
            response = post(client, chat.id, PIN, chat.headers)
    finally:
        store.close()
    assert response.status_code == 503
    assert response.json() == {"error": "the history store is unavailable; try again"}
    (logged,) = [r for r in caplog.records if r.name == "sessionlab.bot"]
    assert logged.getMessage() == "history store failed: no such table: messages"
    assert logged.exc_info is None


def test_a_redis_store_that_goes_away_is_a_503_and_one_log_line(
    tmp_path: Path, model: CourseModel, caplog: pytest.LogCaptureFixture
) -> None:
    """The bot loads ``redis`` only with a Redis store, and still maps its errors to a 503."""
    with private_redis(tmp_path / "redis") as url:
        store = RedisHistory(url, HistoryLimits(), prefix="gone:")
        client = TestClient(create_app(store, model.url), base_url=LOCAL)
        client.__enter__()
        chat = start(client)
    try:  # the server has stopped: the next turn cannot read the history
        response = post(client, chat.id, PIN, chat.headers)
    finally:
        client.__exit__(None, None, None)
    assert response.status_code == 503
    assert response.json() == {"error": "the history store is unavailable; try again"}
    logged = [r for r in caplog.records if r.name == "sessionlab.bot"]
    assert len(logged) == 1 and logged[0].getMessage().startswith("history store failed: ")
    assert "\n" not in logged[0].getMessage() and logged[0].exc_info is None


# --- /sessions is for operators ------------------------------------------------------------------


def test_sessions_needs_the_operator_token(client: TestClient) -> None:
    chat = start(client)
    post(client, chat.id, PIN, chat.headers)
    operator = client.app.state.operator_token  # type: ignore[attr-defined]
    assert client.get("/sessions").status_code == 401
    assert client.get("/sessions", headers=bearer("nope")).status_code == 403
    assert client.get("/sessions", headers=chat.headers).status_code == 403  # not an operator
    assert client.get("/sessions", headers=bearer(operator[:-1])).status_code == 403
    info = client.get("/sessions", headers=bearer(operator))
    assert info.status_code == 200 and info.json()["total_sessions"] == 1
    assert chat.id not in info.text and chat.token not in info.text and "7731" not in info.text


def test_a_given_operator_token_is_the_only_one(store: WatchedStore, model: CourseModel) -> None:
    app = create_app(store, model.url, operator_token="operator-" + "x" * 30)
    with TestClient(app, base_url=LOCAL) as client:
        assert client.get("/sessions", headers=bearer("operator-" + "x" * 30)).status_code == 200
        assert client.get("/sessions", headers=bearer("operator-" + "x" * 29)).status_code == 403


# --- Host, docs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:3978", "127.0.0.1.nip.io", "[::2]"])
@pytest.mark.parametrize("path", ["/sessions", "/health", "/api/conversations", "/api/messages"])
def test_unexpected_host_is_refused_on_every_route(
    client: TestClient, store: WatchedStore, host: str, path: str
) -> None:
    operator = bearer(client.app.state.operator_token)  # type: ignore[attr-defined]
    response = client.request(
        "GET" if path in ("/sessions", "/health") else "POST",
        path,
        headers={"host": host, **operator},
        json=message("conv-x", "hi"),
    )
    assert response.status_code == 400
    assert response.json() == {"error": "this server does not answer for that Host header"}
    assert store.calls == []


@pytest.mark.parametrize("host", ["127.0.0.1:3978", "localhost", "LOCALHOST:1", "[::1]:3978"])
def test_loopback_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/health", headers={"host": host}).status_code == 200


def test_extra_allowed_host(store: WatchedStore, model: CourseModel) -> None:
    app = create_app(store, model.url, allowed_hosts=frozenset({"bot.internal", "127.0.0.1"}))
    with TestClient(app, base_url="http://bot.internal") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={"host": "localhost"}).status_code == 400


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_api_docs_are_off_unless_asked(
    store: WatchedStore, model: CourseModel, client: TestClient, path: str
) -> None:
    assert client.get(path).status_code == 404
    with TestClient(create_app(store, model.url, docs=True), base_url=LOCAL) as documented:
        assert documented.get("/openapi.json").status_code == 200
        assert documented.get("/docs").status_code == 200


# --- the real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    with BotProcess(data_dir=tmp_path_factory.mktemp("bot")) as running:
        yield running


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return sock.makefile("rb").read()


def test_real_server_operator_token_file_is_private(bot: BotProcess) -> None:
    assert bot.token_file.stat().st_mode & 0o777 == 0o600
    assert len(bot.operator_token) >= 43
    assert httpx.get(f"{bot.url}/sessions", timeout=10).status_code == 401
    info = httpx.get(f"{bot.url}/sessions", headers=bot.operator_headers, timeout=10)
    assert info.status_code == 200


def test_real_server_cross_user_and_no_timing_oracle(bot: BotProcess) -> None:
    """Refusals for a long, existing conversation and for an id never issued take the same
    time: the check is an HMAC, before any store read. Measured interleaved, medians printed;
    the bound is generous (the machine is shared), the structural proof is the in-process
    test above (zero store calls)."""
    ana, mallory = start_conversation(bot.url), start_conversation(bot.url)
    with httpx.Client(base_url=bot.url, timeout=30) as http:
        assert (
            http.post("/api/messages", json=message(ana.id, PIN), headers=ana.headers).status_code
            == 200
        )
        for number in range(10):
            http.post(
                "/api/messages",
                json=message(ana.id, f"note {number} {'z' * 3000}"),
                headers=ana.headers,
            )
        stolen = http.post(
            "/api/messages", json=message(ana.id, "what is my pin?"), headers=mallory.headers
        )
        assert stolen.status_code == 403 and "7731" not in stolen.text
        never = "conv-" + "f" * 32
        timings: dict[str, list[float]] = {ana.id: [], never: []}
        for _ in range(150):
            for target in (ana.id, never):
                started = time.perf_counter()
                response = http.post(
                    "/api/messages", json=message(target, "hi"), headers=mallory.headers
                )
                timings[target].append(time.perf_counter() - started)
                assert response.status_code == 403
    existing, absent = (statistics.median(timings[k]) * 1000 for k in (ana.id, never))
    print(
        f"\n403 median: existing long conversation {existing:.2f} ms, never issued {absent:.2f} ms"
    )
    assert abs(existing - absent) < max(2.0, 0.5 * min(existing, absent))


@pytest.mark.parametrize(
    "host",
    [
        b"Host: evil.example\r\n",
        b"Host: evil.example:3978\r\n",
        b"",
        b"Host: a\r\nHost: 127.0.0.1\r\n",
    ],
)
def test_real_server_refuses_rebinding_hosts(bot: BotProcess, host: bytes) -> None:
    port = int(bot.url.rsplit(":", 1)[1])
    authorization = f"Authorization: Bearer {bot.operator_token}\r\n".encode()
    for version in (b"HTTP/1.1", b"HTTP/1.0"):
        reply = raw_exchange(
            port,
            b"GET /sessions "
            + version
            + b"\r\n"
            + host
            + authorization
            + b"Connection: close\r\n\r\n",
        )
        assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", reply[:200]
        assert b"total_sessions" not in reply


def hostile_bodies() -> dict[str, tuple[bytes, int]]:
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000
    surrogate = (
        b'{"type": "message", "conversation": {"id": "CID"}, "from": {"id": "u"}, '
        b'"text": "\\ud83d"}'
    )
    return {
        "deep": (deep, 400),
        "deep arrays": (b"[" * 100_000 + b"]" * 100_000, 400),
        "surrogate": (surrogate, 400),
        "wrong types": (
            b'{"type": "message", "conversation": {"id": ["CID"]}, "from": 1, "text": 2}',
            400,
        ),
        "oversized": (b"x" * (300 * 1024), 413),
    }


@pytest.mark.parametrize("case", list(hostile_bodies()))
def test_real_server_hostile_bodies_are_4xx_with_one_line(bot: BotProcess, case: str) -> None:
    chat = start_conversation(bot.url)
    raw, status = hostile_bodies()[case]
    raw = raw.replace(b"CID", chat.id.encode())
    response = httpx.post(
        f"{bot.url}/api/messages",
        content=raw,
        headers={**chat.headers, "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert "\n" not in error and "Traceback" not in error and len(error) < 200


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_real_server_hang_ups_log_no_traceback(tmp_path: Path) -> None:
    bot = BotProcess(data_dir=tmp_path).start()
    try:
        port = int(bot.url.rsplit(":", 1)[1])
        chat = start_conversation(bot.url)
        body = json.dumps(message(chat.id, "hello")).encode()
        head = (
            b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {chat.token}\r\n".encode()
        )
        for partial in (
            b"GARBAGE / HTTP/9.9\r\n\r\n",  # not HTTP at all: uvicorn's 400, one warning line
            b"POST /api/mess",  # in the request line
            head,  # in the headers
            head + b"content-length: %d\r\n\r\n" % len(body) + body[:10],  # in the body
            head + b"transfer-encoding: chunked\r\n\r\n10\r\n" + body[:5],
            head + b"content-length: %d\r\n\r\n" % len(body) + body,  # before the reply
        ):
            for polite in (True, False):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(partial)
                time.sleep(0.05)
                sock.close() if polite else reset(sock)
        time.sleep(0.5)
        assert httpx.get(f"{bot.url}/health", timeout=10).status_code == 200
    finally:
        process = bot.process
        assert process is not None
        process.terminate()
        _, err = process.communicate(timeout=15)
        bot.process = None
    assert "Traceback" not in err and "Exception" not in err, err[-3000:]


def test_real_server_ignores_forwarded_for_so_the_per_ip_limit_holds(tmp_path: Path) -> None:
    """uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 by default; every local client is
    127.0.0.1, so a forged header would be a fresh "IP" and the lesson-7 limit of 5 would fall."""
    with BotProcess(data_dir=tmp_path) as bot:
        statuses = [
            httpx.post(
                f"{bot.url}/api/sessions",
                headers={
                    "x-forwarded-for": f"10.0.0.{number}",
                    "forwarded": f"for=10.0.1.{number}",
                },
                timeout=10,
            ).status_code
            for number in range(8)
        ]
    assert statuses == [201] * 5 + [429] * 3


def test_message_helper_shape() -> None:
    body: dict[str, Any] = message("conv-1", "hi", user="ana", activity_id="a1")
    assert body == {
        "type": "message",
        "conversation": {"id": "conv-1"},
        "from": {"id": "ana"},
        "text": "hi",
        "id": "a1",
    }
