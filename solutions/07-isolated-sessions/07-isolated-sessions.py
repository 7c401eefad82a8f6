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
# # Lesson 7 · Isolated temporary sessions
#
# **Time budget:** about 1 h 25: 1,755 words to read (12 min at 150 words a minute),
# 20 code cells to run and read (20 min at 1 min each), 4 exercises worth 9 points (54 min at 6 min a point);
# the solved notebook runs top to bottom in 15 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# So far one person talked to one session. A service is different: many people use it at the
# same time, each with their own settings, uploaded files and cached objects, and most of them
# simply walk away without saying goodbye. The seed system for this lesson ("temporary
# sessions") answers that with a short list of rules:
#
# * every user gets a **session id** and their **own** config, folders and cache;
# * a session lives **60 minutes**, and every use **renews** it;
# * one client IP may hold at most **5** sessions, and one session at most **200 MB**;
# * a periodic job removes **expired** sessions and **orphan** folders.
#
# Each rule is one line in a design document and a classic bug in code. In this lesson you
# build the rules and you test them the way they break: with crafted ids, with time, and with
# many requests at once.
#
# **What you will learn**
#
# * why a session id must be validated before it touches a path or a key;
# * how to test a 60-minute TTL in a microsecond (an injectable clock);
# * why "count, then insert" lets a sixth session in under concurrency, and how SQLite's
#   `BEGIN IMMEDIATE` (and a Redis Lua script) close the gap;
# * why a cache key needs the session id *and* the config version.
#
# **How this notebook works.** Everything runs locally and offline with the course's own
# package `sessionlab.isolation` (read its modules: each is short). Exercises are marked
# **✏️ Exercise**; the visible tests are a self-check and more tests run when your notebook is
# graded. *Run → Run All Cells* takes a few seconds.

# %% [markdown]
# ## 1 · Set-up
#
# The lesson works in a new, empty folder under `.course/sandbox/` each time this cell runs
# (a second run, such as Validate, gets its own). `FakeClock` is a clock that only moves when
# we say so: every TTL decision below reads the time from it (`clock.wall()`, seconds since
# the epoch).

# %%
import asyncio
import json
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sessionlab.clock import FakeClock
from sessionlab.errors import SessionLimitError
from sessionlab.isolation import (
    Cleaner,
    IsolationLimits,
    SessionNotFound,
    SQLiteStateStore,
    TemporarySessionManager,
)
from sessionlab.sandbox import new_run_dir

lesson_dir = new_run_dir("07-isolated-sessions")

clock = FakeClock()
store = SQLiteStateStore(lesson_dir / "sessions.sqlite3")
manager = TemporarySessionManager(
    store, lesson_dir / "sessions", limits=IsolationLimits(), clock=clock
)
print("limits:", manager.limits)
print("session folders under:", manager.folders.root)

# %% [markdown]
# ## 2 · One shared config is everybody's config
#
# **What you will learn:** what goes wrong without sessions, in four lines.
#
# Before sessions, the seed app kept its settings in module globals. Ana picks a model, Bruno
# picks another, and Ana's next query runs with Bruno's choice:

# %%
SETTINGS = {"selected_model": "default"}  # one dict for the whole process


def handle(user: str, choose: str | None = None) -> str:
    if choose:
        SETTINGS["selected_model"] = choose
    return f"{user}'s query runs on {SETTINGS['selected_model']}"


print(handle("Ana", choose="small-model"))
print(handle("Bruno", choose="big-model"))
print(handle("Ana"), " <- Ana never asked for that")

# %% [markdown]
# With sessions, each user holds a session id (in a cookie, a header, a URL) and every piece
# of state hangs off it:

# %%
ana = manager.create("203.0.113.10", {"selected_model": "small-model"})
bruno = manager.create("198.51.100.20", {"selected_model": "big-model"})
for state in (ana, bruno):
    print(state.session_id, state.client_ip, state.config["selected_model"])
print()
for path in sorted(manager.folders.folder(ana.session_id).iterdir()):
    print("  ", path.relative_to(manager.folders.root))

# %% [markdown]
# Each session has its own `uploads/`, `temp/` and `cache/` folders and its own SQLite
# database, under `<root>/<session id>/`. The record in the store (config, times, version,
# counters) is what the next request reads:

# %%
print(json.dumps(manager.use(ana.session_id).to_dict(), indent=2))

# %% [markdown]
# **What we found.** The session id is the *only* thing a request brings; everything else is
# looked up from it. That makes the id the most dangerous input the service has.

# %% [markdown]
# ## 3 · The id is input: validate it before it becomes a path
#
# **What you will learn:** why "`root / session_id`" is a path-traversal bug.
#
# A client sends its session id back on every request, so a client can send *anything*.
# Joining it to a path as it is:

# %%
root = manager.folders.root
for crafted in ("../../../../etc", "../" + bruno.session_id, "/tmp"):
    print(f"{crafted!r:50} -> {(root / crafted).resolve()}")

# %% [markdown]
# The first escapes the root entirely, the second reaches *another user's* folder, and an
# absolute "id" replaces the root altogether (`Path("/a") / "/tmp"` is `/tmp`). The same id
# also becomes a store key, where `*` or `:` could match or collide with other keys.
#
# The fix is not to clean the id (`replace("..", "")` has been bypassed many times) but to
# accept only what the server itself makes: `uuid.uuid4()` in canonical text form, lowercase
# hex in groups 8-4-4-4-12, version digit `4`, variant digit `8`, `9`, `a` or `b`.

# %% [markdown]
# ## ✏️ Exercise 1 · A safe session folder (2 points)
#
# Write `session_folder(root, session_id)`: return `Path(root) / session_id` **only** if
# `session_id` is a `str` that is exactly a canonical UUID4 as `str(uuid.uuid4())` writes it
# (lowercase, hyphens, version `4`, variant `8/9/a/b`, nothing before or after, not even a
# newline). Otherwise raise `ValueError`. Do not touch the disk.


# %% nbgrader={"grade": false, "grade_id": "session_folder", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def session_folder(root: str | Path, session_id: object) -> Path:
    """``root / session_id`` for a canonical UUID4 id; ValueError for anything else."""
    ### BEGIN SOLUTION
    import re

    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    if not isinstance(session_id, str) or not re.fullmatch(pattern, session_id):
        raise ValueError(f"invalid session id {session_id!r}")
    return Path(root) / session_id
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_session_folder", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
good = str(uuid.uuid4())
assert session_folder(root, good) == root / good
assert session_folder(str(root), ana.session_id) == root / ana.session_id
for crafted in ("../../../../etc", "/tmp", "../" + good):
    try:
        session_folder(root, crafted)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{crafted!r} must be refused")
print("visible tests passed")
### BEGIN HIDDEN TESTS
from sessionlab.errors import InvalidSessionId  # noqa: E402
from sessionlab.ids import validate_session_id  # noqa: E402

hidden_ids = [
    str(uuid.uuid4()),
    good.upper(),  # uppercase is a UUID, not our text form
    good + "\n",
    " " + good,
    good.replace("-", ""),
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",  # UUID1
    good[:14] + "4" + good[15:19] + "c" + good[20:],  # variant c
    "",
    None,
    42,
    uuid.uuid4(),  # a UUID object, not a str
    "..",
]
passed = 0
for case in hidden_ids:
    try:
        validate_session_id(case)
        expected_ok = True
    except InvalidSessionId:
        expected_ok = False
    try:
        got_ok = session_folder(root, case) == root / str(case)
    except ValueError:
        got_ok = False
    except Exception as error:
        print(f"hidden case {case!r}: raised {error!r} instead of ValueError")
        continue
    if got_ok == expected_ok:
        passed += 1
    else:
        print(f"hidden case {case!r}: {'accepted' if got_ok else 'refused'} wrongly")
float(1 + passed / len(hidden_ids))  # partial credit: visible 1 + hidden 1
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Time: a TTL renewed on every use
#
# **What you will learn:** how to test "expires after 60 minutes of silence" without waiting.
#
# The store never asks the operating system for the time; the manager passes `now` from its
# clock. With the manual clock we can walk through an afternoon in a few microseconds. Ana
# uses her session every 50 minutes; Bruno goes to lunch.

# %%
for minute in (50, 100, 150):
    clock.advance(50 * 60)
    manager.use(ana.session_id)  # renews: expires 60 minutes from now
    alive = {
        name: manager.peek(s.session_id) is not None for name, s in [("ana", ana), ("bruno", bruno)]
    }
    print(f"minute {minute:>3}: {alive}")
try:
    manager.use(bruno.session_id)
except SessionNotFound as error:
    print("bruno:", error)

# %% [markdown]
# **What we found.** Ana's session is still alive at minute 150 because each use pushed its
# expiry to *now + 60 min*; Bruno's expired at minute 60 and cannot be revived. `peek` looks
# without renewing: a dashboard that renewed every session it displayed would keep them all
# alive forever.
#
# Note the boundary: at exactly `expires_at` the session is already gone (`now < expires_at`
# means alive). Off-by-one at a boundary is where TTL code usually breaks, and a manual clock
# lets a test stand exactly on it.

# %% [markdown]
# ## ✏️ Exercise 2 · A TTL table (3 points)
#
# Write the class `TtlTable(clock, ttl_seconds)`, an in-memory table of session ids:
#
# * `create(session_id)` adds a session that expires `ttl_seconds` after `clock.wall()`;
# * `use(session_id)` returns `True` and renews the session (expires `ttl_seconds` after
#   *now*) if it is alive, and `False` if it is unknown or expired (an expired session is
#   never revived);
# * `alive_ids()` returns the sorted list of ids alive at `clock.wall()`;
# * a session is alive while `clock.wall() < expires_at`.
#
# Read the time only from `clock.wall()`; never from `time`.


# %% nbgrader={"grade": false, "grade_id": "ttl_table", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class TtlTable:
    """Session ids with a TTL that every use renews."""

    def __init__(self, clock, ttl_seconds: float) -> None:
        ### BEGIN SOLUTION
        self.clock = clock
        self.ttl = ttl_seconds
        self.expires: dict[str, float] = {}
        ### END SOLUTION

    def create(self, session_id: str) -> None:
        ### BEGIN SOLUTION
        self.expires[session_id] = self.clock.wall() + self.ttl
        ### END SOLUTION

    def use(self, session_id: str) -> bool:
        ### BEGIN SOLUTION
        if self.clock.wall() >= self.expires.get(session_id, float("-inf")):
            self.expires.pop(session_id, None)
            return False
        self.expires[session_id] = self.clock.wall() + self.ttl
        return True
        ### END SOLUTION

    def alive_ids(self) -> list[str]:
        ### BEGIN SOLUTION
        now = self.clock.wall()
        return sorted(s for s, expires in self.expires.items() if now < expires)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ttl_table", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
test_clock = FakeClock()
table = TtlTable(test_clock, 3600)
table.create("a")
table.create("b")
test_clock.advance(3000)
assert table.use("a") is True
test_clock.advance(3000)  # a: 3000 s after its last use; b: 6000 s after creation
assert table.alive_ids() == ["a"]
assert table.use("b") is False and table.use("zzz") is False
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
hidden_clock = FakeClock()
hidden = TtlTable(hidden_clock, 600)
hidden.create("x")
hidden_clock.advance(599.999)
boundary_ok = hidden.alive_ids() == ["x"]
hidden_clock.advance(0.001)  # exactly at expires_at: gone
boundary_ok = boundary_ok and hidden.alive_ids() == [] and hidden.use("x") is False
if boundary_ok:
    score += 0.5
else:
    print("hidden: at exactly ttl seconds after the last use the session is expired")
hidden_clock.advance(10_000)
hidden.create("x")  # a new session with an old id starts fresh
no_revive = hidden.use("x") is True
hidden_clock.advance(700)
no_revive = no_revive and hidden.use("x") is False
hidden.create("y")
hidden_clock.advance(10)
no_revive = no_revive and hidden.use("x") is False and hidden.alive_ids() == ["y"]
if no_revive:
    score += 0.5
else:
    print("hidden: an expired session must stay expired")
renew_clock = FakeClock()
renewing = TtlTable(renew_clock, 60)
renewing.create("r")
renewed = True
for _ in range(100):  # 100 uses, 59 s apart: alive for 98 minutes on a 1-minute TTL
    renew_clock.advance(59)
    renewed = renewed and renewing.use("r")
if renewed and renewing.alive_ids() == ["r"]:
    score += 1
else:
    print("hidden: every use must renew the TTL from now")
float(score)  # partial credit out of 3
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · The per-IP limit, under concurrency
#
# **What you will learn:** why "count the IP's sessions, then insert" is a race, and the
# transaction that fixes it.
#
# Here is the obvious implementation, on a small SQLite table. It sleeps a little between the
# count and the insert: real code does work there too (create folders, call another service),
# and the sleep only makes the window easy to hit.

# %%
SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, client_ip TEXT, expires_at REAL)"


def fresh_db(name: str) -> Path:
    path = lesson_dir / name
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA)
    return path


def naive_create(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0) -> bool:
    db = sqlite3.connect(db_path, timeout=30)
    try:
        (live,) = db.execute(
            "SELECT COUNT(*) FROM sessions WHERE client_ip = ? AND expires_at > ?", (client_ip, now)
        ).fetchone()
        if live >= max_per_ip:
            return False
        time.sleep(pause)  # work between the check and the insert
        db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (session_id, client_ip, now + ttl))
        db.commit()
        return True
    finally:
        db.close()


def stampede(create, db_path, creators=30, pause=0.05) -> int:
    """``creators`` threads released at the same instant, all from one IP; how many won?"""
    barrier = threading.Barrier(creators)

    def attempt(_: int) -> bool:
        barrier.wait()
        return create(
            db_path,
            str(uuid.uuid4()),
            "203.0.113.99",
            now=1000.0,
            ttl=3600,
            max_per_ip=5,
            pause=pause,
        )

    with ThreadPoolExecutor(creators) as pool:
        return sum(pool.map(attempt, range(creators)))


print(
    "naive: sessions created for one IP with a limit of 5:",
    stampede(naive_create, fresh_db("naive.sqlite3")),
)

# %% [markdown]
# **What we found.** Every thread counted before any of them inserted, so every thread saw
# room for one more. The limit held only for requests that arrived one at a time, which is
# exactly when nobody needs it.
#
# The fix is to make the count and the insert **one atomic step**. In SQLite, a transaction
# opened with `BEGIN IMMEDIATE` takes the database's write lock *before* the count; a second
# creator waits at its own `BEGIN IMMEDIATE` until the first commits, and then counts the row
# the first one inserted. (A plain `BEGIN` is not enough: it takes the write lock only at the
# `INSERT`, after both have counted.) Open the connection with `isolation_level=None` so
# Python's `sqlite3` does not start transactions on its own, and a `timeout` long enough for
# the waiting creators.
#
# Redis has no `BEGIN IMMEDIATE`; the course's `RedisStateStore` sends the whole
# check-and-insert as one Lua script, which Redis runs without interleaving any other command:

# %%
from sessionlab.isolation.redis_state_store import CREATE_LUA  # noqa: E402

print(CREATE_LUA)

# %% [markdown]
# ## ✏️ Exercise 3 · An atomic per-IP limit (3 points)
#
# Write `create_limited(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0)`
# on the `sessions` table above (`SCHEMA`): if `client_ip` has fewer than `max_per_ip`
# sessions with `expires_at > now`, insert `(session_id, client_ip, now + ttl)` and return
# `True`; otherwise insert nothing and return `False`. Sleep `pause` seconds between your
# count and your insert (the tests use it to widen the race window, like `naive_create`).
#
# It must hold under the stampede: with 30 threads and `max_per_ip=5`, exactly 5 win. Open a
# new connection per call (threads must not share one), and close it.


# %% nbgrader={"grade": false, "grade_id": "create_limited", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def create_limited(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0) -> bool:
    """Insert the session unless the IP is at its limit; the check and insert are atomic."""
    ### BEGIN SOLUTION
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            (live,) = db.execute(
                "SELECT COUNT(*) FROM sessions WHERE client_ip = ? AND expires_at > ?",
                (client_ip, now),
            ).fetchone()
            if live >= max_per_ip:
                db.execute("ROLLBACK")
                return False
            time.sleep(pause)
            db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (session_id, client_ip, now + ttl))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return True
    finally:
        db.close()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_create_limited", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
db_path = fresh_db("limited.sqlite3")
assert create_limited(db_path, "s1", "10.0.0.1", now=0.0, ttl=60, max_per_ip=1) is True
assert create_limited(db_path, "s2", "10.0.0.1", now=1.0, ttl=60, max_per_ip=1) is False
assert create_limited(db_path, "s3", "10.0.0.2", now=1.0, ttl=60, max_per_ip=1) is True
assert create_limited(db_path, "s4", "10.0.0.1", now=60.0, ttl=60, max_per_ip=1) is True, (
    "s1 expired"
)
won = stampede(create_limited, fresh_db("stampede.sqlite3"))
print("create_limited: sessions created under the stampede:", won)
assert won == 5, f"{won} sessions for one IP with a limit of 5"
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
rounds_ok = 0
for round_number in range(2):
    path = fresh_db(f"hidden-{round_number}.sqlite3")
    if stampede(create_limited, path, creators=24, pause=0.02) == 5:
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        rounds_ok += rows == 5
if rounds_ok == 2:
    score += 1
else:
    print("hidden: the limit did not hold in every stampede")
path = fresh_db("hidden-expiry.sqlite3")
for index in range(3):
    create_limited(path, f"old{index}", "10.9.9.9", now=0.0, ttl=10, max_per_ip=3)
expiry_ok = create_limited(path, "late", "10.9.9.9", now=9.999, ttl=10, max_per_ip=3) is False
expiry_ok = (
    expiry_ok and create_limited(path, "new", "10.9.9.9", now=10.0, ttl=10, max_per_ip=3) is True
)
if expiry_ok:
    score += 1
else:
    print("hidden: expired sessions (expires_at <= now) must not count, live ones must")
float(score)  # partial credit out of 3
### END HIDDEN TESTS

# %% [markdown]
# The course's stores pass the same kind of test with 40 creators spread over four store
# objects (like four app processes): `tests/isolation/test_session_stores.py`, for SQLite and
# for a real `redis-server`. Here is the manager refusing Ana's sixth session:

# %%
for _ in range(4):
    manager.create("203.0.113.10")
try:
    manager.create("203.0.113.10")
except SessionLimitError as error:
    print("refused:", error)

# %% [markdown]
# ## 6 · A cache that knows the session and the config version
#
# **What you will learn:** why the cache key has two parts.
#
# Some objects cannot live in a store: an open database, a loaded model, an agent. The seed
# keeps them per process in `{session_id: {key: object}}`. The session id first means a lookup
# can only ever see that session's objects. The **config version** in the key means a changed
# config is never answered by an object built for the old one:

# %%
built = []


def build_agent(model_name: str) -> dict:
    built.append(model_name)
    return {"agent for": model_name}


state = manager.use(ana.session_id)
agent = manager.cached(
    ana.session_id, "sql-agent", lambda: build_agent(state.config["selected_model"])
)
again = manager.cached(ana.session_id, "sql-agent", lambda: build_agent("never called"))
manager.configure(ana.session_id, selected_model="big-model")  # version 1 -> 2
state = manager.use(ana.session_id)
rebuilt = manager.cached(
    ana.session_id, "sql-agent", lambda: build_agent(state.config["selected_model"])
)
print("same object on the second call:", again is agent)
print("built:", built, "| version now", state.version)
print("cache hits/misses:", manager.cache.hits, manager.cache.misses)

# %% [markdown]
# ## 7 · Cleanup: expired sessions and orphan folders
#
# **What you will learn:** why lazy expiry needs a sweeper.
#
# An expired session is never *returned*, but its row, its folder and its cached objects stay
# until someone removes them. The `Cleaner` does that (every 5 minutes in a server), and also
# removes **orphan** folders: a session folder whose record is gone, for example because the
# process crashed between writing the record and the folder.

# %%
orphan = str(uuid.uuid4())
manager.folders.create(orphan)  # a folder with no record
clock.advance(61 * 60)  # everybody has been silent for an hour
print("folders before:", len(manager.folders.existing_ids()))
report = Cleaner(manager).run_once()
print(
    f"expired: {len(report.expired)}, orphan folders: {len(report.orphan_folders)}, cached objects dropped: {report.cache_entries}"
)
print("folders after:", len(manager.folders.existing_ids()))

# %% [markdown]
# A server runs the sweep in the background. Here it runs every 50 ms instead of every 5
# minutes, while a new session appears and then goes silent for an hour:

# %%
cleaner = Cleaner(manager)
cleaner.start(interval=0.05)
carla = manager.create("192.0.2.30")
await asyncio.sleep(0.2)  # the sweeper runs; Carla's session is young, so it stays
print("after 0.2 s:", manager.folders.existing_ids() == [carla.session_id])
clock.advance(60 * 60)
await asyncio.sleep(0.2)
sweeps = cleaner.sweeper.runs if cleaner.sweeper else 0
cleaner.stop()
print("an hour of silence later:", manager.folders.existing_ids(), "| sweeps:", sweeps)


# %% [markdown]
# ## ✏️ Exercise 4 · Reflect (1 point, graded by your instructor)
#
# The seed promised "complete isolation". Name one piece of per-user state in a service like
# this that the session id does *not* isolate automatically, and what you would do about it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "reflection", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Anything keyed by something other than the session id: a per-process cache keyed only by
# config (two sessions with the same settings would share one agent and its memory), log
# lines, temporary files written to a shared `/tmp`, or the model provider's own rate limits.
# Each must be keyed by the session id (or sit in the session's folder) and be removed by the
# same cleanup; a test should create two sessions with identical config and check they share
# nothing.

# %% [markdown]
# ## Wrap-up
#
# * A session id is input: accept only the ids the server makes, and never join a raw id to a
#   path or a key.
# * TTL logic takes `now` from an injectable clock; test the boundary exactly.
# * "Check, then act" is a race: the per-IP check and the insert must be one atomic step
#   (`BEGIN IMMEDIATE` in SQLite, a Lua script or `WATCH`/`MULTI` in Redis).
# * Cache keys carry the session id and the config version; a sweeper removes what expiry
#   only hides.
#
# Next, **Lesson 8** puts a chat bot on top: one history per conversation, behind a real HTTP
# server, under load.

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
# 3. Hand in this file, `07-isolated-sessions.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("07-isolated-sessions", globals())

# %%
store.close()
print("lesson store closed")
