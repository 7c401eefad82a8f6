"""The capstone's reference ``SingleSessionChatSystem`` on the real pinned CLIs.

It must keep one session across reconnects (the course model proves it remembers), leave one
transcript file, count messages and tokens, and turn a missing CLI or a dead model into a
:class:`ChatError` without becoming unusable.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import anyio
import pytest

from sessionlab.capstone import ChatError, SingleSessionChatSystem
from sessionlab.model.usage import cost_usd
from sessionlab.sandbox import CourseLab, patched_environ
from sessionlab.transcripts import conversation_chain, read_entries

pytestmark = pytest.mark.cli


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _system(lab: CourseLab, **kwargs: object) -> SingleSessionChatSystem:
    return SingleSessionChatSystem(
        lab.options(),
        truncate_long=lab.cli.truncates_long_project_names,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.slow
@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_remembers_across_reconnects_in_one_file(
    make_lab: Callable[..., CourseLab], cli: str
) -> None:
    lab = make_lab(cli)

    async def story() -> tuple[SingleSessionChatSystem, list[str]]:
        chat = _system(lab)
        async with chat:
            first = await chat.send("my name is Ana")
            await chat.reconnect()
            await chat.send("my city is Lisbon")
            await chat.reconnect()
            last = await chat.send("what is my name?")
        return chat, [first.text, last.text]

    chat, (first, last) = anyio.run(story)
    assert first == "Got it: your name is Ana."
    assert last == "Your name is Ana."
    files = chat.session_files()
    assert [p.stem for p in files] == [chat.session_id], files
    entries = read_entries(files[0])
    messages = [e for e in entries if e.get("type") in {"user", "assistant"}]
    chain = [e for e in conversation_chain(entries) if e.get("type") in {"user", "assistant"}]
    assert len(chain) == len(messages) >= 6, "one continuous chain, nothing duplicated"
    status = chat.status()
    assert status["messages_sent"] == status["messages_received"] == 3
    assert status["reconnects"] == 2 and status["errors"] == 0
    assert status["input_tokens"] > 0 and status["output_tokens"] > 0
    assert status["session_files"] == 1


def test_a_given_session_id_is_continued(make_lab: Callable[..., CourseLab]) -> None:
    lab = make_lab("legacy")

    async def two_systems() -> tuple[str, str]:
        async with _system(lab) as first:
            await first.send("my colour is green")
            fixed = first.session_id
        assert fixed
        async with _system(lab, session_id=fixed) as second:
            reply = await second.send("what is my colour?")
        return fixed, reply.text

    fixed, text = anyio.run(two_systems)
    assert text == "Your colour is green."
    assert [p.stem for p in lab.transcripts()] == [fixed]


def test_model_down_is_a_chat_error_and_the_system_recovers(
    make_lab: Callable[..., CourseLab],
) -> None:
    lab = make_lab("legacy")
    dead = f"http://127.0.0.1:{_closed_port()}"

    async def scenario() -> tuple[str, SingleSessionChatSystem, str]:
        chat = _system(lab)
        async with chat:
            with patched_environ({"ANTHROPIC_BASE_URL": dead}), pytest.raises(ChatError) as caught:
                await chat.send("my name is Ana")
            reply = await chat.send("my name is Ana")
        return str(caught.value), chat, reply.text

    message, chat, text = anyio.run(scenario)
    assert "model" in message
    assert text == "Got it: your name is Ana."
    assert chat.metrics.errors == 1 and chat.metrics.messages_received == 1


def test_missing_cli_is_a_chat_error(make_lab: Callable[..., CourseLab]) -> None:
    lab = make_lab("legacy")
    empty_path = os.pathsep.join(["/nonexistent-course-bin"])

    async def scenario() -> str:
        chat = _system(lab, monitor_factory=None)
        with patched_environ({"PATH": empty_path}), pytest.raises(ChatError) as caught:
            await chat.send("hello")
        await chat.close()
        return str(caught.value)

    assert "sessionlab cli install" in anyio.run(scenario)


@pytest.mark.slow
def test_cost_counts_each_turn_once(make_lab: Callable[..., CourseLab]) -> None:
    """``total_cost_usd`` is cumulative per CLI process: a turn costs its increase only.

    Two turns on one connection, then a reconnect (a new process, its total starts again):
    every turn must cost what its own tokens cost, the same price per token for all three,
    which adding up the running totals (the seed's mistake) breaks on the second turn.
    """
    lab = make_lab("current")

    async def story() -> SingleSessionChatSystem:
        chat = _system(lab)
        async with chat:
            await chat.send("my name is Ana")
            await chat.send("my city is Lisbon")
            await chat.reconnect()
            await chat.send("what is my name?")
        return chat

    chat = anyio.run(story)
    costs = [reply.cost_usd for reply in chat.history]
    assert all(cost > 0 for cost in costs), costs
    # The course model bills input and output tokens at one list price per family.
    per_token = [
        reply.cost_usd
        / cost_usd(str(lab.model.records[-1].model), reply.input_tokens, reply.output_tokens)
        for reply in chat.history
    ]
    assert max(per_token) == pytest.approx(min(per_token), rel=0.01), (costs, per_token)
    assert chat.status()["cost_usd"] == pytest.approx(sum(costs))
