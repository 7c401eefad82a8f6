"""Token and cost accounting that looks real without a tokenizer.

Rule of thumb used by Anthropic's docs: about four characters per token. The estimate covers
everything the model would read (system prompt, every message, every tool definition), so a
resumed conversation visibly costs more input tokens than a fresh one: that growth is part of
what the course teaches.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHARS_PER_TOKEN = 4
# Per-message framing the real API also charges for (role markers and the like).
TOKENS_PER_MESSAGE = 3

# USD per million tokens (input, output), by model family; used for course estimates only.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "opus": (15.0, 75.0),
    "sonnet": (3.0, 15.0),
    "haiku": (1.0, 5.0),
}


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            total += len(str(block.get("text", "")))
        elif kind == "tool_use":
            total += len(str(block.get("name", ""))) + len(json.dumps(block.get("input", {})))
        elif kind == "tool_result":
            total += _content_chars(block.get("content"))
        elif kind in ("thinking", "redacted_thinking"):
            total += len(str(block.get("thinking") or block.get("data") or ""))
        else:
            total += len(json.dumps(block, sort_keys=True))
    return total


def input_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens for a whole request: system, messages and tools."""
    chars = _content_chars(body.get("system"))
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    for message in messages:
        if isinstance(message, dict):
            chars += _content_chars(message.get("content"))
    raw_tools = body.get("tools")
    tools: list[Any] = raw_tools if isinstance(raw_tools, list) else []
    for tool in tools:
        chars += len(json.dumps(tool, sort_keys=True))
    return max(1, math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages))


def output_tokens(content: list[dict[str, Any]]) -> int:
    """Estimated output tokens for the reply's content blocks (at least 1)."""
    return max(1, math.ceil(_content_chars(content) / CHARS_PER_TOKEN))


def usage_block(input_count: int, output_count: int) -> dict[str, int]:
    """The ``usage`` object of a Messages API reply (no prompt caching in the course model)."""
    return {
        "input_tokens": input_count,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_count,
    }


def cost_usd(model: str, input_count: int, output_count: int) -> float:
    """What these tokens would cost at list price for the model's family (sonnet if unknown)."""
    family = next((name for name in PRICES_PER_MTOK if name in model.lower()), "sonnet")
    price_in, price_out = PRICES_PER_MTOK[family]
    return (input_count * price_in + output_count * price_out) / 1_000_000
