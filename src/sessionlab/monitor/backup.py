"""Incremental backups of the fixed session file: an append-only copy of its new bytes.

The merger is the one component that writes into a user's conversation; a backup makes any
mistake (ours or a later tool's) recoverable. Only the bytes added since the last copy are
read, so the cost is proportional to what was merged. If the fixed file shrinks or is replaced
(size below what was copied), a new generation starts. Names end in ``.backup``, never
``.jsonl``, and live under the hidden state directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from sessionlab.monitor.safety import make_private_dir, open_private

CHUNK = 1 << 20


class IncrementalBackup:
    def __init__(self, directory: Path, session_id: str) -> None:
        self.directory = directory
        self.session_id = session_id

    def _current(self) -> Path:
        make_private_dir(self.directory)
        gens = sorted(
            (int(p.name.split(".")[1]), p)
            for p in self.directory.glob(f"{self.session_id}.*.backup")
            if p.name.split(".")[1].isdigit()
        )
        return gens[-1][1] if gens else self.directory / f"{self.session_id}.1.backup"

    def sync(self, fixed: Path) -> int:
        """Copy new bytes of ``fixed`` into the backup; returns how many were copied."""
        try:
            src = os.open(fixed, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            target = self._current()
            done = target.stat().st_size if target.exists() else 0
            size = os.fstat(src).st_size
            if size < done:
                generation = int(target.name.split(".")[1]) + 1
                target = self.directory / f"{self.session_id}.{generation}.backup"
                done = 0
            if size == done:
                return 0
            dst = open_private(target, os.O_WRONLY | os.O_APPEND)
            try:
                pos = done
                while pos < size:
                    data = os.pread(src, min(CHUNK, size - pos), pos)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        view = view[os.write(dst, view) :]
                    pos += len(data)
                return pos - done
            finally:
                os.close(dst)
        finally:
            os.close(src)
