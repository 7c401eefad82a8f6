"""Small async helpers that drive the real claude-code-sdk in tests."""

from __future__ import annotations

from typing import Any

from claude_code_sdk import (
    AssistantMessage,
    ClaudeSDKClient,
    ResultMessage,
    TextBlock,
    query,
)

from sessionlab.sandbox import CourseLab


async def one_connection(lab: CourseLab, prompts: list[str], **options: Any) -> list[ResultMessage]:
    """Open one ``ClaudeSDKClient`` connection, send each prompt, return the result messages."""
    results: list[ResultMessage] = []
    async with ClaudeSDKClient(lab.options(**options)) as client:
        for prompt in prompts:
            await client.query(prompt)
            async for message in client.receive_response():
                if isinstance(message, ResultMessage):
                    results.append(message)
    return results


async def ask_once(lab: CourseLab, prompt: str, **options: Any) -> tuple[str, ResultMessage]:
    """One ``query()`` call (string prompt, print mode): the reply text and the result."""
    texts: list[str] = []
    result: ResultMessage | None = None
    async for message in query(prompt=prompt, options=lab.options(**options)):
        if isinstance(message, AssistantMessage):
            texts += [block.text for block in message.content if isinstance(block, TextBlock)]
        elif isinstance(message, ResultMessage):
            result = message
    assert result is not None, "the CLI ended without a result message"
    return "".join(texts), result
