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
# **Time budget:** about 1 h, plus 25 min for the 4 optional challenges: 1,049 words to read (7 min at 150 words a minute),
# 15 code cells to run and read (15 min at 1 min each), 1 exercise worth 6 points (36 min at 6 min a point);
# the solved notebook runs top to bottom in 79 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
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
# * turning failures (model down, CLI missing) into one clear error without losing the chat.
#
# The reference is `sessionlab.capstone.SingleSessionChatSystem`. You build your own
# `MyChatSystem`; you may use the reference monitor `SessionMonitor` (or your own from
# Lesson 3). Four **optional challenges** at the end (1 point each) are graded by behaviour.

# %% [markdown]
# ## 1 · Set-up and the reference in action

# %%
import dataclasses
import logging
import os
import socket
from pathlib import Path

from claude_code_sdk import (
    AssistantMessage,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLINotFoundError,
    ResultMessage,
    TextBlock,
)

from sessionlab.capstone import SingleSessionChatSystem
from sessionlab.lessons import open_lab
from sessionlab.monitor import SessionMonitor
from sessionlab.sandbox import patched_environ
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
#   again;
# * `await reconnect()`, `await close()` (disconnects and stops the monitor) and `status()`:
#   a dict with at least the metric names above, `session_id`, `corrections` (from the
#   monitor's `get_stats()`) and `session_files` (number of transcripts in `project_dir`).
#
# Graded by behaviour: it remembers across reconnects (2), leaves one file (1), counts
# messages and tokens (1), survives a model that is down (1), plus 1 for the visible tests.
#
# > **Your own work.** `sessionlab.capstone.SingleSessionChatSystem` (used above) is the
# > reference: read it as much as you like, but a `MyChatSystem` that subclasses it, wraps it
# > or calls it under any name scores **0 on this exercise** (a hidden test checks the class,
# > the names its methods use and what an instance holds). `SessionMonitor` is the monitor you
# > are meant to plug in; use it freely.


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
        self.log = logging.getLogger("capstone.my_chat")
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
if [p.stem for p in lab.transcripts()] == [mine.session_id] and status["session_files"] == 1:
    score += 1
else:
    print(f"hidden: {len(lab.transcripts())} transcript files left (want 1, the fixed session)")
if (
    status["messages_sent"] == status["messages_received"] == 2
    and status["input_tokens"] > 0
    and status["output_tokens"] > 0
):
    score += 1
else:
    print("hidden: messages or tokens not counted")
reset_transcripts(lab)
robust = MyChatSystem(lab.options(), lab.project_dir)
logging.disable(logging.CRITICAL)  # an expected error log on stderr would zero this cell
try:
    with patched_environ({"ANTHROPIC_BASE_URL": closed_port_url()}):
        try:
            await robust.send("my name is Ana")
            print("hidden: a model that is down must raise")
            failed = False
        except RuntimeError:
            failed = True
    again = await robust.send("my name is Ana")
    if failed and again == "Got it: your name is Ana." and robust.status()["errors"] == 1:
        score += 1
    else:
        print("hidden: the system did not recover after the model came back")
except Exception as error:
    print(f"hidden: model-down scenario raised {error!r}")
finally:
    logging.disable(logging.NOTSET)
    await robust.close()
# Own work: reading SingleSessionChatSystem is allowed, submitting it (subclassed, wrapped,
# called under any name) is not. Checked here, on the class, its code and an instance.
import inspect  # noqa: E402


def _capstone_reuse(cls, instance):
    found = [
        f"inherits {b.__qualname__}" for b in inspect.getmro(cls) if "capstone" in b.__module__
    ]
    codes = [m.__code__ for m in vars(cls).values() if inspect.isfunction(m)]
    while codes:
        code = codes.pop()
        codes += [c for c in code.co_consts if inspect.iscode(c)]
        for name in code.co_names:
            value = globals().get(name)
            if inspect.ismodule(value):
                module = value.__name__
            else:
                module = getattr(value if callable(value) else type(value), "__module__", "")
            if str(module).startswith("sessionlab.capstone") or name == "SingleSessionChatSystem":
                found.append(f"{code.co_name} uses {name}")
    for name, value in vars(instance).items():
        if type(value).__module__.startswith("sessionlab.capstone"):
            found.append(f"self.{name} is a {type(value).__qualname__}")
    return found


reuse = _capstone_reuse(MyChatSystem, mine)
if reuse:
    print(f"hidden: MyChatSystem must be your own code, not the reference: {'; '.join(reuse)}")
    score = 0.0
float(score)  # partial credit out of 6
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Optional challenges (1 point each)
#
# The lesson's four advanced challenges, each small enough to grade by behaviour.
#
# ### ✏️ Challenge 1 · A smart monitor: predict the next stray
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
# ### ✏️ Challenge 2 · Incremental backups
#
# Write `backup_increment(fixed, backup)`: append to the file `backup` only the bytes of
# `fixed` it does not have yet (the fixed file only grows) and return how many bytes were
# copied. If `fixed` became **shorter** than the backup (it was replaced), start the backup
# over from scratch. A missing `fixed` copies nothing.


# %% nbgrader={"grade": false, "grade_id": "backup_increment", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def backup_increment(fixed, backup) -> int:
    """Copy the new bytes of ``fixed`` into ``backup``; return how many."""
    ### BEGIN SOLUTION
    fixed, backup = Path(fixed), Path(backup)
    if not fixed.exists():
        return 0
    done = backup.stat().st_size if backup.exists() else 0
    with open(fixed, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        if size < done:
            backup.unlink()
            done = 0
        source.seek(done)
        data = source.read(size - done)
    with open(backup, "ab") as target:
        target.write(data)
    return len(data)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_backup_increment", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    fixed, copy = Path(tmp) / "f.jsonl", Path(tmp) / "f.backup"
    fixed.write_bytes(b"one\n")
    assert backup_increment(fixed, copy) == 4 and copy.read_bytes() == b"one\n"
print("visible tests passed")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as tmp:
    fixed, copy = Path(tmp) / "f.jsonl", Path(tmp) / "f.backup"
    assert backup_increment(fixed, copy) == 0
    fixed.write_bytes(b"one\n")
    backup_increment(fixed, copy)
    with open(fixed, "ab") as f:
        f.write(b"two\n")
    assert backup_increment(fixed, copy) == 4 and copy.read_bytes() == b"one\ntwo\n"
    assert backup_increment(fixed, copy) == 0
    fixed.write_bytes(b"x\n")
    assert backup_increment(fixed, copy) == 2 and copy.read_bytes() == b"x\n"
### END HIDDEN TESTS

# %% [markdown]
# ### ✏️ Challenge 3 · A live status dashboard
#
# Write `dashboard(status)`: a short multi-line text for a status dict like the one
# `SingleSessionChatSystem.status()` returns, showing at least the session id, messages sent
# and received, tokens in and out, cost (`$` with 4 decimals), corrections and session files.
# The cell after it refreshes it live while a chat runs.


# %% nbgrader={"grade": false, "grade_id": "dashboard", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def dashboard(status: dict) -> str:
    """A few lines a terminal or a notebook can redraw every second."""
    ### BEGIN SOLUTION
    return "\n".join(
        [
            f"session      {status.get('session_id')}",
            f"messages     {status.get('messages_sent', 0)} sent / {status.get('messages_received', 0)} received",
            f"tokens       {status.get('input_tokens', 0)} in / {status.get('output_tokens', 0)} out",
            f"cost         ${status.get('cost_usd', 0.0):.4f}",
            f"monitor      {status.get('corrections', 0)} corrections, {status.get('session_files', 0)} session file(s)",
            f"errors       {status.get('errors', 0)}",
        ]
    )
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dashboard", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
sample = {
    "session_id": "abc-123",
    "messages_sent": 7,
    "messages_received": 6,
    "input_tokens": 1234,
    "output_tokens": 56,
    "cost_usd": 0.01234,
    "corrections": 3,
    "session_files": 1,
    "errors": 1,
}
text = dashboard(sample)
assert "abc-123" in text and "1234" in text
print(text)
print("visible tests passed")
### BEGIN HIDDEN TESTS
for key in ("messages_sent", "messages_received", "output_tokens", "corrections"):
    assert str(sample[key]) in text, key
assert "$0.0123" in text
changed = dashboard({**sample, "corrections": 42, "messages_sent": 99})
assert "42" in changed and "99" in changed and changed != text
### END HIDDEN TESTS

# %%
from IPython.display import clear_output  # noqa: E402

reset_transcripts(lab)
try:
    async with SingleSessionChatSystem(lab.options(), truncate_long=False) as live:
        for prompt in ["my colour is green", "what is my colour?"]:
            await live.send(prompt)
            await live.reconnect()
            clear_output(wait=True)
            print(dashboard(live.status()))
except NotImplementedError:
    print("finish Challenge 3 to see the live dashboard")


# %% [markdown]
# ### ✏️ Challenge 4 · Several users, one session each
#
# Each user gets their own working directory, so their own project folder and fixed session.
# Write `multi_user_chat(lab, script)` (async): `script` maps a user name to a list of
# prompts; for each user, create `lab.workdir / user`, run a `SingleSessionChatSystem` with
# `lab.options(cwd=that folder)` and `truncate_long=False`, send the prompts with a
# **reconnect between prompts**, close it, and return `{user: last reply text}`.


# %% nbgrader={"grade": false, "grade_id": "multi_user_chat", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
async def multi_user_chat(lab, script: dict[str, list[str]]) -> dict[str, str]:
    """One fixed session per user; every user's chat survives reconnects."""
    ### BEGIN SOLUTION
    replies = {}
    for user, prompts in script.items():
        workdir = lab.workdir / user
        workdir.mkdir(exist_ok=True)
        async with SingleSessionChatSystem(lab.options(cwd=workdir), truncate_long=False) as system:
            for i, prompt in enumerate(prompts):
                if i:
                    await system.reconnect()
                replies[user] = (await system.send(prompt)).text
    return replies
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_multi_user_chat", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
got = await multi_user_chat(
    lab,
    {
        "ana": ["my name is Ana", "what is my name?"],
        "bruno": ["my name is Bruno", "what is my name?"],
    },
)
print(got)
assert got["ana"] == "Your name is Ana.", got
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert got["bruno"] == "Your name is Bruno.", got
for user in ("ana", "bruno"):
    folder = lab.project_dir_for(lab.workdir / user)
    files = [p for p in folder.glob("*.jsonl") if not p.name.startswith("agent-")]
    assert len(files) == 1, f"{user}: {len(files)} session files"
    chain = conversation_chain(read_entries(files[0]))
    assert sum(e.get("type") == "user" for e in chain) == 2, user
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# * One session = one fixed id + `resume` on every connection + a monitor for what still
#   leaks out + checks that the chain is whole.
# * Measure what matters to the user: does the model remember?
# * Error handling is part of the design: a dead model or a missing CLI is one clear line,
#   and the chat keeps its session.

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
