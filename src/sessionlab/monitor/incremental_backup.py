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
            dst = open_private(target, os.O_WRONLY)  # no O_APPEND: copy_file_range refuses it
            try:
                return self._copy(src, dst, done, size)
            finally:
                os.close(dst)
        finally:
            os.close(src)

    @staticmethod
    def _copy(src: int, dst: int, done: int, size: int) -> int:
        """Copy ``src[done:size]`` to the end of the backup (which is ``done`` bytes long).

        ``copy_file_range`` copies inside the kernel: no buffer in our process (the merge's
        memory bound) and no GIL hand-offs; ``pread``/``write`` is the fallback.
        """
        pos = done
        kernel_copy = hasattr(os, "copy_file_range")
        while pos < size:
            if kernel_copy:
                try:
                    count = os.copy_file_range(src, dst, size - pos, pos, pos)
                except OSError:  # EXDEV on old kernels, EINVAL on odd filesystems
                    kernel_copy = False
                    continue
            else:
                data = os.pread(src, min(CHUNK, size - pos), pos)
                count = len(data)
                view = memoryview(data)
                offset = pos
                while view:
                    written = os.pwrite(dst, view, offset)
                    view, offset = view[written:], offset + written
            if count == 0:
                break
            pos += count
        return pos - done
