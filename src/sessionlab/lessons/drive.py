"""Drive the real SDK from a notebook: one call per connection, progress printed as it goes.

Notebook cells cannot stay inside a ``with`` block, so :func:`open_lab` enters
:func:`sessionlab.sandbox.course_env` on an :class:`~contextlib.ExitStack` the lesson closes in
its last cell (or when the kernel exits).
"""

from __future__ import annotations

import atexit
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from claude_code_sdk import (
    ClaudeSDKClient,
    query,
)

from sessionlab.sandbox import CourseLab, course_env
from sessionlab.sdk_turns import collect_turn


@dataclass(frozen=True)
class Turn:
    """One prompt and what came back: the reply text and the session id the CLI reported."""

    prompt: str
    reply: str
    session_id: str


def open_lab(cli: str, name: str, **kwargs: Any) -> tuple[CourseLab, ExitStack]:
    """Enter a course sandbox that outlives the cell; close the returned stack to leave it.

    Only one sandbox may be open per kernel (it patches ``os.environ``), so a lesson that
    switches CLIs closes the first stack before opening the second.
    """
    stack = ExitStack()
    lab = stack.enter_context(course_env(cli, name=name, **kwargs))
    atexit.register(stack.close)
    print(f"sandbox {name!r}: Claude Code {lab.cli.version} ({lab.cli.name}), course model ready")
    return lab, stack


async def chat(
    lab: CourseLab,
    prompts: list[str],
    *,
    message_session_id: str | None = None,
    quiet: bool = False,
    **options: Any,
) -> list[Turn]:
    """Open ONE ``ClaudeSDKClient`` connection, send each prompt, return the turns.

    ``message_session_id`` is passed to ``client.query(..., session_id=...)``: the field the
    SDK writes into every user message (lesson 2 shows the CLI ignores it).
    """
    turns: list[Turn] = []
    started = time.monotonic()
    async with ClaudeSDKClient(lab.options(**options)) as client:
        for prompt in prompts:
            if message_session_id is None:
                await client.query(prompt)
            else:
                await client.query(prompt, session_id=message_session_id)
            turn = await collect_turn(client.receive_response())
            turns.append(Turn(prompt, turn.text, turn.session_id))
            if not quiet:
                elapsed = time.monotonic() - started
                print(f"  [{elapsed:4.1f}s] {prompt!r} -> {turns[-1].reply!r}")
    return turns


async def ask_once(lab: CourseLab, prompt: str, **options: Any) -> Turn:
    """One ``query()`` call (string prompt, print mode), which is also one CLI process."""
    turn = await collect_turn(query(prompt=prompt, options=lab.options(**options)))
    return Turn(prompt, turn.text, turn.session_id)
