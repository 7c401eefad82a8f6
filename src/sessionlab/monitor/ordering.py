"""Order strays by the conversation they hold, never by mtimes or names (rule 10).

A copied or restored folder gives every file the same mtime, and names are random uuids, so
neither says which connection came first. The entries do: every line the CLI writes carries
an ISO-8601 UTC ``timestamp`` (same format, so the strings sort in time order), and a legacy
``--resume`` copy stamps its copied lines with the time of the copy, after the history it
copies. Where a file continues a chain another file holds (an entry whose ``parentUuid``
lives only there), it comes after that file whatever the clocks say.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence

from sessionlab.jsonl import LineParseError, parse_line

HEAD_BYTES = 1 << 20  # the first timestamp is in the first line or two; bound the read
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

#: Sort key of a stray: (no timestamp?, first timestamp, digest of its first bytes).
OrderKey = tuple[bool, str, bytes]


def _first_timestamp(lines: Iterable[bytes]) -> str | None:
    for raw in lines:
        try:
            value = parse_line(raw).get("timestamp")
        except (LineParseError, UnicodeDecodeError):
            continue
        if isinstance(value, str):
            return value
    return None


def head_key(head: bytes) -> OrderKey:
    """The sort key of a file from its first bytes (files without a timestamp go last).

    Ties (the same first timestamp) are broken by the content, so the order never depends on
    a name or an mtime.
    """
    complete = head[: head.rfind(b"\n") + 1] if b"\n" in head else head
    stamp = _first_timestamp(complete.split(b"\n"))
    return (stamp is None, stamp or "", hashlib.sha256(head).digest())


def read_head(name: str, dir_fd: int | None = None) -> bytes:
    """Up to :data:`HEAD_BYTES` of a regular file, never following a link or blocking."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.pread(fd, HEAD_BYTES, 0)
    except OSError:
        return b""
    finally:
        os.close(fd)


def order_by_conversation(names: Sequence[str], dir_fd: int | None = None) -> list[str]:
    """Files (relative to ``dir_fd``) in conversation order: first timestamp, then chains.

    A file that holds an entry whose ``parentUuid`` is defined only in another file is put
    after that file (a stable topological pass over the timestamp order; a cycle keeps the
    timestamp order). Reads every file once, streaming; a single file needs no reading.
    """
    if len(names) < 2:
        return list(names)
    defined: dict[str, set[str]] = {}
    wanted: dict[str, set[str]] = {}
    keys: dict[str, OrderKey] = {}
    for name in names:
        uuids: set[str] = set()
        parents: set[str] = set()
        for raw in _lines(name, dir_fd):  # streamed: a history file may be large
            try:
                entry = parse_line(raw)
            except (LineParseError, UnicodeDecodeError):
                continue
            uid, parent = entry.get("uuid"), entry.get("parentUuid")
            if isinstance(uid, str):
                uuids.add(uid)
            if isinstance(parent, str):
                parents.add(parent)
        defined[name], wanted[name] = uuids, parents - uuids
        keys[name] = head_key(read_head(name, dir_fd))
    pending = sorted(names, key=keys.__getitem__)
    placed: list[str] = []
    while pending:
        for index, name in enumerate(pending):
            if not any(other is not name and wanted[name] & defined[other] for other in pending):
                placed.append(pending.pop(index))
                break
        else:  # a cycle: keep the timestamp order
            placed.append(pending.pop(0))
    return placed


def _lines(name: str, dir_fd: int | None) -> Iterable[bytes]:
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        rest = b""
        while chunk := os.read(fd, 1 << 20):
            *lines, rest = (rest + chunk).split(b"\n")
            yield from lines
        yield rest
    finally:
        os.close(fd)
