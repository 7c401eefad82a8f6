"""Turn stray lines into fixed-session lines: deduplicate, re-link, rewrite ``sessionId``.

Rule 3 (idempotent merge): every line has a key, its ``uuid`` or the sha256 of the line as
written. The key set is rebuilt from the fixed file at start-up, so re-reading a stray after a
crash, or merging a legacy ``--resume`` copy (same uuids), never writes a line twice.

Chain continuity (docs/transcript-format.md §4): each connection's fragment starts with
``parentUuid: null``; the CLI reads a session by walking ``parentUuid`` back from the newest
leaf, so an un-linked fragment hides every earlier one (2 of 6 messages visible). A stray's
first root is linked to the entry the CLI would have parented it on, the fixed file's *tip*
(``sessionlab.transcripts``: the transcript model); compaction boundaries stay roots.

Only ``sessionId`` and that ``parentUuid`` change, and they are spliced into the original text:
every other byte of the line stays exactly as the CLI wrote it (key order, escapes, number
formats), which a ``json.loads``/``json.dumps`` round trip would not guarantee.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from sessionlab.ids import LOWERCASE_UUID
from sessionlab.jsonl import (
    ORJSON_LOADS,
    LineParseError,
    hash_key,
    parse_json,
    parse_json_exact,
    parse_line,
    uuid_key,
)
from sessionlab.transcripts import LINK_TYPES, is_fragment_root, parents_next

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


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
_CANONICAL_UUID = LOWERCASE_UUID.fullmatch
_PARENT = b'"parentUuid":'


#: A point between two batches (pending keys so far, tip then, the fragment's root seen then).
RewriterMark = tuple[int, str | None, bool]


@dataclass
class Fragment:
    """What the merge knows about one stray (one CLI connection's file) while reading it.

    ``serial`` tells this stray's own uuids from the ones known before it: a uuid the CLI
    wrote twice in this very file (2.1.x re-appends lines around a compaction, adding
    ``slug``) is kept, while a uuid known from the fixed file or an earlier stray (a legacy
    ``--resume`` copy, or a re-read after a crash) is a duplicate. ``root_seen`` says the
    stray's first linked entry was decided: only that one may be a fragment root.
    ``replaying`` is True while the stray repeats merged history (its last uuid line was a
    duplicate), None before its first uuid line.
    """

    serial: int
    root_seen: bool = False
    replaying: bool | None = None
    last_uid: str | None = None
    committed_root: bool = False


_SERIALS = itertools.count(1)


def new_fragment() -> Fragment:
    """A fragment with a serial no other fragment of this process has (0 = the fixed file)."""
    return Fragment(next(_SERIALS))


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
    """Dedup keys, the chain's tip and the rewrite rule for one fixed session.

    The rule is the CLI's own model of a transcript (:mod:`sessionlab.transcripts`): a stray's
    first linked entry, when its ``parentUuid`` is null and it is not a compaction boundary,
    is a new connection's first entry and is linked to the *tip*, the last linked main-chain
    entry of the fixed file (whatever its type: the CLI parents a new entry on the last one
    it wrote). Nothing else is re-linked; ``sessionId`` is rewritten to the fixed id.

    Changes are provisional until :meth:`commit`; :meth:`rollback` undoes a batch whose append
    failed (ENOSPC), so the retry sees the same state.
    """

    session_id: str
    keys: dict[bytes, int] = field(default_factory=dict)  # key -> fragment serial (0: fixed)
    tip: str | None = None
    _pending_keys: list[bytes] = field(default_factory=list)
    _tip_before: str | None = None
    _dirty: bool = False
    _sid_value: bytes = b""  # the fixed session id as JSON, spliced into every stray line
    _plain_sids: dict[str, bytes] = field(default_factory=dict)  # a stray's id, plainly
    _fragment: Fragment = field(default_factory=new_fragment)  # the stray being decided

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
            self.keys.setdefault(uuid_key(uid), 0)
            if parents_next(entry):
                self.tip = uid
        else:
            self.keys.setdefault(hash_key(raw), 0)

    # -- merging ---------------------------------------------------------------------------
    def rewrite(
        self, raw: bytes, entry: dict[str, Any] | None = None, fragment: Fragment | None = None
    ) -> Outcome:
        """Decide one stray line (without its newline). Raises :class:`LineParseError`."""
        if fragment is not None:
            self._fragment = fragment
        if entry is None:
            entry = parse_line(raw)
        line, relinked = self._decide(raw, entry)
        return Outcome(line=line, duplicate=line is None, relinked=relinked)

    def rewrite_batch(self, lines: list[bytes], fragment: Fragment | None = None) -> BatchResult:
        """Decide a batch of lines of one stray (``fragment``) at once: the engine's hot path.

        Blank lines are skipped; lines that are not JSON objects are returned in ``bad``.
        The verdicts are exactly :meth:`rewrite`'s, line by line. ``lines`` is consumed: it
        becomes ``result.lines``, each raw line replaced by its rewrite as soon as it is
        decided, so a batch is never held twice (the memory bound of rule 8).

        The loop is inlined for the common line (canonical uuid, a non-null ``parentUuid``,
        plain ``sessionId`` at the top level before any ``{``/``[``, not seen before): one
        orjson call, a few dict look-ups and ``find`` calls, one splice, no Python function
        call. Any other line (a null parent, a repeated uuid, a line without uuid, every
        line orjson refuses, every blank line) takes :meth:`_decide_one`, the exact per-line
        rule; both paths share the same state.
        """
        if fragment is not None:
            self._fragment = fragment
        result = BatchResult(lines=lines)
        if not lines:
            return result
        if ORJSON_LOADS is None:  # pragma: no cover - orjson is a declared dependency
            return self._rewrite_batch_exact(lines, result)
        if not self._dirty:
            self._tip_before, self._dirty = self.tip, True
        frag = self._fragment
        serial = frag.serial
        loads = ORJSON_LOADS
        keys = self.keys
        get_key = keys.get
        add_pending = self._pending_keys.append
        canonical = _CANONICAL_UUID
        fromhex = bytes.fromhex
        link_types = LINK_TYPES
        session_id = self.session_id
        new_sid = self._sid_value
        plain_sids = self._plain_sids
        needle = _SESSION_ID
        at = len(needle)
        last_uid = frag.last_uid
        replaying = frag.replaying
        root_seen = frag.root_seen
        tip = self.tip
        kept = duplicates = 0
        for index, raw in enumerate(lines):  # writes only at indices already read
            try:
                entry = loads(raw)  # blank lines and refusals: the exact path below
            except ValueError:
                entry = None
            if type(entry) is dict:
                uid = entry.get("uuid")
                if type(uid) is str and canonical(uid) is not None:
                    key = fromhex(uid.replace("-", ""))  # == uuid_key(uid): 16 bytes
                    owner = get_key(key)
                    sidechain = entry.get("isSidechain")
                    if owner is not None and owner != serial:
                        last_uid, replaying = uid, True
                        duplicates += 1
                        if not root_seen and not sidechain and entry.get("type") in link_types:
                            root_seen = True
                        continue
                    if owner is None and (sidechain or entry.get("parentUuid") is not None):
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
                            keys[key] = serial
                            add_pending(key)
                            last_uid, replaying = uid, False
                            if not sidechain and entry.get("type") in link_types:
                                tip = uid
                                root_seen = True
                            lines[kept] = line
                            kept += 1
                            continue
            # the exact rule for everything else, on the shared state
            frag.last_uid, frag.replaying, frag.root_seen, self.tip = (
                last_uid,
                replaying,
                root_seen,
                tip,
            )
            line, relinked, verdict = self._decide_one(
                raw, entry, result, parse_json_exact, lines, index
            )
            last_uid, replaying, root_seen, tip = (
                frag.last_uid,
                frag.replaying,
                frag.root_seen,
                self.tip,
            )
            if verdict:
                lines[kept] = line  # type: ignore[assignment]  # a kept line is never None
                kept += 1
                result.relinked += relinked
        frag.last_uid, frag.replaying, frag.root_seen, self.tip = (
            last_uid,
            replaying,
            root_seen,
            tip,
        )
        result.duplicates += duplicates
        del lines[kept:]
        return result

    def _decide_one(
        self,
        raw: bytes,
        entry: Any,
        result: BatchResult,
        parse: Any,
        lines: list[bytes] | None = None,
        index: int = 0,
    ) -> tuple[bytes | None, bool, bool]:
        """One line by the exact rule: ``(line, re-linked?, append it?)``; counts the rest.

        ``entry`` is the parsed line, or None when it still needs ``parse`` (the fast loop
        passes ``parse_json_exact``: orjson already refused it). ``lines[index + 1:]`` is the
        rest of the batch, looked at only for a line without uuid before the stray's first
        uuid line (is the stray replaying merged history there?).
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
        if (
            self._fragment.replaying is None
            and not isinstance(entry.get("uuid"), str)
            and lines is not None
        ):
            self._fragment.replaying = self._replaying_ahead(lines, index + 1)
        try:
            line, relinked = self._decide(raw, entry)
        except (LineParseError, UnicodeDecodeError):
            result.bad.append(raw)
            return None, False, False
        if line is None:
            result.duplicates += 1
            return None, False, False
        return line, relinked, True

    def _replaying_ahead(self, lines: list[bytes], start: int) -> bool | None:
        """Whether the first uuid line from ``lines[start]`` on repeats merged history."""
        for raw in lines[start:]:
            try:
                entry = parse_line(raw)
            except (LineParseError, UnicodeDecodeError):
                continue
            uid = entry.get("uuid")
            if isinstance(uid, str):
                owner = self.keys.get(uuid_key(uid))
                return owner is not None and owner != self._fragment.serial
        return None

    def _rewrite_batch_exact(self, lines: list[bytes], result: BatchResult) -> BatchResult:
        """:meth:`rewrite_batch` without orjson: the exact rule, line by line."""
        kept = 0
        for index, raw in enumerate(list(lines)):
            line, relinked, verdict = self._decide_one(raw, None, result, parse_json, lines, index)
            if verdict:
                lines[kept] = line  # type: ignore[assignment]  # a kept line is never None
                kept += 1
                result.relinked += relinked
        del lines[kept:]
        return result

    def _decide(self, raw: bytes, entry: dict[str, Any]) -> tuple[bytes | None, bool]:
        """``(line to append or None for a duplicate, re-linked?)`` for one parsed line."""
        if not self._dirty:
            self._tip_before, self._dirty = self.tip, True
        frag = self._fragment
        keys = self.keys
        uid = entry.get("uuid")
        sidechain = entry.get("isSidechain")
        linked = not sidechain and entry.get("type") in LINK_TYPES and type(uid) is str
        if type(uid) is str:
            key: bytes | None = uuid_key(uid)
            owner = keys.get(key)  # type: ignore[arg-type]
            if owner is not None and owner != frag.serial:  # known before this stray
                frag.last_uid, frag.replaying = uid, True
                if linked:
                    frag.root_seen = True
                return None, False
        else:
            key = None
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
        if linked and not frag.root_seen:
            frag.root_seen = True
            if (
                "parentUuid" in entry
                and is_fragment_root(entry)
                and self.tip is not None
                and self.tip != uid
            ):
                new_parent = json.dumps(self.tip).encode()
                changes.append(("parentUuid", _PARENT, b"null", new_parent))
                relinked = True
        line = raw
        if changes:
            line = self._splice(raw, changes)
        if key is None:
            key = hash_key(line)
            if key in keys and frag.replaying:  # the same line, in a copy of merged history
                return None, False
            if key not in keys:
                keys[key] = frag.serial
                self._pending_keys.append(key)
            return line, relinked
        if key not in keys:
            keys[key] = frag.serial
            self._pending_keys.append(key)
        frag.last_uid, frag.replaying = uid, False
        if linked:
            self.tip = uid
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
        return len(self._pending_keys), self.tip, self._fragment.root_seen

    def commit(self, mark: RewriterMark | None = None) -> None:
        """Make every decision (or those up to ``mark``) final."""
        if mark is None or mark[0] >= len(self._pending_keys):
            self._pending_keys.clear()
            self._dirty = False
            self._fragment.committed_root = self._fragment.root_seen if mark is None else mark[2]
            return
        del self._pending_keys[: mark[0]]
        self._tip_before = mark[1]  # a rollback now returns to the state at the mark
        self._fragment.committed_root = mark[2]

    def rollback(self) -> None:
        for key in self._pending_keys:
            self.keys.pop(key, None)
        self._pending_keys.clear()
        if self._dirty:
            self.tip = self._tip_before
        self._dirty = False
        frag = self._fragment
        frag.root_seen = frag.committed_root
        frag.last_uid = None  # its key may just have been discarded
        frag.replaying = None
