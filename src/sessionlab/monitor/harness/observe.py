"""Watch the fixed file and the strays from outside the monitor, without inotify.

The harness must not trust the monitor's own counters (a student's monitor may have none), and
must not use the same mechanism the monitor may use (inotify), so it polls: ``os.stat`` plus
``pread`` of whatever the fixed file gained since the last look.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

_UUID_RE = re.compile(rb'"uuid"\s*:\s*"([^"]+)"')


def uuid_of(line: bytes) -> str | None:
    """The ``uuid`` of one JSONL line, or None (summary lines and garbage have none)."""
    try:
        entry = json.loads(line)
    except ValueError:
        match = _UUID_RE.search(line)  # a glued/malformed line may still carry it
        return match.group(1).decode(errors="replace") if match else None
    return entry.get("uuid") if isinstance(entry, dict) else None


class FixedFileTail:
    """Incremental reader of the fixed file: records when each uuid first appeared.

    Survives the file being replaced (new inode) or truncated by starting over, so a monitor
    that rewrites the fixed file atomically is still observed correctly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_seen: dict[str, float] = {}
        self._ino: int | None = None
        self._offset = 0
        self._partial = b""
        self.size = 0

    def poll(self) -> int:
        """Read what was appended since the last call; return how many new lines were seen."""
        now = time.monotonic()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return 0
        if st.st_ino != self._ino or st.st_size < self._offset:
            self._ino, self._offset, self._partial = st.st_ino, 0, b""
        self.size = st.st_size
        if st.st_size == self._offset:
            return 0
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read(st.st_size - self._offset)
        except FileNotFoundError:
            return 0
        self._offset += len(data)
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()
        for line in chunks:
            uid = uuid_of(line)
            if uid is not None and uid not in self.first_seen:
                self.first_seen[uid] = now
        return len(chunks)


def strays_in(project_dir: Path, fixed_name: str) -> list[str]:
    """Names of ``*.jsonl`` entries other than the fixed file (what a monitor should merge)."""
    try:
        with os.scandir(project_dir) as it:
            return [e.name for e in it if e.name.endswith(".jsonl") and e.name != fixed_name]
    except FileNotFoundError:
        return []
