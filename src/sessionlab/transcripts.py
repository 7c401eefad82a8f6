"""Read Claude Code transcripts (``<session-uuid>.jsonl``) the way the CLI does.

The CLI does not replay a file line by line: it picks the newest *leaf* user/assistant entry
(one no other entry names as ``parentUuid``) and walks ``parentUuid`` back to the root. Every
tool in the course that asks "what does this session contain?" must use that reading, or it
will disagree with ``claude --resume``.

This module is also the course's one model of how the CLI *writes* a transcript
(``docs/monitor-design.md``, "The transcript model"): which entry is a new connection's
first entry (:func:`is_fragment_root`), which null parent is deliberate
(:func:`is_deliberate_root`), which entry the CLI parents the next one on
(:func:`parents_next`). The merge, ``consolidate`` and the monitor use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from sessionlab.errors import SessionLabError

#: One transcript line, parsed.
Entry = dict[str, Any]
#: Entry types that are messages (the reader's leaf and its answer are these).
CHAIN_TYPES = frozenset({"user", "assistant"})
#: Entry types that carry ``uuid``/``parentUuid`` links (the SDK reader keeps only these).
LINK_TYPES = frozenset({"user", "assistant", "progress", "system", "attachment"})


class TranscriptError(SessionLabError, ValueError):
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


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_without_newline)`` for non-blank lines, streaming."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            stripped = raw.rstrip(b"\r\n")
            if stripped.strip():
                yield number, stripped


@overload
def read_entries(
    path: str | os.PathLike[str], *, tolerant: Literal[False] = False
) -> list[dict[str, Any]]: ...


@overload
def read_entries(
    path: str | os.PathLike[str], *, tolerant: Literal[True]
) -> tuple[list[dict[str, Any]], list[UnparsedLine]]: ...


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


def is_linked(entry: Entry) -> bool:
    """True for an entry that takes part in the ``parentUuid`` chain (has a uuid, a link type)."""
    return entry.get("type") in LINK_TYPES and isinstance(entry.get("uuid"), str)


def parents_next(entry: Entry) -> bool:
    """True when the CLI would parent the next entry it writes on this one.

    The CLI sets each new entry's ``parentUuid`` to the last entry it wrote in the main
    conversation, whatever its type: a stop-hook ``system`` line, an ``attachment``, a
    ``progress`` entry, an ``isMeta`` user line all count. Sidechain entries (a sub-agent's)
    and lines without a uuid (``summary``, ``queue-operation``, ``permission-mode``,
    ``last-prompt``, ``file-history-snapshot``) never do.
    """
    return is_linked(entry) and not entry.get("isSidechain")


def is_deliberate_root(entry: Entry) -> bool:
    """A null ``parentUuid`` the CLI wrote on purpose: a compaction boundary.

    ``/compact`` (or auto-compaction) writes a ``system`` entry with ``subtype:
    compact_boundary``, ``parentUuid: null`` and ``logicalParentUuid`` naming the last entry
    before it: the model's context starts again there, and every reader (the CLI, the SDK's
    ``get_session_messages``) stops its walk at it. It must stay a root.
    """
    if entry.get("parentUuid") is not None:
        return False
    return "logicalParentUuid" in entry or (
        entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"
    )


def is_fragment_root(entry: Entry) -> bool:
    """A new connection's first entry: linked, main chain, null parent, not a compaction."""
    return parents_next(entry) and entry.get("parentUuid") is None and not is_deliberate_root(entry)


def conversation_path(entries: Iterable[Entry]) -> list[Entry]:
    """Every entry on the conversation path, root first, as the SDK's reader builds it.

    The same algorithm as ``claude_agent_sdk``'s ``get_session_messages`` (MIT licence,
    ``_internal/sessions.py``: ``_parse_transcript_entries`` and ``_build_conversation_chain``):

    - only linked entries (:data:`LINK_TYPES` with a string uuid) take part; a uuid seen twice
      is represented by its last line, and its position is its last position;
    - every entry no other entry names as ``parentUuid`` is a terminal; from each, walk back
      to the nearest user/assistant entry: those are the leaves;
    - the leaf is the last one in file order that is not a sidechain, ``isMeta`` or team
      entry (any leaf if there is none);
    - walk ``parentUuid`` back from it (``logicalParentUuid`` is not followed: a compaction
      boundary ends the walk); a cycle or a missing parent ends it too;
    - put back the parallel tool calls and results the walk left off
      (:func:`_recover_parallel_tool_results`).
    """
    items = [e for e in entries if is_linked(e)]
    if not items:
        return []
    by_uuid: dict[str, Entry] = {}
    position: dict[str, int] = {}
    for index, entry in enumerate(items):
        by_uuid[entry["uuid"]] = entry
        position[entry["uuid"]] = index
    parents = {e.get("parentUuid") for e in items if e.get("parentUuid")}
    leaves: list[Entry] = []
    for terminal in (e for e in items if e["uuid"] not in parents):
        current: Entry | None = terminal
        walked: set[str] = set()
        while current is not None and current["uuid"] not in walked:
            walked.add(current["uuid"])
            if current.get("type") in CHAIN_TYPES:
                leaves.append(current)
                break
            parent = current.get("parentUuid")
            current = by_uuid.get(parent) if parent else None
    if not leaves:
        return []
    main = [
        leaf
        for leaf in leaves
        if not leaf.get("isSidechain") and not leaf.get("teamName") and not leaf.get("isMeta")
    ]
    leaf = max(main or leaves, key=lambda e: position.get(e["uuid"], -1))
    path: list[Entry] = []
    seen: set[str] = set()
    node: Entry | None = leaf
    while node is not None and node["uuid"] not in seen:
        seen.add(node["uuid"])
        path.append(node)
        parent = node.get("parentUuid")
        node = by_uuid.get(parent) if parent else None
    path.reverse()
    return _recover_parallel_tool_results(by_uuid, path, seen)


def is_visible_message(entry: Entry) -> bool:
    """What the reader returns from the path: user/assistant, not meta, sidechain or team."""
    return (
        entry.get("type") in CHAIN_TYPES
        and not entry.get("isMeta")
        and not entry.get("isSidechain")
        and not entry.get("teamName")
    )


def conversation_chain(entries: Iterable[Entry]) -> list[Entry]:
    """The messages Claude Code would resume, root first: the SDK reader's answer.

    Exactly the entries ``claude_agent_sdk.get_session_messages`` returns for the same lines
    (see :func:`conversation_path` for the walk): user and assistant entries on the path,
    without ``isMeta``, sidechain or team entries. ``tests/test_transcripts.py`` checks the
    two agree on every fixture.
    """
    return [e for e in conversation_path(entries) if is_visible_message(e)]


def _message_id(entry: Entry) -> str | None:
    if entry.get("type") != "assistant":
        return None
    message = entry.get("message")
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and value else None


def _block_ids(entry: Entry, block_type: str, field: str) -> list[str]:
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [
        b[field]
        for b in content
        if isinstance(b, dict) and b.get("type") == block_type and isinstance(b.get(field), str)
    ]


def _is_tool_result_entry(entry: Entry) -> bool:
    parent = entry.get("parentUuid")
    return (
        entry.get("type") == "user"
        and isinstance(parent, str)
        and bool(parent)
        and _is_tool_result(entry)
    )


def _same_writer(a: Entry, b: Entry) -> bool:
    return bool(a.get("isSidechain")) == bool(b.get("isSidechain")) and a.get("agentId") == b.get(
        "agentId"
    )


def _timestamp(entry: Entry) -> str:
    value = entry.get("timestamp")
    return value if isinstance(value, str) else ""


def _recover_parallel_tool_results(
    by_uuid: dict[str, Entry], chain: list[Entry], seen: set[str]
) -> list[Entry]:
    """Put back the parallel tool calls and results the ``parentUuid`` walk skipped.

    The CLI writes one assistant entry per content block, so N parallel tool calls are N
    chained assistant entries, and each result's parent is its own call: the file forks and
    the walk keeps one branch. As the SDK's reader does, each response's missing siblings and
    results are inserted after its last entry on the path (timestamp order, stable).
    """
    assistants = [e for e in chain if e.get("type") == "assistant"]
    anchor: dict[str, Entry] = {}
    for entry in assistants:
        mid = _message_id(entry)
        if mid:
            anchor[mid] = entry
    if not anchor:
        return chain
    siblings: dict[str, list[Entry]] = {}
    owner: dict[str, Entry | None] = {}
    results: list[Entry] = []
    for entry in by_uuid.values():
        mid = _message_id(entry)
        if mid:
            siblings.setdefault(mid, []).append(entry)
            for call in _block_ids(entry, "tool_use", "id"):
                if call not in owner:
                    owner[call] = entry
                    continue
                previous = owner[call]
                same = previous is not None and _message_id(previous) == mid
                owner[call] = entry if same else None
        elif _is_tool_result_entry(entry):
            results.append(entry)
    by_assistant: dict[str, list[Entry]] = {}
    for result in results:
        by_assistant.setdefault(result["parentUuid"], []).append(result)
        source = result.get("sourceToolAssistantUUID")
        if isinstance(source, str):
            source_entry = by_uuid.get(source)
            if source_entry is not None and _same_writer(result, source_entry):
                by_assistant.setdefault(source, []).append(result)
        for call in _block_ids(result, "tool_result", "tool_use_id"):
            call_owner = owner.get(call)
            if call_owner is not None and _same_writer(result, call_owner):
                by_assistant.setdefault(call_owner["uuid"], []).append(result)
    answered_on_chain: set[str] | None = None
    file_position: dict[str, int] | None = None
    done: set[str] = set()
    inserts: dict[str, list[Entry]] = {}
    for assistant in assistants:
        mid = _message_id(assistant)
        if not mid or mid in done:
            continue
        done.add(mid)
        group = siblings.get(mid, [assistant])
        members = {m["uuid"] for m in group}
        lost_siblings = [m for m in group if m["uuid"] not in seen]
        lost_results: list[Entry] = []
        strays: list[Entry] = []
        collected: set[str] = set()
        for member in group:
            for result in by_assistant.get(member["uuid"], ()):
                if result["uuid"] in seen or result["uuid"] in collected:
                    continue
                collected.add(result["uuid"])
                (lost_results if result["parentUuid"] in members else strays).append(result)
        if strays:
            if answered_on_chain is None or file_position is None:
                answered_on_chain = {
                    c for e in chain for c in _block_ids(e, "tool_result", "tool_use_id")
                }
                file_position = {uid: i for i, uid in enumerate(by_uuid)}
            answered = set(answered_on_chain)
            for result in lost_results:
                answered.update(_block_ids(result, "tool_result", "tool_use_id"))
            positions = file_position
            strays.sort(key=lambda e: positions[e["uuid"]])
            for result in strays:
                calls = _block_ids(result, "tool_result", "tool_use_id")
                if not any(
                    c not in answered and (o := owner.get(c)) is not None and o["uuid"] in members
                    for c in calls
                ):
                    continue
                answered.update(calls)
                lost_results.append(result)
        if not lost_siblings and not lost_results:
            continue
        lost_siblings.sort(key=_timestamp)
        lost_results.sort(key=_timestamp)
        recovered = lost_siblings + lost_results
        seen.update(e["uuid"] for e in recovered)
        inserts[anchor[mid]["uuid"]] = recovered
    if not inserts:
        return chain
    out: list[Entry] = []
    for entry in chain:
        out.append(entry)
        out.extend(inserts.get(entry["uuid"], ()))
    return out


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
