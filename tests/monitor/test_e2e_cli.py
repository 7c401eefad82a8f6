"""End to end with the real pinned CLIs and the official session reader.

The claim under test (research sessions §4): after merging fragments written by *both* pinned
CLIs, ``claude_agent_sdk.get_session_messages`` and ``claude --resume <fixed>`` see every
conversation, each message once, in the order it was sent.

One sandbox (one config dir, one cwd) receives, in this order:

- legacy 1.0.120: two ``ClaudeSDKClient`` connections (two files, each a root);
- legacy: a ``resume=`` of the second one (a fork: a new file that copies its uuids);
- current 2.1.112: a connection, then a ``resume=`` of it (appends to that file).

Writing those takes about half a minute, so they are written once per module and restored
from a pristine copy before each test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from sdk_helpers import ask_once, one_connection

from sessionlab import claude_clis
from sessionlab.model import CourseModel
from sessionlab.model.conversation import spoken_text
from sessionlab.sandbox import CourseLab, course_env, sandbox_root

pytestmark = pytest.mark.cli

sessions = pytest.importorskip(
    "claude_agent_sdk._internal.sessions", reason="needs the 'agent' extra (claude-agent-sdk)"
)
get_session_messages: Callable[..., list[Any]] = sessions.get_session_messages

#: (cli, how, user texts) in the order they are sent; every text is distinct.
SCRIPT: list[tuple[str, str, list[str]]] = [
    ("legacy", "connection", ["legacy one: my name is Ana", "legacy one: I like tea"]),
    ("legacy", "connection", ["legacy two: my cat is Rex"]),
    ("legacy", "resume-last", ["legacy fork: what is my cat called?"]),
    ("current", "connection", ["current one: I live in Porto", "current one: I play chess"]),
    ("current", "resume-last", ["current resumed: what do I play?"]),
]
SENT: tuple[str, ...] = tuple(text for _, _, texts in SCRIPT for text in texts)


@dataclass
class Fragments:
    """The sandbox the fragments were written into, and a pristine copy of its project dir."""

    name: str
    model: CourseModel
    project_dir: Path
    pristine: Path

    def lab(self, cli: str) -> AbstractContextManager[CourseLab]:
        """Re-enter the same sandbox (same config dir and cwd) with ``cli`` on PATH."""
        return course_env(cli, name=self.name, reset=False, model=self.model)

    def restore(self) -> None:
        shutil.rmtree(self.project_dir, ignore_errors=True)
        shutil.copytree(self.pristine, self.project_dir)


def _write_fragments(name: str, model: CourseModel) -> Path:
    """Run :data:`SCRIPT` against the real CLIs; return the project directory."""
    last: str | None = None
    project: Path | None = None
    for index, (cli, how, texts) in enumerate(SCRIPT):
        with course_env(cli, name=name, reset=index == 0, model=model) as lab:
            if how == "connection":
                last = anyio.run(one_connection, lab, texts)[-1].session_id
            elif cli == "legacy":  # print mode, like `claude -p ... --resume`: forks a file
                assert len(texts) == 1 and last is not None
                _, result = anyio.run(partial(ask_once, lab, texts[0], resume=last))
                last = result.session_id
            else:
                anyio.run(partial(one_connection, lab, texts, resume=last))
            project = lab.project_dir
        time.sleep(0.05)  # distinct mtimes: strays merge oldest first
    assert project is not None
    return project


@pytest.fixture(scope="module")
def fragments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fragments]:
    for cli in ("legacy", "current"):
        if not claude_clis.is_installed(cli):
            pytest.skip(f"the {cli} CLI is not installed (sessionlab cli install {cli})")
    name = f"pytest-e2e-{uuid.uuid4().hex[:8]}"
    model = CourseModel()
    model.start()
    try:
        project = _write_fragments(name, model)
        pristine = tmp_path_factory.mktemp("pristine") / "project"
        shutil.copytree(project, pristine)
        yield Fragments(name, model, project, pristine)
    finally:
        model.stop()
        shutil.rmtree(sandbox_root(name), ignore_errors=True)


def test_the_fragments_are_what_the_story_needs(fragments: Fragments) -> None:
    """Four files: two legacy connections, one legacy fork, one current file (appended)."""
    with fragments.lab("current") as lab:
        files = lab.transcripts()
    nonempty = [p for p in files if p.stat().st_size]
    assert len(nonempty) == 4, [p.name for p in files]
    texts = [user_texts_in(p) for p in nonempty]
    assert texts[0] == list(SENT[:2])
    assert texts[1] == [SENT[2]]
    assert texts[2] == [SENT[2], SENT[3]], "the fork copies the history it resumed"
    assert texts[3] == list(SENT[4:]), "the current resume appended to its own file"


def user_texts_in(path: Path) -> list[str]:
    """Real user texts of a transcript file, in file order (copies included)."""
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("type") == "user" and not entry.get("isMeta"):
            text = spoken_text(entry.get("message") or {})
            if text is not None:
                texts.append(text)
    return texts


def reader_texts(session_id: str, lab: CourseLab) -> list[str]:
    """What the official reader returns as the conversation's user texts, in order."""
    texts = []
    for message in get_session_messages(session_id, directory=str(lab.workdir)):
        if message.type == "user":
            text = spoken_text(message.message or {})
            if text is not None:
                texts.append(text)
    return texts


def _merge_with_reference(project: Path, fixed: str) -> None:
    from sessionlab.monitor.engine import SessionMonitor

    with SessionMonitor(project, fixed, adopt_existing=True) as monitor:
        assert monitor.wait_idle(30), monitor.get_stats()["pending_files"]
        assert monitor.error is None


def _merge_with_consolidate(project: Path, fixed: str) -> None:
    command = [sys.executable, "-m", "sessionlab", "consolidate", str(project)]
    done = subprocess.run(
        [*command, "--into", fixed, "--apply"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def _merge_with_naive(project: Path, fixed: str) -> None:
    from sessionlab.monitor.naive import NaivePollingMonitor

    monitor = NaivePollingMonitor(project, fixed)
    monitor.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(list(project.glob("*.jsonl"))) > 1:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        monitor.stop()


MERGERS = {
    "reference": _merge_with_reference,
    "consolidate": _merge_with_consolidate,
    "naive": _merge_with_naive,
}


@pytest.mark.parametrize(
    "merger",
    [
        pytest.param("reference"),
        pytest.param("consolidate"),
        pytest.param(
            "naive",
            marks=pytest.mark.xfail(
                strict=True,
                reason="naive monitor: every fragment is a root; the reader sees the last appended",
            ),
        ),
    ],
)
def test_official_reader_sees_every_conversation_in_order(
    fragments: Fragments, merger: str
) -> None:
    fragments.restore()
    fixed = str(uuid.uuid4())
    MERGERS[merger](fragments.project_dir, fixed)
    with fragments.lab("current") as lab:
        assert [p.name for p in lab.transcripts()] == [f"{fixed}.jsonl"], "one session file"
        assert reader_texts(fixed, lab) == list(SENT)


def test_naive_merge_leaves_the_reader_only_the_last_conversation(
    fragments: Fragments,
) -> None:
    """The failure the xfail above documents, stated positively (research: 2 of 6 visible).

    The naive monitor appends fragments in directory order, each still a root, so the reader
    walks back from the last one appended and sees that one file's conversation only.
    """
    fragments.restore()
    per_file = [user_texts_in(p) for p in fragments.pristine.glob("*.jsonl")]
    fixed = str(uuid.uuid4())
    _merge_with_naive(fragments.project_dir, fixed)
    with fragments.lab("current") as lab:
        seen = reader_texts(fixed, lab)
    assert seen in per_file, "exactly one fragment's chain"
    assert len(seen) < len(SENT)


def _resume(lab: CourseLab, session_id: str, question: str) -> subprocess.CompletedProcess[str]:
    """``claude -p QUESTION --resume ID`` with the pinned CLI on PATH, in the sandbox's cwd."""
    return subprocess.run(
        ["claude", "-p", question, "--resume", session_id],
        cwd=lab.workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_claude_resume_on_the_fixed_id_sees_everything_with_both_clis(
    fragments: Fragments,
) -> None:
    """Each pinned CLI resumes the merged session and sends every earlier message in order.

    The legacy CLI forks the resumed session into a new file; the running monitor must fold it
    back, so the current CLI, resuming next, also sees the legacy question.
    """
    from sessionlab.monitor.engine import SessionMonitor

    fragments.restore()
    fixed = str(uuid.uuid4())
    asked: list[str] = []
    with SessionMonitor(fragments.project_dir, fixed, adopt_existing=True) as monitor:
        assert monitor.wait_idle(30)
        for cli in ("legacy", "current"):
            question = f"{cli} resume: what do you remember?"
            with fragments.lab(cli) as lab:
                fragments.model.clear_records()
                done = _resume(lab, fixed, question)
                assert done.returncode == 0, done.stderr[-2000:]
                turns = [r for r in fragments.model.records if r.kind == "turn"]
                assert turns, "the CLI asked the model"
                assert turns[-1].user_texts == (*SENT, *asked, question)
                asked.append(question)
            assert monitor.wait_idle(30), monitor.get_stats()["pending_files"]
        stats = monitor.get_stats()
    assert monitor.error is None
    assert stats["duplicates_skipped"] > 0, "the legacy fork's copied history was skipped"
    with fragments.lab("current") as lab:
        assert [p.name for p in lab.transcripts()] == [f"{fixed}.jsonl"], "one file at the end"
        assert reader_texts(fixed, lab) == [*SENT, *asked]
