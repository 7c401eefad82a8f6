"""Small async helpers that drive the real claude-code-sdk in tests."""

from __future__ import annotations

from typing import Any

from claude_code_sdk import (
    ClaudeSDKClient,
    ResultMessage,
    query,
)

from sessionlab.sandbox import CourseLab
from sessionlab.sdk_turns import collect_turn


async def one_connection(lab: CourseLab, prompts: list[str], **options: Any) -> list[ResultMessage]:
    """Open one ``ClaudeSDKClient`` connection, send each prompt, return the result messages."""
    results: list[ResultMessage] = []
    async with ClaudeSDKClient(lab.options(**options)) as client:
        for prompt in prompts:
            await client.query(prompt)
            turn = await collect_turn(client.receive_response())
            if turn.result is not None:
                results.append(turn.result)
    return results


async def ask_once(lab: CourseLab, prompt: str, **options: Any) -> tuple[str, ResultMessage]:
    """One ``query()`` call (string prompt, print mode): the reply text and the result."""
    turn = await collect_turn(query(prompt=prompt, options=lab.options(**options)))
    assert turn.result is not None, "the CLI ended without a result message"
    return turn.text, turn.result
