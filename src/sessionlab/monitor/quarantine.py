"""Where unparseable and over-long lines go: kept for a human, never dropped (rules 2 and 8).

Files are content-addressed (``<sha256>.bad``), so quarantining the same line again after a
crash and re-read is idempotent. A line longer than the cap is streamed to a temporary file
chunk by chunk and renamed once complete, so memory stays bounded however long it is.
Names never end in ``.jsonl``: nothing here may look like a session to the CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from sessionlab.durable import failpoints
from sessionlab.durable.safety import make_private_dir, open_private


class Quarantine:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, data: bytes, *, origin: str = "") -> Path:
        """Durably store one bad line; returns its path."""
        make_private_dir(self.directory)
        target = self.directory / f"{hashlib.sha256(data).hexdigest()[:32]}.bad"
        if not target.exists():
            stream = self.open_stream(origin)
            stream.write(data)
            target = stream.finish()
        failpoints.hit("after_quarantine")
        return target

    def open_stream(self, origin: str = "") -> QuarantineStream:
        make_private_dir(self.directory)
        return QuarantineStream(self.directory, origin)


class QuarantineStream:
    """An over-long line being copied to quarantine in bounded chunks."""

    def __init__(self, directory: Path, origin: str) -> None:
        self.directory = directory
        self.tmp = directory / f".incoming-{os.getpid()}-{id(self):x}"
        self._fd = open_private(self.tmp, os.O_WRONLY | os.O_TRUNC)
        self._hash = hashlib.sha256()
        self.size = 0
        self.origin = origin

    def write(self, data: bytes | bytearray) -> None:
        self._hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.size += len(data)

    def finish(self) -> Path:
        os.fsync(self._fd)
        os.close(self._fd)
        target = self.directory / f"{self._hash.hexdigest()[:32]}.bad"
        os.replace(self.tmp, target)
        if self.origin:
            note = target.with_suffix(".origin")
            fd = open_private(note, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, f"{self.origin}\n".encode())
            finally:
                os.close(fd)
        return target

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
