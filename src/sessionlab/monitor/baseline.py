"""The monitor's persistent state: the baseline of files that are history, not strays.

Rule 10 says to take the baseline when a directory is first watched. Persisting it means a
restart resumes the work in progress (strays that appeared while we were down are still
strays) instead of taking a new baseline that would silently adopt them as history. Written
like Vector's checkpoints: tmp file, fsync, rename, fsync the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sessionlab.monitor.safety import fsync_dir, open_private

STATE_VERSION = 1


@dataclass
class MonitorState:
    session_id: str
    baseline: set[str] = field(default_factory=set)

    def to_json(self) -> bytes:
        payload = {
            "version": STATE_VERSION,
            "session_id": self.session_id,
            "baseline": sorted(self.baseline),
        }
        return json.dumps(payload, indent=1).encode() + b"\n"


def load_state(path: Path) -> MonitorState | None:
    """The saved state, or None when this directory was never watched (or the file is bad)."""
    try:
        data = json.loads(path.read_bytes())
        return MonitorState(str(data["session_id"]), set(data.get("baseline", [])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(path: Path, state: MonitorState) -> None:
    """Atomically replace the state file (tmp, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        data = state.to_json()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync_dir(dir_fd)
    finally:
        os.close(dir_fd)
