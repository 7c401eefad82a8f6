"""Copies of session transcripts, verified, taken before anything is cleaned up.

The permanent-sessions seed promises "a backup before cleanup"; a backup that was never
compared with its source is a hope, not a backup. :func:`backup_transcripts` copies each file,
re-reads the copy and compares SHA-256 digests, and reports any file it could not verify so the
caller can refuse to delete.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class BackupReport:
    folder: Path
    copied: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def backup_folder(root: Path, stamp: float | None = None) -> Path:
    """A new, unused folder ``<root>/backup-<UTC time>[-n]`` (never overwrites a backup)."""
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if stamp is None else stamp))
    candidate = root / f"backup-{when}"
    number = 1
    while candidate.exists():
        number += 1
        candidate = root / f"backup-{when}-{number}"
    candidate.mkdir(parents=True)
    return candidate


def backup_transcripts(
    files: Iterable[Path], root: Path, stamp: float | None = None
) -> BackupReport:
    """Copy ``files`` into a new folder under ``root`` and verify every copy byte for byte."""
    report = BackupReport(backup_folder(root, stamp))
    for source in sorted({Path(f) for f in files}):
        target = report.folder / source.name
        try:
            shutil.copy2(source, target)
            if sha256(source) != sha256(target):
                raise OSError("the copy differs from the source (was it written meanwhile?)")
        except OSError as error:
            report.failed.append((source, str(error)))
            continue
        report.copied.append(target)
        report.bytes += target.stat().st_size
    return report
