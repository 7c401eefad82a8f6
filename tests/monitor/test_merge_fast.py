"""The fast merge path (orjson, byte-level splices, batches) decides exactly like the exact one.

A faster parser must never change a verdict: a line the standard library accepts is merged, a
line it refuses is quarantined, and every merged line differs from the stray's bytes only in
the ``sessionId`` and a fragment root's ``parentUuid``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from sessionlab.monitor import merge
from sessionlab.monitor.merge import LineParseError, LineRewriter, parse_line, uuid_key

FIXED = "11111111-2222-4333-8444-555555555555"
STRAY = "99999999-8888-4777-8666-555555555555"


def _line(uid: str, parent: str | None, **extra: Any) -> bytes:
    entry = {"parentUuid": parent, "isSidechain": False, "sessionId": STRAY, "type": "user"}
    entry.update(extra)
    entry.setdefault("message", {"role": "user", "content": "olá ✓ 🚀"})
    entry.setdefault("uuid", uid)
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()


def _exact(raw: bytes) -> Any:
    """The standard library's own verdict, as the engine had it before orjson."""
    text = raw.decode("utf-8")
    value, end = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    if text[end:].strip(" \t\r\n"):
        raise ValueError("extra data")
    return value


ODD_LINES = [
    b'{"a":NaN}',  # json accepts NaN, orjson refuses: json decides (merged)
    b'{"a":Infinity}',
    b'{"a":"\\ud83d"}',  # a lone surrogate escape (JS JSON.stringify of a cut emoji)
    b'{"a":123456789012345678901234567890}',
    b'{"a":1e400}',
    b'{"a":1,"a":2}',
    b' {"a":1}\r',
    b"[1,2]",
    b'"text"',
    b'{"a":1}{"b":2}',
    b'{"a":1',
    b'{"a":"\x01"}',
    b"\xef\xbb\xbf{}",
    b'{"a":"\xff"}',
    b"{" * 5000 + b"}" * 5000,
]


@pytest.mark.parametrize("raw", ODD_LINES, ids=range(len(ODD_LINES)))
def test_parse_line_gives_the_standard_librarys_verdict(raw: bytes) -> None:
    try:
        expected = _exact(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        expected = LineParseError
    if expected is LineParseError or not isinstance(expected, dict):
        with pytest.raises(LineParseError):
            parse_line(raw)
    else:  # same verdict; values may differ only in a float's precision (huge integers)
        assert parse_line(raw).keys() == expected.keys()


def test_without_orjson_the_verdicts_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "_parse", merge._parse_exact)
    for raw in ODD_LINES:
        try:
            fast: Any = parse_line(raw)
        except LineParseError:
            fast = LineParseError
        monkeypatch.undo()
        try:
            slow: Any = parse_line(raw)
        except LineParseError:
            slow = LineParseError
        monkeypatch.setattr(merge, "_parse", merge._parse_exact)
        assert (fast is LineParseError) == (slow is LineParseError), raw


def test_uuid_keys_are_compact_and_injective() -> None:
    value = str(uuid.uuid4())
    assert uuid_key(value) == uuid.UUID(value).bytes
    others = [value.upper(), value.replace("-", ""), value[:-1] + " ", " " + value[1:], "x" * 36]
    keys = {uuid_key(v) for v in [value, *others]}
    assert len(keys) == len(others) + 1


def _stray_lines() -> list[bytes]:
    ids = [str(uuid.uuid4()) for _ in range(8)]
    return [
        _line(ids[0], None),
        _line(ids[1], ids[0], type="assistant"),
        b"",
        b"not json at all",
        _line(ids[2], None),  # a second root: re-linked to the leaf
        _line(ids[1], ids[0], type="assistant"),  # a copy (legacy resume): skipped
        b'{"type":"summary","summary":"t","leafUuid":"' + ids[2].encode() + b'"}',
        b'{"type":"summary","summary":"t","leafUuid":"' + ids[2].encode() + b'"}',
        _line(ids[3], ids[2], sessionId='odd "quoted" id'),  # escaped value: exact slow path
        b'{ "parentUuid" : null , "sessionId" : "' + STRAY.encode() + b'", "type" : "user",'
        b' "uuid" : "' + ids[4].encode() + b'", "message": {"sessionId": "nested"}}',
        _line(ids[5], "not-merged-anywhere", isSidechain=True),  # sidechains keep their parent
        b'{"a":NaN,"uuid":"' + ids[6].encode() + b'","sessionId":"' + STRAY.encode() + b'"}',
        b"[1, 2]",
        # a lone surrogate escape in the sessionId: json accepts it, the splice takes the
        # exact path (the value cannot be written plainly)
        b'{"parentUuid":null,"sessionId":"\\ud83d","type":"user","uuid":"'
        + ids[7].encode()
        + b'"}',
    ]


def _line_by_line(lines: list[bytes]) -> tuple[LineRewriter, list[bytes], tuple[int, int, int]]:
    """The reference verdicts: each line through ``rewrite`` alone (bad, dups, relinked)."""
    one = LineRewriter(FIXED, leaf="00000000-0000-4000-8000-000000000000")
    expected: list[bytes] = []
    bad = dups = relinked = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            outcome = one.rewrite(raw)
        except LineParseError:
            bad += 1
            continue
        dups += outcome.duplicate
        relinked += outcome.relinked
        if outcome.line is not None:
            expected.append(outcome.line)
    return one, expected, (bad, dups, relinked)


def test_batch_decides_exactly_like_line_by_line() -> None:
    lines = _stray_lines()
    one, expected, (bad, dups, relinked) = _line_by_line(lines)
    batch = LineRewriter(FIXED, leaf="00000000-0000-4000-8000-000000000000")
    result = batch.rewrite_batch(list(lines))
    assert result.lines == expected
    assert (len(result.bad), result.duplicates, result.relinked) == (bad, dups, relinked)
    assert (bad, dups, relinked) == (2, 2, 4)
    assert batch.keys == one.keys and batch.leaf == one.leaf


def test_only_session_id_and_root_parent_change_byte_for_byte() -> None:
    lines = _stray_lines()
    rewriter = LineRewriter(FIXED, leaf="00000000-0000-4000-8000-000000000000")
    result = rewriter.rewrite_batch(list(lines))
    originals = {json.loads(raw)["uuid"]: raw for raw in lines if raw.startswith(b'{"parentUuid')}
    for line in result.lines:
        entry = json.loads(line)
        if "uuid" not in entry:
            continue
        if entry.get("isSidechain"):
            assert entry["parentUuid"] == "not-merged-anywhere"
        assert entry["sessionId"] == FIXED
        raw = originals.get(entry["uuid"])
        if raw is not None:
            before = json.loads(raw)
            assert {k for k in entry if entry[k] != before[k]} <= {"sessionId", "parentUuid"}
            # every other byte is the CLI's own: the rest of the text is a plain substring
            tail = raw[raw.index(b'"type"') :]
            assert tail in line
    nested = next(line for line in result.lines if b'"nested"' in line)
    assert json.loads(nested)["message"] == {"sessionId": "nested"}


def test_rollback_forgets_the_last_uid_shortcut() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    rewriter = LineRewriter(FIXED, leaf="00000000-0000-4000-8000-000000000000")
    assert rewriter.rewrite_batch([_line(first, None)]).relinked == 1
    rewriter.rollback()
    result = rewriter.rewrite_batch([_line(second, first)])
    assert result.relinked == 1, "its parent was rolled back, so it is a root again"


def test_fast_loop_decides_like_the_exact_rule_on_mixed_batches() -> None:
    """The inlined loop of ``rewrite_batch`` against ``rewrite`` line by line, many shapes."""
    import random

    rng = random.Random(7)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    shapes = [
        lambda i: _line(ids[i], ids[i - 1]),  # the common chained line
        lambda i: _line(ids[i], None),  # a root: re-linked
        lambda i: _line(ids[i], ids[0]),  # parent known, but not the previous line
        lambda i: _line(ids[i], ids[i - 1], sessionId=FIXED),  # already ours
        lambda i: _line(ids[i].upper(), ids[i - 1]),  # non-canonical uuid
        lambda i: _line(ids[i], ids[i - 1], isSidechain=True),
        lambda i: _line(ids[i], ids[i - 1], type="system"),
        lambda i: b'{"x":{"a":1},' + _line(ids[i], ids[i - 1])[1:],  # '{' before sessionId
        lambda i: _line(ids[i], ids[i - 1])[:-1] + b',"sessionId":"' + STRAY.encode() + b'"}',
        lambda i: _line(ids[i], ids[i - 1], sessionId=None),
        lambda i: _line(ids[i], ids[i - 1], sessionId=7),
        lambda i: b"   ",
        lambda i: b"{broken",
        lambda i: b"null",
        lambda i: b'{"type":"summary","summary":"s' + str(i % 3).encode() + b'"}',
    ]
    lines = [rng.choice(shapes)(i) for i in range(1, 40) for _ in range(3)]
    lines += lines[:20]  # a resumed copy: duplicates
    one, expected, (bad, dups, relinked) = _line_by_line(lines)
    batch = LineRewriter(FIXED, leaf="00000000-0000-4000-8000-000000000000")
    got: list[bytes] = []
    counts = [0, 0, 0]
    for start in range(0, len(lines), 17):  # several batches share the state
        result = batch.rewrite_batch(list(lines[start : start + 17]))
        got += result.lines
        counts = [counts[0] + len(result.bad), counts[1] + result.duplicates, counts[2]]
        counts[2] += result.relinked
    assert got == expected
    assert counts == [bad, dups, relinked]
    assert batch.keys == one.keys and batch.leaf == one.leaf
