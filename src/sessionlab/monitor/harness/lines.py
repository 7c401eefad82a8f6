"""Transcript lines for the harness: realistic envelopes with a unique ``uuid`` and ``seq``.

The envelope mirrors Claude Code 1.0.120 (``samples/cc-1.0.120``): same keys, same order, same
compact JSON. uuids are derived from ``(run, seq)`` so a writer in another process and the
harness agree on what was written without shipping lists of ids around.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = uuid.UUID("6f1c1a52-2b7e-4d7e-9a55-5e55c0ffee00")
CLI_VERSION = "1.0.120"
CWD = "/home/student/w"
# Multi-byte characters (2, 3 and 4 bytes in UTF-8) so a torn write can split inside one.
TEXT = "olá, ação — ✓ 🚀 "
# What most real lines carry instead (tests/fixtures/samples: 26 of 31 lines are pure ASCII):
# code and tool output, with the newlines and quotes that JSON escapes.
PLAIN_TEXT = (
    'def merge(a, b):\n    """Return the "merged" list."""\n    return sorted(a + b)  # ok\n'
)


def line_uuid(run: str, seq: int) -> str:
    """The uuid of line ``seq`` of writer ``run``."""
    return str(uuid.uuid5(NAMESPACE, f"{run}:{seq}"))


def timestamp(offset_ms: float = 0.0) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as the CLI writes it."""
    moment = datetime.now(UTC) + timedelta(milliseconds=offset_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def user_entry(
    *, uuid_: str, parent: str | None, session_id: str, content: Any, ts: str | None = None
) -> dict[str, Any]:
    """A ``type: user`` line."""
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": session_id,
        "version": CLI_VERSION,
        "gitBranch": "",
        "type": "user",
        "message": {"role": "user", "content": content},
        "uuid": uuid_,
        "timestamp": ts or timestamp(),
    }


def assistant_entry(
    *,
    uuid_: str,
    parent: str | None,
    session_id: str,
    blocks: list[dict[str, Any]],
    message_id: str | None = None,
    request_id: str | None = None,
    stop_reason: str | None = "end_turn",
    ts: str | None = None,
) -> dict[str, Any]:
    """A ``type: assistant`` line: one content block of one API message."""
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": session_id,
        "version": CLI_VERSION,
        "gitBranch": "",
        "message": {
            "id": message_id or f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "output_tokens": 7,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
        "requestId": request_id or f"req_{uuid.uuid4().hex[:24]}",
        "type": "assistant",
        "uuid": uuid_,
        "timestamp": ts or timestamp(),
    }


def encode(entry: dict[str, Any]) -> bytes:
    """One JSONL line as the CLI writes it: compact, UTF-8, newline-terminated."""
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def make_line(
    run: str,
    seq: int,
    session_id: str,
    *,
    size: int = 0,
    chained: bool = True,
    plain: bool = False,
) -> bytes:
    """Line ``seq`` of writer ``run``: alternating user/assistant, padded to ``size`` bytes.

    With ``chained`` each line's ``parentUuid`` is the previous line of the same writer (the
    first is a root), which is what one CLI connection writes. The padding is multi-byte
    text (a parser's worst case: every string becomes a 4-byte-per-character ``str``), or
    with ``plain`` ASCII code with escaped newlines and quotes, and the multi-byte text only
    in one line of six, as in the real samples.
    """
    uid = line_uuid(run, seq)
    parent = line_uuid(run, seq - 1) if chained and seq > 0 else None
    head = TEXT if not plain or seq % 6 == 0 else ""
    text = f"{head}{run} #{seq}"
    if seq % 2 == 0:
        entry = user_entry(uuid_=uid, parent=parent, session_id=session_id, content=text)
    else:
        entry = assistant_entry(
            uuid_=uid, parent=parent, session_id=session_id, blocks=[{"type": "text", "text": text}]
        )
    entry["seq"] = seq
    line = encode(entry)
    missing = size - len(line)
    if missing > 0:
        if plain:  # escapes make the encoded text longer than the string: measure encoded
            unit = len(encode({"t": PLAIN_TEXT})) - len(encode({"t": ""}))
            filler = PLAIN_TEXT * (missing // unit)
        else:
            cut = (TEXT * (missing // len(TEXT.encode()) + 1)).encode()[:missing]
            filler = cut.decode("utf-8", errors="ignore")  # never end mid-character
        filler += "x" * max(0, missing - (len(encode({"t": filler})) - len(encode({"t": ""}))))
        if entry["type"] == "user":
            entry["message"]["content"] = text + filler
        else:
            entry["message"]["content"][0]["text"] = text + filler
        line = encode(entry)
    return line
