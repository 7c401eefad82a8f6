"""Orphans: registrations without a transcript, and transcripts without a registration.

The registry knows sessions by the transcript id the CLI reported (``ResultMessage.session_id``);
Claude Code names the file ``<project dir>/<that id>.jsonl``. A registration whose file is gone
points at a conversation nobody can resume; a file no registration names is a conversation the
application lost track of (a crash before registering, or a legacy ``--resume`` fork).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Orphans:
    missing_transcripts: list[str]
    """Registered transcript ids with no ``<id>.jsonl`` in the project folder."""
    unregistered_transcripts: list[str]
    """Transcript ids in the project folder that no registration names."""

    @property
    def count(self) -> int:
        return len(self.missing_transcripts) + len(self.unregistered_transcripts)


def transcript_ids(project_dir: str | Path) -> set[str]:
    """Stems of the session files directly in ``project_dir`` (sub-agent ``agent-*`` excluded)."""
    folder = Path(project_dir)
    if not folder.is_dir():
        return set()
    return {
        p.stem for p in folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("agent-")
    }


def find_orphans(registered: Iterable[str], project_dir: str | Path) -> Orphans:
    """Compare registered transcript ids with the files on disk; both lists sorted."""
    known = set(registered)
    on_disk = transcript_ids(project_dir)
    return Orphans(sorted(known - on_disk), sorted(on_disk - known))
