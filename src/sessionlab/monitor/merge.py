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

try:  # a declared dependency; the standard library still works (slower) without it
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover
    _orjson_loads = None

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once


class LineParseError(ValueError):
    """The line is not a JSON object; it goes to quarantine, never to the bin."""


def uuid_key(value: str) -> bytes:
    """Compact set key for a uuid: 16 bytes for the canonical lowercase form (bounded memory).

    The mapping is injective on strings (any other spelling keeps its text), so two entries
    are "the same line" only if their uuid strings are identical, as the CLI compares them.
    One ``replace`` and one ``fromhex`` (not five slices): this runs for every merged line.
    """
    if (
        len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
        and value == value.lower()
    ):
        digits = value.replace("-", "")
        if len(digits) == 32:
            try:
                key = bytes.fromhex(digits)
            except ValueError:
                pass
            else:
                if len(key) == 16:  # fromhex skips whitespace: " " is not a hex digit here
                    return key
    return b"u:" + value.encode("utf-8", "surrogatepass")


def hash_key(line: bytes) -> bytes:
    """Set key for a line without uuid (summary, queue-operation): its content hash."""
    return b"h:" + hashlib.sha256(line).digest()[:16]


def _parse_exact(raw: bytes) -> Any:
    """The standard library's verdict: the authority whenever the fast parser refuses a line."""
    try:
        text = raw.decode("utf-8")
        try:  # the C scanner directly: json.loads' wrapper costs ~15 % of a merge
            value, end = _SCAN(text, 0)
        except StopIteration:
            value, end = json.loads(text), len(text)
        if end != len(text) and text[end:].strip(" \t\r\n"):
            raise ValueError("extra data after the JSON value")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise LineParseError(str(error)) from None
    return value


def _parse_fast(raw: bytes) -> Any:
    """orjson first (3-4x faster than ``json``); the exact parser decides what it refuses.

    orjson accepts a subset of what ``json`` accepts (it refuses ``NaN`` and lone surrogate
    escapes such as ``"\\ud83d"``, which a JS ``JSON.stringify`` of a cut emoji writes), so a
    line orjson refuses is re-checked by :func:`_parse_exact` and only quarantined when that
    refuses it too: the verdict on every line is exactly the standard library's.
    """
    try:
        return _orjson_loads(raw)
    except ValueError:  # orjson.JSONDecodeError subclasses json.JSONDecodeError
        return _parse_exact(raw)


_parse = _parse_exact if _orjson_loads is None else _parse_fast


def parse_line(raw: bytes) -> dict[str, Any]:
    """Parse one line; raise :class:`LineParseError` for anything but a JSON object."""
    value = _parse(raw)
    if type(value) is not dict:
        raise LineParseError(f"expected a JSON object, got {type(value).__name__}")
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
        raise LineParseError("not an object")
    idx += 1
    while wanted:
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx : idx + 1] != '"':
            break  # '}' or malformed: nothing more at top level
        key, idx = scanstring(text, idx + 1)
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx : idx + 1] != ":":
            raise LineParseError("expected ':'")
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


def plain_json(value: Any) -> bytes | None:
    """``value`` as the CLI writes it when that needs no escapes (``null``, a plain string)."""
    if value is None:
        return b"null"
    if type(value) is str and '"' not in value and "\\" not in value:
        try:
            return b'"' + value.encode("utf-8") + b'"'
        except UnicodeEncodeError:  # a lone surrogate: written as an escape, never plainly
            return None
    return None


def _plain_value_span(raw: bytes, needle: bytes, old_text: bytes) -> tuple[int, int] | None:
    """Where the top-level value ``old_text`` of key ``needle`` (``b'"key":'``) sits, or None.

    Accepted only when the needle occurs once in the whole line, right after ``{`` or ``,``
    with no ``{``/``[`` before it (so it is a top-level key, not inside a string or a nested
    object: inside a string its quotes would be escaped), and the bytes there are exactly
    ``old_text`` (the parsed value written plainly, see :func:`plain_json`). Anything else
    returns None and the caller takes the exact slow path. Only ``find`` calls, no copies.
    """
    pos = raw.find(needle)
    if pos <= 0 or raw[pos - 1] not in b"{," or raw.rfind(needle) != pos:  # rfind: 2x faster
        return None
    if raw.find(b"{", 1, pos) >= 0 or raw.find(b"[", 1, pos) >= 0:
        return None
    start = pos + len(needle)
    if not raw.startswith(old_text, start):
        return None
    return start, start + len(old_text)


_SESSION_ID = b'"sessionId":'
#: A uuid as the CLI writes it, the only form :func:`uuid_key` maps to its 16 bytes.
_CANONICAL_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch
_PARENT = b'"parentUuid":'


#: A point between two batches (pending keys so far, leaf then): see :meth:`LineRewriter.mark`.
RewriterMark = tuple[int, str | None]


@dataclass
class Outcome:
    """What happened to one line: ``line`` is set when it must be appended."""

    line: bytes | None = None
    duplicate: bool = False
    relinked: bool = False


@dataclass
class BatchResult:
    """What :meth:`LineRewriter.rewrite_batch` decided for a list of stray lines."""

    lines: list[bytes] = field(default_factory=list)  # to append, in order
    duplicates: int = 0
    relinked: int = 0
    bad: list[bytes] = field(default_factory=list)  # not a JSON object: quarantine them


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
    # The uuid of the last line decided, whose key is in ``keys``: most lines name it as
    # ``parentUuid``, so the dangling-parent test needs no key computation for them.
    _last_uid: str | None = None
    _sid_value: bytes = b""  # the fixed session id as JSON, spliced into every stray line
    _plain_sids: dict[str, bytes] = field(default_factory=dict)  # a stray's id, plainly

    def __post_init__(self) -> None:
        self._sid_value = json.dumps(self.session_id).encode()

    # -- building the state from the fixed file -------------------------------------------
    def observe_existing(self, raw: bytes) -> None:
        """Learn a line already in the fixed file (start-up, or someone else's append)."""
        try:
            entry = parse_line(raw)
        except LineParseError:
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
        """Decide one stray line (without its newline). Raises :class:`LineParseError`."""
        if entry is None:
            entry = parse_line(raw)
        line, relinked = self._decide(raw, entry)
        return Outcome(line=line, duplicate=line is None, relinked=relinked)

    def rewrite_batch(self, lines: list[bytes]) -> BatchResult:
        """Decide a batch of stray lines at once (the engine's hot path: no per-line objects).

        Blank lines are skipped; lines that are not JSON objects are returned in ``bad``.
        The verdicts are exactly :meth:`rewrite`'s, line by line. ``lines`` is consumed: it
        becomes ``result.lines``, each raw line replaced by its rewrite as soon as it is
        decided, so a batch is never held twice (the memory bound of rule 8).

        The loop is inlined for the common line (canonical uuid, chained to the previous
        line, plain ``sessionId`` at the top level before any ``{``/``[``): one orjson call,
        a few dict look-ups and ``find`` calls, one splice, no Python function call. Any
        other line (including every line orjson refuses, and every blank line) takes
        :meth:`_decide_one`, the exact per-line rule; both paths share the same state.
        """
        result = BatchResult(lines=lines)
        if not lines:
            return result
        if _orjson_loads is None:  # pragma: no cover - orjson is a declared dependency
            return self._rewrite_batch_exact(lines, result)
        if not self._dirty:
            self._leaf_before, self._dirty = self.leaf, True
        loads = _orjson_loads
        keys = self.keys
        add_key = keys.add
        add_pending = self._pending_keys.append
        canonical = _CANONICAL_UUID
        fromhex = bytes.fromhex
        chain_types = CHAIN_TYPES
        session_id = self.session_id
        new_sid = self._sid_value
        plain_sids = self._plain_sids
        needle = _SESSION_ID
        at = len(needle)
        last_uid = self._last_uid
        leaf = self.leaf
        kept = duplicates = 0
        for raw in lines:  # writes only at indices already read: safe while iterating
            try:
                entry = loads(raw)  # blank lines and refusals: the exact path below
            except ValueError:
                entry = None
            if type(entry) is dict:
                uid = entry.get("uuid")
                if type(uid) is str and canonical(uid) is not None:
                    key = fromhex(uid.replace("-", ""))  # == uuid_key(uid): 16 bytes
                    if key in keys:
                        last_uid = uid
                        duplicates += 1
                        continue
                    sidechain = entry.get("isSidechain")
                    if (
                        sidechain
                        or "parentUuid" not in entry
                        or (last_uid is not None and entry["parentUuid"] == last_uid)
                    ):  # no re-link: the parent is the previous line, already keyed
                        old_sid = entry.get("sessionId", session_id)
                        line: bytes | None = None
                        if old_sid == session_id:
                            line = raw
                        elif type(old_sid) is str:
                            old_text = plain_sids.get(old_sid)
                            if old_text is None:
                                old_text = plain_json(old_sid)
                                if old_text is not None:
                                    if len(plain_sids) > 64:
                                        plain_sids.clear()
                                    plain_sids[old_sid] = old_text
                            if old_text is not None:  # _plain_value_span, inlined
                                pos = raw.find(needle)
                                start = pos + at
                                if (
                                    pos > 0
                                    and raw[pos - 1] in b"{,"
                                    and raw.rfind(needle) == pos
                                    and raw.find(b"{", 1, pos) < 0
                                    and raw.find(b"[", 1, pos) < 0
                                    and raw.startswith(old_text, start)
                                ):
                                    line = raw[:start] + new_sid + raw[start + len(old_text) :]
                        if line is not None:
                            add_key(key)
                            add_pending(key)
                            last_uid = uid
                            if not sidechain and entry.get("type") in chain_types:
                                leaf = uid
                            lines[kept] = line
                            kept += 1
                            continue
            # the exact rule for everything else, on the shared state
            self._last_uid, self.leaf = last_uid, leaf
            line, relinked, verdict = self._decide_one(raw, entry, result, _parse_exact)
            last_uid, leaf = self._last_uid, self.leaf
            if verdict:
                lines[kept] = line  # type: ignore[call-overload]
                kept += 1
                result.relinked += relinked
        self._last_uid, self.leaf = last_uid, leaf
        result.duplicates += duplicates
        del lines[kept:]
        return result

    def _decide_one(
        self, raw: bytes, entry: Any, result: BatchResult, parse: Any
    ) -> tuple[bytes | None, bool, bool]:
        """One line by the exact rule: ``(line, re-linked?, append it?)``; counts the rest.

        ``entry`` is the parsed line, or None when it still needs ``parse`` (the fast loop
        passes ``_parse_exact``: orjson already refused it).
        """
        if entry is None or type(entry) is not dict:
            if not raw or raw.isspace():  # isspace stops at the first byte; strip() copies
                return None, False, False
            try:
                entry = parse(raw) if entry is None else entry
                if type(entry) is not dict:
                    raise LineParseError("not a JSON object")
            except (LineParseError, UnicodeDecodeError):
                result.bad.append(raw)
                return None, False, False
        try:
            line, relinked = self._decide(raw, entry)
        except (LineParseError, UnicodeDecodeError):
            result.bad.append(raw)
            return None, False, False
        if line is None:
            result.duplicates += 1
            return None, False, False
        return line, relinked, True

    def _rewrite_batch_exact(self, lines: list[bytes], result: BatchResult) -> BatchResult:
        """:meth:`rewrite_batch` without orjson: the exact rule, line by line."""
        kept = 0
        for raw in lines:
            line, relinked, verdict = self._decide_one(raw, None, result, _parse)
            if verdict:
                lines[kept] = line  # type: ignore[call-overload]
                kept += 1
                result.relinked += relinked
        del lines[kept:]
        return result

    def _decide(self, raw: bytes, entry: dict[str, Any]) -> tuple[bytes | None, bool]:
        """``(line to append or None for a duplicate, re-linked?)`` for one parsed line."""
        if not self._dirty:
            self._leaf_before, self._dirty = self.leaf, True
        keys = self.keys
        uid = entry.get("uuid")
        if type(uid) is str:
            key: bytes | None = uuid_key(uid)
            if key in keys:
                self._last_uid = uid
                return None, False
        else:
            key = None
        sidechain = entry.get("isSidechain")
        # (key, needle, old value written plainly or None, new JSON text)
        changes: list[tuple[str, bytes, bytes | None, bytes]] = []
        old_sid = entry.get("sessionId", self.session_id)
        if old_sid != self.session_id:
            old_text = self._plain_sids.get(old_sid) if type(old_sid) is str else None
            if old_text is None:
                old_text = plain_json(old_sid)
                if type(old_sid) is str and old_text is not None:
                    if len(self._plain_sids) > 64:
                        self._plain_sids.clear()
                    self._plain_sids[old_sid] = old_text
            changes.append(("sessionId", _SESSION_ID, old_text, self._sid_value))
        relinked = False
        if key is not None and "parentUuid" in entry and not sidechain:
            parent = entry["parentUuid"]
            if type(parent) is not str:
                dangling = True
            elif parent == self._last_uid:
                dangling = False  # the previous line of this stray: already keyed
            else:
                dangling = uuid_key(parent) not in keys
            if dangling and self.leaf is not None and self.leaf != uid:
                new_parent = json.dumps(self.leaf).encode()
                changes.append(("parentUuid", _PARENT, plain_json(parent), new_parent))
                relinked = True
        line = raw
        if changes:
            line = self._splice(raw, changes)
        if key is None:
            key = hash_key(line)
            if key in keys:
                return None, False
        keys.add(key)
        self._pending_keys.append(key)
        if type(uid) is str:
            self._last_uid = uid
            if entry.get("type") in CHAIN_TYPES and not sidechain:
                self.leaf = uid
        return line, relinked

    @staticmethod
    def _splice(raw: bytes, changes: list[tuple[str, bytes, bytes | None, bytes]]) -> bytes:
        """Replace the changed values in the original bytes (fast path, else exact scan)."""
        if len(changes) == 1 and raw[:1] == b"{":  # the usual case: only the sessionId
            _, needle, old_text, new = changes[0]
            span = None if old_text is None else _plain_value_span(raw, needle, old_text)
            if span is not None:
                return raw[: span[0]] + new + raw[span[1] :]
        spans: list[tuple[int, int, bytes]] = []
        if raw[:1] == b"{":
            for _, needle, old_text, new in changes:
                span = None if old_text is None else _plain_value_span(raw, needle, old_text)
                if span is None:
                    break
                spans.append((*span, new))
            else:
                spans.sort()
                parts: list[bytes] = []
                pos = 0
                for start, end, value in spans:
                    parts += (raw[pos:start], value)
                    pos = end
                parts.append(raw[pos:])
                return b"".join(parts)
        replacements = {name: json.loads(new) for name, _, _, new in changes}
        return splice_top_level(raw.decode("utf-8"), replacements).encode("utf-8")

    def mark(self) -> RewriterMark:
        """The state after the batch just decided, so it can be committed on its own later.

        The engine decides batch N+1 while batch N is being fsynced; ``commit(mark_N)`` then
        makes only batch N final, and :meth:`rollback` still undoes everything after it.
        """
        return len(self._pending_keys), self.leaf

    def commit(self, mark: RewriterMark | None = None) -> None:
        """Make every decision (or those up to ``mark``) final."""
        if mark is None or mark[0] >= len(self._pending_keys):
            self._pending_keys.clear()
            self._dirty = False
            return
        del self._pending_keys[: mark[0]]
        self._leaf_before = mark[1]  # a rollback now returns to the state at the mark

    def rollback(self) -> None:
        for key in self._pending_keys:
            self.keys.discard(key)
        self._pending_keys.clear()
        if self._dirty:
            self.leaf = self._leaf_before
        self._dirty = False
        self._last_uid = None  # its key may just have been discarded
