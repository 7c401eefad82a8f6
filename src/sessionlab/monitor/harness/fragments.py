"""Conversation fragments shaped like real CLI 1.0.120 output (``samples/cc-1.0.120``).

- :func:`hello_fragment`: one connection, one turn (``A-original``);
- :func:`tool_fragment`: a tool turn whose API message is split into two assistant lines
  sharing ``message.id``/``requestId`` (``multi-block-split``);
- :func:`legacy_fork`: what ``--resume`` did up to 1.0.123 (``B-after-resume-A``): a new
  session id, a summary line, a *copy* of the old lines (same uuids, ``sessionId`` and
  ``timestamp`` rewritten, ``requestId`` dropped, string content normalised), then the new turn.

Every fragment starts with ``parentUuid: null``, as each new connection does.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sessionlab.monitor.harness.lines import assistant_entry, encode, timestamp, user_entry

Entry = dict[str, Any]


def _id() -> str:
    return str(uuid.uuid4())


def hello_fragment(session_id: str, text: str, parent: str | None = None) -> list[Entry]:
    """User says ``text``; the assistant echoes it."""
    u = user_entry(uuid_=_id(), parent=parent, session_id=session_id, content=text)
    a = assistant_entry(
        uuid_=_id(),
        parent=u["uuid"],
        session_id=session_id,
        blocks=[{"type": "text", "text": f"Echo: {text}"}],
        ts=timestamp(1),
    )
    return [u, a]


def tool_fragment(session_id: str, path: str, parent: str | None = None) -> list[Entry]:
    """``READ2:<path>``: text + tool_use as two assistant lines, tool_result, final answer."""
    msg, req, tool = f"msg_{_id()[:24]}", f"req_{_id()[:24]}", f"toolu_{_id()[:22]}"
    u = user_entry(uuid_=_id(), parent=parent, session_id=session_id, content=f"READ2:{path}")
    a1 = assistant_entry(
        uuid_=_id(),
        parent=u["uuid"],
        session_id=session_id,
        blocks=[{"type": "text", "text": "Let me read it."}],
        message_id=msg,
        request_id=req,
        stop_reason=None,
        ts=timestamp(1),
    )
    a2 = assistant_entry(
        uuid_=_id(),
        parent=a1["uuid"],
        session_id=session_id,
        blocks=[{"type": "tool_use", "id": tool, "name": "Read", "input": {"file_path": path}}],
        message_id=msg,
        request_id=req,
        stop_reason="tool_use",
        ts=timestamp(2),
    )
    result = user_entry(
        uuid_=_id(),
        parent=a2["uuid"],
        session_id=session_id,
        content=[{"tool_use_id": tool, "type": "tool_result", "content": "     1→hi\n"}],
        ts=timestamp(3),
    )
    result["toolUseResult"] = {
        "type": "text",
        "file": {"filePath": path, "content": "hi\n", "numLines": 2, "startLine": 1},
    }
    a3 = assistant_entry(
        uuid_=_id(),
        parent=result["uuid"],
        session_id=session_id,
        blocks=[{"type": "text", "text": "I read the file."}],
        ts=timestamp(4),
    )
    return [u, a1, a2, result, a3]


def legacy_fork(history: list[Entry], new_session_id: str, text: str) -> list[Entry]:
    """A ``--resume`` fork as CLI <= 1.0.123 wrote it: summary, copied history, new turn."""
    copies: list[Entry] = []
    for entry in history:
        if entry.get("type") not in ("user", "assistant"):
            continue
        c = copy.deepcopy(entry)
        c["sessionId"] = new_session_id
        c["timestamp"] = timestamp()
        c.pop("requestId", None)
        if c["type"] == "user" and isinstance(c["message"]["content"], str):
            c["message"]["content"] = [{"type": "text", "text": c["message"]["content"]}]
        copies.append(c)
    summary = {"type": "summary", "summary": "Echo session", "leafUuid": copies[-1]["uuid"]}
    new_turn = hello_fragment(new_session_id, text, parent=copies[-1]["uuid"])
    return [summary, *copies, *new_turn]


def to_bytes(entries: list[Entry]) -> bytes:
    return b"".join(encode(e) for e in entries)


def message_uuids(entries: list[Entry]) -> list[str]:
    """uuids of the user/assistant entries (what a resumed conversation must contain)."""
    return [e["uuid"] for e in entries if e.get("type") in ("user", "assistant")]
