"""What one SDK turn produced: the assistant's text and the ``ResultMessage`` that closes it.

Every caller of ``claude-code-sdk`` (the lessons' helpers, the demo, the capstone, the
lifecycle handler, the pool benchmark, the tests) wants the same two things from the stream
``receive_response()`` or ``query()`` yields: the reply text (the ``TextBlock``s of every
``AssistantMessage``, in order) and the closing ``ResultMessage`` (session id, usage, cost,
``is_error``). This module is the one loop that collects them.

``claude_code_sdk`` is imported on first use: it takes most of a second to import, and
modules such as :mod:`sessionlab.lifecycle` import this one without always running a turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from claude_code_sdk import ResultMessage

__all__ = ["CollectedTurn", "collect_turn", "collect_turn_from"]


@dataclass
class CollectedTurn:
    """The text and the result of one turn; :meth:`add` takes the SDK's messages one by one."""

    texts: list[str] = field(default_factory=list)
    result: ResultMessage | None = None

    @property
    def text(self) -> str:
        """The assistant's reply: every text block of the turn, joined."""
        return "".join(self.texts)

    @property
    def session_id(self) -> str:
        """The session the CLI wrote this turn to (``""`` if the turn ended without a result)."""
        return self.result.session_id if self.result is not None else ""

    def add(self, message: object) -> None:
        """Take one SDK message: text blocks are kept, the last ``ResultMessage`` wins."""
        from claude_code_sdk import AssistantMessage, ResultMessage, TextBlock

        if isinstance(message, AssistantMessage):
            self.texts += [b.text for b in message.content if isinstance(b, TextBlock)]
        elif isinstance(message, ResultMessage):
            self.result = message


async def collect_turn(messages: AsyncIterable[Any]) -> CollectedTurn:
    """Drain an SDK message stream (``client.receive_response()``, ``query(...)``)."""
    turn = CollectedTurn()
    async for message in messages:
        turn.add(message)
    return turn


def collect_turn_from(messages: Iterable[Any]) -> CollectedTurn:
    """The same, for messages already received into a list."""
    turn = CollectedTurn()
    for message in messages:
        turn.add(message)
    return turn
