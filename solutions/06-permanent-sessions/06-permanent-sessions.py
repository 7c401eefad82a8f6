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
# # Lesson 6 · Permanent sessions
#
# **Time budget:** about 1 h 25: 1,630 words to read (11 min at 150 words a minute),
# 19 code cells to run and read (19 min at 1 min each), 4 exercises worth 9 points (54 min at 6 min a point);
# the solved notebook runs top to bottom in 11 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# After lesson 5 a team noticed that conversations "got lost" after 30 minutes of silence,
# and switched expiry off: the seed system "permanent sessions" sets the idle timeout to 0
# (never expire), the automatic cleanup interval to 0 (no scheduler), and raises the limits
# to 500 sessions and 50 pooled connections. It promises permanent history, **no
# fragmentation** ("a fixed session id and no expiry give one JSONL file"), better
# performance (no background cleanup) and no surprises. It also warns that the file will grow
# and that a manual cleanup must back up first.
#
# In this lesson you take that profile apart: what it guarantees, what it does not, and what
# it costs, measured.
#
# **What you will learn**
#
# * how the permanent profile is configured and validated, and why "0" needs care;
# * when a session really expires under a timeout and a cleanup interval, and that with the
#   permanent profile nothing ever does;
# * that "never expire" does **not** give one file per conversation, and what does;
# * how a permanent transcript grows, per turn, in bytes and in tokens sent to the model;
# * how to clean up safely: a verified backup first, then delete only what was backed up.
#
# **How this notebook works.** The real SDK drives the real Claude Code CLI **2.1.112**
# against the course model; the reference code is `sessionlab.lifecycle` (read
# `docs/session-lifecycle.md` afterwards). Run it top to bottom (under a minute).

# %% [markdown]
# ## 1 · Set-up

# %%
import asyncio
import hashlib
import math
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from sessionlab.clock import FakeClock
from sessionlab.errors import CourseError
from sessionlab.lessons import open_lab, print_files, short
from sessionlab.lifecycle import (
    GrowthMonitor,
    PoolSettings,
    RegistrySettings,
    SessionHandler,
    SessionRegistry,
    SystemConfig,
    TimeoutSettings,
    permanent_config,
)
from sessionlab.lifecycle.resources import client_rss_mb
from sessionlab.sweeper import Sweeper

lab, sandbox = open_lab("current", "06-permanent-sessions")
print("transcripts go to:", lab.project_dir)

# %% [markdown]
# ## 2 · The profile, and what the environment can get wrong
#
# **What you will learn:** what "permanent" means in settings, and how a deployment typo is
# caught.
#
# The seed's values, as the reference configuration holds them:

# %%
permanent = permanent_config()
for section, values in permanent.as_dict().items():
    print(f"{section:<9}", values)

# %% [markdown]
# The same profile from environment variables, as a deployment sets it, and a few ways to get
# those variables wrong. Every mistake stops start-up with one line that names the variable,
# the value and what is allowed: a typo must not silently become "sessions expire after 30
# minutes" (the default) or "a pool of 0".

# %%
seed_env = {
    "SM_MAX_SESSIONS": "500",
    "SM_TIMEOUT_MINUTES": "0",
    "SM_CLEANUP_INTERVAL": "0",
    "CP_MAX_SIZE": "50",
}
print("from the environment == permanent_config():", SystemConfig.from_env(seed_env) == permanent)
for mistake in (
    {"SM_TIMEOUT_MINUTES": "never"},
    {"SM_TIMEOUT_MINUTES": "-1"},
    {"CP_MIN_SIZE": "60", "CP_MAX_SIZE": "50"},
    {"SM_MAX_SESSIONS": "500.0"},
    {"OPT_MESSAGE_TIMEOUT": "0"},
):
    try:
        SystemConfig.from_env({**seed_env, **mistake})
    except CourseError as error:
        print("✗", error)

# %% [markdown]
# Note the last one: for the three `OPT_*` timeouts, 0 is *not* "no limit" but an error. A
# zero that means "never" in one variable and "immediately" in another is exactly the kind
# of trap validation exists for.
#
# Fifty pooled connections are fifty idle CLI processes. What does one cost in memory?

# %%
handler = SessionHandler(
    lab.options(),
    SystemConfig(pool=PoolSettings(max_size=1, min_size=1), timeouts=TimeoutSettings(create=60)),
)
await handler.start()
megabytes = client_rss_mb(handler.pool.connections()[0].client)
await handler.shutdown()
print(f"one idle Claude Code {lab.cli.version} process: {megabytes:.0f} MB resident")
print(f"the permanent profile's 50 pooled connections: about {50 * megabytes / 1024:.1f} GB")

# %% [markdown]
# ## 3 · When does a session expire?
#
# **What you will learn:** that expiry happens at cleanup runs, not at the timeout, and that
# the permanent profile removes nothing.
#
# A timeout only *marks* a session as expired; it is removed when the maintenance scheduler
# next runs. With the seed's old values (timeout 30 min, cleanup every 5 min) a session idle
# since the scheduler started is removed at minute 30, one idle since 2 minutes before the
# start at minute 30 as well: it had been expired for 2 minutes. The fake clock runs the
# real scheduler through 40 minutes in no time:


# %%
async def removals(
    timeout_minutes: float, interval_minutes: float, idle_since: dict[str, float], minutes: float
) -> dict[str, float]:
    """Run the reference registry and scheduler on a fake clock; when was each key removed?"""
    clock = FakeClock(0.0)
    registry = SessionRegistry(
        RegistrySettings(500, timeout_minutes, interval_minutes), clock=clock
    )
    for key, since in idle_since.items():
        clock.set(since * 60)
        registry.register(key)
    clock.set(0.0)
    removed: dict[str, float] = {}

    async def job():
        for key in registry.cleanup_inactive():
            removed[key] = clock.monotonic() / 60

    async def fake_sleep(seconds: float) -> None:
        if clock.monotonic() + seconds > minutes * 60:
            scheduler.request_stop()  # past the end of the simulation
            return
        clock.advance(seconds)
        await asyncio.sleep(0)

    scheduler = Sweeper(job, interval_minutes * 60, sleep=fake_sleep)
    if scheduler.start():
        while scheduler.running:
            await asyncio.sleep(0)
    return removed


idle_since = {"ana": 0.0, "bo": -2.0, "cy": -29.0, "di": -31.0}
print("timeout 30, cleanup 5: ", await removals(30, 5, idle_since, 40))
print("timeout 30, cleanup 15:", await removals(30, 15, idle_since, 40))
print("permanent (0, 0), 10 years:", await removals(0, 0, idle_since, 60 * 24 * 365 * 10))

# %% [markdown]
# **What we found.** A "30-minute" timeout removes sessions between 30 and 30 + interval
# minutes of silence (`cy`, idle 29 minutes at the start, went at minute 5: 34 minutes of
# silence; with a 15-minute interval it would have survived to minute 15). The permanent
# profile starts no scheduler at all, and even an explicit `cleanup_inactive()` removes
# nothing when the timeout is 0.

# %% [markdown]
# ## ✏️ Exercise 1 · Predict the removals (3 points)
#
# Write `removal_times(last_activity, start, end, timeout_minutes, interval_minutes)`. The
# scheduler starts at clock reading `start` (seconds) and runs at `start + k × interval`
# for k = 1, 2, … as long as that reading is `<= end`. At each run it removes every
# session idle for at least the timeout (`run − last_activity >= timeout`, in seconds).
# Nobody is active in between. Return `{key: run at which it was removed}` for the sessions
# removed by `end`. If the timeout **or** the interval is 0, nothing is ever removed: `{}`.
# (Hint: the answer for a session is the first run at or after `last_activity + timeout`;
# you do not need to loop over every run.)


# %% nbgrader={"grade": false, "grade_id": "removal_times", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def removal_times(
    last_activity: dict[str, float],
    start: float,
    end: float,
    timeout_minutes: float,
    interval_minutes: float,
) -> dict[str, float]:
    """When each session is removed by a scheduler running every interval from start to end."""
    ### BEGIN SOLUTION
    if timeout_minutes == 0 or interval_minutes == 0:
        return {}
    timeout, interval = timeout_minutes * 60, interval_minutes * 60
    removed = {}
    for key, last in last_activity.items():
        due = last + timeout
        runs = max(1, math.ceil((due - start) / interval))
        at = start + runs * interval
        if at <= end:
            removed[key] = at
    return removed
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_removal_times", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
seconds = {k: v * 60 for k, v in idle_since.items()}
expected = {k: v * 60 for k, v in (await removals(30, 5, idle_since, 40)).items()}
assert removal_times(seconds, 0, 40 * 60, 30, 5) == expected, removal_times(
    seconds, 0, 40 * 60, 30, 5
)
ten_years = 10 * 365 * 24 * 3600
assert removal_times({f"s{n}": -n for n in range(500)}, 0, ten_years, 0, 0) == {}, (
    "permanent: nothing, ever"
)
assert removal_times(seconds, 0, ten_years, 30, 0) == {}, "no scheduler, no removals"
print("visible tests passed")
### BEGIN HIDDEN TESTS
import random  # noqa: E402

rng = random.Random(6)
ok, total = 0, 24
for case in range(total):
    timeout = rng.choice([0, 1, 30, 45, 2.5])
    interval = rng.choice([0, 1, 5, 15, 0.5])
    horizon = rng.choice([10, 40, 120])
    since = {
        f"k{n}": rng.choice([0, -1, -2.5, -29, -30, -31, -200, -0.25])
        for n in range(rng.randint(0, 6))
    }
    expected = {k: v * 60 for k, v in (await removals(timeout, interval, since, horizon)).items()}
    try:
        got = removal_times(
            {k: v * 60 for k, v in since.items()}, 0, horizon * 60, timeout, interval
        )
        same = set(got) == set(expected) and all(abs(got[k] - expected[k]) < 1e-6 for k in expected)
    except Exception as error:
        got, same = f"raised {error!r}", False
    if same:
        ok += 1
    elif case - ok <= 3:
        print(
            f"hidden case {case}: timeout {timeout}, interval {interval}, {horizon} min: expected {expected}, got {got}"
        )
float(1 + 2 * ok / total)  # partial credit: visible 1 + hidden 2
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Does "never expire" give one file?
#
# **What you will learn:** what actually keeps a conversation in one file, and what a
# permanent registry forgets.
#
# A permanent handler serves Ana for six messages. Its pool retires a connection after two
# turns (`CP_MAX_USES=2`), so the conversation moves across three CLI processes:

# %%
config = SystemConfig(
    registry=permanent.registry,
    pool=PoolSettings(max_size=5, min_size=0, max_uses=2),
    timeouts=TimeoutSettings(create=60, destroy=15, message=60),
)
handler = SessionHandler(lab.options(), config, project_dir=lab.project_dir)
await handler.start()
await handler.create_session("ana")
for prompt in [
    "my name is Ana",
    "my city is Lisbon",
    "I like tea",
    "hello",
    "how are you?",
    "what is my name?",
]:
    reply = await handler.send("ana", prompt)
    print(f"{reply.connection_id:<8}{short(reply.transcript_id)}  {prompt!r} -> {reply.text!r}")
ana_transcript = handler.registry.get("ana").transcript_id
await handler.shutdown()
files = print_files(lab.project_dir, label="after six messages")

# %% [markdown]
# One file: each new connection resumed the session (`resume=<transcript id>`) and the
# 2.1.112 CLI appended to it. Now the server restarts (a deploy, a crash). The registry is
# *permanent* in the sense that nothing expires, but it lives in memory:

# %%
restarted = SessionHandler(lab.options(), config, project_dir=lab.project_dir)
await restarted.start()
await restarted.create_session("ana")  # the user is back; the registry is new and empty
reply = await restarted.send("ana", "what is my name?")
print(f"{short(reply.transcript_id)}  'what is my name?' -> {reply.text!r}")
await restarted.shutdown()
files = print_files(lab.project_dir, label="after the restart")

# %% [markdown]
# A second file, and the model forgot. Now the same restart with the registry's one
# important fact saved (Ana's transcript id, e.g. in a database), handed back at
# registration:

# %%
durable = SessionHandler(lab.options(), config, project_dir=lab.project_dir)
await durable.start()
durable.registry.register("ana", transcript_id=ana_transcript)  # restored from storage
reply = await durable.send("ana", "what is my name?")
print(f"{short(reply.transcript_id)}  'what is my name?' -> {reply.text!r}")
await durable.shutdown()
files = print_files(lab.project_dir, label="after a restart that remembered")

# %% [markdown]
# **What we found.** Expiry was never what split conversations: lesson 1 showed that every
# connection *without* `resume` starts a new file, timeout or not. What kept Ana in one file
# was `resume=<her transcript id>` on every new connection, with a CLI whose `--resume`
# appends (2.1.112; 1.0.120 forks a new file on every resume, lesson 2). The seed's "fixed
# session id + no expiry = one JSONL file" holds only if the id survives restarts and every
# connection resumes it; "no expiry" adds nothing to that.

# %% [markdown]
# ## 5 · A permanent file keeps growing
#
# **What you will learn:** how fast, in bytes on disk and in tokens sent to the model.
#
# The seed says to "monitor the file size periodically". `GrowthMonitor` samples the file;
# the course model's records say what each turn sent. Ten more turns on Ana's session:

# %%
ana_file = lab.project_dir / f"{ana_transcript}.jsonl"
growth = GrowthMonitor(ana_file, warn_bytes=50 * 1024 * 1024)
growth.sample()
durable = SessionHandler(
    lab.options(),
    SystemConfig(
        registry=permanent.registry,
        pool=PoolSettings(max_size=2, min_size=0, max_uses=0),
        timeouts=TimeoutSettings(create=60),
    ),
    project_dir=lab.project_dir,
)
await durable.start()
durable.registry.register("ana", transcript_id=ana_transcript)
records_before = len(lab.model.records)
sizes = [growth.samples[-1].bytes]
for n in range(10):
    await durable.send(
        "ana",
        f"note {n}: the weather is fine today, and I am writing a longer message to see the growth",
    )
    sizes.append(growth.sample().bytes)
await durable.shutdown()
turn_records = [r for r in lab.model.records[records_before:] if r.kind == "turn"]
report = growth.report(turns=10)
print({k: report[k] for k in ("bytes", "lines", "bytes_per_turn", "turns_until_warning")})
print("input tokens per turn:", [r.input_tokens for r in turn_records])
print("user messages sent per turn:", [r.user_messages for r in turn_records])

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
left.plot(range(len(sizes)), [s / 1024 for s in sizes], marker="o")
left.set_xlabel("turn")
left.set_ylabel("transcript size (KiB)")
left.set_title("the file on disk")
right.plot(
    range(1, len(turn_records) + 1),
    [r.input_tokens for r in turn_records],
    marker="o",
    color="tab:red",
)
right.set_xlabel("turn")
right.set_ylabel("input tokens of the request")
right.set_title("what each turn sends the model")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What we found.** Every turn appends JSON to the file (the user line, the assistant line
# and the CLI's bookkeeping: about 1.7 KB per turn here), and every turn sends the model
# **the whole conversation so far**: the user-message count grows by one per turn and the
# input tokens with it (about 75 tokens per turn here). That growth is small next to the
# CLI's fixed system prompt and tool definitions (about 25,000 tokens per request) because
# the course's messages are short; in real conversations the history dominates. "No background cleanup" saves a timer; the permanent
# session's real cost is that each turn is more expensive than the last, until the CLI
# compacts the conversation. The file size is worth watching; the token count per turn is
# what you pay for.

# %% [markdown]
# ## ✏️ Exercise 2 · When will the file be too big? (2 points)
#
# Write `turns_until(sizes, limit_bytes)`: `sizes` are the transcript's sizes in bytes after
# each turn (at least two values, oldest first). The average growth per turn is
# `(sizes[-1] - sizes[0]) / (len(sizes) - 1)`. Return how many more turns, at that rate,
# until the file reaches `limit_bytes` (rounded **up**); `0` if it is already there; `None`
# if it does not grow.


# %% nbgrader={"grade": false, "grade_id": "turns_until", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def turns_until(sizes: list[int], limit_bytes: int) -> int | None:
    """Turns until the file reaches limit_bytes at its average growth per turn."""
    ### BEGIN SOLUTION
    if sizes[-1] >= limit_bytes:
        return 0
    per_turn = (sizes[-1] - sizes[0]) / (len(sizes) - 1)
    if per_turn <= 0:
        return None
    return math.ceil((limit_bytes - sizes[-1]) / per_turn)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_turns_until", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
assert turns_until(sizes, 50 * 1024 * 1024) == report["turns_until_warning"]
assert turns_until([100, 200, 300], 1000) == 7
assert turns_until([100, 100], 1000) is None
print("visible tests passed")
### BEGIN HIDDEN TESTS
hidden = [
    ([0, 10], 10, 0),  # already at the limit
    ([0, 3, 7], 100, 27),  # 3.5 per turn: (100 - 7) / 3.5 = 26.6, rounded up
    ([500, 400], 1000, None),  # shrank (a compaction): no projection
    ([5, 9999999], 10**7, 1),
]
ok = 0
for sizes_case, limit, expected in hidden:
    try:
        got = turns_until(sizes_case, limit)
    except Exception as error:
        got = f"raised {error!r}"
    if got == expected:
        ok += 1
    else:
        print(f"hidden: turns_until({sizes_case}, {limit}) should be {expected}, got {got}")
float(1 + ok / len(hidden))  # partial credit: visible 1 + hidden 1
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Cleaning up a permanent store: back up first
#
# **What you will learn:** what "a backup before cleanup" has to mean to be worth anything.
#
# The reference `force_cleanup` copies every transcript into a new, timestamped folder,
# compares each copy with its source (SHA-256), and refuses to clean anything if one copy
# failed. With `delete_transcripts=True` it deletes only files still identical to their
# verified copy (a file the CLI appended to in the meantime is kept):

# %%
backup_root = lab.workdir.parent / "backups"
registry = SessionRegistry(permanent.registry, project_dir=lab.project_dir)
registry.register("ana", transcript_id=ana_transcript)
cleanup = registry.force_cleanup(backup_root)
print("unregistered:", cleanup.removed)
print(
    f"backed up {len(cleanup.backup.copied)} file(s), {cleanup.backup.bytes} bytes, into {cleanup.backup.folder.name}"
)
print("deleted:", cleanup.deleted_files, "(deletion was not asked for)")

# %% [markdown]
# ## ✏️ Exercise 3 · A cleanup that cannot lose a conversation (3 points)
#
# Write `safe_cleanup(files, backup_dir)`: for each path in `files`, in order,
#
# 1. skip it if it does not exist (nothing to back up, nothing to delete);
# 2. if `backup_dir / <file name>` already exists, **keep** the original (never overwrite an
#    older backup) and go on;
# 3. copy it to `backup_dir / <file name>` (create `backup_dir` if needed), then compare the
#    copy with the original byte for byte (or by hash);
# 4. delete the original **only** if the copy is identical.
#
# A file that cannot be copied (any `OSError`) is kept, and the others are still processed.
# Return the list of deleted paths, in the order of `files`.


# %% nbgrader={"grade": false, "grade_id": "safe_cleanup", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def safe_cleanup(files: list[Path], backup_dir: Path) -> list[Path]:
    """Back up each file, verify the copy, delete the original only when the copy matches."""

    ### BEGIN SOLUTION
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    deleted = []
    Path(backup_dir).mkdir(parents=True, exist_ok=True)
    for source in map(Path, files):
        if not source.exists():
            continue
        target = Path(backup_dir) / source.name
        if target.exists():
            continue
        try:
            shutil.copy2(source, target)
            same = digest(source) == digest(target)
        except OSError:
            continue
        if same:
            source.unlink()
            deleted.append(source)
    return deleted
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_safe_cleanup", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# On copies of the lesson's transcripts in a temporary folder: the lesson's own files stay,
# so this check can be re-run after a wrong try without re-running the notebook.
with tempfile.TemporaryDirectory() as scratch:
    work, target_dir = Path(scratch) / "transcripts", Path(scratch) / "backup"
    work.mkdir()
    copies = [Path(shutil.copy2(p, work / p.name)) for p in lab.transcripts()]
    assert copies, "no transcripts to copy: run the cells above first"
    originals = {p.name: p.read_bytes() for p in copies}
    deleted = safe_cleanup(copies, target_dir)
    assert sorted(p.name for p in deleted) == sorted(originals), "every copy backed up, deleted"
    assert sorted(work.iterdir()) == [], "the originals are gone once backed up"
    backup = {p.name: p.read_bytes() for p in target_dir.iterdir()}
    assert backup == originals, "the backup is exact"
print("visible tests passed")
### BEGIN HIDDEN TESTS
ok, total = 0, 4
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    src, dst = root / "src", root / "dst"
    src.mkdir()
    a, b, c = src / "a.jsonl", src / "b.jsonl", src / "c.jsonl"
    a.write_text("a\n")
    b.write_text("new b\n")
    c.mkdir()  # cannot be copied as a file: kept, others still processed
    dst.mkdir()
    (dst / "b.jsonl").write_text("old b\n")  # an older backup: never overwritten
    try:
        got = safe_cleanup([src / "gone.jsonl", a, b, c], dst)
    except Exception as error:
        got = f"raised {error!r}"
        print("hidden:", got)
    if got == [a] and not a.exists() and (dst / "a.jsonl").read_text() == "a\n":
        ok += 1
    else:
        print("hidden: only a.jsonl should be deleted here, got", got)
    if b.exists() and (dst / "b.jsonl").read_text() == "old b\n":
        ok += 1
    else:
        print("hidden: an existing backup must not be overwritten, and its original kept")
    if c.exists():
        ok += 1
    else:
        print("hidden: a file that cannot be copied must be kept")
    fresh = root / "fresh" / "deeper"
    d = src / "d.jsonl"
    d.write_text("d\n")
    try:
        got = safe_cleanup([d], fresh)
    except Exception as error:
        got = f"raised {error!r}"
    if got == [d] and (fresh / "d.jsonl").read_text() == "d\n":
        ok += 1
    else:
        print("hidden: the backup folder must be created when missing, got", got)
float(1 + 2 * ok / total)  # partial credit: visible 1 + hidden 2
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 4 · Reflect (1 point, graded by your instructor)
#
# Your product owner asks: "with permanent sessions, can we promise users that their
# conversations are never lost and cost nothing extra?" Using what you measured in sections
# 4 and 5, answer in two or three sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "reflection", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# No. Nothing expires, but the registry that maps users to transcripts lives in memory: after
# a restart the user gets a new session and the model forgets, unless the transcript id is
# stored and every connection resumes it (with a CLI that appends). And it is not free: every
# turn resends the whole history, so each turn costs more input tokens than the last, and
# the file grows without bound, so it needs monitoring and verified backups.

# %% [markdown]
# ## Wrap-up
#
# * The permanent profile (timeout 0, cleanup 0) removes nothing, ever; a real timeout
#   removes sessions at the first cleanup run after it, not at the timeout.
# * "Never expire" is not "one file": resuming the stored transcript id on every connection
#   is, with a CLI that appends on resume.
# * A permanent conversation costs more with every turn (the whole history is sent) and its
#   file grows: watch both.
# * Clean up only from a verified backup, and never overwrite one.
#
# The last cell closes the sandbox.

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
# 3. Hand in this file, `06-permanent-sessions.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("06-permanent-sessions", globals())

# %%
sandbox.close()
print("sandbox closed")
