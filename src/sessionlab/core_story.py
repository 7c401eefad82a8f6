"""The core story of the course, headless: fragmentation, forgetting, one session again.

1. Three SDK connections (the legacy CLI) write three session files; asked on the third
   connection, the course model has forgotten what the first one said.
2. The reference monitor adopts the fragments into one fixed session, re-linking the chain.
3. A fourth connection resumes that session with the monitor running: the model sees the
   whole history, and the monitor folds the CLI's resume fork back in, so one file remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TextIO

import anyio
from claude_code_sdk import AssistantMessage, ClaudeSDKClient, ResultMessage, TextBlock

from sessionlab.sandbox import CourseLab, course_env
from sessionlab.transcripts import conversation_chain, read_entries

FACTS = ("my name is Ana", "my favourite colour is green")
QUESTION = "what is my name?"


@dataclass
class DemoReport:
    """What the demo measured, in the order the story tells it."""

    cli: str
    files_after_connections: int = 0
    forgot_reply: str = ""
    forgot_history: int = 0
    files_after_merge: int = 0
    remembered_reply: str = ""
    remembered_history: int = 0
    files_at_end: int = 0
    chain_messages: int = 0
    total_messages: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def story_holds(self) -> bool:
        return (
            self.files_after_connections == len(FACTS) + 1
            and "Ana" not in self.forgot_reply
            and "Ana" in self.remembered_reply
            and self.files_at_end == 1
            and self.chain_messages == self.total_messages
        )

    def render(self, out: TextIO) -> None:
        ok = "holds" if self.story_holds else "DOES NOT HOLD"
        lines = [
            f"Session Engineering Lab demo (CLI {self.cli}) - the story {ok}",
            f"  1. {len(FACTS) + 1} connections -> {self.files_after_connections} session files",
            f"     asked '{QUESTION}', the model saw {self.forgot_history} earlier messages:",
            f"     {self.forgot_reply!r}",
            f"  2. monitor adopted the fragments -> {self.files_after_merge} session file",
            f"  3. resumed the fixed session: the model saw {self.remembered_history} earlier "
            "messages:",
            f"     {self.remembered_reply!r}",
            f"     session files at the end: {self.files_at_end}; conversation chain: "
            f"{self.chain_messages} of {self.total_messages} messages",
            f"  took {self.seconds:.1f} s",
            *[f"  note: {note}" for note in self.notes],
        ]
        print("\n".join(lines), file=out)


async def _turn(lab: CourseLab, prompt: str, **options: object) -> tuple[str, str]:
    """One connection, one prompt: the reply text and the session id it was written to."""
    texts: list[str] = []
    session_id = ""
    async with ClaudeSDKClient(lab.options(**options)) as client:
        await client.query(prompt)
        async for message in client.receive_response():
            if isinstance(message, AssistantMessage):
                texts += [b.text for b in message.content if isinstance(b, TextBlock)]
            elif isinstance(message, ResultMessage):
                session_id = message.session_id
    return "".join(texts), session_id


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _last_turn_history(lab: CourseLab) -> int:
    """How many earlier user messages the model received on the latest turn."""
    turns = [record for record in lab.model.records if record.kind == "turn"] if lab.model else []
    return turns[-1].user_messages - 1 if turns else -1


def run_demo(cli: str = "legacy", *, name: str = "demo", live: bool | None = None) -> DemoReport:
    """Run the whole story in a fresh sandbox and return what it measured.

    With ``live`` the real API answers; it keeps no request records, so the history counts
    read -1 and only the replies tell the story.
    """
    from sessionlab.monitor import SessionMonitor

    report = DemoReport(cli=cli)
    started = time.monotonic()
    with course_env(cli, name=name, live=live) as lab:
        session_ids = [anyio.run(_turn, lab, fact)[1] for fact in FACTS]
        report.forgot_reply, last_id = anyio.run(_turn, lab, QUESTION)
        session_ids.append(last_id)
        report.forgot_history = _last_turn_history(lab)
        report.files_after_connections = len(lab.transcripts())

        fixed = session_ids[0]
        one_file = lambda: [p.stem for p in lab.transcripts()] == [fixed]  # noqa: E731
        with SessionMonitor(lab.project_dir, fixed, adopt_existing=True):
            _wait_until(one_file)
            report.files_after_merge = len(lab.transcripts())
            report.remembered_reply, _ = anyio.run(partial(_turn, lab, QUESTION, resume=fixed))
            report.remembered_history = _last_turn_history(lab)
            if not _wait_until(one_file):
                report.notes.append("the resume fork was not merged within 15 s")
        report.files_at_end = len(lab.transcripts())
        entries = read_entries(Path(lab.project_dir) / f"{fixed}.jsonl")
        messages = [e for e in entries if e.get("type") in {"user", "assistant"}]
        report.total_messages = len(messages)
        chain = conversation_chain(entries)
        report.chain_messages = sum(e.get("type") in {"user", "assistant"} for e in chain)
    report.seconds = time.monotonic() - started
    return report
