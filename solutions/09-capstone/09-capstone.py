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
# # Capstone · A chat system on one session
#
# **Time budget:** about 1 h 10, plus 55 min for the 4 optional challenges: 1,871 words to read (12 min at 150 words a minute),
# 20 code cells to run and read (20 min at 1 min each), 1 exercise worth 6 points (36 min at 6 min a point);
# the solved notebook runs top to bottom in 26 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# Everything together: a chat whose every connection lands in **one** Claude Code session,
# guarded by a monitor, with logging, metrics and error handling. The course model proves it
# works: say *"my name is Ana"*, reconnect, ask *"what is my name?"*, and it answers
# *"Your name is Ana."* only if the CLI sent it the whole conversation.
#
# **What you will learn**
#
# * how to keep one fixed session: the first connection's id, then `resume=<id>` on every
#   reconnect, with a monitor folding in whatever files the CLI still writes;
# * metrics from `ResultMessage` (tokens, cost) and from the monitor (corrections);
# * turning failures (model down, CLI missing) into one clear error without losing the chat;
# * a backup that survives being killed mid-write, a dashboard fed by live data, and several
#   users in one process who never see each other's conversation.
#
# The reference is `sessionlab.capstone.SingleSessionChatSystem`. You build your own
# `MyChatSystem`; you may use the reference monitor `SessionMonitor` (or your own from
# Lesson 3). Four **challenges** at the end (9 points) are graded by behaviour.

# %% [markdown]
# ## 1 · Set-up and the reference in action

# %%
import dataclasses
import html
import json
import logging
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from claude_code_sdk import (
    AssistantMessage,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLINotFoundError,
    ResultMessage,
    TextBlock,
)
from IPython.display import HTML, display

from sessionlab.capstone import SingleSessionChatSystem
from sessionlab.lessons import open_lab
from sessionlab.lessons.child_runs import digest, run_in_child
from sessionlab.lessons.dashboards import bars_match, read_dashboard
from sessionlab.monitor import SessionMonitor
from sessionlab.transcripts import conversation_chain, read_entries

logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
lab, sandbox = open_lab("legacy", "09-capstone")


def reset_transcripts(lab):
    """Start a scenario from an empty project folder."""
    for path in lab.transcripts():
        path.unlink()


def closed_port_url():
    """The URL of a loopback port nobody listens on: a model that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# %%
reset_transcripts(lab)
async with SingleSessionChatSystem(lab.options(), truncate_long=False) as reference:
    for step, prompt in enumerate(["my name is Ana", "my city is Lisbon", "what is my name?"]):
        if step:
            await reference.reconnect()
        reply = await reference.send(prompt)
        print(f"  connection {reference.metrics.connections}: {prompt!r} -> {reply.text!r}")
print("status:", {k: v for k, v in reference.status().items() if k != "session_start"})


# %% [markdown]
# **What we found.** Three connections, one session file, and the third connection's model
# knew the name. The status dictionary is what a dashboard shows.

# %% [markdown]
# ## ✏️ Exercise 1 · `MyChatSystem` (6 points)
#
# Build your own chat system with this interface:
#
# * `MyChatSystem(options, project_dir, monitor_factory=SessionMonitor)`: `options` are the
#   `ClaudeCodeOptions` of every connection (use `lab.options()`), `project_dir` is where the
#   transcripts go (`lab.project_dir`);
# * `await send(prompt) -> str`: connects if needed (with `resume=<fixed id>` once there is a
#   fixed id; `dataclasses.replace(options, resume=...)`), sends the prompt, returns the
#   reply text. The first `ResultMessage`'s `session_id` becomes the fixed id, and the
#   monitor (`monitor_factory(project_dir, fixed_id)`) starts then. Metrics: count
#   `messages_sent`, `messages_received`, `errors`; add up `input_tokens` and
#   `output_tokens` from `ResultMessage.usage`, and `cost_usd` per turn. Careful: lesson 05
#   measured that `total_cost_usd` is **cumulative per CLI process** (one connection), so a
#   turn's cost is the *increase* of its connection's total, not the total itself.
# * errors: if the CLI is missing (`CLINotFoundError`), the SDK fails (`ClaudeSDKError`) or
#   the result is missing or `is_error`, disconnect, count the error, log it with `logging`
#   and raise `RuntimeError` with a message that says what to do. The next `send` must work
#   again. Read `self.options` at every connection: the test takes the model down and brings
#   it back by giving your system other options (`lab.options(env={...})`);
# * `await reconnect()`, `await close()` (disconnects and stops the monitor) and `status()`:
#   a dict with at least the metric names above, `session_id`, `corrections` (from the
#   monitor's `get_stats()`) and `session_files` (number of transcripts in `project_dir`).
#
# Graded by behaviour: it remembers across reconnects (2), leaves one file (1), counts
# messages and tokens (1), survives a model that is down (1), plus 1 for the visible tests.
#
# > **Your own work.** `sessionlab.capstone.SingleSessionChatSystem` (used above) is the
# > reference: read it as much as you like (import it, print its source, run it as above),
# > but a `MyChatSystem` that subclasses it, wraps it or calls it under any name (or its
# > building blocks `collect_turn` and `CostTracker`) scores **0 on this exercise**. A hidden
# > test reads your notebook's code as you submit it, `MyChatSystem` and every function,
# > class or variable of yours it uses. `SessionMonitor` is the monitor you are meant to plug
# > in; use it freely. The challenges may use the reference.


# %% nbgrader={"grade": false, "grade_id": "my_chat_system", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class MyChatSystem:
    """A chat whose every connection resumes one fixed session, guarded by a monitor."""

    def __init__(self, options, project_dir, monitor_factory=SessionMonitor) -> None:
        self.options = options
        self.project_dir = Path(project_dir)
        self.monitor_factory = monitor_factory
        ### BEGIN SOLUTION
        self.session_id = None
        self.monitor = None
        self.client = None
        self.metrics = dict.fromkeys(
            (
                "messages_sent",
                "messages_received",
                "errors",
                "input_tokens",
                "output_tokens",
                "reconnects",
            ),
            0,
        )
        self.metrics["cost_usd"] = 0.0
        self.connection_total = 0.0
        self.log = logging.getLogger("my_chat_system")
        ### END SOLUTION

    async def send(self, prompt: str) -> str:
        ### BEGIN SOLUTION
        try:
            if self.client is None:
                options = self.options
                if self.session_id:
                    options = dataclasses.replace(options, resume=self.session_id)
                self.client = ClaudeSDKClient(options)
                await self.client.connect()
                self.connection_total = 0.0  # a new CLI process: its running total restarts
            self.metrics["messages_sent"] += 1
            await self.client.query(prompt)
            texts, result = [], None
            async for message in self.client.receive_response():
                if isinstance(message, AssistantMessage):
                    texts += [b.text for b in message.content if isinstance(b, TextBlock)]
                elif isinstance(message, ResultMessage):
                    result = message
        except CLINotFoundError as error:
            await self._fail(f"Claude Code CLI not found: run `sessionlab cli install` ({error})")
        except ClaudeSDKError as error:
            await self._fail(f"the Claude Code CLI failed: {error}")
        if result is None or result.is_error:
            await self._fail("the model did not answer: is the model server running?")
        if self.session_id is None:
            self.session_id = result.session_id
        if self.monitor is None and self.monitor_factory is not None:
            self.project_dir.mkdir(parents=True, exist_ok=True)
            self.monitor = self.monitor_factory(self.project_dir, self.session_id)
            self.monitor.start()
        usage = result.usage or {}
        self.metrics["messages_received"] += 1
        self.metrics["input_tokens"] += sum(
            int(usage.get(k) or 0)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        self.metrics["output_tokens"] += int(usage.get("output_tokens") or 0)
        total = float(result.total_cost_usd or 0.0)
        turn_cost = total - self.connection_total if total >= self.connection_total else total
        self.connection_total = total
        self.metrics["cost_usd"] += turn_cost
        self.log.info("%r -> %r", prompt, "".join(texts))
        return "".join(texts)

    async def _fail(self, message):
        self.metrics["errors"] += 1
        self.log.error(message)
        await self._disconnect()
        raise RuntimeError(message)

    async def _disconnect(self):
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception as error:
                self.log.warning("disconnect failed: %s", error)
        ### END SOLUTION

    async def reconnect(self) -> None:
        ### BEGIN SOLUTION
        await self._disconnect()
        self.metrics["reconnects"] += 1
        ### END SOLUTION

    async def close(self) -> None:
        ### BEGIN SOLUTION
        await self._disconnect()
        if self.monitor is not None:
            if hasattr(self.monitor, "wait_idle"):
                self.monitor.wait_idle(10.0)
            self.monitor.stop()
            self.monitor = None
        ### END SOLUTION

    def status(self) -> dict:
        ### BEGIN SOLUTION
        stats = self.monitor.get_stats() if self.monitor is not None else {}
        files = [p for p in self.project_dir.glob("*.jsonl") if not p.name.startswith("agent-")]
        return {
            **self.metrics,
            "session_id": self.session_id,
            "corrections": stats.get("corrections", 0),
            "session_files": len(files),
        }
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_my_chat_system", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
### BEGIN HIDDEN TESTS
# Defined first: the challenges' checks use _submitted_cells even when this cell's checks fail.
# Own work is checked on the notebook's code AS SUBMITTED (SUBMITTED_CELLS, given by the
# grader), never on the student's running kernel: no patch of a module, of inspect or of a
# global there can hide a wrapper. Reading the reference (importing it, printing its source,
# running it as section 1 does) is allowed; MyChatSystem and everything it reaches may not use
# it (the rule: sessionlab.grading.own_work).
from sessionlab.grading.own_work import OwnWorkRule, own_work_problems  # noqa: E402
from sessionlab.lessons.child_runs import notebook_cells  # noqa: E402

OWN_WORK = OwnWorkRule(
    answers=("MyChatSystem",),
    kind="class",
    reference_modules=("sessionlab.capstone", "sessionlab.sdk_turns", "sessionlab.lifecycle.metrics"),
    reference_names=(
        "SingleSessionChatSystem", "ChatMetrics", "ChatReply", "ChatError", "CostTracker",
        "collect_turn", "CollectedTurn", "sessionlab.capstone",
    ),
    forbidden_anywhere=(),  # the challenges may use the reference; only MyChatSystem is checked
)  # fmt: skip


def _submitted_cells():
    """The grader's copy of the notebook's code; in a plain kernel (the lesson's own run),
    what ran so far, without these test cells."""
    return notebook_cells(globals())


### END HIDDEN TESTS
reset_transcripts(lab)
mine = MyChatSystem(lab.options(), lab.project_dir)
problem = None
try:
    first = await mine.send("my name is Ana")
    await mine.reconnect()
    last = await mine.send("what is my name?")
except Exception as error:
    problem = error
try:
    await mine.close()
except Exception as error:
    problem = problem or error  # the first error is the one to fix, not close()'s
if problem is not None:
    raise problem
print(repr(first), "...", repr(last))
status = mine.status()
print({k: status[k] for k in ("messages_sent", "messages_received", "errors", "session_files")})
assert first == "Got it: your name is Ana.", first
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 1.0
if last == "Your name is Ana.":
    score += 2
else:
    print(f"hidden: after a reconnect the model answered {last!r}")


def _count(key):
    """A counter of status() as a number (-1 when it is missing or not a number)."""
    value = status.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else -1


fixed_id = status.get("session_id")
if [p.stem for p in lab.transcripts()] == [fixed_id] and _count("session_files") == 1:
    score += 1
else:
    print(f"hidden: {len(lab.transcripts())} transcript files left (want 1, the fixed session)")
if (
    _count("messages_sent") == _count("messages_received") == 2
    and _count("input_tokens") > 0
    and _count("output_tokens") > 0
):
    score += 1
else:
    print("hidden: messages or tokens not counted")
reset_transcripts(lab)
robust = MyChatSystem(lab.options(), lab.project_dir)
logging.disable(logging.CRITICAL)  # an expected error log on stderr would zero this cell
try:
    robust.options = lab.options(env={"ANTHROPIC_BASE_URL": closed_port_url()})  # model down
    try:
        await robust.send("my name is Ana")
        print("hidden: a model that is down must raise")
        failed = False
    except RuntimeError:
        failed = True
    robust.options = lab.options()  # the model is back
    again = await robust.send("my name is Ana")
    if failed and again == "Got it: your name is Ana." and robust.status()["errors"] == 1:
        score += 1
    else:
        print("hidden: the system did not recover after the model came back")
except Exception as error:
    print(f"hidden: model-down scenario raised {type(error).__name__}")
finally:
    logging.disable(logging.NOTSET)
    try:
        await robust.close()
    except Exception as error:
        print(f"hidden: close() raised {type(error).__name__} after the model-down scenario")
problems = own_work_problems(_submitted_cells(), OWN_WORK)
if problems:
    print(f"hidden: MyChatSystem must be your own code, not the reference: {'; '.join(problems)}")
    score = 0.0
float(score)  # partial credit out of 6
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Challenges (9 points, partial credit)
#
# The seed lesson ends with four advanced challenges: a smart monitor, an incremental backup,
# a real-time dashboard, several users. Here each one is graded by what it does: a backup
# process really killed in the middle of a write, a page read back for the numbers it shows,
# two users' secrets really sent to the model. Each check gives partial credit, and the
# notebook runs to the end whichever you skip.
#
# ### ✏️ Challenge 1 · A smart monitor: predict the next stray (1 point)
#
# A monitor can know *when* a new file is coming: the CLI writes one on every new connection,
# and on `--resume` it depends on the version (lesson 02, `docs/cli-facts.md`): up to 1.0.123
# it forks into a new file; from 1.0.124 to 2.0.x it appends to the original **and** leaves a
# stray file behind (summary-only in 1.0.124-1.0.128, empty in 2.0.77); from 2.1 it appends
# and writes nothing else. Write `expects_new_file(cli_version, resume)`: true when a
# connection with that CLI version (`"1.0.120"`, `"2.1.112"`, ...) and `resume` flag will
# create a **new** transcript file (a fork or a stray).


# %% nbgrader={"grade": false, "grade_id": "expects_new_file", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def expects_new_file(cli_version: str, resume: bool) -> bool:
    """Will this connection write a new session file?"""
    ### BEGIN SOLUTION
    if not resume:
        return True
    parts = tuple(int(x) for x in cli_version.split(".")[:3])
    return parts < (2, 1, 0)  # a fork up to 1.0.123, a stray up to 2.0.x
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_expects_new_file", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
assert expects_new_file("1.0.120", resume=False) is True
assert expects_new_file("1.0.120", resume=True) is True
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert expects_new_file("2.1.112", resume=True) is False
assert expects_new_file("2.1.112", resume=False) is True
assert expects_new_file("1.0.123", resume=True) is True
assert expects_new_file("1.0.124", resume=True) is True  # appends, plus a summary-only stray
assert expects_new_file("2.0.77", resume=True) is True  # appends, plus an empty stray
assert expects_new_file("2.1.0", resume=True) is False
assert expects_new_file("1.0.99", resume=True) is True
assert expects_new_file("10.0.0", resume=True) is False
### END HIDDEN TESTS

# %% [markdown]
# ### ✏️ Challenge 2 · Incremental backups that survive a crash (3 points)
#
# The fixed session file is the whole conversation: worth a backup. Two functions:
#
# * `backup_transcript(fixed, backup_dir) -> int` brings the backup in the folder
#   `backup_dir` up to date with the file `fixed` and returns how many bytes of `fixed` it
#   copied. The transcript only grows, so a run copies **only the bytes added since the last
#   completed backup**. If `fixed` became **shorter** than the backup (it was replaced), start
#   over from its first byte. A missing `fixed` copies nothing (returns 0).
# * `restore_transcript(backup_dir) -> bytes` returns the transcript **as of the last backup
#   that completed** (`b""` if there is none), reading `backup_dir` only.
#
# **The hard part: a crash.** A backup run may die at any instant, between any two writes or
# in the middle of one (power cut, `kill -9`, a full disk): no `finally`, no `except` runs.
# Afterwards `restore_transcript` must still return the previous backup **exactly**, and the
# next run must complete and copy only what is new. Appending to the backup file in place is
# not enough: a run killed half-way leaves half of the new bytes in it, and you cannot tell
# them from a finished backup. The classic cure is a **commit record**: write the new bytes
# first (`flush`, `os.fsync`), then record how many bytes are valid in a small file that you
# replace atomically (write a temporary file, `os.fsync` it, `os.replace` it over the old
# one: a reader sees the old record or the new one, never half of one). Bytes after the
# recorded length are the leftovers of a crashed run: cut them off (`truncate`) before
# appending. When you start over, write to a *new* data file, so the old backup stays whole
# until the new record points at the new file.
#
# How it is graded: the basics (1), "only the new bytes" measured as the bytes your
# `backup_transcript` really wrote in a child process (1), and a crash (1): your
# `backup_transcript` runs in a child process that the operating system kills at the write
# that would make any file longer than a limit; then your `restore_transcript` must give the
# previous backup, and the next run must finish the job. The child is started from your
# notebook's code (its imports, functions and classes), so keep these functions at the top
# level of their cell.


# %% nbgrader={"grade": false, "grade_id": "backup_transcript", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def backup_transcript(fixed, backup_dir) -> int:
    """Copy what ``fixed`` gained since the last completed backup; return how many bytes."""
    ### BEGIN SOLUTION
    fixed, backup_dir = Path(fixed), Path(backup_dir)
    if not fixed.exists():
        return 0
    backup_dir.mkdir(parents=True, exist_ok=True)
    commit = _read_commit(backup_dir)
    with open(fixed, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        if commit is not None and size >= commit["bytes"]:
            # Go on where the last completed backup ended.
            name, done, generation = commit["file"], commit["bytes"], commit["generation"]
        else:
            # First backup, or the transcript was replaced: a new data file; the old one stays
            # whole (and restorable) until the commit below points at the new one.
            generation = 1 if commit is None else commit["generation"] + 1
            name, done = f"data-{generation}.bin", 0
        with open(backup_dir / name, "ab") as target:
            target.truncate(done)  # the leftovers of a crashed run are not part of the backup
            source.seek(done)
            left = size - done
            while left > 0:
                chunk = source.read(min(BACKUP_CHUNK, left))
                if not chunk:
                    break
                target.write(chunk)
                left -= len(chunk)
            target.flush()
            os.fsync(target.fileno())
    copied = size - done - left
    _write_commit(backup_dir, {"file": name, "bytes": done + copied, "generation": generation})
    for old in backup_dir.glob("data-*.bin"):
        if old.name != name:
            old.unlink()
    return copied
    ### END SOLUTION


def restore_transcript(backup_dir) -> bytes:
    """The transcript as of the last completed backup (``b""`` if none)."""
    ### BEGIN SOLUTION
    backup_dir = Path(backup_dir)
    commit = _read_commit(backup_dir)
    if commit is None:
        return b""
    with open(backup_dir / commit["file"], "rb") as data:
        return data.read(commit["bytes"])


BACKUP_CHUNK = 64 * 1024


def _read_commit(backup_dir):
    """The last completed backup, ``{"file", "bytes", "generation"}``, or None."""
    try:
        return json.loads((backup_dir / "commit.json").read_text())
    except FileNotFoundError:
        return None


def _write_commit(backup_dir, commit):
    """Replace ``commit.json`` atomically: a reader sees the old record or the new one."""
    temporary = backup_dir / "commit.json.tmp"
    with open(temporary, "w") as out:
        json.dump(commit, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, backup_dir / "commit.json")
    folder = os.open(backup_dir, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_backup_transcript", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# The basics (1 point): a first backup, an increment, a restore.
with tempfile.TemporaryDirectory() as tmp:
    fixed, backups = Path(tmp) / "session.jsonl", Path(tmp) / "backups"
    fixed.write_bytes(b'{"n": 1}\n')
    assert backup_transcript(fixed, backups) == 9
    with open(fixed, "ab") as grow:
        grow.write(b'{"n": 2}\n')
    assert backup_transcript(fixed, backups) == 9, "only the new line is copied"
    assert restore_transcript(backups) == b'{"n": 1}\n{"n": 2}\n'
print("visible tests passed")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as tmp:
    fixed, backups = Path(tmp) / "session.jsonl", Path(tmp) / "backups"
    assert backup_transcript(fixed, backups) == 0, "a missing transcript copies nothing"
    assert restore_transcript(backups) == b"", "no backup yet restores nothing"
    fixed.write_bytes(b"one\n")
    assert backup_transcript(fixed, backups) == 4
    assert backup_transcript(fixed, backups) == 0, "nothing new, nothing copied"
    with open(fixed, "ab") as grow:
        grow.write(b"two\n")
    assert backup_transcript(fixed, backups) == 4
    assert restore_transcript(backups) == b"one\ntwo\n"
    fixed.write_bytes(b"x\n")  # replaced by a shorter file: start over
    assert backup_transcript(fixed, backups) == 2
    assert restore_transcript(backups) == b"x\n"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_backup_transcript_new_bytes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# Only the new bytes (1 point): a 1 MiB transcript is backed up, 10 KiB are added, and the
# next backup runs in a child process whose writes the operating system counts.
with tempfile.TemporaryDirectory() as tmp:
    assert restore_transcript(Path(tmp)) == b"", "an empty folder restores nothing"
print("checked at grading: the bytes a backup run really writes")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as tmp:
    fixed, backups = Path(tmp) / "session.jsonl", Path(tmp) / "backups"
    old = b"".join(b'{"line": %d, "pad": "%s"}\n' % (i, b"o" * 80) for i in range(11000))
    new = b"".join(b'{"line": %d, "pad": "%s"}\n' % (i, b"n" * 80) for i in range(100))
    fixed.write_bytes(old)
    first = run_in_child(_submitted_cells(), "backup_transcript", str(fixed), str(backups))
    assert first.returned == len(old), f"the first backup: {first.describe()}"
    with open(fixed, "ab") as grow:
        grow.write(new)
    second = run_in_child(_submitted_cells(), "backup_transcript", str(fixed), str(backups))
    assert second.returned == len(new), f"the second backup: {second.describe()}"
    assert second.written_bytes is not None, "the child's writes could not be counted"
    print(f"the second backup wrote {second.written_bytes} bytes for {len(new)} new ones")
    assert second.written_bytes < len(old) // 4, "the second backup copied old bytes again"
    fixed.rename(Path(tmp) / "elsewhere")  # a restore reads the backup, nothing else
    restored = run_in_child(_submitted_cells(), "restore_transcript", str(backups))
    assert restored.returned == digest(old + new), f"the restore: {restored.describe()}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_backup_transcript_crash", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# A crash (1 point): a backup run is killed by the operating system half-way through copying
# 512 KiB; the previous backup must restore exactly, and the next run must finish the job.
with tempfile.TemporaryDirectory() as tmp:
    assert backup_transcript(Path(tmp) / "missing.jsonl", Path(tmp) / "b") == 0
print("checked at grading: a backup run killed in the middle of a write")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as tmp:
    fixed, backups = Path(tmp) / "session.jsonl", Path(tmp) / "backups"
    old = b"".join(b'{"before": %d, "pad": "%s"}\n' % (i, b"b" * 60) for i in range(200))
    new = b"".join(b'{"during": %d, "pad": "%s"}\n' % (i, b"d" * 60) for i in range(6000))
    fixed.write_bytes(old)
    first = run_in_child(_submitted_cells(), "backup_transcript", str(fixed), str(backups))
    assert first.returned == len(old), f"the first backup: {first.describe()}"
    with open(fixed, "ab") as grow:
        grow.write(new)
    limit = len(old) + len(new) // 2
    crashed = run_in_child(
        _submitted_cells(), "backup_transcript", str(fixed), str(backups), max_file_bytes=limit
    )
    print(f"the backup run during the crash: {crashed.describe()}")
    hidden_source = Path(tmp) / "elsewhere"
    fixed.rename(hidden_source)
    after = run_in_child(_submitted_cells(), "restore_transcript", str(backups))
    if crashed.crashed:
        assert after.returned == digest(old), (
            f"after the crash the restore gave {after.returned}, not the previous backup"
        )
    else:  # a design that never writes one big file is not killed: it must have finished
        assert after.returned == digest(old + new), "the run was not killed, yet not complete"
    hidden_source.rename(fixed)
    again = run_in_child(_submitted_cells(), "backup_transcript", str(fixed), str(backups))
    expected = len(new) if crashed.crashed else 0
    assert again.returned == expected, f"the run after the crash: {again.describe()}"
    fixed.rename(hidden_source)
    final = run_in_child(_submitted_cells(), "restore_transcript", str(backups))
    assert final.returned == digest(old + new), f"the final restore: {final.describe()}"
### END HIDDEN TESTS

# %% [markdown]
# ### ✏️ Challenge 3 · A live dashboard (2 points)
#
# The seed asks for "a dashboard that shows the corrections in real time". Two functions:
#
# * `dashboard_status(system) -> dict` reads a running `SingleSessionChatSystem` **now**:
#   `session_id`, `turns` (answered prompts), `transcript_bytes` (the size of the fixed
#   session file on disk right now), `strays_merged` (the monitor's corrections) and
#   `latencies_s` (each answered turn's seconds, `ChatReply.seconds` in `system.history`).
# * `dashboard_html(status) -> str` draws such a dict as a small HTML card: each number in an
#   element with a `data-metric` attribute naming it (`<td data-metric="turns">3</td>`), and
#   the latencies as an inline SVG bar chart with one `<rect data-turn="1" ...>` per turn whose
#   `height` is proportional to that turn's latency. Escape what you put in the page
#   (`html.escape`): a session id is text, never markup.
#
# The cell after them runs a chat and redraws your dashboard after every turn. It is graded
# on the data it shows, not on its looks: `sessionlab.lessons.dashboards.read_dashboard(page)`
# reads a page back as the tests do (try it on yours).


# %% nbgrader={"grade": false, "grade_id": "dashboard", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def dashboard_status(system) -> dict:
    """The live numbers of a running chat system, read from it and from the disk now."""
    ### BEGIN SOLUTION
    status = system.status()
    fixed = system.project_dir / f"{system.session_id}.jsonl" if system.session_id else None
    return {
        "session_id": system.session_id,
        "turns": status["messages_received"],
        "transcript_bytes": fixed.stat().st_size if fixed is not None and fixed.exists() else 0,
        "strays_merged": status["corrections"],
        "latencies_s": [reply.seconds for reply in system.history],
    }
    ### END SOLUTION


def dashboard_html(status: dict) -> str:
    """A card with the numbers and a bar per turn (height proportional to its latency)."""
    ### BEGIN SOLUTION
    labels = {
        "session_id": "session",
        "turns": "turns answered",
        "transcript_bytes": "transcript bytes",
        "strays_merged": "strays merged",
    }
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{label}</th>'
        f'<td data-metric="{key}">{html.escape(str(status.get(key, "")))}</td></tr>'
        for key, label in labels.items()
    )
    latencies = [float(x) for x in status.get("latencies_s", [])]
    top = max(latencies, default=0.0) or 1.0
    width, gap, height = 28, 8, 100
    bars = []
    for turn, seconds in enumerate(latencies, 1):
        bar = height * seconds / top
        bars.append(
            f'<rect data-turn="{turn}" x="{gap + (turn - 1) * (width + gap)}" '
            f'y="{height - bar:.3f}" width="{width}" height="{bar:.3f}" fill="#4c78a8">'
            f"<title>turn {turn}: {seconds:.2f} s</title></rect>"
        )
    chart = (
        f'<svg width="{gap + len(latencies) * (width + gap)}" height="{height}" '
        f'style="border-bottom:1px solid #999">{"".join(bars)}</svg>'
    )
    return (
        '<div style="font-family:sans-serif;display:flex;gap:2em;align-items:flex-end">'
        f"<table>{rows}</table><div>{chart}<div>latency per turn (s)</div></div></div>"
    )
    ### END SOLUTION


# %%
reset_transcripts(lab)
live = SingleSessionChatSystem(lab.options(), truncate_long=False)
board = display(HTML("<p>connecting ...</p>"), display_id=True)
for step, prompt in enumerate(["my colour is green", "my city is Lisbon", "what is my colour?"]):
    if step:
        await live.reconnect()
    await live.send(prompt)
    if live.monitor is not None:
        live.monitor.wait_idle(5.0)  # let it fold in this connection's stray first
    try:
        board.update(HTML(dashboard_html(dashboard_status(live))))
    except NotImplementedError:
        board.update(HTML("<p>Finish Challenge 3 to see your live dashboard here.</p>"))
print("the chat stays open for the test below; it is closed after it")

# %% nbgrader={"grade": true, "grade_id": "test_dashboard", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# The page shows the data (1 point): every number, one bar per turn in proportion.
sample = {
    "session_id": "abc-123",
    "turns": 3,
    "transcript_bytes": 48213,
    "strays_merged": 2,
    "latencies_s": [1.5, 0.75, 3.0],
}
shown = read_dashboard(dashboard_html(sample))
print(shown.metrics)
assert shown.metrics["session_id"] == "abc-123", shown.metrics
assert shown.metrics["turns"] == "3", shown.metrics
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert shown.metrics["transcript_bytes"].replace(",", "") == "48213", shown.metrics
assert shown.metrics["strays_merged"] == "2", shown.metrics
assert bars_match(shown.bars, sample["latencies_s"]), f"bars {shown.bars}"
other = {"session_id": "s<b>x</b>&'\"", "turns": 4, "transcript_bytes": 7,
         "strays_merged": 0, "latencies_s": [0.2, 0.4, 0.1, 0.8]}  # fmt: skip
shown = read_dashboard(dashboard_html(other))
assert shown.metrics.get("session_id") == other["session_id"], "the session id is not escaped"
assert "b" not in shown.tags, "text from the data became markup"
assert shown.metrics["turns"] == "4" and bars_match(shown.bars, other["latencies_s"])
assert read_dashboard(dashboard_html({**other, "latencies_s": []})).bars == {}
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_dashboard_live", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# From live data (1 point): the numbers of the chat above, compared with the files on disk.
got = dashboard_status(live)
print({k: got[k] for k in ("turns", "transcript_bytes", "strays_merged")})
assert got["session_id"] == live.session_id, got
print("visible tests passed")
### BEGIN HIDDEN TESTS
live_status = live.status()
fixed_file = Path(live.project_dir) / f"{live.session_id}.jsonl"
assert got["turns"] == live_status["messages_received"] == 3, got
prompts = [
    e for e in conversation_chain(read_entries(fixed_file))
    if e.get("type") == "user" and isinstance(e.get("message", {}).get("content"), str)
]  # fmt: skip
assert len(prompts) == 3, "the fixed file holds the three prompts"
assert got["transcript_bytes"] == fixed_file.stat().st_size, (got, fixed_file.stat().st_size)
assert got["strays_merged"] == live_status["corrections"], (got, live_status)
latencies = list(got["latencies_s"])
assert len(latencies) == 3 and all(0 < float(x) < 120 for x in latencies), latencies
assert sum(latencies) <= time.time() - live_status["session_start"], "latencies beyond the chat"
### END HIDDEN TESTS

# %%
await live.close()
print("live chat closed")

# %% [markdown]
# ### ✏️ Challenge 4 · Several users, never mixed (3 points)
#
# One process, many users: each user gets their own working folder
# (`lab.workdir / "users" / <user>`), so their own project folder and their own fixed session.
# Write the class `UserChats(lab)`:
#
# * `await send(user, prompt) -> str`: the user's reply text, on that user's own fixed session
#   (a `SingleSessionChatSystem` per user with `lab.options(cwd=<their folder>)` and
#   `truncate_long=False`, or your own `MyChatSystem`);
# * `await reconnect(user)`, `session_id(user)` (their fixed id, or None), `await close()`;
# * a user name is 1 to 32 characters from `a-z`, `0-9`, `_` and `-`; anything else raises
#   `ValueError` before anything is created. A name is a folder name: `"../ana"` must never
#   reach Ana's folder.
#
# **A trap we measured.** A `ClaudeSDKClient` holds an `anyio` task group from `connect()` to
# `disconnect()`, and in one task such scopes must close in the reverse order they opened.
# Ana connects, Bruno connects, Ana reconnects: Ana's scope closes while Bruno's is the inner
# one, and `anyio` cancels the whole cell (`CancelledError: Cancelled via cancel scope ...`).
# So keep no connection open between two turns of a user (connect, send, disconnect: one CLI
# process per turn, and `resume` keeps the memory), or give each user a task of their own.
#
# Graded by behaviour: two users with different secrets, turns interleaved with reconnects:
# each one's memory (1), and nothing of one in the other's replies or transcript, also when
# two users send at the same moment (`asyncio.gather`) (1); hostile user names (1).


# %% nbgrader={"grade": false, "grade_id": "user_chats", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class UserChats:
    """One fixed session per user, all in one process; nothing crosses between users."""

    def __init__(self, lab) -> None:
        ### BEGIN SOLUTION
        self.lab = lab
        self.systems = {}
        ### END SOLUTION

    async def send(self, user: str, prompt: str) -> str:
        ### BEGIN SOLUTION
        system = self._system(user)
        try:
            return (await system.send(prompt)).text
        finally:
            await system.disconnect()  # one connection per turn: no client outlives its task
        ### END SOLUTION

    async def reconnect(self, user: str) -> None:
        ### BEGIN SOLUTION
        await self._system(user).disconnect()  # the next turn connects again, with resume
        ### END SOLUTION

    def session_id(self, user: str):
        ### BEGIN SOLUTION
        return self._system(user).session_id
        ### END SOLUTION

    async def close(self) -> None:
        ### BEGIN SOLUTION
        systems, self.systems = list(self.systems.values()), {}
        for system in systems:
            await system.close()

    def _system(self, user):
        if not isinstance(user, str) or not re.fullmatch(r"[a-z0-9_-]{1,32}", user):
            raise ValueError(f"invalid user name {user!r}: use 1-32 of a-z, 0-9, '_' and '-'")
        if user not in self.systems:
            workdir = self.lab.workdir / "users" / user
            workdir.mkdir(parents=True, exist_ok=True)
            options = self.lab.options(cwd=workdir)
            self.systems[user] = SingleSessionChatSystem(options, truncate_long=False)
        return self.systems[user]
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_user_chats", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# Two users, interleaved, with reconnects (2 points: memory 1, separation 1).
for user in ("ana", "bruno"):  # a fresh start, however often this cell runs
    for old in lab.project_dir_for(lab.workdir / "users" / user).glob("*.jsonl"):
        old.unlink()
users = UserChats(lab)
try:
    said = {
        "ana": await users.send("ana", "my pin is 7731"),
        "bruno": await users.send("bruno", "my pin is 2468"),
    }
    await users.reconnect("ana")
    await users.reconnect("bruno")
    asked = {
        "bruno": await users.send("bruno", "what is my pin?"),
        "ana": await users.send("ana", "what is my pin?"),
    }
    recalled = await users.send("bruno", "what do you remember?")
    ids = {user: users.session_id(user) for user in ("ana", "bruno")}
finally:
    await users.close()
print(asked)
assert asked["ana"] == "Your pin is 7731.", asked
print("visible tests passed")
### BEGIN HIDDEN TESTS
score = 0.0
if asked["bruno"] == "Your pin is 2468." and said["bruno"] == "Got it: your pin is 2468.":
    score += 1
else:
    print("hidden: each user must get their own memory back")
separate = "7731" not in asked["bruno"] + recalled and "2468" not in asked["ana"]
separate = separate and recalled.startswith("I can see 2 earlier messages from you")
for user, secret, other in (("ana", b"7731", b"2468"), ("bruno", b"2468", b"7731")):
    folder = lab.project_dir_for(lab.workdir / "users" / user)
    files = sorted(p for p in folder.glob("*.jsonl") if not p.name.startswith("agent-"))
    if [p.stem for p in files] != [ids[user]]:
        print(f"hidden: {user}'s project folder holds {len(files)} transcripts (want 1)")
        separate = False
        continue
    data = files[0].read_bytes()
    separate = separate and secret in data and other not in data
separate = separate and ids["ana"] != ids["bruno"]
# Two more users at the same moment (asyncio.gather): no shared client, no shared state.
import asyncio  # noqa: E402

for user in ("carla", "dario"):
    for old in lab.project_dir_for(lab.workdir / "users" / user).glob("*.jsonl"):
        old.unlink()
together = UserChats(lab)
both = []
try:
    await asyncio.gather(
        together.send("carla", "my pin is 1111"), together.send("dario", "my pin is 2222")
    )
    both = await asyncio.gather(
        together.send("carla", "what is my pin?"), together.send("dario", "what is my pin?")
    )
except (Exception, asyncio.CancelledError) as error:
    print(f"hidden: two users at the same moment raised {type(error).__name__}")
finally:
    try:
        await together.close()
    except Exception as error:
        print(f"hidden: close() raised {type(error).__name__}")
if list(both) != ["Your pin is 1111.", "Your pin is 2222."]:
    print("hidden: two users chatting at the same moment did not each get their own memory")
    separate = False
if separate:
    score += 1
else:
    print("hidden: one user's secret reached the other, or their sessions are shared")
float(score)  # partial credit out of 2
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_user_chats_names", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# Hostile user names (1 point): a clear ValueError, nothing created, no chat started.
names = UserChats(lab)
try:
    await names.send("../ana", "my pin is 0000")
    escaped = True
except ValueError:
    escaped = False
assert not escaped, "'../ana' must be refused"
print("visible tests passed")
### BEGIN HIDDEN TESTS
before = sorted(str(p) for p in lab.workdir.rglob("*"))
for bad in ["", ".", "..", "ana/../bruno", "Ana", "a" * 33, "ana\x00", "ana bruno", "ana\n"]:
    try:
        await names.send(bad, "my pin is 0000")
        raise AssertionError(f"user name {bad!r} was accepted")
    except ValueError:
        pass
await names.close()
assert sorted(str(p) for p in lab.workdir.rglob("*")) == before, "a refused name created files"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# * One session = one fixed id + `resume` on every connection + a monitor for what still
#   leaks out + checks that the chain is whole.
# * Measure what matters to the user: does the model remember?
# * Error handling is part of the design: a dead model or a missing CLI is one clear line,
#   and the chat keeps its session.
# * A crash is part of the design too: write the data, then commit its length atomically;
#   whatever a killed run leaves after the last commit is not part of the backup.
# * Show live numbers read from the system and the disk, not from a script; and one folder,
#   one session per user, with a user name checked before it becomes a path.

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
# 3. Hand in this file, `09-capstone.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("09-capstone", globals())

# %%
sandbox.close()
print("sandbox closed")
