"""JSON-lines parsing: one transcript line in, a dict out, the same verdict everywhere.

The monitor (merging strays), the session stores (reading their files back) and the tools
that read transcripts must agree on which lines are malformed, or a line one of them accepts
would be quarantined or dropped by another. This module is that one verdict: orjson for
speed, the standard library as the judge of anything orjson refuses (see
:func:`parse_json`), and :func:`parse_line` for "a JSON object or :class:`LineParseError`".
It also holds the idempotency keys (:func:`uuid_key`, :func:`hash_key`) both sides use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sessionlab.errors import SessionLabError

__all__ = [
    "ORJSON_LOADS",
    "LineParseError",
    "hash_key",
    "is_object_line",
    "parse_json",
    "parse_json_exact",
    "parse_line",
    "uuid_key",
]


def _orjson_loads() -> Callable[[bytes], Any] | None:
    try:  # a declared dependency; the standard library still works (slower) without it
        import orjson
    except ImportError:  # pragma: no cover
        return None
    return orjson.loads


#: orjson's ``loads`` (``None`` without orjson): for callers with their own fast path.
ORJSON_LOADS = _orjson_loads()

_DECODER = json.JSONDecoder()
# The C scanner itself (json.loads' wrapper costs ~15 % of a merge); not in typeshed.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


class LineParseError(SessionLabError, ValueError):
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


def parse_json_exact(raw: bytes) -> Any:
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


def _fast_parser(loads: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """orjson first (3-4x faster than ``json``); the exact parser decides what it refuses.

    orjson accepts a subset of what ``json`` accepts (it refuses ``NaN`` and lone surrogate
    escapes such as ``"\\ud83d"``, which a JS ``JSON.stringify`` of a cut emoji writes), so a
    line orjson refuses is re-checked by :func:`parse_json_exact` and only quarantined when that
    refuses it too: the verdict on every line is exactly the standard library's.
    """

    def parse_json_fast(raw: bytes) -> Any:
        try:
            return loads(raw)
        except ValueError:  # orjson.JSONDecodeError subclasses json.JSONDecodeError
            return parse_json_exact(raw)

    return parse_json_fast


#: Any JSON value from one line, with the standard library's verdict (orjson's speed).
parse_json = parse_json_exact if ORJSON_LOADS is None else _fast_parser(ORJSON_LOADS)


def parse_line(raw: bytes) -> dict[str, Any]:
    """Parse one line; raise :class:`LineParseError` for anything but a JSON object."""
    value = parse_json(raw)
    if type(value) is not dict:
        raise LineParseError(f"expected a JSON object, got {type(value).__name__}")
    return value


def is_object_line(raw: bytes) -> bool:
    """True when ``raw`` is one complete JSON object: :func:`parse_line`'s verdict as a test.

    The fixed file's unterminated last line is kept when this holds (the CLI's last entry),
    quarantined otherwise (a write cut mid-line).
    """
    try:
        parse_line(raw)
    except LineParseError:
        return False
    return True
