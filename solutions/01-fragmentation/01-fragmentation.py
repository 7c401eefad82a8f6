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
# # Lesson 1 · Reproduce fragmentation
#
# **Time budget:** about 1 h 20: 1,524 words to read (10 min at 150 words a minute),
# 17 code cells to run and read (17 min at 1 min each), 4 exercises worth 9 points (54 min at 6 min a point);
# the solved notebook runs top to bottom in 8 s on the course's 2-core machine. Counts and run time are measured, the rates are estimates (docs/time-budgets.md).
#
# A chat app built on `claude-code-sdk` usually opens a new `ClaudeSDKClient` connection for
# every request. It looks harmless. It is not: Claude Code starts a **new session** for every
# connection, writes it to a **new file**, and the model on the next connection has **no
# memory** of the previous ones.
#
# In this lesson you reproduce that with the real tools, and you learn to read the evidence.
#
# **What you will learn**
#
# * where Claude Code writes a conversation, and how the folder name is derived from the
#   working directory;
# * that every connection is a new session id and a new `<session-id>.jsonl` file;
# * how one transcript is a *chain* of entries linked by `parentUuid`, and how the CLI reads it;
# * how to prove "the model forgot" from what the model actually received.
#
# **How this notebook works.** Everything runs offline: the real `claude-code-sdk` 0.0.25
# drives the real Claude Code CLI **1.0.120** (the CLI of the SDK's era) against the *course
# model*, a small local stand-in for the Anthropic API. Its replies make memory visible:
# say *"my name is Ana"*, later ask *"what is my name?"*, and it answers only if the CLI
# actually sent it the earlier message.
#
# Exercises are marked **✏️ Exercise**. Replace `raise NotImplementedError()` with your code,
# then run the test cell below it. The visible tests are a self-check; more tests run when
# your notebook is graded. Run the notebook top to bottom (*Run → Run All Cells*); it takes
# well under a minute.

# %% [markdown]
# ## 1 · Set-up
#
# `open_lab` opens a *sandbox*: a private Claude Code config folder for this lesson (your real
# `~/.claude` is never touched), the pinned CLI first on `PATH`, and the course model running on
# 127.0.0.1. Each run of this cell gets a new, empty sandbox (a Validate run or a second tab
# gets its own), so every run starts from the same state.

# %%
import json
from itertools import pairwise
from pathlib import Path

from sessionlab.lessons import chat, open_lab, print_chain, print_files, print_model_turns, short

lab, sandbox = open_lab("legacy", "01-fragmentation")
print("working directory:", lab.workdir)
print("transcripts go to:", lab.project_dir)

# %% [markdown]
# ## 2 · Three connections, three files
#
# **What you will learn:** what one "request" of a typical chat app does to Claude Code's
# session files.
#
# `chat(lab, prompts)` opens **one** `ClaudeSDKClient` connection, sends the prompts, and
# closes it. Calling it three times is what a web app does when each HTTP request creates its
# own client. Each line below is one turn: the prompt and the course model's reply.

# %%
prompts = ["my name is Ana", "my city is Lisbon", "what is my name?"]
turns = []
for number, prompt in enumerate(prompts, start=1):
    print(f"connection {number}:")
    turns += await chat(lab, [prompt])  # top-level await works in Jupyter

files = print_files(lab.project_dir, label="after three connections")

# %% [markdown]
# Each connection reported its session id in the `ResultMessage`. Compare them with the file
# names:

# %%
for turn in turns:
    print(f"{turn.prompt!r:22} session {turn.session_id}")
print()
print("distinct session ids:", len({t.session_id for t in turns}))
print("file names == session ids:", {p.stem for p in files} == {t.session_id for t in turns})

# %% [markdown]
# **What we found.** Three connections gave three session ids and three files, one per
# connection, named `<session-id>.jsonl`. Nothing we did asked for a new session: it is simply
# what the CLI does when it starts without a session flag.
#
# The folder name is the working directory with every character outside `[a-zA-Z0-9]`
# replaced by `-` (so `/work/.course` gives `-work--course`). You will write that rule
# yourself in Exercise 3.

# %% [markdown]
# ## 3 · Inside one file: the `parentUuid` chain
#
# **What you will learn:** what a transcript line looks like, and how the CLI turns the lines
# back into a conversation.
#
# A transcript is JSON Lines: one object per line, appended as the conversation happens.
# Conversation entries (`type` `user` or `assistant`) carry a `uuid` and the `parentUuid` of
# the entry before them; the first entry has `parentUuid: null`. The legacy CLI may also write
# a `summary` line (an auto-title, often for an *earlier* conversation) that has no `uuid` at
# all. Here are the lines of the second file:

# %%
for line in files[1].read_text().splitlines():
    entry = json.loads(line)
    print(
        f"type={entry['type']:<9} uuid={short(entry.get('uuid')):<8} "
        f"parentUuid={short(entry.get('parentUuid')):<8} sessionId={short(entry.get('sessionId'))}"
    )

# %% [markdown]
# Claude Code does **not** replay a file line by line. To resume a session it takes the newest
# *leaf* (a user/assistant entry that no other entry names as its parent) and walks
# `parentUuid` back to the root. That chain is the conversation the model will see.
#
# Here is the chain of every file we have so far:

# %%
for path in files:
    print(f"--- {path.name}")
    print_chain(path)

# %% [markdown]
# The same three files as a picture: one row per file, one dot per entry (blue: user, orange:
# assistant), an arrow from each entry to the one whose `uuid` it names as `parentUuid`, and a
# bar where a chain starts (`parentUuid: null`):

# %%
from sessionlab.lessons.pictures import draw_chains  # noqa: E402

figure = draw_chains(files, title="three connections: three chains, each with its own root")

# %% [markdown]
# **What we found.** Every file holds a chain that starts at `parentUuid: null`: three
# separate conversations of one turn each, not one conversation of three turns. No entry in
# one file points at an entry in another.

# %% [markdown]
# ## 4 · The model forgets
#
# **What you will learn:** how to prove what the model saw, instead of guessing from its
# answer.
#
# The third connection asked *"what is my name?"*. The reply:

# %%
print(turns[-1].reply)

# %% [markdown]
# The course model records every request it receives (`lab.model.records`). For each
# conversation turn, `user msgs` counts the user messages the CLI sent, the current one
# included. `1` means no history at all.

# %%
print_model_turns(lab.model.records)

# %% [markdown]
# For contrast, send the same three prompts through **one** connection:

# %%
print("one connection, three prompts:")
together = await chat(lab, prompts)
print()
print_model_turns(lab.model.records)
print()
files = print_files(lab.project_dir, label="now")


# %% [markdown]
# **What we found.** On separate connections the model received one message per turn and
# could not know the name. On one connection the third turn arrived with all three messages
# (the model answered *"Your name is Ana."*) and all three turns went to **one** new file.
# Memory lives in the session file the CLI resumes from; fragment the file and the model
# forgets.
#
# That is the whole problem of this course: a chat app cannot keep one connection open
# forever (processes restart, requests come and go), yet it wants one session. Lesson 2 tries
# the obvious fixes.

# %% [markdown]
# ## ✏️ Exercise 1 · Count the session files (2 points)
#
# Write `count_session_files(project_dir)`: the number of session transcripts in a project
# folder. Count regular files named `*.jsonl` directly in the folder (no recursion), but
# **not** `agent-*.jsonl` (newer CLIs keep sub-agent *sidechains* there) and not folders. The
# CLI creates the project folder lazily, on the first write, so a folder that does not exist
# has `0` files.


# %% nbgrader={"grade": false, "grade_id": "count_session_files", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def count_session_files(project_dir: str | Path) -> int:
    """Number of session transcripts (``*.jsonl``, not ``agent-*``) directly in project_dir."""
    ### BEGIN SOLUTION
    folder = Path(project_dir)
    if not folder.is_dir():
        return 0
    return sum(
        1
        for path in folder.glob("*.jsonl")
        if path.is_file() and not path.name.startswith("agent-")
    )
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_session_files", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# On copies of the lesson's transcripts in a temporary folder: the answer does not depend on
# which cells ran before, and the lesson's files are never touched.
import shutil  # noqa: E402
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as scratch:
    folder = Path(scratch)
    for path in lab.project_dir.glob("*.jsonl"):
        shutil.copy2(path, folder / path.name)
    copied = len(list(folder.iterdir()))
    assert copied >= 1, "no transcripts yet: run the cells of sections 2-4 first"
    assert count_session_files(folder) == copied, f"{copied} transcripts were copied"
    assert count_session_files(str(folder)) == copied, "a str path works too"
    (folder / "notes.txt").write_text("not a transcript")
    assert count_session_files(folder) == copied, "only *.jsonl files count"
print("visible tests passed")
### BEGIN HIDDEN TESTS
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    assert count_session_files(root / "missing") == 0
    (root / "a.jsonl").write_text("{}\n")
    (root / "b.jsonl").write_text("")
    (root / "agent-1234abc.jsonl").write_text("{}\n")
    (root / "notes.txt").write_text("x")
    (root / "dir.jsonl").mkdir()
    (root / "sub").mkdir()
    (root / "sub" / "c.jsonl").write_text("{}\n")
    assert count_session_files(root) == 2
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 2 · Follow the chain (3 points)
#
# Write `follow_chain(path)`: the entries (dicts) of the conversation Claude Code would resume
# from a transcript, **root first**.
#
# 1. Read every line as JSON; keep the entries that have a `uuid`.
# 2. The *leaf* is the **last** entry in file order whose `type` is `"user"` or
#    `"assistant"`, that is not a sidechain (`isSidechain` is not true), and whose `uuid` no
#    other entry uses as its `parentUuid`.
# 3. From the leaf, follow `parentUuid` to the entry with that `uuid`, until `parentUuid` is
#    `null` or points at a uuid that is not in the file. Return the entries root first.
#
# Lines with other types and uuids (for example `attachment` in newer CLIs) can be *in* the
# chain as parents; they just cannot be the leaf. An empty file gives `[]`.


# %% nbgrader={"grade": false, "grade_id": "follow_chain", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def follow_chain(path: str | Path) -> list[dict]:
    """The conversation the CLI would resume from ``path``: newest leaf walked back, root first."""
    ### BEGIN SOLUTION
    entries = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            if isinstance(entry.get("uuid"), str):
                entries.append(entry)
    by_uuid: dict[str, dict] = {}
    for entry in entries:
        by_uuid.setdefault(entry["uuid"], entry)
    parents = {e.get("parentUuid") for e in entries}
    leaf = None
    for entry in reversed(entries):
        if (
            entry.get("type") in ("user", "assistant")
            and not entry.get("isSidechain")
            and entry["uuid"] not in parents
        ):
            leaf = entry
            break
    chain: list[dict] = []
    seen: set[str] = set()
    while leaf is not None and leaf["uuid"] not in seen:
        seen.add(leaf["uuid"])
        chain.append(leaf)
        leaf = by_uuid.get(leaf.get("parentUuid"))
    return chain[::-1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_follow_chain", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
# On copies of the lesson's transcripts, as in exercise 1: three files of one turn each and
# the one connection with three turns, whatever cells ran since.
import shutil  # noqa: E402
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as scratch:
    folder = Path(scratch)
    for path in lab.project_dir.glob("*.jsonl"):
        shutil.copy2(path, folder / path.name)
    chains = [follow_chain(path) for path in sorted(folder.glob("*.jsonl"))]
    assert chains, "no transcripts yet: run the cells of sections 2-4 first"
    for chain in chains:
        kinds = [e["type"] for e in chain]
        assert kinds and kinds == ["user", "assistant"] * (len(kinds) // 2), kinds
        assert chain[0]["parentUuid"] is None, "the chain starts at the root"
        assert all(b["parentUuid"] == a["uuid"] for a, b in pairwise(chain)), "linked in order"
    lengths = {len(chain) for chain in chains}
    assert 6 in lengths, f"the connection with three turns has 6 entries; got {sorted(lengths)}"
    assert lengths <= {2, 6}, "one turn (2 entries) per separate connection, 6 for the three"
    (folder / "empty.jsonl").write_text("")
    assert follow_chain(folder / "empty.jsonl") == [], "an empty file gives []"
print("visible tests passed")
### BEGIN HIDDEN TESTS
import tempfile  # noqa: E402

from sessionlab.transcripts import conversation_path, read_entries  # noqa: E402


def _line(kind, uid, parent, **extra):
    return json.dumps({"type": kind, "uuid": uid, "parentUuid": parent, **extra})


hidden_cases = {
    # an edited message: u3b branches off a1; the newest leaf is a3b
    "branch": [
        _line("user", "u1", None),
        _line("assistant", "a1", "u1"),
        _line("user", "u2", "a1"),
        _line("assistant", "a2", "u2"),
        _line("user", "u3b", "a1"),
        _line("assistant", "a3b", "u3b"),
    ],
    # summary lines have no uuid; a sidechain entry is never the leaf
    "summary_and_sidechain": [
        json.dumps({"type": "summary", "summary": "Title", "leafUuid": "a1"}),
        _line("user", "u1", None),
        _line("attachment", "t1", "u1"),
        _line("assistant", "a1", "t1"),
        _line("user", "s1", None, isSidechain=True),
    ],
    # a fragment whose root points at a uuid that is not in this file
    "dangling_parent": [
        _line("user", "u5", "elsewhere"),
        _line("assistant", "a5", "u5"),
    ],
    "empty": [],
}
passed = 0
with tempfile.TemporaryDirectory() as tmp:
    for name, lines in hidden_cases.items():
        case = Path(tmp) / f"{name}.jsonl"
        case.write_text("".join(line + "\n" for line in lines))
        # every entry on the path the CLI resumes (attachments too: the chain stays linked)
        expected = [e["uuid"] for e in conversation_path(read_entries(case))]
        try:
            got = [e["uuid"] for e in follow_chain(case)]
        except Exception as error:  # a crash on one case costs that case only
            got = f"raised {error!r}"
        if got == expected:
            passed += 1
        else:
            print(f"hidden case {name!r}: not the chain the CLI would resume")
float(1 + 2 * passed / len(hidden_cases))  # partial credit: visible 1 + hidden 2
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 3 · Name the project folder (3 points)
#
# Write `sanitize_cwd(cwd, truncate_long=True)`, the folder name Claude Code uses under
# `projects/` for a working directory:
#
# * every character outside `[a-zA-Z0-9]` (ASCII only!) becomes `-`;
# * CLI 2.1.x (`truncate_long=True`) keeps names of up to **200** characters as they are. A
#   longer name is cut to its first 200 characters, followed by `-` and a hash of the
#   **original** `cwd` in base 36 (digits `0-9a-z`);
# * the hash is JavaScript's classic string hash: start with `h = 0`; for every UTF-16 code
#   unit `c` of the string, `h = (h * 31 + c)` kept as a signed 32-bit integer; use `abs(h)`.
#   (`"é"` is one code unit, an emoji is two: `s.encode("utf-16-le")` gives them in pairs of
#   bytes.)
# * CLI 1.0.x (`truncate_long=False`) never truncates.
#
# Watch out: Python's `str.isalnum()` is true for `é`; Claude Code's rule is not.


# %% nbgrader={"grade": false, "grade_id": "sanitize_cwd", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["raises-exception"]
def sanitize_cwd(cwd: str, truncate_long: bool = True) -> str:
    """Claude Code's project folder name for ``cwd`` (see the rules above)."""
    ### BEGIN SOLUTION
    import re

    sanitized = re.sub(r"[^a-zA-Z0-9]", "-", str(cwd))
    if not truncate_long or len(sanitized) <= 200:
        return sanitized
    units = str(cwd).encode("utf-16-le")
    h = 0
    for i in range(0, len(units), 2):
        h = (h * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    if h & 0x80000000:
        h -= 1 << 32
    h = abs(h)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        h, rem = divmod(h, 36)
        out = digits[rem] + out
        if h == 0:
            break
    return f"{sanitized[:200]}-{out}"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sanitize_cwd", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["raises-exception"]
assert sanitize_cwd("/home/student/my_proj.v2 x") == "-home-student-my-proj-v2-x"
assert sanitize_cwd("/Users/2a/.claude/cc-sdk-chat/api") == "-Users-2a--claude-cc-sdk-chat-api"
assert sanitize_cwd(str(lab.workdir), truncate_long=False) == lab.project_dir.name
print("visible tests passed")
### BEGIN HIDDEN TESTS
from sessionlab.paths import sanitize_cwd as reference  # noqa: E402

short_cases = ["/tmp/café/ü", "/a b\tc", "C:\\Users\\ana", "/x/🙂/y", "", "/" + "a" * 199]
long_cases = [
    "/" + "a" * 200,  # 201 characters: hashed
    "/" + "b" * 199,  # exactly 200: kept
    "/srv/" + "deep/" * 60,
    "/data/" + "ü" * 250,
    "/p/" + "🙂x" * 120,  # surrogate pairs count as two UTF-16 units in the hash
]
score = 1.0  # the visible tests passed
if all(sanitize_cwd(c) == reference(c) for c in short_cases):
    score += 0.5
else:
    print("hidden: the character rule differs on some paths")
long_ok = sum(sanitize_cwd(c) == reference(c) for c in long_cases)
if long_ok < len(long_cases):
    print(f"hidden: {len(long_cases) - long_ok} long path(s) named differently")
score += long_ok / len(long_cases)
if all(sanitize_cwd(c, False) == reference(c, truncate_long=False) for c in long_cases):
    score += 0.5
else:
    print("hidden: truncate_long=False must never truncate")
float(score)  # partial credit out of 3
### END HIDDEN TESTS

# %% [markdown]
# ## ✏️ Exercise 4 · Reflect (1 point, graded by your instructor)
#
# In two or three sentences: a colleague says *"the model has a short memory, let's send a
# bigger context window"*. Using what you measured in section 4, explain what is really
# going on.

# %% [markdown] nbgrader={"grade": true, "grade_id": "reflection", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# The model is not forgetting: on every new connection the CLI started a new session and
# sent the model only that session's messages (`user msgs` = 1 in the records). The history
# was never sent, because it sits in other session files. A bigger context window changes
# nothing; the fix is to keep the conversation in one session the CLI resumes from.

# %% [markdown]
# ## Wrap-up
#
# * Every `ClaudeSDKClient` connection (and every `query()` call) is a new Claude Code
#   session: a new id and a new `<session-id>.jsonl` in `projects/<sanitized cwd>/`.
# * A transcript is a `parentUuid` chain; the CLI resumes from the newest leaf walked back to
#   the root.
# * The model only knows what the CLI sends it, and the CLI only sends one session.
#
# Next, **Lesson 2** tries the fixes everybody tries first, and shows why each one fails.
#
# The last cell closes the sandbox (it stops this lesson's course model).

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
# 3. Hand in this file, `01-fragmentation.ipynb`, under its own name: in JupyterHub with nbgrader,
#    *Assignments → Submit*; otherwise upload it to your course page. Do not delete, copy or
#    reorder cells: grading finds your answers by the cells' ids.
#
# **Your own work.** Reading the course's reference code (`sessionlab.*`) is allowed and
# encouraged; submitting it is not: an answer that imports, subclasses or wraps the reference
# instead of doing the work scores 0 where the graders check it.

# %%
from sessionlab.lessons.presubmit import check_all  # noqa: E402

presubmit = await check_all("01-fragmentation", globals())

# %%
sandbox.close()
print("sandbox closed")
