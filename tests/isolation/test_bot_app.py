"""The bot in-process (Starlette's TestClient runs the real ASGI app and its lifespan).

Isolation (the seed's contract test), the history cap, expiry with a manual clock, restarts,
metadata-only ``/sessions``, and bad input: each refusal is a clear 4xx and leaves the store
exactly as it was.
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
from sessionlab.bot.history import HistoryLimits, HistoryStore, RedisHistory, SQLiteHistory
from sessionlab.isolation import ManualClock
from sessionlab.model import CourseModel


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
def client(history: HistoryStore, model: CourseModel, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(history, model.url, clock=clock)) as test_client:
        yield test_client


def activity(conversation: str, text: str, user: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"act-{conversation}",
        "conversation": {"id": conversation},
        "from": {"id": user or f"user-{conversation}"},
        "text": text,
    }


def say(client: TestClient, conversation: str, text: str) -> str:
    response = client.post("/api/messages", json=activity(conversation, text))
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def snapshot(store: HistoryStore, now: float) -> list[Any]:
    """Everything the store holds, for "nothing changed" asserts."""
    return [(s, store.history(s.conversation_id, now=now)) for s in store.stats(now=now)]


def test_a_second_conversation_does_not_know_the_first_ones_contract(client: TestClient) -> None:
    assert (
        say(client, "tab-1", "my contract number is 8446")
        == "Got it: your contract number is 8446."
    )
    assert say(client, "tab-2", "what is my contract number?").startswith("I don't know")
    assert say(client, "tab-1", "what is my contract number?") == "Your contract number is 8446."
    assert say(client, "tab-2", "my contract number is 12345").endswith("12345.")
    assert say(client, "tab-1", "what is my contract number?") == "Your contract number is 8446."


def test_reply_is_a_reply_activity(client: TestClient) -> None:
    answer = client.post("/api/messages", json=activity("c-1", "hello", user="ana")).json()
    assert answer["type"] == "message"
    assert answer["conversation"] == {"id": "c-1"}
    assert answer["recipient"] == {"id": "ana"}
    assert answer["replyToId"] == "act-c-1"
    assert answer["historyLength"] == 2


def test_history_is_capped_at_the_last_20_messages(
    client: TestClient, history: HistoryStore, clock: ManualClock
) -> None:
    for number in range(1, 16):
        say(client, "long", f"note {number}")
    stored = history.history("long", now=clock.now())
    assert len(stored) == 20
    assert stored[0].text == "note 6" and stored[-2].text == "note 15"
    # The model saw the capped history: 10 earlier user messages, the oldest being note 6.
    assert say(client, "long", "what do you remember?") == (
        'I can see 10 earlier messages from you in this conversation. The first one was: "note 6".'
    )


def test_a_silent_conversation_expires_after_30_minutes(
    client: TestClient, clock: ManualClock
) -> None:
    say(client, "sleepy", "my contract number is 777")
    clock.advance(29 * 60)
    assert say(client, "sleepy", "what is my contract number?").endswith("777.")  # renews
    clock.advance(29 * 60)
    assert client.get("/sessions").json()["total_sessions"] == 1
    clock.advance(60)
    assert client.get("/sessions").json()["total_sessions"] == 0
    assert say(client, "sleepy", "what is my contract number?").startswith("I don't know")


def test_histories_survive_a_restart(
    make_history: Callable[[], HistoryStore], model: CourseModel, clock: ManualClock
) -> None:
    with TestClient(create_app(make_history(), model.url, clock=clock)) as before:
        say(before, "durable", "my contract number is 4242")
    with TestClient(create_app(make_history(), model.url, clock=clock)) as after:
        assert say(after, "durable", "what is my contract number?") == (
            "Your contract number is 4242."
        )


def test_sessions_shows_metadata_never_content(client: TestClient, clock: ManualClock) -> None:
    say(client, "conversation-alpha-1", "my password is hunter2-secret")
    clock.advance(90)
    say(client, "conversation-beta-2", "hello there")
    info = client.get("/sessions").json()
    assert info["total_sessions"] == 2
    assert (info["timeout_minutes"], info["history_limit"]) == (30, 20)
    assert info["uptime_seconds"] == 90
    alpha = next(s for s in info["sessions"] if s["conversation"].startswith("conversa"))
    assert set(alpha) == {"conversation", "messages", "uptime_min", "last_activity"}
    text = json.dumps(info)
    for secret in ("hunter2", "password", "hello there", "conversation-alpha-1"):
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
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    case: str, client: TestClient, history: HistoryStore, clock: ManualClock
) -> None:
    say(client, "ok", "my contract number is 1")
    before = snapshot(history, clock.now())
    kwargs, status, message = BAD_REQUESTS[case]
    if kwargs.get("content") == "chunks":  # no length header: the limit applies while reading
        kwargs = {"content": (b"x" * 65536 for _ in range(5))}
    response = client.post("/api/messages", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert snapshot(history, clock.now()) == before


def test_other_activity_types_are_acknowledged_not_stored(
    client: TestClient, history: HistoryStore, clock: ManualClock
) -> None:
    response = client.post(
        "/api/messages", json={"type": "conversationUpdate", "conversation": {"id": "c"}}
    )
    assert response.status_code == 202
    assert snapshot(history, clock.now()) == []


def test_model_down_is_a_502_and_stores_nothing(history: HistoryStore, clock: ManualClock) -> None:
    with CourseModel() as gone:
        url = gone.url
    with TestClient(create_app(history, url, clock=clock)) as client:
        response = client.post("/api/messages", json=activity("c", "hello"))
    assert response.status_code == 502
    assert "unreachable" in response.json()["error"]
    assert snapshot(history, clock.now()) == []


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
