"""Lesson 8's grading machinery, on the real bot: bots on UNIX sockets, broken bots, SessionsView.

The lesson grades a student's isolation test by mutation: it must pass against the real bot and
fail against copies with one rule broken (:mod:`sessionlab.bot.rule_breakers`; the hidden ones
are defined in the lesson's hidden test). These tests take the lesson's own code out of the
solution notebook, so they check what grades students: the reference answer catches every
broken bot and passes the real one, the round trip's partial answer catches exactly the two it
should, and the untouched plain breaker is byte-for-byte the real bot. The ``/sessions`` hook
(:class:`~sessionlab.bot.app.SessionsView`) is checked for what the bot does around a student's
functions: who is asked first, and one-line 500s for whatever they return or raise.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from fastapi.testclient import TestClient

from sessionlab.bot.app import SessionsView, create_app
from sessionlab.bot.client import connect
from sessionlab.bot.client import message as activity
from sessionlab.bot.history import HistoryLimits, SQLiteHistory
from sessionlab.bot.rule_breakers import OneHistoryForEverybody, RuleBreaker, served
from sessionlab.bot.socket_server import serve_on_unix_socket
from sessionlab.clock import FakeClock
from sessionlab.model import CourseModel

ROOT = Path(__file__).resolve().parents[2]
LESSON = "08-multisession-bot"
LOCAL = "http://127.0.0.1"


def _cell(grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", 4)
    return next(
        c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if "### " not in line)


def _lesson_namespace() -> dict[str, Any]:
    """What the lesson's set-up cell gives an answer: ``connect``, ``activity``, ``httpx``..."""
    namespace: dict[str, Any] = {"__name__": "__main__", "connect": connect, "httpx": httpx}
    namespace.update(uuid=uuid, activity=lambda c, t, user="student": activity(c, t, user=user))
    return namespace


def _answer(source: str) -> Callable[[str], None]:
    namespace = _lesson_namespace()
    exec(compile(_without_markers(source), "<answer>", "exec"), namespace)
    test: Callable[[str], None] = namespace["test_isolation"]
    return test


def _hidden_breakers() -> list[type[RuleBreaker]]:
    """The broken bots of the lesson's hidden check, as the grader defines them."""
    test = _cell("test_isolation_test")
    code = test[test.index("class TrustsTheId") : test.index("breakers = [")]
    namespace: dict[str, Any] = {"__name__": "__main__", "RuleBreaker": RuleBreaker}
    exec(compile(code, "<hidden breakers>", "exec"), namespace)
    return [v for v in namespace.values() if isinstance(v, type) and v is not RuleBreaker]


def _fails(test: Callable[[str], None], address: str) -> bool:
    try:
        test(address)
    except Exception:
        return True
    return False


@pytest.fixture(scope="module")
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


def test_a_bot_on_a_unix_socket_answers_a_connected_client(
    tmp_path: Path, model: CourseModel
) -> None:
    store = SQLiteHistory(tmp_path / "h.sqlite3", HistoryLimits())
    with serve_on_unix_socket(create_app(store, model.url), tmp_path) as address:
        assert address.startswith("unix:") and Path(address[5:]).is_socket()
        with connect(address) as bot:
            issued = bot.post("/api/conversations").json()
            headers = {"authorization": f"Bearer {issued['token']}"}
            body = activity(issued["conversationId"], "my pin is 31")
            assert bot.post("/api/messages", json=body, headers=headers).json()["text"] == (
                "Got it: your pin is 31."
            )
    assert not Path(address[5:]).exists(), "the socket and its folder are gone afterwards"
    store.close()


def _exchange(address: str) -> list[tuple[int, bytes]]:
    """The same requests to any bot: ids and tokens replaced, what comes back."""
    seen: list[tuple[int, bytes]] = []
    with connect(address) as bot:
        issued = [bot.post("/api/conversations").json() for _ in range(2)]
        mine = {"authorization": f"Bearer {issued[0]['token']}"}
        others = {"authorization": f"Bearer {issued[1]['token']}"}
        for text, headers in (("my pin is 5", mine), ("what is my pin?", others), ("hi", {})):
            answer = bot.post(
                "/api/messages", json=activity(issued[0]["conversationId"], text), headers=headers
            )
            content = answer.content
            for item in issued:
                content = content.replace(item["conversationId"].encode(), b"<id>")
            seen.append((answer.status_code, content))
        seen.append((bot.post("/api/messages", content=b"{oops", headers=mine).status_code, b""))
    return seen


def test_the_plain_breaker_is_the_real_bot_byte_for_byte(
    tmp_path: Path, model: CourseModel
) -> None:
    store = SQLiteHistory(tmp_path / "h.sqlite3", HistoryLimits())
    with serve_on_unix_socket(create_app(store, model.url), tmp_path) as address:
        bare = _exchange(address)
    store.close()
    with served(RuleBreaker, model.url, folder=tmp_path) as address:
        assert _exchange(address) == bare
    assert [status for status, _ in bare] == [200, 403, 401, 400]


def test_one_history_for_everybody_leaks_between_fresh_conversations(model: CourseModel) -> None:
    with served(OneHistoryForEverybody, model.url) as address, connect(address) as bot:
        a, b = (bot.post("/api/conversations").json() for _ in range(2))
        for chat, text in ((a, "my pin is 4242"), (b, "what is my pin?")):
            headers = {"authorization": f"Bearer {chat['token']}"}
            reply = bot.post(
                "/api/messages", json=activity(chat["conversationId"], text), headers=headers
            ).json()
            assert reply["conversation"] == {"id": chat["conversationId"]}  # its own id back
    assert reply["text"] == "Your pin is 4242."


def test_the_lesson_answer_passes_the_real_bot_and_catches_every_broken_one(
    model: CourseModel,
) -> None:
    test = _answer(_cell("isolation_test"))
    breakers = _hidden_breakers()
    assert len(breakers) == 5
    with served(RuleBreaker, model.url) as address:
        test(address)
        test(address)  # and again, on the same bot
    for breaker in [OneHistoryForEverybody, *breakers]:
        with served(breaker, model.url) as address:
            assert _fails(test, address), f"the lesson's answer misses {breaker.__name__}"


def test_the_round_trip_partial_answer_catches_exactly_two(model: CourseModel) -> None:
    sys.path.insert(0, str(ROOT / "autograder"))
    try:
        from course_cycle import PARTIAL_ANSWERS
    finally:
        sys.path.remove(str(ROOT / "autograder"))
    test = _answer(PARTIAL_ANSWERS[LESSON]["isolation_test"])
    with served(RuleBreaker, model.url) as address:
        test(address)
    caught = set()
    for breaker in [OneHistoryForEverybody, *_hidden_breakers()]:
        with served(breaker, model.url) as address:
            if _fails(test, address):
                caught.add(breaker.__name__)
    assert caught == {"OneHistoryForEverybody", "TrustsTheId"}


def _page_client(
    tmp_path: Path, model: CourseModel, view: SessionsView, calls: list[str]
) -> tuple[TestClient, str]:
    class CountingStore(SQLiteHistory):
        def stats(self, *, now: float) -> Any:
            calls.append("stats")
            return super().stats(now=now)

    store = CountingStore(tmp_path / "h.sqlite3", HistoryLimits())
    operator = f"op-{uuid.uuid4().hex}"
    app = create_app(
        store, model.url, clock=FakeClock(), operator_token=operator, sessions_view=view
    )
    return TestClient(app, base_url=LOCAL), operator


def _operator_only(authorization: str | None, operator: str) -> Any:
    return None if authorization == f"Bearer {operator}" else (403, "not you")


def test_a_sessions_view_is_asked_before_the_store_is_read(
    tmp_path: Path, model: CourseModel
) -> None:
    calls: list[str] = []
    seen: list[tuple[int, float]] = []

    def summary(conversations: list[dict[str, Any]], now: float) -> dict[str, Any]:
        seen.append((len(conversations), now))
        return {"rows": [len(c["messages"]) for c in conversations]}

    view = SessionsView(_operator_only, summary)
    client, operator = _page_client(tmp_path, model, view, calls)
    with client:
        chat = client.post("/api/conversations").json()
        headers = {"authorization": f"Bearer {chat['token']}"}
        client.post("/api/messages", json=activity(chat["conversationId"], "hi"), headers=headers)
        refused = client.get("/sessions", headers={"authorization": "Bearer guess"})
        assert (refused.status_code, refused.json()) == (403, {"error": "not you"})
        assert calls == [] and seen == []
        page = client.get("/sessions", headers={"authorization": f"Bearer {operator}"})
        assert (page.status_code, page.json()) == (200, {"rows": [2]})
        assert calls == ["stats"] and seen == [(1, 1_800_000_000.0)]


@pytest.mark.parametrize(
    ("refusal", "summary", "says"),
    [
        (lambda a, o: (200, "fine"), None, "refused with something"),
        (lambda a, o: (403, "two\nlines"), None, "refused with something"),
        (lambda a, o: "no", None, "refused with something"),
        (lambda a, o: 1 / 0, None, "check failed (ZeroDivisionError)"),
        (lambda a, o: None, lambda c, n: [1, 2], "summary is not a JSON object"),
        (lambda a, o: None, lambda c, n: {"x": {1, 2}}, "summary failed (TypeError)"),
        (lambda a, o: None, lambda c, n: {}[c], "summary failed (TypeError)"),
    ],
    ids=["status-200", "two-lines", "a-string", "raises", "a-list", "a-set", "summary-raises"],
)
def test_a_broken_sessions_view_is_a_one_line_500(
    tmp_path: Path, model: CourseModel, refusal: Any, summary: Any, says: str
) -> None:
    view = SessionsView(refusal, summary or (lambda c, n: {}))
    client, operator = _page_client(tmp_path, model, view, [])
    with client:
        answer = client.get("/sessions", headers={"authorization": f"Bearer {operator}"})
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert says in error and "\n" not in error and "Traceback" not in answer.text


def test_the_bot_answers_only_its_own_host_names_on_a_unix_socket_too(
    tmp_path: Path, model: CourseModel
) -> None:
    with served(RuleBreaker, model.url, folder=tmp_path) as address:
        transport = httpx.HTTPTransport(uds=address.removeprefix("unix:"))
        with httpx.Client(transport=transport, base_url="http://evil.example") as client:
            refused = client.post("/api/conversations")
    assert refused.status_code == 400 and "Host" in json.dumps(refused.json())
    assert re.fullmatch(r"unix:/.+/bot\.sock", address)
