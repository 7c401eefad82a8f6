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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sessionlab.durable import failpoints
from sessionlab.durable.safety import open_private
from sessionlab.errors import CourseError, SessionLabError

CHUNK = 1 << 20


#: A last line longer than this is never parsed at start-up (rule 8's cap): quarantined.
TAIL_PARSE_LIMIT = 64 * CHUNK


class UnsafeFixedFile(CourseError):
    """The fixed session file is a link or a special file: refused before anything is written."""


def _refuse_unless_plain(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFixedFile(
            f"{path} is a symbolic link: refusing to merge through it "
            "(replace it with the file it points to)"
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFixedFile(
            f"{path} is not a regular file (a FIFO, socket, device or directory): refusing it"
        )
    if st.st_nlink != 1:
        raise UnsafeFixedFile(
            f"{path} has {st.st_nlink} hard links: merging would change the other names too "
            "(make it a single-link copy with cp, then run again)"
        )


@dataclass(frozen=True)
class TailRepair:
    """What start-up did to the fixed file's unterminated last line."""

    kept: bool = False  # a complete JSON line: only its newline was added
    quarantined: int = 0  # bytes of a torn line moved to quarantine
    path: Path | None = None  # where they are


class TailSinkStream(Protocol):
    """One torn tail being copied out in bounded chunks (the monitor's quarantine stream)."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> Path: ...

    def abort(self) -> None: ...


class TailSink(Protocol):
    """Where a torn last line goes before it is cut off.

    A protocol, not the monitor's ``Quarantine`` itself: this layer sits below the monitor
    (``pyproject.toml``'s import contract) and must not import it.
    """

    def open_stream(self, origin: str = "") -> TailSinkStream: ...


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
        fd = self._open_checked(os.O_RDONLY)
        if fd is None:
            return
        try:
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
            self.check()
            fd = open_private(self.path.name, os.O_RDWR | os.O_APPEND, dir_fd=self._dir_fd)
            try:
                _refuse_unless_plain(self.path, os.fstat(fd))
            except BaseException:
                os.close(fd)
                raise
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

    def check(self) -> None:
        """Refuse a fixed file we must not write through, before anything is written.

        A symlink would carry our writes elsewhere, a hard link would change a file outside
        the folder (the other name sees every append and every repair), a FIFO would block,
        a directory or device is no transcript. One line says which and what to do.
        """
        try:
            st = os.stat(self.path.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        _refuse_unless_plain(self.path, st)

    def _open_checked(self, flags: int) -> int | None:
        """Open the existing fixed file without following links or blocking; None if absent."""
        try:
            fd = os.open(
                self.path.name,
                flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=self._dir_fd,
            )
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                self.check()  # names the problem in one line
            raise
        try:
            _refuse_unless_plain(self.path, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def repair_tail(
        self,
        quarantine: TailSink | None,
        *,
        is_complete_line: Callable[[bytes], bool],
        dry_run: bool = False,
    ) -> TailRepair:
        """Make the file end with a newline, keeping every byte (start-up, lock held).

        A last line without ``\\n`` that is a complete JSON object (``is_complete_line``
        says so: the caller's parser, since this layer knows no JSON-lines rules) is the CLI's
        (or an interrupted merge's) last entry: it is kept and only the newline is added.
        Anything else (a write cut mid-line) is streamed to quarantine whatever its size, then
        cut off; the complete version is re-merged from its stray because its key never made
        it into the key set. ``dry_run`` only reports what would happen.
        """
        fd = self._open_checked(os.O_RDONLY if dry_run else os.O_RDWR)
        if fd is None:
            return TailRepair()
        try:
            size = os.fstat(fd).st_size
            if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
                return TailRepair()
            pos = size
            while pos > 0:
                step = min(CHUNK, pos)
                block = os.pread(fd, step, pos - step)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    pos = pos - step + cut + 1
                    break
                pos -= step
            length = size - pos
            if length <= TAIL_PARSE_LIMIT and is_complete_line(os.pread(fd, length, pos)):
                if not dry_run:
                    os.pwrite(fd, b"\n", size)  # the lock is held: nobody appends
                    os.fsync(fd)
                return TailRepair(kept=True)
            if dry_run or quarantine is None:
                return TailRepair(quarantined=length)
            stream = quarantine.open_stream(f"{self.path.name} torn tail at offset {pos}")
            try:
                offset = pos
                while offset < size:
                    chunk = os.pread(fd, min(CHUNK, size - offset), offset)
                    if not chunk:
                        break
                    stream.write(chunk)
                    offset += len(chunk)
                where = stream.finish()
            except BaseException:
                stream.abort()
                raise
            os.ftruncate(fd, pos)
            os.fsync(fd)
            return TailRepair(quarantined=length, path=where)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
