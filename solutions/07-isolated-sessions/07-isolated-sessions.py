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
# **Time budget:** about 2 h 25: 2,854 words to read (19 min at 150 words a minute),
# 29 code cells to run and read (29 min at 1 min each), 6 exercises worth 16 points (1 h 36 at 6 min a point);
# the solved notebook runs top to bottom in 18 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
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
# * why a cache key needs the session id *and* the config version;
# * how Redis's own TTL and a Celery worker's per-session cache keep users apart, by building
#   both against a real `redis-server` and a real Celery worker.
#
# **How this notebook works.** Everything runs locally and offline with the course's own
# package `sessionlab.isolation` (read its modules: each is short); section 8 starts a private
# `redis-server` and Celery workers on this machine, reachable only through a socket file. Exercises are marked
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
import time
import uuid
from pathlib import Path

from sessionlab.clock import FakeClock
from sessionlab.errors import SessionLimitError
from sessionlab.grading.student_objects import in_student  # tests build objects in your process
from sessionlab.isolation import (
    Cleaner,
    IsolationLimits,
    SessionNotFound,
    SQLiteStateStore,
    TemporarySessionManager,
)
from sessionlab.lessons.child_runs import notebook_cells, race_in_children
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
    good.encode(),  # bytes, not a str
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
test_clock = in_student(FakeClock)
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
hidden_clock = in_student(FakeClock)
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
renew_clock = in_student(FakeClock)
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
#
# A real server answers from several **worker processes** at once (gunicorn, uvicorn
# `--workers`, Celery), so the stampede below is 30 processes, not 30 threads: each one is
# started from this notebook's definitions (its imports, functions, classes and constants,
# never its demos), loads them, says it is ready, and waits; when all 30 are ready they are
# released at the same instant and each calls the function once. A lock inside one process
# (`threading.Lock`) cannot help here, as it would not help 30 web workers.

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


def stampede(create_name: str, db_path, creators=30, pause=0.05) -> int:
    """``creators`` worker processes, all from one IP, released at the same instant, each
    calling the notebook's function ``create_name`` once: how many won?"""
    calls = [(str(db_path), str(uuid.uuid4()), "203.0.113.99") for _ in range(creators)]
    limits = {"now": 1000.0, "ttl": 3600, "max_per_ip": 5, "pause": pause}
    runs = race_in_children(notebook_cells(globals()), create_name, calls, limits)
    for run in runs:
        if run.error or run.crashed:
            raise RuntimeError(f"a worker's {create_name} {run.describe()}")
    return sum(run.returned is True for run in runs)


print(
    "naive: sessions created for one IP with a limit of 5:",
    stampede("naive_create", fresh_db("naive.sqlite3")),
)

# %% [markdown]
# **What we found.** Every worker counted before any of them inserted, so every worker saw
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
# It must hold under the stampede: with 30 worker processes and `max_per_ip=5`, exactly 5 win.
# Open a new connection per call, and close it. The stampede runs your function in fresh
# processes started from your notebook's definitions, so everything `create_limited` uses
# must be an import, a function, a class or a constant (`SCHEMA = "..."`), not the result of a
# call like `lock = threading.Lock()`, which the workers never see.


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
won = stampede("create_limited", fresh_db("stampede.sqlite3"))
print("create_limited: sessions created under the stampede:", won)
assert won == 5, f"{won} sessions for one IP with a limit of 5"
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
rounds_ok = 0
for round_number in range(2):
    path = fresh_db(f"hidden-{round_number}.sqlite3")
    try:
        won = stampede("create_limited", path, creators=24, pause=0.02)
    except RuntimeError as error:
        print(f"hidden: {error}")
        break
    with sqlite3.connect(path) as db:  # the rows the grader counts itself
        rows = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    rounds_ok += won == 5 and rows == 5
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
# ## 8 · The real thing: Redis and a Celery worker
#
# **What you will learn:** how the seed's two servers keep sessions apart, by building both
# halves yourself against a real `redis-server` and a real Celery worker.
#
# So far the store was an SQLite file and every "request" a function call. The seed runs two
# servers: **Redis** holds each session's record with Redis's own TTL (`SET ... PX`: the key
# disappears by itself when the session goes silent), and a **Celery worker** runs every
# query (`process_sql_query_task.delay(session_id, user_input)`), keeping, per worker process,
# one live object per session (`_AGENT_REGISTRY = {session_id: {...}}`) so that a session's
# second query reuses what its first one built.
#
# Both servers run here, on this machine and nowhere else: `private_redis` starts a
# `redis-server` (the one the course installs) that listens only on a socket file in a new
# folder (no network port at all), and `TurnWorkers` starts a Celery worker that takes turns
# from that Redis. Your code talks to Redis with `redis-py`, as the seed's does.

# %%
import contextlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import redis  # noqa: E402

from sessionlab.isolation.turn_worker import (  # noqa: E402
    TranscriptClient,
    TurnError,
    TurnWorkers,
    send_turn,
)
from sessionlab.redis_server import private_redis  # noqa: E402

turn_workers = TurnWorkers()  # starts (and stops) the lesson's Celery workers


@contextlib.contextmanager
def scratch_redis():
    """A new, empty redis-server on a socket file in a new folder; yields (url, folder)."""
    folder = Path(tempfile.mkdtemp(prefix="l07-"))
    try:
        with private_redis(folder, unix_socket=True, untrusted_clients=True) as url:
            yield url, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def keys_naming(url, session_id):
    """Every key of the Redis at ``url`` whose name holds ``session_id`` (read directly)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return sorted(key for key in client.keys("*") if session_id in key)
    finally:
        client.close()


def transcripts_of(root, session_id):
    """The texts of each transcript file in a session's folder, read from the disk."""
    found = {}
    for path in sorted((Path(root) / session_id / "transcripts").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        found[path.stem] = [json.loads(line)["text"] for line in lines if line.strip()]
    return found


demo = contextlib.ExitStack()
demo_url, demo_folder = demo.enter_context(scratch_redis())
r = redis.Redis.from_url(demo_url, decode_responses=True)
print("redis-server", r.info("server")["redis_version"], "at", demo_url)

# %% [markdown]
# A key with a TTL in milliseconds, seen before and after it runs out. Nobody deletes it:
# Redis does.

# %%
r.set("session:demo", json.dumps({"model": "small-model"}), px=300)
print("right after SET :", r.get("session:demo"), "| ttl ms:", r.pttl("session:demo"))
await asyncio.sleep(0.4)
print("400 ms later    :", r.get("session:demo"), "| exists:", r.exists("session:demo"))

# %% [markdown]
# Now a worker. A worker is started with a **clients class** and a **store**: on its first
# turn it builds `clients_class(store)` once, then calls its `handle_turn(session_id, text)`
# for every turn it takes from the queue. `send_turn(url, session_id, text)` is the web app's
# side: it queues a turn and waits for the worker's reply.
#
# The live object a worker keeps per session is a `TranscriptClient(folder)`: starting one
# opens a **new transcript file** in the session's folder (`transcripts/<client id>.jsonl`),
# and its `send(text)` appends one turn to it, chained by `parentUuid` as Claude Code does.
# Here is the obvious worker code, which builds a client for every turn:


# %%
class NoCache:
    """A new client for every turn: what a worker without a per-session cache does."""

    def __init__(self, root):
        self.root = Path(root)

    def handle_turn(self, session_id, text):
        return TranscriptClient(self.root / session_id).send(text)


demo_root = lesson_dir / "redis-sessions"
demo_id = str(uuid.uuid4())
worker = turn_workers.start(NoCache, demo_root, demo_url)
try:
    for text in ("hello", "my name is Ana", "what is my name?"):
        print(send_turn(demo_url, demo_id, text))
finally:
    worker.stop()
print("transcripts of one session:", len(transcripts_of(demo_root, demo_id)))

# %% [markdown]
# **What we found.** Three turns of one conversation, three transcripts: every turn started
# from nothing (lesson 1's fragmentation, now caused by the worker). The seed's worker keeps
# the session's live object and reuses it. Two rules come with that cache, and both are
# isolation rules: a session's object is looked up by **that session's id only** (another
# session never gets it), and a session that is gone gets **no** object at all.
#
# Your two exercises build the seed's two halves. Exercise 5 is the store (Redis); exercise 6
# is the worker's cache (Celery), which runs *on your store*.

# %% [markdown]
# ## ✏️ Exercise 5 · A session store on Redis (4 points)
#
# Write the class `RedisSessions(url, root, *, ttl_seconds=3600, max_per_ip=5)`: sessions kept
# in the Redis at `url` (`redis.Redis.from_url(url)`), each with a folder `root/<session id>`.
#
# * `create(client_ip, config)` makes a new session: a new id (`str(uuid.uuid4())`), its
#   record in Redis with a **Redis TTL** of `ttl_seconds` (use milliseconds: `px=` or
#   `PEXPIRE`, the tests use TTLs under a second), and its folder. It returns the id, or
#   `None` (and creates nothing) when `client_ip` already holds `max_per_ip` live sessions.
#   Sessions that expired do not count.
# * `config(session_id)` returns the live session's config as a new `dict` and **renews** its
#   TTL; `None` for a session that expired or never existed.
# * `folder(session_id)` returns `Path(root) / session_id`.
# * Every method that takes a session id raises `ValueError` for an id that is not a
#   canonical UUID4 string (exercise 1's rule) before it touches Redis or the disk.
# * `sweep()` removes the folder of every session that is no longer in Redis, and returns the
#   sorted list of their ids.
#
# When a session expires, no key whose name holds its id may stay in Redis: the tests look.
# Keeping the per-IP count right under concurrency needs one atomic step (section 5: a Lua
# script with `register_script`, or `WATCH`/`MULTI`).
#
# **Your own work.** Reading `sessionlab.isolation` (its `RedisStateStore` solves a bigger
# version of this) is allowed and encouraged; submitting it is not: `RedisSessions` and
# `SessionClients` below must not import, subclass or wrap the course's stores, managers or
# caches. The graders check it, and such an answer scores 0.


# %% nbgrader={"grade": false, "grade_id": "redis_sessions", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class RedisSessions:
    """Isolated temporary sessions in Redis: one key per session, expired by Redis itself."""

    def __init__(self, url, root, *, ttl_seconds=3600, max_per_ip=5):
        ### BEGIN SOLUTION
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.root = Path(root)
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.max_per_ip = max_per_ip
        # KEYS: the IP's sorted set (its session ids scored by expiry), the session's key.
        # ARGV: now ms, ttl ms, max per IP, session id, record. One script: nothing interleaves.
        self._create = self.redis.register_script(
            """
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
            if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
            redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])
            redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return 1
            """
        )
        ### END SOLUTION

    def create(self, client_ip, config):
        ### BEGIN SOLUTION
        session_id = str(uuid.uuid4())
        record = json.dumps({"client_ip": client_ip, "config": dict(config)})
        made = self._create(
            keys=[f"ip:{client_ip}", f"session:{session_id}"],
            args=[int(time.time() * 1000), self.ttl_ms, self.max_per_ip, session_id, record],
        )
        if not made:
            return None
        self.folder(session_id).mkdir(parents=True, exist_ok=True)
        return session_id
        ### END SOLUTION

    def config(self, session_id):
        ### BEGIN SOLUTION
        key = f"session:{self.folder(session_id).name}"  # folder() validates the id
        raw = self.redis.getex(key, px=self.ttl_ms)  # read and renew in one command
        if raw is None:
            return None
        record = json.loads(raw)
        ip_key = f"ip:{record['client_ip']}"
        self.redis.zadd(ip_key, {session_id: int(time.time() * 1000) + self.ttl_ms})
        self.redis.pexpire(ip_key, self.ttl_ms)  # the set lives as long as its newest session
        return dict(record["config"])
        ### END SOLUTION

    def folder(self, session_id):
        ### BEGIN SOLUTION
        try:
            canonical = isinstance(session_id, str) and str(uuid.UUID(session_id)) == session_id
        except ValueError:
            canonical = False
        if not canonical or uuid.UUID(session_id).version != 4:
            raise ValueError(f"invalid session id {session_id!r}")
        return self.root / session_id
        ### END SOLUTION

    def sweep(self):
        ### BEGIN SOLUTION
        removed = []
        for path in self.root.iterdir() if self.root.is_dir() else []:
            try:
                self.folder(path.name)
            except ValueError:
                continue  # not a session folder: not ours to judge
            if path.is_dir() and not self.redis.exists(f"session:{path.name}"):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return sorted(removed)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_redis_sessions", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# Isolation and the per-IP limit (2 points), on a new redis-server. The next cell checks time.
### BEGIN HIDDEN TESTS
# Defined first: the other cells of exercises 5 and 6 use this check too. It reads the
# notebook's code as submitted (SUBMITTED_CELLS, given by the grader), never the kernel.
# The rule (sessionlab.grading.own_work) follows the class and everything it reaches.
from sessionlab.grading.own_work import DYNAMIC_IMPORTS, OwnWorkRule, own_work_problems  # noqa: E402

OWN_WORK_ISOLATION = {
    "kind": "class",
    "reference_modules": ("sessionlab.isolation",),
    "reference_names": (
        "RedisStateStore", "SQLiteStateStore", "StateStore", "TemporarySessionManager",
        "SessionCache", "SessionFolders", "Cleaner",
    ),
    "allowed": ("TranscriptClient", "TurnError", "TurnWorkers", "send_turn"),  # the lesson's parts
    "forbidden_anywhere": DYNAMIC_IMPORTS,
}  # fmt: skip
OWN_WORK_REDIS = OwnWorkRule(answers=("RedisSessions",), **OWN_WORK_ISOLATION)
OWN_WORK_CLIENTS = OwnWorkRule(answers=("SessionClients",), **OWN_WORK_ISOLATION)


def _own_work_or_zero(rule):
    problems = own_work_problems(notebook_cells(globals()), rule)
    if problems:
        print(f"{rule.answers[0]} must be your own code; this check scores 0 because:")
        for problem in problems:
            print("  -", problem)
    return not problems


### END HIDDEN TESTS
with scratch_redis() as (url, folder):
    root = folder / "sessions"
    sessions = RedisSessions(url, root, ttl_seconds=30, max_per_ip=2)
    ana_id = sessions.create("203.0.113.10", {"model": "small-model"})
    bruno_id = sessions.create("198.51.100.20", {"model": "big-model"})
    assert isinstance(ana_id, str) and isinstance(bruno_id, str) and ana_id != bruno_id
    assert sessions.config(ana_id) == {"model": "small-model"}
    assert sessions.config(bruno_id) == {"model": "big-model"}
    assert sessions.folder(ana_id) == root / ana_id and (root / ana_id).is_dir()
    assert sessions.config(str(uuid.uuid4())) is None, "an unknown id has no session"
    assert keys_naming(url, ana_id), "the session's record is in Redis under a key naming it"
    assert sessions.create("203.0.113.10", {}) is not None, "Ana's second session"
    assert sessions.create("203.0.113.10", {}) is None, "a third one is over the limit of 2"
    assert sessions.create("198.51.100.20", {}) is not None, "Bruno's limit is his own"
    for crafted in ("../" + bruno_id, "/tmp", ana_id.upper()):
        try:
            sessions.config(crafted)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{crafted!r} must be refused with ValueError")
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0 if _own_work_or_zero(OWN_WORK_REDIS) else 0.0
if score:
    with scratch_redis() as (url, folder):
        root = folder / "sessions"
        first = RedisSessions(url, root, ttl_seconds=30, max_per_ip=3)
        second = RedisSessions(url, root, ttl_seconds=30, max_per_ip=3)  # another app process
        made = {}
        for index in range(6):
            ip = f"10.1.0.{index % 3}"
            config = {"model": f"m-{uuid.uuid4().hex[:8]}", "top_k": index}
            session_id = (first, second)[index % 2].create(ip, config)
            made[session_id] = config
        isolated = None not in made and len(made) == 6
        for session_id, config in made.items() if isolated else []:
            got = second.config(session_id) if session_id else None
            isolated = isolated and got == config
            if isolated:
                got["model"] = "changed by the caller"  # a copy: the record stays as it was
                isolated = first.config(session_id) == config
        if isolated:
            score += 0.5
        else:
            print("hidden: each session must see exactly its own config, from any store object")
        ip_made = [first.create("10.1.0.0", {}) for _ in range(3)]
        limited = ip_made[:1] != [None] and ip_made[1:] == [None, None]
        limited = limited and second.create("10.1.0.9", {}) is not None
        if limited:
            score += 0.5
        else:
            print("hidden: an IP at its limit gets None, also through another store object")
        refused = 0
        for crafted in (
            None,
            42,
            "",
            str(uuid.uuid4()) + "\n",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        ):
            try:
                first.folder(crafted)
            except ValueError:
                refused += 1
            except Exception:
                pass
        if refused != 5:
            score = min(score, 1.5)
            print("hidden: folder() must refuse every id that is not a canonical UUID4 string")
float(score)  # partial credit out of 2
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_redis_sessions_ttl", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# Time (2 points): a TTL of 0.8 s, on a new redis-server.
with scratch_redis() as (url, folder):
    root = folder / "sessions"
    sessions = RedisSessions(url, root, ttl_seconds=0.8, max_per_ip=1)
    gone_id = sessions.create("203.0.113.10", {"model": "small-model"})
    kept_id = sessions.create("198.51.100.20", {"model": "big-model"})
    for _ in range(6):  # Bruno keeps using his session; Ana walked away
        time.sleep(0.2)
        assert sessions.config(kept_id) == {"model": "big-model"}, "a used session stays alive"
    assert sessions.config(gone_id) is None, "expired 0.8 s after its last use"
    assert keys_naming(url, gone_id) == [], f"Redis still holds {keys_naming(url, gone_id)}"
    assert sessions.create("203.0.113.10", {}) is not None, "an expired session does not count"
    assert sessions.sweep() == [gone_id], "sweep removes the expired session's folder"
    assert not (root / gone_id).exists() and (root / kept_id).is_dir()
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0 if _own_work_or_zero(OWN_WORK_REDIS) else 0.0
if score:
    with scratch_redis() as (url, folder):
        root = folder / "sessions"
        sessions = RedisSessions(url, root, ttl_seconds=0.6, max_per_ip=2)
        quiet = [sessions.create("10.2.0.1", {"n": n}) for n in range(2)]
        time.sleep(0.9)  # nobody reads them: Redis itself must let them go
        left = [key for session_id in quiet for key in keys_naming(url, session_id)]
        if left:
            print("hidden: a session nobody reads again must still leave Redis at its TTL")
        else:
            score += 0.5
        renewed = sessions.create("10.2.0.2", {"n": 9})
        alive = True
        for _ in range(6):  # 1.2 s of use on a 0.6 s TTL
            time.sleep(0.2)
            alive = alive and sessions.config(renewed) == {"n": 9}
        again = [sessions.create("10.2.0.1", {}) for _ in range(3)]
        limit_ok = None not in again[:2] and again[2] is None  # the expired two do not count
        swept = sessions.sweep()
        sweep_ok = swept == sorted(quiet) and all(
            (root / s).is_dir() for s in [*again[:2], renewed]
        )
        if alive and limit_ok and sweep_ok:
            score += 0.5
        else:
            print(
                "hidden: every use renews the TTL; expired sessions free their IP's places "
                "and only their folders are swept"
            )
float(score)  # partial credit out of 2
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 6 · The worker's per-session cache (3 points)
#
# Write the class `SessionClients(sessions)`: the cache a turn worker builds once (with your
# `RedisSessions` as `sessions`) and then asks `handle_turn(session_id, text)` for every turn
# it takes from the queue.
#
# * A turn of a **live** session goes to that session's `TranscriptClient`: build it once with
#   `TranscriptClient(sessions.folder(session_id))` on the session's first turn, keep it, and
#   reuse it for every later turn of that session. Return what its `send(text)` returns.
# * Each session has its own client: a session never gets another session's client.
# * A turn of a session that is not live (expired, unknown) raises `LookupError` (any
#   exception will do: the worker reports its type) and writes nothing; forget that
#   session's client if you had one. Ask the store with `sessions.config(session_id)`, which
#   also renews the session: a conversation keeps its session alive.
#
# The test starts a real worker with `turn_workers.start(SessionClients, sessions, url)` and
# sends turns of several sessions with `send_turn`, then reads the transcripts from the disk.


# %% nbgrader={"grade": false, "grade_id": "session_clients", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class SessionClients:
    """One live TranscriptClient per session id, built on its first turn and reused."""

    def __init__(self, sessions):
        ### BEGIN SOLUTION
        self.sessions = sessions
        self.clients = {}
        ### END SOLUTION

    def handle_turn(self, session_id, text):
        ### BEGIN SOLUTION
        if self.sessions.config(session_id) is None:  # ValueError for a crafted id
            self.clients.pop(session_id, None)
            raise LookupError(f"no live session {session_id}")
        client = self.clients.get(session_id)
        if client is None:
            client = TranscriptClient(self.sessions.folder(session_id))
            self.clients[session_id] = client
        return client.send(text)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_session_clients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
with scratch_redis() as (url, folder):
    root = folder / "sessions"
    sessions = RedisSessions(url, root, ttl_seconds=30)
    ana_id = sessions.create("203.0.113.10", {"model": "small-model"})
    bruno_id = sessions.create("198.51.100.20", {"model": "big-model"})
    turns = [
        (ana_id, "hello"),
        (bruno_id, "hi"),
        (ana_id, "my name is Ana"),
        (bruno_id, "my pin is 7731"),
        (ana_id, "what is my name?"),
    ]
    worker = turn_workers.start(SessionClients, sessions, url)
    try:
        for session_id, text in turns:
            send_turn(url, session_id, text)
    finally:
        worker.stop()
    ana_files = list(transcripts_of(root, ana_id).values())
    bruno_files = list(transcripts_of(root, bruno_id).values())
    assert len(ana_files) == 1, f"Ana's 3 turns made {len(ana_files)} transcripts instead of 1"
    assert ana_files == [["hello", "my name is Ana", "what is my name?"]], ana_files
    assert bruno_files == [["hi", "my pin is 7731"]], bruno_files
print("visible tests passed")
### BEGIN HIDDEN TESTS
import random  # noqa: E402

score = 1.0 if _own_work_or_zero(OWN_WORK_CLIENTS) else 0.0
if score:
    with scratch_redis() as (url, folder):
        root = folder / "sessions"
        sessions = RedisSessions(url, root, ttl_seconds=30, max_per_ip=10)
        ids = [sessions.create(f"10.3.0.{n % 2}", {"n": n}) for n in range(4)]
        expected = {s: [f"{s[:8]} turn {t} {uuid.uuid4().hex[:6]}" for t in range(3)] for s in ids}
        order = [s for s in ids for _ in range(3)]
        random.shuffle(order)
        position = dict.fromkeys(ids, 0)
        stranger = str(uuid.uuid4())  # a valid id with no session
        refused = 0
        worker = turn_workers.start(SessionClients, sessions, url)
        try:
            for session_id in order:
                send_turn(url, session_id, expected[session_id][position[session_id]])
                position[session_id] += 1
            for session_id in (stranger, "../" + ids[0], ids[1] + "/../" + ids[2]):
                try:
                    send_turn(url, session_id, "let me in")
                except TurnError:
                    refused += 1
        finally:
            worker.stop()
        got = {s: list(transcripts_of(root, s).values()) for s in ids}
        if got == {s: [texts] for s, texts in expected.items()}:
            score += 1
        else:
            print(
                "hidden: with four sessions' turns mixed, each must keep one transcript of its own"
            )
        written = [p for p in root.rglob("*.jsonl") if "let me in" in p.read_text()]
        if refused == 3 and not written and not (root / stranger).exists():
            score += 1
        else:
            print("hidden: a turn of a session that is not live is refused and writes nothing")
float(score)  # partial credit out of 3
### END HIDDEN TESTS

# %% [markdown]
# **What you built.** The seed's picture, end to end: a record per session in Redis that Redis
# itself forgets, a per-IP limit that holds across app processes, and a worker that keeps one
# live client per session, never lends it to another, and refuses sessions that are gone.
# Stop the lesson's Redis:

# %%
r.close()
demo.close()
turn_workers.stop_all()
print("lesson redis-server stopped")


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
# * With Redis, let the server expire what goes silent (`SET ... PX`, `GETEX` to renew), and
#   keep the per-IP check and the insert in one Lua script. A worker's per-session cache is
#   looked up by the session id only, and a session that is gone gets no client.
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
