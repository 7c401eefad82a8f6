"""Follow one stray by inode from an offset (rules 1, 2 and 8).

The fd pins the inode, so a rename, an unlink or a new file at the same path never confuses
what we read. Only newline-terminated data leaves the follower; the trailing fragment waits
for more bytes. A line longer than ``max_line`` is streamed to quarantine chunk by chunk, so
memory stays bounded (1 MiB reads, at most ``max_line`` buffered).

Offsets advance in two steps: ``read_pos`` when bytes are read, ``committed`` only after the
engine made the batch durable; a failed append rewinds to ``committed`` and re-reads.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from sessionlab.monitor.merge import Fragment, new_fragment
from sessionlab.monitor.quarantine import Quarantine, QuarantineStream

CHUNK = 1 << 20


@dataclass
class Follower:
    fd: int
    key: tuple[int, int]
    name: str
    original_name: str
    max_line: int
    quarantine: Quarantine
    tombstoned: bool = False
    first_seen: float = field(default_factory=time.monotonic)
    last_growth: float = field(default_factory=time.monotonic)
    read_pos: int = 0
    committed: int = 0
    buf: bytearray = field(default_factory=bytearray)
    overlong: QuarantineStream | None = None
    overlong_start: int = 0
    close_hint: float | None = None
    last_close: float | None = None
    retry_at: float = 0.0
    next_attempt: float = 0.0
    unlinked: bool = False
    leases: bool = True
    linger_until: float | None = None
    quarantined: int = 0
    lines_seen: int = 0
    at_eof: bool = False  # the last read_batch reached the end of the file
    fragment: Fragment = field(default_factory=new_fragment)  # the merge's view of this stray

    @property
    def line_start(self) -> int:
        """Offset of the first byte of the incomplete line (the next commit point)."""
        return self.overlong_start if self.overlong else self.read_pos - len(self.buf)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read_batch(self, limit: int) -> list[bytes]:
        """Complete lines read from ``read_pos``, about ``limit`` bytes at most.

        An empty list does not mean EOF (a long line may span many batches): see ``at_eof``.
        """
        lines: list[bytes] = []
        total = 0
        self.at_eof = False
        while total < limit:
            chunk = os.pread(self.fd, CHUNK, self.read_pos)
            if not chunk:
                self.at_eof = True
                break
            start = self.read_pos
            self.read_pos += len(chunk)
            total += len(chunk)
            if self.overlong is not None:
                newline = chunk.find(b"\n")
                if newline < 0:
                    self.overlong.write(chunk)
                    continue
                self.overlong.write(chunk[:newline])
                self._finish_overlong()
                chunk = chunk[newline + 1 :]
                start = self.read_pos - len(chunk)
            if chunk.find(b"\n") < 0:
                self.buf += chunk
            else:  # split the chunk itself: each line is copied once, the chunk never twice
                parts = chunk.split(b"\n")
                if self.buf:
                    self.buf += parts[0]
                    parts[0] = bytes(self.buf)
                self.buf = bytearray(parts.pop())
                lines += parts
            if len(self.buf) > self.max_line:
                self.overlong_start = self.read_pos - len(self.buf)
                self.overlong = self.quarantine.open_stream(
                    f"{self.original_name} inode {self.key[1]} offset {self.overlong_start}"
                )
                self.overlong.write(self.buf)  # no copy: the buffer may be max_line bytes
                self.buf = bytearray()  # drop the big allocation, not just its contents
            del start
        self.lines_seen += len(lines)
        return lines

    def _finish_overlong(self) -> None:
        assert self.overlong is not None
        self.overlong.finish()
        self.overlong = None
        self.quarantined += 1

    def take_tail(self) -> bytes:
        """The final unterminated fragment, once the writer is provably gone."""
        if self.overlong is not None:
            self._finish_overlong()
            return b""
        tail = bytes(self.buf)
        self.buf.clear()
        return tail

    def commit(self, offset: int | None = None) -> None:
        """Everything before ``offset`` (default: all lines read so far) is durable."""
        self.committed = self.line_start if offset is None else offset

    def rewind(self) -> None:
        """Forget everything after ``committed`` so the next read repeats it (after ENOSPC)."""
        if self.overlong is not None:
            self.overlong.abort()
            self.overlong = None
        self.buf.clear()
        self.read_pos = self.committed

    def close(self) -> None:
        if self.overlong is not None:
            self.overlong.abort()
            self.overlong = None
        with contextlib.suppress(OSError):
            os.close(self.fd)
