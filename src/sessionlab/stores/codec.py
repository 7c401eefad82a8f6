"""Entries in and out of storage: one compact JSON line each, parsed like the monitor parses.

The SDK treats entries as opaque blobs whose only invariant is a JSON round trip, so every
store keeps them as JSON text. Parsing reuses the monitor's :func:`~sessionlab.monitor.merge.
parse_line` (orjson, with the standard library as the judge of anything orjson refuses), so a
store and the monitor agree on which lines are malformed.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable
from typing import Any

import orjson

from sessionlab.monitor.merge import LineParseError, parse_line, uuid_key

__all__ = ["LineParseError", "encode_entry", "entry_uuid", "new_entries", "parse_line", "uuid_key"]


def encode_entry(entry: Any) -> bytes:
    """Compact JSON without a newline (``JSON.stringify`` style, like the CLI writes).

    orjson refuses what a transcript can still hold (lone surrogates from a cut emoji,
    integers beyond 64 bits); the standard library, ASCII-escaped, writes those losslessly.
    Raises ``TypeError``/``ValueError`` for a value that is not JSON at all.
    """
    try:
        return orjson.dumps(entry)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(entry, separators=(",", ":"), allow_nan=False).encode("ascii")


def entry_uuid(entry: Any) -> str | None:
    """The idempotency key: the entry's ``uuid`` string, or ``None`` (always appended)."""
    value = entry.get("uuid") if isinstance(entry, dict) else None
    return value if isinstance(value, str) and value else None


def new_entries(entries: Iterable[Any], known: Container[bytes]) -> tuple[list[Any], set[bytes]]:
    """The entries to write: uuid not in ``known``, and a uuid repeated in the batch once.

    Keys are :func:`~sessionlab.monitor.merge.uuid_key` values (16 bytes per canonical uuid).
    Returns the entries and their keys; ``known`` is not changed, so a failed write leaves the
    caller's idempotency set as it was.
    """
    fresh: list[Any] = []
    keys: set[bytes] = set()
    for entry in entries:
        uid = entry_uuid(entry)
        if uid is not None:
            key = uuid_key(uid)
            if key in known or key in keys:
                continue
            keys.add(key)
        fresh.append(entry)
    return fresh, keys
