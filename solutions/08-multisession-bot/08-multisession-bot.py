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
# **Time budget:** about 1 h: 1,739 words to read (12 min at 150 words a minute),
# 14 code cells to run and read (14 min at 1 min each), 3 exercises worth 6 points (36 min at 6 min a point);
# the solved notebook runs top to bottom in 16 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
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
# restarts, bad input, and many users at once.
#
# **What you will learn**
#
# * how one global history leaks one user's data into another's answers, and how to test it;
# * what a capped, expiring history per conversation looks like in a store;
# * why the bot keeps its histories in SQLite or Redis, not in a dict;
# * how a server should refuse bad activities (and what "refuse" must guarantee).
#
# **How this notebook works.** `sessionlab bot serve` (FastAPI under uvicorn) runs as a
# separate process on 127.0.0.1, with its own course model; the notebook talks to it over
# HTTP like a channel would: it starts a conversation (`POST /api/conversations` returns an
# id and a token, as Bot Framework's Direct Line does) and sends that token with every message. The bot asks the model through the Messages API (`/v1/messages`
# with the conversation's history): a bot that owns its history needs no Claude Code session
# files at all. Exercises are marked **✏️ Exercise**. *Run All* takes about 15 seconds.

# %% [markdown]
# ## 1 · Set-up
#
# The bot's data (its SQLite files) lives in a new, empty sandbox folder each time this cell
# runs. `say(url, conversation, text)` posts one message activity to the named conversation
# and returns the reply text; the first message to a name starts a conversation and keeps the
# id and token the bot issued for it.

# %%
import asyncio
import statistics
import time
import uuid

import httpx
from fastapi import FastAPI, Request

from sessionlab.bot.client import BotConversation, astart_conversation, start_conversation
from sessionlab.bot.process import BotProcess
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
# Here is the naive bot, in a dozen lines: a FastAPI app with one module-level list. It runs
# inside this notebook (httpx can call an ASGI app directly) and asks its own course model.

# %%
naive_model = CourseModel().start()
HISTORY: list[dict] = []  # one list for every user: the bug
naive = FastAPI()


@naive.post("/api/messages")
async def naive_messages(request: Request) -> dict:
    body = await request.json()
    HISTORY.append({"role": "user", "content": body["text"]})
    async with httpx.AsyncClient(base_url=naive_model.url) as model:
        answer = await model.post(
            "/v1/messages", json={"model": "m", "max_tokens": 100, "messages": HISTORY}
        )
    text = answer.json()["content"][0]["text"]
    HISTORY.append({"role": "assistant", "content": text})
    return {"type": "message", "text": text}


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
# Write `contract_leaks(send)`: run the seed's acceptance test against a bot and return
# `True` if the bot **leaks** (tab 2 learns tab 1's contract number), `False` if it does not.
#
# `send(conversation_id, text)` is a coroutine function that returns the reply text (like
# `naive_say`). Use two **fresh** conversation ids (for example from `uuid.uuid4().hex`, so
# old conversations cannot interfere), and a contract number of your own (not `8446`: other
# conversations may already hold that one). Tab 1 states it (`"my contract number is ..."`);
# tab 2 asks `"what is my contract number?"`; the bot leaks if the number appears in tab 2's
# reply.


# %% nbgrader={"grade": false, "grade_id": "contract_leaks", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
async def contract_leaks(send) -> bool:
    """True if a second conversation learns the first one's contract number."""
    ### BEGIN SOLUTION
    tab_1, tab_2 = f"tab-{uuid.uuid4().hex}", f"tab-{uuid.uuid4().hex}"
    number = str(uuid.uuid4().int % 10**9).zfill(9)
    await send(tab_1, f"my contract number is {number}")
    reply = await send(tab_2, "what is my contract number?")
    return number in reply
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_contract_leaks", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
async def real_say(conversation: str, text: str) -> str:
    return await asyncio.to_thread(say, bot.url, conversation, text)


assert await contract_leaks(naive_say) is True, "the naive bot leaks"
assert await contract_leaks(real_say) is False, "the real bot keeps conversations apart"
print("visible tests passed")
### BEGIN HIDDEN TESTS
seen_ids: list[str] = []


async def recording_say(conversation: str, text: str) -> str:
    seen_ids.append(conversation)
    return await real_say(conversation, text)


score = 1.0
await contract_leaks(recording_say)
await contract_leaks(recording_say)
if len(set(seen_ids)) >= 4:
    score += 0.5
else:
    print("hidden: use fresh conversation ids on every run")
leaky_memory: dict[str, list[str]] = {}


async def leaks_only_recent(conversation: str, text: str) -> str:
    """A bot that shares the last message of the *previous* conversation."""
    everyone = [t for texts in leaky_memory.values() for t in texts]
    leaky_memory.setdefault(conversation, []).append(text)
    for older in reversed(everyone):
        if older.startswith("my contract number is ") and "what is my contract" in text:
            return f"Your contract number is {older.rsplit(' ', 1)[1]}."
    return "I don't know your contract number."


if await contract_leaks(leaks_only_recent) is True:
    score += 0.5
else:
    print("hidden: a bot that shares state between conversations must be reported as leaking")
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
# Write the class `HistoryBook(clock, max_messages=20, ttl_seconds=1800)`, an in-memory version
# of the bot's store:
#
# * `append(conversation_id, role, text)` adds a message and keeps only the last
#   `max_messages` of that conversation; it also counts as activity;
# * `history(conversation_id)` returns that conversation's messages as a list of
#   `(role, text)` tuples, oldest first (`[]` for an unknown one);
# * a conversation with no `append` for `ttl_seconds` (`clock.wall() >= last + ttl`) is
#   forgotten: `history` returns `[]`, and the next `append` starts a new, empty history;
# * conversations never see each other's messages.
#
# Read the time only from `clock.wall()`.


# %% nbgrader={"grade": false, "grade_id": "history_book", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class HistoryBook:
    """Per-conversation histories: capped, expiring after silence."""

    def __init__(self, clock, max_messages: int = 20, ttl_seconds: float = 1800) -> None:
        ### BEGIN SOLUTION
        self.clock = clock
        self.max_messages = max_messages
        self.ttl = ttl_seconds
        self.books: dict[str, list[tuple[str, str]]] = {}
        self.last: dict[str, float] = {}
        ### END SOLUTION

    def append(self, conversation_id: str, role: str, text: str) -> None:
        ### BEGIN SOLUTION
        last = self.last.get(conversation_id)
        if last is None or self.clock.wall() >= last + self.ttl:
            self.books[conversation_id] = []  # expired (or new): start empty
        book = self.books[conversation_id]
        book.append((role, text))
        del book[: -self.max_messages]
        self.last[conversation_id] = self.clock.wall()
        ### END SOLUTION

    def history(self, conversation_id: str) -> list[tuple[str, str]]:
        ### BEGIN SOLUTION
        last = self.last.get(conversation_id)
        if last is None or self.clock.wall() >= last + self.ttl:
            return []
        return list(self.books[conversation_id])
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_history_book", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
from sessionlab.clock import FakeClock  # noqa: E402

test_clock = FakeClock()
book = HistoryBook(test_clock)
for number in range(25):
    book.append("a", "user", f"a{number}")
book.append("b", "user", "b0")
assert len(book.history("a")) == 20 and book.history("a")[0] == ("user", "a5")
assert book.history("b") == [("user", "b0")] and book.history("nobody") == []
test_clock.advance(1800)
assert book.history("a") == [], "30 minutes of silence"
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
hidden_clock = FakeClock()
small = HistoryBook(hidden_clock, max_messages=4, ttl_seconds=100)
for number in range(7):
    small.append("x", "user" if number % 2 == 0 else "assistant", f"m{number}")
    hidden_clock.advance(60)  # each append renews: 60 s < 100 s
cap_ok = [t for _, t in small.history("x")] == ["m3", "m4", "m5", "m6"]
if cap_ok:
    score += 1
else:
    print(f"hidden: cap of 4 with renewals, got {small.history('x')}")
hidden_clock.advance(39.999)
alive = len(small.history("x")) == 4
hidden_clock.advance(0.001)
gone = small.history("x") == []
small.append("x", "user", "fresh")
fresh = small.history("x") == [("user", "fresh")]
returned = small.history("x")
returned.append(("user", "tamper"))
untampered = small.history("x") == [("user", "fresh")]
if alive and gone and fresh and untampered:
    score += 1
else:
    print(
        f"hidden: expiry at the boundary / fresh start / copies: {alive, gone, fresh, untampered}"
    )
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
# ## ✏️ Exercise 3 · Reflect (1 point, graded by your instructor)
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
