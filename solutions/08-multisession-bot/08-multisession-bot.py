# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Session Lab (Python 3)
#     language: python
#     name: sessionlab
# ---

# ruff: noqa: E501, F704

# %% [markdown]
# # Lesson 8 · A multi-session bot
#
# **Time budget:** about 1 h 55: 2,748 words to read (18 min at 150 words a minute),
# 18 code cells to run and read (18 min at 1 min each), 5 exercises worth 13 points (1 h 18 at 6 min a point);
# the solved notebook runs top to bottom in 10 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# The seed for this lesson is a chat bot that went to production with **one global history**:
# every user's messages went into the same list, so every answer was built from everybody's
# conversation. Its fix: one history per Bot Framework `conversation.id`, at most **20**
# messages each, forgotten after **30 minutes** of silence, and an endpoint `/sessions` to see
# what is going on. The seed's own acceptance test was simple and good: *tab 1 says "contract
# 8446"; tab 2 must not know it; tab 1 must.*
#
# In this lesson you run that bot as a real HTTP server, break the naive version with the
# seed's test, and check the rules that make the fix hold: isolation, the cap, expiry,
# restarts, bad input, and many users at once. Then you build two pieces of it yourself: the
# `/sessions` page an operator looks at, and an isolation test good enough that it catches
# bots broken in ways you have not been shown.
#
# **What you will learn**
#
# * how one global history leaks one user's data into another's answers, and how to test it;
# * what a capped, expiring history per conversation looks like in a store;
# * why the bot keeps its histories in SQLite or Redis, not in a dict;
# * how a server should refuse bad activities (and what "refuse" must guarantee);
# * how to build a monitoring page that shows what operators need and nothing of the users';
# * how to judge a test by the bugs it catches (mutation testing).
#
# **How this notebook works.** `sessionlab bot serve` (FastAPI under uvicorn) runs as a
# separate process on 127.0.0.1, with its own course model; the notebook talks to it over
# HTTP like a channel would: it starts a conversation (`POST /api/conversations` returns an
# id and a token, as Bot Framework's Direct Line does) and sends that token with every message. The bot asks the model through the Messages API (`/v1/messages`
# with the conversation's history): a bot that owns its history needs no Claude Code session
# files at all. Exercises are marked **✏️ Exercise**. *Run All* takes about 35 seconds.

# %% [markdown]
# ## 1 · Set-up
#
# The bot's data (its SQLite files) lives in a new, empty sandbox folder each time this cell
# runs. `say(url, conversation, text)` posts one message activity to the named conversation
# and returns the reply text; the first message to a name starts a conversation and keeps the
# id and token the bot issued for it. `connect(address)` (from `sessionlab.bot.client`) opens
# an `httpx.Client` to a bot at `http://...` or at `unix:<path>`: the exercises get the bots
# they test as such an address.

# %%
import asyncio
import hmac
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI, Request

from sessionlab.bot.client import (
    BotConversation,
    astart_conversation,
    connect,
    start_conversation,
)
from sessionlab.bot.process import BotProcess
from sessionlab.bot.socket_server import serve_on_unix_socket
from sessionlab.model import CourseModel
from sessionlab.sandbox import new_run_dir

lesson_dir = new_run_dir("08-multisession-bot")

bot = BotProcess(data_dir=lesson_dir / "bot-data").start()
print("bot listening on", bot.url)


def activity(conversation: str, text: str, user: str = "student") -> dict:
    return {
        "type": "message",
        "conversation": {"id": conversation},
        "from": {"id": user},
        "text": text,
    }


conversations: dict[str, BotConversation] = {}  # name -> the id and token the bot issued


def say(url: str, conversation: str, text: str) -> str:
    if conversation not in conversations:
        conversations[conversation] = start_conversation(url)
    chat = conversations[conversation]
    response = httpx.post(
        f"{url}/api/messages", json=activity(chat.id, text), headers=chat.headers, timeout=30
    )
    response.raise_for_status()
    return response.json()["text"]


print(say(bot.url, "hello-1", "hello bot"))

# %% [markdown]
# ## 2 · The bug: one history for everybody
#
# **What you will learn:** what the seed's first bot did, and how its failure looks.
#
# Here is the naive bot, in a dozen lines: a FastAPI app with one list for everybody. It
# hands out conversations like the real bot (so the same client code talks to both), checks
# no token, runs inside this notebook (httpx can call an ASGI app directly) and asks its own
# course model.


# %%
def naive_bot(model_url: str) -> FastAPI:
    everybody: list[dict] = []  # one list for every user: the bug
    naive = FastAPI()

    @naive.post("/api/conversations", status_code=201)
    async def naive_start() -> dict:
        return {"conversationId": f"conv-{uuid.uuid4().hex}", "token": "never checked"}

    @naive.post("/api/messages")
    async def naive_messages(request: Request) -> dict:
        incoming = await request.json()
        everybody.append({"role": "user", "content": incoming["text"]})
        async with httpx.AsyncClient(base_url=model_url) as model:
            answer = await model.post(
                "/v1/messages", json={"model": "m", "max_tokens": 100, "messages": everybody}
            )
        said = answer.json()["content"][0]["text"]
        everybody.append({"role": "assistant", "content": said})
        return {"type": "message", "text": said}

    return naive


naive_model = CourseModel().start()
naive = naive_bot(naive_model.url)


async def naive_say(conversation: str, text: str) -> str:
    transport = httpx.ASGITransport(app=naive)
    async with httpx.AsyncClient(transport=transport, base_url="http://naive") as client:
        response = await client.post("/api/messages", json=activity(conversation, text))
    return response.json()["text"]


print("tab 1:", await naive_say("tab-1", "my contract number is 8446"))
print("tab 2:", await naive_say("tab-2", "what is my contract number?"))

# %% [markdown]
# **What we found.** Tab 2 never mentioned a contract, yet the bot told it tab 1's number. The
# course model only answers from the messages it is sent, so the reply *proves* what the
# naive bot sent: tab 1's message, in tab 2's request. With real users that is one customer's
# data in another customer's answer.
#
# The same two messages to the real bot:

# %%
print("tab 1:", say(bot.url, "tab-1", "my contract number is 8446"))
print("tab 2:", say(bot.url, "tab-2", "what is my contract number?"))
print("tab 1:", say(bot.url, "tab-1", "what is my contract number?"))

# %% [markdown]
# ## ✏️ Exercise 1 · The seed's contract test (2 points)
#
# Write `contract_leaks(address)`: run the seed's acceptance test against the bot at
# `address` and return `True` if the bot **leaks** (tab 2 learns tab 1's contract number),
# `False` if it does not.
#
# Talk to the bot as a channel would: `with connect(address) as bot:` gives an `httpx.Client`;
# `bot.post("/api/conversations").json()` starts a conversation and returns its
# `conversationId` and `token`; a message is `bot.post("/api/messages",
# json=activity(conversation_id, text), headers={"authorization": f"Bearer {token}"})`, and
# its reply text is `response.json()["text"]`. Start two **fresh** conversations on every
# call, and use a contract number of your own (not `8446`: other conversations may already
# hold that one). Tab 1 states it (`"my contract number is ..."`); tab 2 asks `"what is my
# contract number?"`; the bot leaks if the number appears in tab 2's reply.
#
# The check serves each bot it tests on a UNIX socket (`serve_on_unix_socket`), which is
# why the address looks like `unix:/tmp/.../bot.sock`: `connect` handles both kinds.


# %% nbgrader={"grade": false, "grade_id": "contract_leaks", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def contract_leaks(address: str) -> bool:
    """True if a second conversation learns the first one's contract number."""
    ### BEGIN SOLUTION
    number = str(uuid.uuid4().int % 10**9).zfill(9)
    with connect(address) as bot:
        tab_1, tab_2 = (bot.post("/api/conversations").json() for _ in range(2))

        def send(tab: dict, text: str) -> str:
            headers = {"authorization": f"Bearer {tab['token']}"}
            response = bot.post(
                "/api/messages", json=activity(tab["conversationId"], text), headers=headers
            )
            response.raise_for_status()
            return response.json()["text"]

        send(tab_1, f"my contract number is {number}")
        return number in send(tab_2, "what is my contract number?")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_contract_leaks", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
from sessionlab.bot.rule_breakers import RuleBreaker, served  # noqa: E402

with CourseModel() as check_model:
    with serve_on_unix_socket(naive_bot(check_model.url)) as address:
        assert contract_leaks(address) is True, "the naive bot leaks"
    with served(RuleBreaker, check_model.url) as address:  # the real bot, on a UNIX socket
        assert contract_leaks(address) is False, "the real bot keeps conversations apart"
print("visible tests passed")
### BEGIN HIDDEN TESTS
seen_ids: list[str] = []


class RecordsConversations(RuleBreaker):
    """The real bot, noting which conversations the test posts to."""

    async def before(self, request):
        seen_ids.append(request.conversation_id)


def leaks_only_recent() -> FastAPI:
    """A bot that tells a conversation the last contract number stated in any *other* one."""
    leaky = FastAPI()
    memory: dict[str, list[str]] = {}

    @leaky.post("/api/conversations", status_code=201)
    async def leaky_start() -> dict:
        return {"conversationId": f"conv-{uuid.uuid4().hex}", "token": "never checked"}

    @leaky.post("/api/messages")
    async def leaky_messages(request: Request) -> dict:
        body = await request.json()
        conversation, text = body["conversation"]["id"], body["text"]
        others = [t for c, texts in memory.items() if c != conversation for t in texts]
        memory.setdefault(conversation, []).append(text)
        if "what is my contract" in text:
            for older in reversed(others):
                if older.startswith("my contract number is "):
                    return {"type": "message", "text": f"Your contract number is {older[22:]}."}
        return {"type": "message", "text": "I don't know your contract number."}

    return leaky


score = 1.0
with CourseModel() as hidden_model:
    with served(RecordsConversations, hidden_model.url) as address:
        contract_leaks(address)
        contract_leaks(address)
    if len(set(seen_ids)) >= 4:
        score += 0.5
    else:
        print("hidden: start fresh conversations on every run")
    with serve_on_unix_socket(leaks_only_recent()) as address:
        if contract_leaks(address) is True:
            score += 0.5
        else:
            print(
                "hidden: a bot that shares state between conversations must be reported as leaking"
            )
float(score)  # partial credit out of 2
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · A capped, expiring history per conversation
#
# **What you will learn:** what the bot stores, and the two limits.
#
# The bot keeps each conversation's messages in a store (`sessionlab.bot.history`): a table
# of conversations and a table of messages in SQLite, or a list and a hash per conversation
# in Redis. Two rules bound it:
#
# * **cap**: only the last 20 messages (10 exchanges) are kept and sent to the model;
# * **expiry**: after 30 minutes without a message, the conversation is forgotten.
#
# Watch the cap from the model's side: 15 notes, then *"what do you remember?"*.

# %%
for number in range(1, 16):
    reply = say(bot.url, "long-chat", f"note {number}")
print(reply)
print(say(bot.url, "long-chat", "what do you remember?"))

# %% [markdown]
# **What we found.** The model sees 10 earlier messages and the oldest is *note 6*: notes 1-5
# and their replies were dropped, exactly 20 messages kept. A cap keeps the model's input (and
# the bill) bounded however long a user chats; the price is that the bot forgets the start
# of a long conversation, which is why it is a setting and not a constant.
#
# `GET /sessions` shows what the bot holds, as **metadata only**: counts, ages, last
# activity, and conversation ids cut short. Never message text: a monitoring page is read by
# people who must not read the users' conversations. It is for operators only: it needs the
# operator token the server wrote (mode 0600) to its data folder.

# %%
info = httpx.get(f"{bot.url}/sessions", headers=bot.operator_headers).json()
print({k: v for k, v in info.items() if k != "sessions"})
for row in info["sessions"][:4]:
    print(" ", row)

# %% [markdown]
# ## ✏️ Exercise 2 · A history book (3 points)
#
# Write the class `HistoryBook(max_messages=20, ttl_seconds=1800)`, an in-memory version of
# the bot's store. Time comes from the caller, as in the bot's stores: every method gets `now`
# (seconds, like `time.time()`), so a test decides what time it is.
#
# * `append(conversation_id, role, text, now)` adds a message and keeps only the last
#   `max_messages` of that conversation; it also counts as activity;
# * `history(conversation_id, now)` returns that conversation's messages as a list of
#   `(role, text)` tuples, oldest first (`[]` for an unknown one);
# * a conversation with no `append` for `ttl_seconds` (`now >= last + ttl_seconds`) is
#   forgotten: `history` returns `[]`, and the next `append` starts a new, empty history;
# * conversations never see each other's messages.


# %% nbgrader={"grade": false, "grade_id": "history_book", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class HistoryBook:
    """Per-conversation histories: capped, expiring after silence."""

    def __init__(self, max_messages: int = 20, ttl_seconds: float = 1800) -> None:
        ### BEGIN SOLUTION
        self.max_messages = max_messages
        self.ttl = ttl_seconds
        self.books: dict[str, list[tuple[str, str]]] = {}
        self.last: dict[str, float] = {}
        ### END SOLUTION

    def append(self, conversation_id: str, role: str, text: str, now: float) -> None:
        ### BEGIN SOLUTION
        last = self.last.get(conversation_id)
        if last is None or now >= last + self.ttl:
            self.books[conversation_id] = []  # expired (or new): start empty
        book = self.books[conversation_id]
        book.append((role, text))
        del book[: -self.max_messages]
        self.last[conversation_id] = now
        ### END SOLUTION

    def history(self, conversation_id: str, now: float) -> list[tuple[str, str]]:
        ### BEGIN SOLUTION
        last = self.last.get(conversation_id)
        if last is None or now >= last + self.ttl:
            return []
        return list(self.books[conversation_id])
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_history_book", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
book = HistoryBook()
for number in range(25):
    book.append("a", "user", f"a{number}", now=1000.0)
book.append("b", "user", "b0", now=1000.0)
kept = [tuple(message) for message in book.history("a", now=1000.0)]
assert len(kept) == 20 and kept[0] == ("user", "a5"), kept[:2]
assert [tuple(m) for m in book.history("b", now=1000.0)] == [("user", "b0")]
assert book.history("nobody", now=1000.0) == []
assert book.history("a", now=2800.0) == [], "30 minutes of silence"
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
small = HistoryBook(max_messages=4, ttl_seconds=100)
moment = 5000.0
for number in range(7):
    small.append("x", "user" if number % 2 == 0 else "assistant", f"m{number}", now=moment)
    moment += 60  # each append renews: 60 s < 100 s
cap_ok = [t for _, t in small.history("x", now=moment)] == ["m3", "m4", "m5", "m6"]
if cap_ok:
    score += 1
else:
    print("hidden: a cap of 4, with each append renewing the conversation")
last_append = moment - 60
alive = len(small.history("x", now=last_append + 99.999)) == 4
gone = small.history("x", now=last_append + 100) == []
small.append("x", "user", "fresh", now=last_append + 100)
fresh = [tuple(m) for m in small.history("x", now=last_append + 100)] == [("user", "fresh")]
returned = small.history("x", now=last_append + 100)
returned.append(("user", "tamper"))
untampered = [tuple(m) for m in small.history("x", now=last_append + 100)] == [("user", "fresh")]
if alive and gone and fresh and untampered:
    score += 1
else:
    print(
        f"hidden: expiry at the boundary / fresh start / copies: {alive, gone, fresh, untampered}"
    )
float(score)  # partial credit out of 3
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 3 · Build the `/sessions` page (3 points)
#
# Until now `/sessions` was the bot's own. Now you write it, in the two halves the bot calls
# (`sessionlab.bot.app.SessionsView`): the bot runs the first half **before it reads its
# store**, and the second only for the operator.
#
# **`operator_refusal(authorization, operator_token)`**: who may look. `authorization` is
# the request's `Authorization` header (a string, or `None` when there is none). Return
# `None` to let the request through, or `(status, message)` to refuse it:
#
# * the header must be `Bearer <token>`: the word *Bearer* (in any case), one space, and a
#   token without spaces (spaces around the whole header do not matter). No header, another
#   scheme, or no token: `(401, message)`;
# * a `Bearer` token that is not `operator_token`: `(403, message)`;
# * compare the two tokens with `hmac.compare_digest`, whose time does not depend on how
#   much of a guess was right;
# * the message is one line and never repeats a token (the one sent, or the real one).
#
# **`sessions_summary(conversations, now)`**: what the operator sees. `conversations` is what
# the store holds for each live conversation, as the seed's in-memory manager held it:
# `{"id": ..., "created_at": ..., "last_activity": ..., "messages": [{"role": ..., "text":
# ..., "at": ...}, ...]}` (times in seconds since the epoch, like `now`), in no particular
# order. Return
#
# ```python
# {"total_sessions": 2,
#  "sessions": [{"conversation": "conv-1a2b3c4…", "messages": 4, "uptime_min": 2.5,
#                "last_activity": "2026-11-29T10:30:15+00:00"}, ...]}
# ```
#
# * one row per conversation, the most recently active first;
# * `conversation`: the first 12 characters of the id and `…`: enough to tell conversations
#   apart on a dashboard, not enough to find one in a log;
# * `messages`: how many it holds; `uptime_min`: minutes since it was created, rounded to 1
#   decimal; `last_activity`: that time in UTC as ISO 8601 to the second
#   (`datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")`);
# * nothing else: no message text, no whole id. People who run the bot must not read its
#   users' conversations.
#
# The check plugs your two functions into the real bot app (`create_app(...,
# sessions_view=SessionsView(operator_refusal, sessions_summary))`), talks to it over HTTP in
# this process, with real conversations answered by the course model, and reads `/sessions`
# with no token, a wrong one and the operator's.
#
# **Your own work.** Reading the course's code (`sessionlab.bot.app` has a `/sessions` of its
# own) is allowed and encouraged; calling it is not: functions that use `sessionlab.bot.app`,
# `sessionlab.bot.tokens`, `sessionlab.bot.history`, `sessionlab.bot.rule_breakers` or
# `sessionlab.request_checks`, or a notebook that imports by name at run time (`importlib`,
# `__import__`), score 0 in this exercise and the next. `sessionlab.bot.client` (`connect`,
# `start_conversation`) is yours to use.


# %% nbgrader={"grade": false, "grade_id": "sessions_page", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def operator_refusal(authorization: str | None, operator_token: str) -> tuple[int, str] | None:
    """None for the operator; (401 or 403, one-line reason) for everyone else."""
    ### BEGIN SOLUTION
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        return 401, "this page needs Authorization: Bearer <operator token>"
    if not hmac.compare_digest(token.encode(), operator_token.encode()):
        return 403, "this token is not the operator's"
    return None
    ### END SOLUTION


def sessions_summary(conversations: list[dict], now: float) -> dict:
    """The operator's page: metadata per conversation, most recent first, never any text."""
    ### BEGIN SOLUTION
    rows = []
    for conversation in sorted(conversations, key=lambda c: c["last_activity"], reverse=True):
        rows.append(
            {
                "conversation": conversation["id"][:12] + "…",
                "messages": len(conversation["messages"]),
                "uptime_min": round((now - conversation["created_at"]) / 60, 1),
                "last_activity": datetime.fromtimestamp(
                    conversation["last_activity"], UTC
                ).isoformat(timespec="seconds"),
            }
        )
    return {"total_sessions": len(rows), "sessions": rows}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sessions_page", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from sessionlab.bot.app import SessionsView, create_app  # noqa: E402
from sessionlab.bot.client import message as bot_message  # noqa: E402
from sessionlab.bot.history import SQLiteHistory  # noqa: E402
from sessionlab.clock import FakeClock  # noqa: E402

operator = f"operator-{uuid.uuid4().hex}"


def page_bot(folder: str, model_url: str, clock: FakeClock) -> tuple[SQLiteHistory, FastAPI]:
    """The real bot app, with your two halves as its /sessions."""
    store = SQLiteHistory(Path(folder) / "histories.sqlite3")
    view = SessionsView(operator_refusal, sessions_summary)
    return store, create_app(
        store, model_url, clock=clock, operator_token=operator, sessions_view=view
    )


def chat(client: TestClient, *texts: str) -> str:
    """A new conversation with these messages; its id."""
    started = client.post("/api/conversations").json()
    headers = {"authorization": f"Bearer {started['token']}"}
    for text in texts:
        sent = client.post(
            "/api/messages", json=bot_message(started["conversationId"], text), headers=headers
        )
        assert sent.status_code == 200, sent.text
    return started["conversationId"]


# Called directly first, so an unfinished half says so (NotImplementedError) and not a 500.
operator_refusal(None, operator)
sessions_summary([], 0.0)
with tempfile.TemporaryDirectory() as folder, CourseModel() as check_model:
    store, app = page_bot(folder, check_model.url, FakeClock())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        alice = chat(client, "my pin is 7731")
        assert client.get("/sessions").status_code == 401, "no token"
        wrong = {"authorization": "Bearer not-the-operator"}
        assert client.get("/sessions", headers=wrong).status_code == 403, "a wrong token"
        page = client.get("/sessions", headers={"authorization": f"Bearer {operator}"})
        assert page.status_code == 200, page.text
        assert page.json()["total_sessions"] == 1, page.json()
        row = page.json()["sessions"][0]
        assert row["conversation"] == alice[:12] + "…" and row["messages"] == 2, row
        assert "7731" not in page.text, "no message text on the page"
    store.close()
print("visible tests passed")
### BEGIN HIDDEN TESTS
# Defined first: the next exercise's check uses it too. It reads the notebook's code as
# submitted (SUBMITTED_CELLS, given by the grader), never the student's running process.
# The rule (sessionlab.grading.own_work) follows the answers and everything they reach.
import json  # noqa: E402

from sessionlab.grading.own_work import DYNAMIC_IMPORTS, OwnWorkRule, own_work_problems  # noqa: E402
from sessionlab.lessons.child_runs import notebook_cells  # noqa: E402

OWN_WORK_BOT = {
    "kind": "function",
    "reference_modules": ("sessionlab.bot", "sessionlab.request_checks"),
    # The lesson's parts, yours to use: the client, the process, the socket server.
    "allowed": ("sessionlab.bot.client", "sessionlab.bot.process", "sessionlab.bot.socket_server"),
    "forbidden_anywhere": DYNAMIC_IMPORTS,  # imports by a name computed at run time
}
OWN_WORK_PAGE = OwnWorkRule(answers=("operator_refusal", "sessions_summary"), **OWN_WORK_BOT)
OWN_WORK_TEST = OwnWorkRule(answers=("test_isolation",), **OWN_WORK_BOT)

problems = own_work_problems(notebook_cells(globals()), OWN_WORK_PAGE)
assert not problems, f"the /sessions page must be your own code: {'; '.join(problems)}"
score = 1.0
# Who may look: every refusal, and the one acceptance.
token = f"op-{uuid.uuid4().hex}"
cases = {
    None: 401,
    "": 401,
    "   ": 401,
    f"Basic {token}": 401,
    "Bearer": 401,
    "Bearer ": 401,
    f"Bearer {token} extra": 401,
    f"{token}": 401,
    "Bearer not-it": 403,
    f"Bearer {token}x": 403,
    f"Bearer {token[:-1]}": 403,
    f"Bearer {token.upper()}": 403,
    f"Bearer {token}": None,
    f"bearer {token}": None,
    f"  BEARER {token}  ": None,
}
wrong_refusals = []
for header, expected in cases.items():
    got = operator_refusal(header, token)
    status = None if got is None else got[0]
    ok = status == expected
    if got is not None and ok:
        reason = got[1]
        ok = isinstance(reason, str) and reason.strip() and "\n" not in reason
        ok = ok and token not in reason and "not-it" not in reason and token[:-1] not in reason
    if not ok:
        wrong_refusals.append(repr(header)[:24])
submitted = "\n".join(notebook_cells(globals()))
if "compare_digest" not in submitted:
    wrong_refusals.append("tokens are not compared with hmac.compare_digest")
if not wrong_refusals:
    score += 1
else:
    print(f"hidden: operator_refusal is wrong for {len(wrong_refusals)} case(s)")
# What the operator sees: order, counts, times, and nothing of the users'.
hidden_clock = FakeClock(epoch=1_900_000_000.0)
with tempfile.TemporaryDirectory() as folder, CourseModel() as hidden_model:
    store, app = page_bot(folder, hidden_model.url, hidden_clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        empty = client.get("/sessions", headers={"authorization": f"Bearer {operator}"}).json()
        first = chat(client, "my password is swordfish-42", "hello from the first")
        hidden_clock.advance(150)
        second = chat(client, "my pin is 5566")
        hidden_clock.advance(30)
        chat(client)  # started, never used: the store does not hold it
        third = chat(client, "remember that the vault code is 0451", "and again", "once more")
        hidden_clock.advance(90)
        response = client.get("/sessions", headers={"authorization": f"Bearer {operator}"})
    store.close()
page = response.json()
now = hidden_clock.wall()
start = 1_900_000_000.0


def iso(t):
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


expected_rows = [
    {
        "conversation": third[:12] + "…",
        "messages": 6,
        "uptime_min": 1.5,
        "last_activity": iso(start + 180),
    },
    {
        "conversation": second[:12] + "…",
        "messages": 2,
        "uptime_min": 2.0,
        "last_activity": iso(start + 150),
    },
    {
        "conversation": first[:12] + "…",
        "messages": 4,
        "uptime_min": 4.5,
        "last_activity": iso(start),
    },
]
summary_ok = empty == {"total_sessions": 0, "sessions": []} and page == {
    "total_sessions": 3,
    "sessions": expected_rows,
}
shown = json.dumps(page, ensure_ascii=False) + response.text
leaks = [
    s
    for s in ("swordfish", "5566", "0451", "hello", "once more", first, second, third)
    if s in shown
]
if summary_ok and not leaks:
    score += 1
else:
    print("hidden: the page's rows (order, counts, times) or what it must not show")
float(score)  # partial credit out of 3
### END HIDDEN TESTS


# %% [markdown]
# ## 4 · Restarts: why the history lives in a store
#
# **What you will learn:** what a dict-based bot loses on every deploy.
#
# The seed's first fix kept the histories in a Python dict. Every deploy, crash or autoscale
# event then wipes every conversation. The course bot writes each turn to its store (here
# SQLite; `--store redis` for a Redis server shared by several bot processes). Stop the
# process and start a new one on the same data folder:

# %%
print("before:", say(bot.url, "tab-1", "what is my contract number?"))
bot.stop()  # SIGTERM: uvicorn finishes in-flight requests, then exits
bot = BotProcess(data_dir=lesson_dir / "bot-data").start()
print("new process on", bot.url)
print("after: ", say(bot.url, "tab-1", "what is my contract number?"))

# %% [markdown]
# A turn is stored only once the model has answered, and in one transaction with its reply
# (SQLite) or one Lua script (Redis): a crash between the two can lose the *turn in flight*
# (the user gets an error and sends it again), never half of it.

# %% [markdown]
# ## 5 · Bad input and other people's conversations: refuse before anything is stored
#
# **What you will learn:** what a server owes the client and the store when input is wrong,
# and why a conversation id must not be enough to post into a conversation.
#
# A channel, a bug or an attacker can send anything. The bot answers each problem with a clear
# 4xx and a one-line message naming the field, and stores nothing. A conversation id with `..`
# or `/` is refused even though this bot never builds a path from it: the next developer might.
# The last two cases are a second user, Mallory, posting into tab 1's conversation: with her
# own token, and with none.

# %%
sessions = f"{bot.url}/sessions"
before = httpx.get(sessions, headers=bot.operator_headers).json()["total_sessions"]
tab_1, mallory = conversations["tab-1"], start_conversation(bot.url)
cases = {
    "not JSON": ({"content": b"{oops"}, tab_1.headers),
    "no conversation": (
        {"json": {"type": "message", "from": {"id": "u"}, "text": "hi"}},
        tab_1.headers,
    ),
    "empty text": ({"json": activity(tab_1.id, "   ")}, tab_1.headers),
    "path traversal": ({"json": activity("../../etc/passwd", "hi")}, tab_1.headers),
    "1 MB body": ({"content": b"x" * (1024 * 1024)}, tab_1.headers),
    "Mallory -> tab 1": (
        {"json": activity(tab_1.id, "what is my contract number?")},
        mallory.headers,
    ),
    "no token -> tab 1": ({"json": activity(tab_1.id, "what is my contract number?")}, {}),
}
for name, (kwargs, headers) in cases.items():
    response = httpx.post(f"{bot.url}/api/messages", headers=headers, timeout=30, **kwargs)
    print(f"{name:18} {response.status_code} {response.json()['error']}")
after = httpx.get(sessions, headers=bot.operator_headers).json()["total_sessions"]
print("conversations before/after:", before, after)

# %% [markdown]
# The 1 MB body is refused from its `Content-Length` header alone, before the bot reads it
# (a body sent in chunks is cut off as soon as it passes 256 KB): the limit protects the
# server's memory, not just its store.
#
# **Whose conversation is it?** The seed's bot trusted `conversation.id`, which was safe only
# because an authenticated Bot Framework channel issued it. A bot reached directly must do the
# channel's part: here the bot issues each conversation a random 128-bit id and a token (an
# HMAC of the id under a key kept with the histories), and every message must carry the token.
# Mallory's 403 says nothing about tab 1: the refusal is decided before the store is read, so
# it has the same bytes and takes the same time whether the conversation exists, is long, or
# never existed. (An earlier version returned the history's length in every reply: enough to
# tell which guessed ids were real.)

# %% [markdown]
# ## ✏️ Exercise 4 · An isolation test that catches broken bots (4 points)
#
# The seed's contract test catches one bug: a history shared by everybody. Section 5 showed
# subtler ones that bots really had: posting into someone else's conversation returned their
# history, and a refusal that carried the history's length told a guesser which ids were real.
# Write the test that would have caught them.
#
# Write `test_isolation(address)`, a test in the pytest style: it talks to the bot at
# `address` (use `connect(address)`, as in exercise 1), **returns** if the bot keeps two users
# apart and **raises** (an `assert` that fails) if it does not. It must prove, with two users
# A and B (each a conversation of their own):
#
# 1. B's own conversation knows nothing of what A said;
# 2. B cannot **read** A's conversation: whatever B sends into it (B's own token, a token B
#    made up, no token at all) is refused (401 or 403), and the reply carries nothing of A's;
# 3. B **learns nothing**, not even a length: B's refusal for A's conversation is the same
#    status and the same bytes as a refusal for a conversation with nothing in it (a third
#    conversation that nobody has written to);
# 4. B cannot **post** into A's conversation: after all of B's attempts, A's conversation
#    answers exactly as before.
#
# **How it is graded: by the bugs it catches.** This is *mutation testing*. Your test runs
# against the real bot (it must pass, every time: the check runs it there more than once) and
# against copies of the real bot with one rule broken each (`sessionlab.bot.rule_breakers`
# shows how they are made): it must fail on every one. The visible check uses one of them,
# the seed's *one history for everybody*; the hidden checks use five others, one for each way
# a bot can break the four rules above. A test that passes everywhere catches nothing, and a
# test that fails everywhere is not a test: both score 0. The own-work rule of exercise 3
# applies.


# %% nbgrader={"grade": false, "grade_id": "isolation_test", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def test_isolation(address: str) -> None:
    """Passes against a bot that keeps users apart; raises against one that does not."""
    ### BEGIN SOLUTION
    pin = str(uuid.uuid4().int % 10**8).zfill(8)
    with connect(address) as bot:

        def start() -> tuple[str, dict]:
            started = bot.post("/api/conversations")
            assert started.status_code == 201, started.status_code
            body = started.json()
            return body["conversationId"], {"authorization": f"Bearer {body['token']}"}

        def post(conversation: str, text: str, headers: dict) -> httpx.Response:
            return bot.post("/api/messages", json=activity(conversation, text), headers=headers)

        alice, alice_headers = start()
        bob, bob_headers = start()
        nobody, _ = start()  # a conversation nobody writes to
        stated = post(alice, f"my pin is {pin}", alice_headers)
        assert stated.status_code == 200, stated.status_code
        # 1. B's own conversation knows nothing of A's.
        own = post(bob, "what is my pin?", bob_headers)
        assert own.status_code == 200 and pin not in own.text, "B's conversation knows A's pin"
        # 2-4. B, into A's conversation: refused, told nothing, and nothing is stored.
        for headers in (bob_headers, {"authorization": "Bearer made-up-token"}, {}):
            for text in ("what is my pin?", "my pin is 0000"):
                into_alice = post(alice, text, headers)
                into_nobody = post(nobody, text, headers)
                assert into_alice.status_code in (401, 403), into_alice.status_code
                assert pin not in into_alice.text, "B read A's pin"
                assert (into_alice.status_code, into_alice.content) == (
                    into_nobody.status_code,
                    into_nobody.content,
                ), "B's refusal tells A's conversation from an empty one"
        recalled = post(alice, "what is my pin?", alice_headers)
        assert recalled.json()["text"] == f"Your pin is {pin}.", "B changed A's conversation"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_isolation_test", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
from sessionlab.bot.rule_breakers import OneHistoryForEverybody, RuleBreaker, served  # noqa: E402


def catches(test, breaker, model_url: str) -> bool:
    """True when ``test`` fails (raises) against a fresh bot with ``breaker``'s bug."""
    with served(breaker, model_url) as address:
        try:
            test(address)
        except Exception:
            return True
    return False


with CourseModel() as check_model:
    with served(RuleBreaker, check_model.url) as address:
        test_isolation(address)  # the real bot: your test must pass
    assert catches(test_isolation, OneHistoryForEverybody, check_model.url), (
        "your test passes against a bot with one history for everybody"
    )
print("visible tests passed")
### BEGIN HIDDEN TESTS
import random  # noqa: E402

problems = own_work_problems(notebook_cells(globals()), OWN_WORK_TEST)
assert not problems, f"the isolation test must be your own code: {'; '.join(problems)}"


class TrustsTheId(RuleBreaker):
    """lets anyone post into a conversation whose id they know (any token, or none)"""

    async def before(self, request):
        self.grant(request)


class NoTokenNoCheck(RuleBreaker):
    """checks a token when there is one, and lets a request without any through"""

    async def before(self, request):
        if "authorization" not in request.headers:
            self.grant(request)


class AnyIssuedToken(RuleBreaker):
    """accepts any token it issued, for any conversation"""

    async def before(self, request):
        if request.token in self.issued:
            self.grant(request)


class TellsTheLength(RuleBreaker):
    """refuses, but says how long the conversation is (an oracle for guessed ids)"""

    async def after(self, request, status, answer):
        if status == 403 and request.conversation_id:
            held = self.store.history(request.conversation_id, now=self.clock.wall())
            return status, {**answer, "historyLength": len(held)}
        return None


class StoresBeforeChecking(RuleBreaker):
    """refuses, but has already stored the refused message in the conversation"""

    async def after(self, request, status, answer):
        if status in (401, 403) and request.conversation_id and request.text:
            turn = [("user", request.text.strip())]
            self.store.append(request.conversation_id, turn, now=self.clock.wall())
        return None


breakers = [TrustsTheId, NoTokenNoCheck, AnyIssuedToken, TellsTheLength, StoresBeforeChecking]
runs = [*breakers, RuleBreaker, RuleBreaker]  # the real bot again, at random places
random.shuffle(runs)
caught = []
real_bot_failed = False
with CourseModel() as hidden_model:
    for breaker in runs:
        failed = catches(test_isolation, breaker, hidden_model.url)
        if breaker is RuleBreaker:
            real_bot_failed = real_bot_failed or failed
        elif failed:
            caught.append(breaker)
assert not real_bot_failed, "your test failed against the real bot when run again"
score = 1.0 + 0.6 * len(caught)
for breaker in breakers:
    if breaker not in caught:
        print(f"hidden: your test passes against a bot that {breaker.__doc__}")
float(score)  # partial credit out of 4
### END HIDDEN TESTS


# %% [markdown]
# ## 6 · Many users at once
#
# **What you will learn:** how to test isolation under concurrency, where the naive bot's
# bug would hide best.
#
# Twenty users talk at the same time, six messages each. Every message names its user, and
# every second one asks for the user's own token, which the model can only know from that
# user's history. One wrong answer would be cross-talk.


# %%
async def user_session(client: httpx.AsyncClient, user: int, latencies: list[float]) -> int:
    wrong = 0
    chat = await astart_conversation(client)
    for number in range(1, 7):
        text = f"my u{user} token is t{number}" if number % 2 else f"what is my u{user} token?"
        started = time.perf_counter()
        response = await client.post(
            "/api/messages", json=activity(chat.id, text, user=f"u{user}"), headers=chat.headers
        )
        latencies.append(time.perf_counter() - started)
        if number % 2 == 0 and response.json()["text"] != f"Your u{user} token is t{number - 1}.":
            wrong += 1
    return wrong


async def crowd(users: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=bot.url, timeout=30) as client:
        wrong = await asyncio.gather(*(user_session(client, u, latencies) for u in range(users)))
    return sum(wrong), latencies


wrong, latencies = await crowd(20)
print(f"{len(latencies)} requests, wrong answers: {wrong}")
print(
    f"latency p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
)

# %% [markdown]
# The course's load test (`tests/isolation/test_load.py`) does the same with 100 users x 20
# messages on both stores, then reads the store to prove every history holds exactly its own
# last 20 messages; `docs/multi-user.md` has its numbers.

# %% [markdown]
# ## ✏️ Exercise 5 · Reflect (1 point, graded by your instructor)
#
# The seed planned to "migrate to Redis above 100 users". Using what you saw in this lesson,
# give one reason to keep histories outside the bot process that has nothing to do with the
# number of users.

# %% [markdown] nbgrader={"grade": true, "grade_id": "reflection", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Restarts and scale-out: a history in the process's memory dies with every deploy or crash
# (section 4), and two bot processes behind a load balancer would each see half of a
# conversation, which is the naive bot's bug again in another form. A store shared by the
# processes (SQLite on one machine, Redis across machines) keeps one history per conversation
# whatever process answers.

# %% [markdown]
# ## Wrap-up
#
# * The seed's contract test is the right test: state a fact in one conversation, ask in
#   another; the model's reply proves what the bot sent it.
# * One history per conversation id, capped and expiring, in a store that outlives the
#   process; a turn is stored whole, after the reply.
# * Refuse bad input with a clear 4xx before anything is stored, including oversized bodies
#   before they are read.
# * A conversation belongs to whoever started it: check a token, not just an id, and refuse
#   others without telling them anything (not even a length).
# * Test isolation under concurrency, with messages that identify their sender.
# * A monitoring page is for the people who run the service: it checks who is asking before
#   it reads anything, and shows counts and times, never what users wrote.
# * A test is worth the bugs it catches: run it against deliberately broken versions of the
#   code (mutation testing) and see which ones it lets through.
#
# The last cell stops the bot and the naive bot's model.

# %% [markdown]
# ## Before you submit
#
# **Where you stand.** The next cell runs the visible check of every exercise again and
# prints, per exercise, *passed*, *failed* or *not started* with the points at stake. Run the
# whole notebook first (*Kernel → Restart Kernel and Run All Cells*): an unsolved exercise
# does not stop the run (its cells carry the `raises-exception` tag, which JupyterLab, nbclient
# and nbgrader honour), it just scores 0. Hidden checks run only when your notebook is
# graded, so *passed* here is necessary, not sufficient.
#
# **How to submit.**
#
# 1. *Kernel → Restart Kernel and Run All Cells*, then read the report below.
# 2. Save the notebook (*File → Save Notebook*).
# 3. Hand in this file, `08-multisession-bot.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("08-multisession-bot", globals())

# %%
bot.stop()
naive_model.stop()
print("bot and naive model stopped")
