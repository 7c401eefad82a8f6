"""Durable, all-or-nothing appends to the fixed session file (rules 4 and 9).

A batch is written with ``O_APPEND`` in one write loop and ``fsync``-ed *before* the stray is
touched, so a crash at any point leaves either nothing or a complete, durable batch (which the
uuid keys then skip on re-read). On ENOSPC/EIO the file is truncated back to its pre-batch size
when nobody else appended meanwhile; otherwise the torn tail is terminated with ``\\n`` so the
next line starts clean, and rule 3 makes the retry safe.

Fault-injection seam: tests may set :attr:`FixedFile.write` (same contract as ``os.write``) to
raise ``OSError(ENOSPC)`` after a partial write; see ``tests/monitor/test_engine_errors.py``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from sessionlab.durable import failpoints
from sessionlab.durable.safety import UnsafeFile, open_private
from sessionlab.errors import SessionLabError

CHUNK = 1 << 20


class AppendFailed(SessionLabError, OSError):
    """The batch did not become durable; the fixed file was restored, the stray is kept."""


class FixedFile:
    """The one session file every stray is merged into."""

    def __init__(self, path: Path, dir_fd: int | None = None) -> None:
        self.path = path
        self._dir_fd = dir_fd
        self._fd: int | None = None
        self.write: Callable[[int, bytes | memoryview], int] = os.write

    # -- reading --------------------------------------------------------------------------
    def iter_lines(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield ``(end_offset, line)`` for complete lines from ``start``, 1 MiB at a time."""
        try:
            fd = os.open(
                self.path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd
            )
        except FileNotFoundError:
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeFile(f"{self.path}: fixed session file is not a regular file")
            pos, rest = start, b""
            while True:
                chunk = os.pread(fd, CHUNK, pos)
                if not chunk:
                    break
                pos += len(chunk)
                data = rest + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                rest = data[cut + 1 :]
                offset = pos - len(rest) - (cut + 1)
                for line in data[:cut].split(b"\n"):
                    offset += len(line) + 1
                    if line.strip():
                        yield offset, line
        finally:
            os.close(fd)

    def size(self) -> int:
        try:
            return os.stat(self.path.name, dir_fd=self._dir_fd, follow_symlinks=False).st_size
        except FileNotFoundError:
            return 0

    # -- writing --------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            fd = open_private(self.path.name, os.O_RDWR | os.O_APPEND, dir_fd=self._dir_fd)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                os.close(fd)
                raise UnsafeFile(f"{self.path}: fixed session file is not a plain file")
            self._fd = fd
        return self._fd

    def append(self, chunks: list[bytes]) -> tuple[int, int]:
        """Append complete lines durably; return ``(size_before, size_after)``.

        Each ``write`` carries whole lines only, so a foreign O_APPEND writer (the CLI resumed
        on the fixed id) can interleave only at line boundaries.
        """
        fd = self._open()
        before = os.fstat(fd).st_size
        written = 0
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    count = self.write(fd, view)
                    written += count
                    view = view[count:]
            failpoints.hit("after_write")
            os.fsync(fd)
            failpoints.hit("after_fsync")
        except OSError as error:
            self._restore(fd, before, chunks)
            raise AppendFailed(error.errno or errno.EIO, f"append failed: {error}") from error
        return before, before + written

    def _restore(self, fd: int, before: int, chunks: list[bytes]) -> None:
        """Undo a failed batch: truncate if every byte past ``before`` is ours, else terminate.

        "Ours" is checked by content, not by counting ``write`` results: a failing write may
        have stored part of its buffer, and a foreign O_APPEND writer may have interleaved.
        """
        try:
            now = os.fstat(fd).st_size
            if now > before:
                if self._is_our_prefix(fd, before, now, chunks):
                    os.ftruncate(fd, before)
                else:
                    os.write(fd, b"\n")
                os.fsync(fd)
        except OSError:
            pass  # still failing; the next attempt repeats the repair

    def _is_our_prefix(self, fd: int, before: int, now: int, chunks: list[bytes]) -> bool:
        pos = before
        for chunk in chunks:
            if pos >= now:
                break
            want = chunk[: now - pos]
            if os.pread(fd, len(want), pos) != want:
                return False
            pos += len(want)
        return pos == now

    def repair_torn_tail(self) -> bytes:
        """If the file does not end with ``\\n`` (a crash mid-write), cut the torn tail off.

        Returns the removed bytes so the caller can quarantine them. Called at start-up while
        the directory lock is held; the torn line's complete version is re-merged from its stray
        because its key never made it into the key set.
        """
        try:
            fd = os.open(
                self.path.name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd
            )
        except FileNotFoundError:
            return b""
        try:
            size = os.fstat(fd).st_size
            if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
                return b""
            pos = size
            while pos > 0:
                step = min(CHUNK, pos)
                block = os.pread(fd, step, pos - step)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    pos = pos - step + cut + 1
                    break
                pos -= step
            tail = os.pread(fd, size - pos, pos) if size - pos <= 64 * CHUNK else b""
            os.ftruncate(fd, pos)
            os.fsync(fd)
            return tail
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
