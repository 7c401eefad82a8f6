"""The bot in-process (Starlette's TestClient runs the real ASGI app and its lifespan).

Isolation (the seed's contract test), the history cap, expiry with a manual clock, restarts,
metadata-only ``/sessions``, and bad input: each refusal is a clear 4xx and leaves the store
exactly as it was. Attacks (other senders, oracles, Host, hostile JSON) are in
``test_bot_attacks.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sessionlab.bot.app import MAX_BODY_BYTES, create_app
from sessionlab.bot.client import BotConversation
from sessionlab.bot.client import message as activity
from sessionlab.bot.history import HistoryLimits, HistoryStore, RedisHistory, SQLiteHistory
from sessionlab.clock import FakeClock
from sessionlab.model import CourseModel

LOCAL = "http://127.0.0.1"  # the bot answers only for its own Host names


@pytest.fixture(scope="module")
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


@pytest.fixture
def make_history(
    store_kind: str, tmp_path: Path, prefix: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], HistoryStore]]:
    """History stores sharing one backend: a second one is "the app after a restart"."""
    made: list[HistoryStore] = []

    def make() -> HistoryStore:
        if store_kind == "sqlite":
            store: HistoryStore = SQLiteHistory(tmp_path / "histories.sqlite3", HistoryLimits())
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisHistory(url, HistoryLimits(), prefix=prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def history(make_history: Callable[[], HistoryStore]) -> HistoryStore:
    return make_history()


@pytest.fixture
def client(history: HistoryStore, model: CourseModel, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(history, model.url, clock=clock), base_url=LOCAL) as test_client:
        yield test_client


def start(client: TestClient) -> BotConversation:
    """``POST /api/conversations``: what a channel does before the first message."""
    response = client.post("/api/conversations")
    assert response.status_code == 201, response.text
    return BotConversation(response.json()["conversationId"], response.json()["token"])


class Tabs:
    """Named conversations (``tabs["tab-1"]``), each started on first use, as a user's tabs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.open: dict[str, BotConversation] = {}

    def __getitem__(self, name: str) -> BotConversation:
        if name not in self.open:
            self.open[name] = start(self.client)
        return self.open[name]


def say(client: TestClient, tabs: Tabs, name: str, text: str) -> str:
    conversation = tabs[name]
    body = activity(conversation.id, text, user=f"user-{name}", activity_id=f"act-{name}")
    response = client.post("/api/messages", json=body, headers=conversation.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def operator(client: TestClient) -> dict[str, str]:
    return {"authorization": f"Bearer {client.app.state.operator_token}"}  # type: ignore[attr-defined]


def snapshot(store: HistoryStore, now: float) -> list[Any]:
    """Everything the store holds, for "nothing changed" asserts."""
    return [(s, store.history(s.conversation_id, now=now)) for s in store.stats(now=now)]


@pytest.fixture
def tabs(client: TestClient) -> Tabs:
    return Tabs(client)


def test_a_second_conversation_does_not_know_the_first_ones_contract(
    client: TestClient, tabs: Tabs
) -> None:
    assert (
        say(client, tabs, "tab-1", "my contract number is 8446")
        == "Got it: your contract number is 8446."
    )
    assert say(client, tabs, "tab-2", "what is my contract number?").startswith("I don't know")
    assert say(client, tabs, "tab-1", "what is my contract number?") == (
        "Your contract number is 8446."
    )
    assert say(client, tabs, "tab-2", "my contract number is 12345").endswith("12345.")
    assert say(client, tabs, "tab-1", "what is my contract number?") == (
        "Your contract number is 8446."
    )


def test_a_conversation_is_issued_with_a_random_id_and_its_token(client: TestClient) -> None:
    response = client.post("/api/conversations")
    assert response.status_code == 201
    issued = response.json()
    assert set(issued) == {"conversationId", "token"}
    assert issued["conversationId"].startswith("conv-") and len(issued["conversationId"]) == 37
    assert len(issued["token"]) == 43
    assert client.post("/api/conversations").json()["conversationId"] != issued["conversationId"]


def test_reply_is_a_reply_activity(client: TestClient) -> None:
    chat = start(client)
    body = activity(chat.id, "hello", user="ana", activity_id="act-1")
    answer = client.post("/api/messages", json=body, headers=chat.headers).json()
    assert answer == {
        "type": "message",
        "conversation": {"id": chat.id},
        "from": {"id": "sessionlab-bot"},
        "recipient": {"id": "ana"},
        "text": 'You said: "hello". This is the start of our conversation: '
        "I don't see any earlier messages.",
        "replyToId": "act-1",
    }


def test_history_is_capped_at_the_last_20_messages(
    client: TestClient, tabs: Tabs, history: HistoryStore, clock: FakeClock
) -> None:
    for number in range(1, 16):
        say(client, tabs, "long", f"note {number}")
    stored = history.history(tabs["long"].id, now=clock.wall())
    assert len(stored) == 20
    assert stored[0].text == "note 6" and stored[-2].text == "note 15"
    # The model saw the capped history: 10 earlier user messages, the oldest being note 6.
    assert say(client, tabs, "long", "what do you remember?") == (
        'I can see 10 earlier messages from you in this conversation. The first one was: "note 6".'
    )


def test_a_silent_conversation_expires_after_30_minutes(
    client: TestClient, tabs: Tabs, clock: FakeClock
) -> None:
    say(client, tabs, "sleepy", "my contract number is 777")
    clock.advance(29 * 60)
    assert say(client, tabs, "sleepy", "what is my contract number?").endswith("777.")  # renews
    clock.advance(29 * 60)
    assert client.get("/sessions", headers=operator(client)).json()["total_sessions"] == 1
    clock.advance(60)
    assert client.get("/sessions", headers=operator(client)).json()["total_sessions"] == 0
    # The token still owns the conversation; its history starts afresh.
    assert say(client, tabs, "sleepy", "what is my contract number?").startswith("I don't know")


def test_histories_and_tokens_survive_a_restart(
    make_history: Callable[[], HistoryStore], model: CourseModel, clock: FakeClock
) -> None:
    with TestClient(create_app(make_history(), model.url, clock=clock), base_url=LOCAL) as before:
        tabs = Tabs(before)
        say(before, tabs, "durable", "my contract number is 4242")
    with TestClient(create_app(make_history(), model.url, clock=clock), base_url=LOCAL) as after:
        tabs.client = after
        assert say(after, tabs, "durable", "what is my contract number?") == (
            "Your contract number is 4242."
        )


def test_sessions_shows_metadata_never_content(
    client: TestClient, tabs: Tabs, clock: FakeClock
) -> None:
    say(client, tabs, "alpha", "my password is hunter2-secret")
    clock.advance(90)
    say(client, tabs, "beta", "hello there")
    info = client.get("/sessions", headers=operator(client)).json()
    assert info["total_sessions"] == 2
    assert (info["timeout_minutes"], info["history_limit"]) == (30, 20)
    assert info["uptime_seconds"] == 90
    alpha = next(s for s in info["sessions"] if tabs["alpha"].id.startswith(s["conversation"][:-1]))
    assert set(alpha) == {"conversation", "messages", "uptime_min", "last_activity"}
    assert alpha["messages"] == 2
    text = json.dumps(info)
    for secret in ("hunter2", "password", "hello there", tabs["alpha"].id, tabs["alpha"].token):
        assert secret not in text


HUGE = MAX_BODY_BYTES + 1

BAD_REQUESTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "not json": ({"content": b"{not json"}, 400, "not valid JSON"),
    "not an object": ({"json": ["message"]}, 400, "JSON object"),
    "no type": ({"json": {"conversation": {"id": "x"}, "text": "hi"}}, 400, "type is required"),
    "no conversation": (
        {"json": {"type": "message", "from": {"id": "u"}, "text": "hi"}},
        400,
        "conversation is required",
    ),
    "no conversation id": (
        {"json": {**activity("x", "hi"), "conversation": {}}},
        400,
        "conversation.id is required",
    ),
    "numeric conversation id": (
        {"json": {**activity("x", "hi"), "conversation": {"id": 12}}},
        400,
        "conversation.id",
    ),
    "no from id": ({"json": {**activity("x", "hi"), "from": {"name": "a"}}}, 400, "from.id"),
    "no text": ({"json": {**activity("x", "hi"), "text": None}}, 400, "text is required"),
    "blank text": ({"json": activity("x", "   ")}, 400, "text is required"),
    "text too long": ({"json": activity("x", "a" * 4001)}, 400, "longer than 4000"),
    "traversal id": ({"json": activity("../../etc/passwd", "hi")}, 400, "not allowed"),
    "dot-dot id": ({"json": activity("a..b", "hi")}, 400, "not allowed"),
    "slash id": ({"json": activity("a/b", "hi")}, 400, "not allowed"),
    "backslash user": ({"json": activity("ok", "hi", user="..\\admin")}, 400, "from.id"),
    "wildcard id": ({"json": activity("conv*", "hi")}, 400, "not allowed"),
    "id too long": ({"json": activity("a" * 257, "hi")}, 400, "longer than 256"),
    "huge body": ({"content": b"x" * HUGE}, 413, "larger than"),
    "huge chunked body": ({"content": "chunks"}, 413, "larger than"),  # a fresh generator
    "huge valid activity": ({"json": activity("big", "y" * HUGE)}, 413, "larger than"),
    "nested 1000 deep": ({"content": b'{"a":' * 1000 + b"1" + b"}" * 1000}, 400, "nested"),
    "nested 40 deep": (
        {
            "json": {
                **activity("x", "hi"),
                "channelData": [
                    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
                ],
            }
        },
        400,
        "nested deeper than 32",
    ),
    "lone surrogate in text": (
        {
            "content": b'{"type": "message", "conversation": {"id": "x"}, "from": {"id": "u"}, '
            b'"text": "my pin is \\ud800"}'
        },
        400,
        "$.text contains a lone surrogate",
    ),
    "lone surrogate elsewhere": (
        {
            "content": b'{"type": "message", "conversation": {"id": "x"}, "from": {"id": "u", '
            b'"name": "\\udfff"}, "text": "hi"}'
        },
        400,
        "$.from.name contains a lone surrogate",
    ),
    "NaN": ({"content": b'{"type": "message", "n": NaN}'}, 400, "not valid JSON"),
    "invalid utf-8": ({"content": b'{"type": "\xff"}'}, 400, "not valid JSON"),
    "conversation is a list": (
        {"json": {**activity("x", "hi"), "conversation": ["x"]}},
        400,
        "conversation is required",
    ),
    "type is a number": ({"json": {**activity("x", "hi"), "type": 7}}, 400, "type is required"),
    "text is an object": ({"json": {**activity("x", "hi"), "text": {"t": 1}}}, 400, "text"),
    "activity id is a number": ({"json": {**activity("x", "hi"), "id": 5}}, 400, "id must be"),
    "empty body": ({"content": b""}, 400, "not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    case: str, client: TestClient, tabs: Tabs, history: HistoryStore, clock: FakeClock
) -> None:
    say(client, tabs, "ok", "my contract number is 1")
    before = snapshot(history, clock.wall())
    kwargs, status, message = BAD_REQUESTS[case]
    if kwargs.get("content") == "chunks":  # no length header: the limit applies while reading
        kwargs = {"content": (b"x" * 65536 for _ in range(5))}
    # A sender with a real token: the body alone must be refused.
    response = client.post("/api/messages", headers=tabs["ok"].headers, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error
    assert snapshot(history, clock.wall()) == before


def test_other_activity_types_are_acknowledged_not_stored(
    client: TestClient, history: HistoryStore, clock: FakeClock
) -> None:
    chat = start(client)
    update = {"type": "conversationUpdate", "conversation": {"id": chat.id}}
    assert client.post("/api/messages", json=update, headers=chat.headers).status_code == 202
    assert snapshot(history, clock.wall()) == []


def test_model_down_is_a_502_and_stores_nothing(history: HistoryStore, clock: FakeClock) -> None:
    with CourseModel() as gone:
        url = gone.url
    with TestClient(create_app(history, url, clock=clock), base_url=LOCAL) as client:
        chat = start(client)
        response = client.post(
            "/api/messages", json=activity(chat.id, "hello"), headers=chat.headers
        )
    assert response.status_code == 502
    assert "unreachable" in response.json()["error"]
    assert snapshot(history, clock.wall()) == []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionlab", *args], capture_output=True, text=True, timeout=60
    )


def test_bot_serve_help_and_one_line_errors(tmp_path: Path) -> None:
    shown = run_cli("bot", "serve", "--help")
    assert shown.returncode == 0
    for flag in ("--host", "--port", "--store", "--redis-url", "--data-dir", "--model-url"):
        assert flag in shown.stdout
    unreachable = run_cli(
        "bot",
        "serve",
        "--store",
        "redis",
        "--redis-url",
        "redis://127.0.0.1:1/0",
        "--data-dir",
        str(tmp_path),
    )
    assert unreachable.returncode == 2
    assert unreachable.stderr.count("\n") == 1 and "not reachable" in unreachable.stderr
    bad_store = run_cli("bot", "serve", "--store", "mongo")
    assert bad_store.returncode == 2 and "invalid choice" in bad_store.stderr
