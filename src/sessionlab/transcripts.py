"""Read Claude Code transcripts (``<session-uuid>.jsonl``) the way the CLI does.

The CLI does not replay a file line by line: it picks the newest *leaf* user/assistant entry
(one no other entry names as ``parentUuid``) and walks ``parentUuid`` back to the root. Every
tool in the course that asks "what does this session contain?" must use that reading, or it
will disagree with ``claude --resume``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Entry types that form the conversation (the leaf must be one of these).
CHAIN_TYPES = frozenset({"user", "assistant"})
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


class TranscriptError(ValueError):
    """A transcript line is not JSON; the message names the file and the line number."""

    def __init__(self, path: Path, line_number: int, reason: str) -> None:
        super().__init__(f"{path}:{line_number}: malformed JSON line ({reason})")
        self.path = path
        self.line_number = line_number


@dataclass(frozen=True)
class UnparsedLine:
    """A line that could not be parsed, kept (never dropped) for the caller to report."""

    line_number: int
    raw: bytes
    reason: str


def is_session_id(value: str) -> bool:
    """True for a canonical 8-4-4-4-12 hex UUID, the only form the CLI uses for session ids."""
    return bool(_UUID_RE.match(value))


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_without_newline)`` for non-blank lines, streaming."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            stripped = raw.rstrip(b"\r\n")
            if stripped.strip():
                yield number, stripped


def read_entries(
    path: str | os.PathLike[str], *, tolerant: bool = False
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], list[UnparsedLine]]:
    """Parse every non-blank line of a transcript.

    Strict (default): raise :class:`TranscriptError` naming file and line on the first bad line.
    Tolerant: return ``(entries, bad_lines)`` so a damaged file can still be inspected.
    Non-object JSON values (e.g. a bare number) count as bad lines: every CLI line is an object.
    """
    entries: list[dict[str, Any]] = []
    bad: list[UnparsedLine] = []
    for number, raw in iter_lines(path):
        try:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        except ValueError as error:
            if not tolerant:
                raise TranscriptError(Path(path), number, str(error)) from None
            bad.append(UnparsedLine(number, raw, str(error)))
            continue
        entries.append(value)
    return (entries, bad) if tolerant else entries


def conversation_chain(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation Claude Code would resume: newest leaf walked back to its root.

    "Newest" is the last leaf in file order (files are append-only, so this matches the CLI's
    newest timestamp in practice). Sidechain entries never form the main chain. A cycle or a
    missing parent ends the walk instead of looping forever.
    """
    items = [e for e in entries if isinstance(e.get("uuid"), str)]
    by_uuid: dict[str, dict[str, Any]] = {}
    for entry in items:
        by_uuid.setdefault(entry["uuid"], entry)
    parents = {e.get("parentUuid") for e in items if e.get("parentUuid")}
    leaf = None
    for entry in reversed(items):
        if (
            entry.get("type") in CHAIN_TYPES
            and not entry.get("isSidechain")
            and entry["uuid"] not in parents
        ):
            leaf = entry
            break
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    while leaf is not None and leaf["uuid"] not in seen:
        seen.add(leaf["uuid"])
        chain.append(leaf)
        parent = leaf.get("parentUuid")
        leaf = by_uuid.get(parent) if isinstance(parent, str) else None
    chain.reverse()
    return chain


def chain_leaf_uuid(entries: Iterable[dict[str, Any]]) -> str | None:
    """uuid of the entry a new fragment must hang from, or None for an empty conversation."""
    chain = conversation_chain(entries)
    return chain[-1]["uuid"] if chain else None


def is_sidechain_file(name: str) -> bool:
    """``agent-*.jsonl`` files hold sub-agent sidechains the CLI finds by ``agentId``."""
    return name.startswith("agent-") and name.endswith(".jsonl")


def session_files(project_dir: str | os.PathLike[str]) -> list[Path]:
    """Top-level session transcripts of a project dir (no recursion, no sidechain files).

    Only regular files count; symlinks and special files planted as ``*.jsonl`` are skipped.
    """
    found: list[Path] = []
    with os.scandir(project_dir) as listing:
        for item in listing:
            if (
                item.name.endswith(".jsonl")
                and not item.name.startswith(".")
                and not is_sidechain_file(item.name)
                and item.is_file(follow_symlinks=False)
            ):
                found.append(Path(item.path))
    return sorted(found)


def message_text(entry: dict[str, Any]) -> str:
    """Plain text of an entry's message (string content or the text blocks of a list)."""
    message = entry.get("message")
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _is_tool_result(entry: dict[str, Any]) -> bool:
    content = (entry.get("message") or {}).get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def user_texts(entries: Iterable[dict[str, Any]]) -> list[str]:
    """What the human typed, in order: user entries that are not tool results or sidechains."""
    return [
        message_text(e)
        for e in entries
        if e.get("type") == "user" and not e.get("isSidechain") and not _is_tool_result(e)
    ]


def assistant_texts(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Text the model produced, one item per assistant line that carries text."""
    out = []
    for entry in entries:
        if entry.get("type") == "assistant" and not entry.get("isSidechain"):
            text = message_text(entry)
            if text:
                out.append(text)
    return out


def session_ids(entries: Iterable[dict[str, Any]]) -> set[str]:
    """Every ``sessionId`` the entries carry (a merged file should carry exactly one)."""
    return {e["sessionId"] for e in entries if isinstance(e.get("sessionId"), str)}


def duplicate_uuids(entries: Iterable[dict[str, Any]]) -> list[str]:
    """uuids that occur more than once (legacy ``--resume`` copies produce these)."""
    seen: set[str] = set()
    dups: list[str] = []
    for entry in entries:
        uid = entry.get("uuid")
        if isinstance(uid, str):
            if uid in seen:
                dups.append(uid)
            seen.add(uid)
    return dups
