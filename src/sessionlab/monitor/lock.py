"""One monitor per project directory (rule 11): two mergers would race on the fixed file.

Each merger's duplicate set lives in its own memory, so two of them could both append the same
line. ``flock`` is released by the kernel when the process dies, so a crash never leaves a
stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sessionlab.durable.safety import open_private
from sessionlab.errors import CourseError


class MonitorLocked(CourseError):
    """Another monitor already manages this project directory."""


class DirectoryLock:
    """An exclusive, non-blocking ``flock`` on ``<state dir>/lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = ""
            with contextlib.suppress(OSError):
                holder = self.path.read_text().strip()
            who = f" (pid {holder})" if holder else ""
            raise MonitorLocked(
                f"another monitor is already running for this project{who}; "
                f"stop it first (lock: {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
