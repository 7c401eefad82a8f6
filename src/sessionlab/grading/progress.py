"""A plain-text progress bar that also works in a log file or a CI job (no TTY)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``[#######.............] 7/20  35%  eta 1m05s  alice-123 (4.2 s)``.

    On a terminal the line is redrawn in place; anywhere else each update is its own line, so
    a log shows every student once.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, done: int, label: str) -> str:
        filled = round(self.width * done / self.total)
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - done) if done else 0.0
        bar = "#" * filled + "." * (self.width - filled)
        pct = 100 * done // self.total
        return f"[{bar}] {done}/{self.total} {pct:3d}%  eta {_clock(eta)}  {label}"

    def update(self, done: int, label: str) -> None:
        text = self.line(done, label)
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
