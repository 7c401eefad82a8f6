"""Turn stray lines into fixed-session lines: deduplicate, re-link, rewrite ``sessionId``.

Rule 3 (idempotent merge): every line has a key, its ``uuid`` or the sha256 of the line as
written. The key set is rebuilt from the fixed file at start-up, so re-reading a stray after a
crash, or merging a legacy ``--resume`` copy (same uuids), never writes a line twice.

Chain continuity (research sessions §4): each connection's fragment starts with
``parentUuid: null``; the CLI reads a session by walking ``parentUuid`` back from the newest
leaf, so an un-linked fragment hides every earlier one (2 of 6 messages visible). A fragment
root is re-linked to the current leaf.

Only ``sessionId`` and that ``parentUuid`` change, and they are spliced into the original text:
every other byte of the line stays exactly as the CLI wrote it (key order, escapes, number
formats), which a ``json.loads``/``json.dumps`` round trip would not guarantee.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from sessionlab.transcripts import CHAIN_TYPES

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once


class BadLine(ValueError):
    """The line is not a JSON object; it goes to quarantine, never to the bin."""


def uuid_key(value: str) -> bytes:
    """Compact set key for a uuid: 16 bytes for the canonical lowercase form (bounded memory).

    The mapping is injective on strings (any other spelling keeps its text), so two entries
    are "the same line" only if their uuid strings are identical, as the CLI compares them.
    """
    if (
        len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
        and value == value.lower()
    ):
        try:
            return bytes.fromhex(value[:8] + value[9:13] + value[14:18] + value[19:23] + value[24:])
        except ValueError:
            pass
    return b"u:" + value.encode("utf-8", "surrogatepass")


def hash_key(line: bytes) -> bytes:
    """Set key for a line without uuid (summary, queue-operation): its content hash."""
    return b"h:" + hashlib.sha256(line).digest()[:16]


def parse_line(raw: bytes) -> dict[str, Any]:
    """Parse one line; raise :class:`BadLine` for anything but a JSON object."""
    try:
        text = raw.decode("utf-8")
        try:  # the C scanner directly: json.loads' wrapper costs ~15 % of a merge
            value, end = _SCAN(text, 0)
        except StopIteration:
            value, end = json.loads(text), len(text)
        if end != len(text) and text[end:].strip(" \t\r\n"):
            raise ValueError("extra data after the JSON value")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadLine(str(error)) from None
    if not isinstance(value, dict):
        raise BadLine(f"expected a JSON object, got {type(value).__name__}")
    return value


def splice_top_level(text: str, replacements: dict[str, Any]) -> str:
    """Replace the values of top-level ``replacements`` keys in a JSON object's text.

    Walks only the top level with the C scanner and stops as soon as every key was found
    (the CLI writes ``parentUuid`` and ``sessionId`` before the big ``message``), so the cost is
    small. Everything outside the replaced value spans is copied unchanged.
    """
    spans: list[tuple[int, int, str]] = []
    wanted = dict(replacements)
    idx = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text[idx : idx + 1] != "{":
        raise BadLine("not an object")
    idx += 1
    while wanted:
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx : idx + 1] != '"':
            break  # '}' or malformed: nothing more at top level
        key, idx = scanstring(text, idx + 1)
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx : idx + 1] != ":":
            raise BadLine("expected ':'")
        idx = _WS.match(text, idx + 1).end()  # type: ignore[union-attr]
        start = idx
        _, idx = _DECODER.raw_decode(text, idx)
        if key in wanted:
            spans.append((start, idx, json.dumps(wanted.pop(key), ensure_ascii=False)))
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx : idx + 1] == ",":
            idx += 1
        else:
            break
    for start, end, value in reversed(spans):
        text = text[:start] + value + text[end:]
    return text


def _splice_fast(raw: bytes, entry: dict[str, Any], changes: dict[str, Any]) -> bytes | None:
    """Byte-level splice for the CLI's own layout, or None to take the exact slow path.

    Accepted only when each key occurs once in the whole line, sits right after ``{`` or ``,``
    with no ``{``/``[`` before it (so it is a top-level key, not inside a string or a nested
    object), and its old value is written in plain form. Anything else falls back.
    """
    if raw[:1] != b"{":
        return None
    spans: list[tuple[int, int, bytes]] = []
    for key, new in changes.items():
        old = entry[key]
        if old is not None and (not isinstance(old, str) or '"' in old or "\\" in old):
            return None
        needle = b'"' + key.encode() + b'":'
        if raw.count(needle) != 1:
            return None
        pos = raw.find(needle)
        prefix = raw[1:pos]
        if raw[pos - 1 : pos] not in (b"{", b",") or b"{" in prefix or b"[" in prefix:
            return None
        start = pos + len(needle)
        old_text = b"null" if old is None else b'"' + old.encode("utf-8") + b'"'
        if not raw.startswith(old_text, start):
            return None
        spans.append((start, start + len(old_text), json.dumps(new).encode()))
    spans.sort()
    parts: list[bytes] = []
    pos = 0
    for start, end, value in spans:
        parts += (raw[pos:start], value)
        pos = end
    parts.append(raw[pos:])
    return b"".join(parts)


@dataclass
class Outcome:
    """What happened to one line: ``line`` is set when it must be appended."""

    line: bytes | None = None
    duplicate: bool = False
    relinked: bool = False


@dataclass
class LineRewriter:
    """Dedup keys, current leaf and the rewrite rule for one fixed session.

    Changes are provisional until :meth:`commit`; :meth:`rollback` undoes a batch whose append
    failed (ENOSPC), so the retry sees the same state.
    """

    session_id: str
    keys: set[bytes] = field(default_factory=set)
    leaf: str | None = None
    _pending_keys: list[bytes] = field(default_factory=list)
    _leaf_before: str | None = None
    _dirty: bool = False

    # -- building the state from the fixed file -------------------------------------------
    def observe_existing(self, raw: bytes) -> None:
        """Learn a line already in the fixed file (start-up, or someone else's append)."""
        try:
            entry = parse_line(raw)
        except BadLine:
            return
        uid = entry.get("uuid")
        if isinstance(uid, str):
            self.keys.add(uuid_key(uid))
            if entry.get("type") in CHAIN_TYPES and not entry.get("isSidechain"):
                self.leaf = uid
        else:
            self.keys.add(hash_key(raw))

    # -- merging ---------------------------------------------------------------------------
    def rewrite(self, raw: bytes, entry: dict[str, Any] | None = None) -> Outcome:
        """Decide one stray line (without its newline). Raises :class:`BadLine`."""
        if entry is None:
            entry = parse_line(raw)
        if not self._dirty:
            self._leaf_before, self._dirty = self.leaf, True
        uid = entry.get("uuid")
        key = uuid_key(uid) if isinstance(uid, str) else None
        if key is not None and key in self.keys:
            return Outcome(duplicate=True)
        changes: dict[str, Any] = {}
        if "sessionId" in entry and entry["sessionId"] != self.session_id:
            changes["sessionId"] = self.session_id
        relinked = False
        if key is not None and "parentUuid" in entry and not entry.get("isSidechain"):
            parent = entry["parentUuid"]
            dangling = not isinstance(parent, str) or uuid_key(parent) not in self.keys
            if dangling and self.leaf is not None and self.leaf != uid:
                changes["parentUuid"] = self.leaf
                relinked = True
        line = raw
        if changes:
            line = _splice_fast(raw, entry, changes) or splice_top_level(
                raw.decode("utf-8"), changes
            ).encode("utf-8")
        if key is None:
            key = hash_key(line)
            if key in self.keys:
                return Outcome(duplicate=True)
        self.keys.add(key)
        self._pending_keys.append(key)
        if (
            isinstance(uid, str)
            and entry.get("type") in CHAIN_TYPES
            and not entry.get("isSidechain")
        ):
            self.leaf = uid
        return Outcome(line=line, relinked=relinked)

    def commit(self) -> None:
        self._pending_keys.clear()
        self._dirty = False

    def rollback(self) -> None:
        for key in self._pending_keys:
            self.keys.discard(key)
        self._pending_keys.clear()
        if self._dirty:
            self.leaf = self._leaf_before
        self._dirty = False
