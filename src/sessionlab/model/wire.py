"""The Anthropic Messages API on the wire: message objects, SSE events, error bodies.

Shapes follow https://docs.anthropic.com/en/api/messages-streaming: ``message_start``, then
per content block ``content_block_start`` / ``content_block_delta`` (``text_delta`` or
``input_json_delta``) / ``content_block_stop``, a ``ping`` after the first block starts, then
``message_delta`` (stop reason and output usage) and ``message_stop``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from sessionlab.model.usage import usage_block

# How many characters go into one streamed delta (small enough to show real streaming).
DELTA_CHARS = 24


def new_id(prefix: str) -> str:
    """An id in Anthropic's style (``msg_…``, ``req_…``); unique, not deterministic."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def message_object(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    input_count: int,
    output_count: int,
) -> dict[str, Any]:
    """A complete (non-streaming) assistant message."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_block(input_count, output_count),
    }


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """Anthropic's error envelope, e.g. ``invalid_request_error`` or ``not_found_error``."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _chunks(text: str, size: int = DELTA_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if block.get("type") == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        yield {"type": "content_block_start", "index": index, "content_block": start}
        for piece in _chunks(json.dumps(block.get("input", {}))):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
    else:
        start = {"type": "text", "text": ""}
        yield {"type": "content_block_start", "index": index, "content_block": start}
        for piece in _chunks(str(block.get("text", ""))):
            delta = {"type": "text_delta", "text": piece}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def stream_events(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The SSE event payloads that deliver ``message`` the way the real API streams it."""
    usage = message["usage"]
    head = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    head["usage"] = {**usage, "output_tokens": 1}
    yield {"type": "message_start", "message": head}
    for index, block in enumerate(message["content"]):
        for number, event in enumerate(_block_events(index, block)):
            yield event
            if index == 0 and number == 0:
                yield {"type": "ping"}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    yield {"type": "message_stop"}


def sse_frame(event: dict[str, Any]) -> bytes:
    """One ``event:``/``data:`` frame, terminated by a blank line."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
