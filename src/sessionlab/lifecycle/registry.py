"""The session registry: limits, activity, idle timeouts, orphans, health, forced cleanup.

Every method that changes the registry is synchronous on purpose. In asyncio nothing else runs
between two statements without an ``await``, so ``register`` checks the limit and adds the
session in one step: no interleaving of many concurrent creations can let one session too many
in. The race lives in callers that check, ``await`` something (a connection), then register;
:class:`~sessionlab.lifecycle.handler.SessionHandler` registers first and connects second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionlab.errors import CourseError
from sessionlab.lifecycle.backup import BackupReport, backup_transcripts, sha256
from sessionlab.lifecycle.clock import Clock, monotonic
from sessionlab.lifecycle.config import RegistrySettings
from sessionlab.lifecycle.orphans import Orphans, find_orphans, transcript_ids

log = logging.getLogger(__name__)

RECENT_SECONDS = 300.0
"""A session active within this many seconds counts as "recent" in the health report."""

TRANSCRIPT_GRACE_SECONDS = 30.0
"""How long a freshly reported transcript id may lack its file before it counts as missing.

The CLI sends a turn's ``ResultMessage`` *before* it first writes ``<id>.jsonl`` (measured with
the pinned 2.1.112 CLI: the file is absent when the result arrives and appears a few
milliseconds later, longer on a loaded machine). An orphan check run right after a session's
first turn would otherwise report a live, healthy session as having lost its transcript.
"""


class SessionLimitError(CourseError):
    """The registry is full: raised by callers that cannot simply be told ``False``."""


@dataclass
class SessionRecord:
    key: str
    created_at: float
    last_activity: float
    transcript_id: str | None = None
    """The CLI's session id once the first turn reported it; ``None`` before that."""
    bound_at: float | None = None
    """When :meth:`SessionRegistry.bind` learned ``transcript_id`` (``None``: given at register).

    Its file may not exist yet for :data:`TRANSCRIPT_GRACE_SECONDS` after that (see there).
    """


@dataclass
class ForcedCleanupReport:
    removed: list[str]
    backup: BackupReport | None
    deleted_files: list[Path]


class SessionRegistry:
    """Which sessions exist, when each was last used, and which of them should go.

    ``project_dir`` (where the CLI writes transcripts, :attr:`CourseLab.project_dir`) enables
    orphan detection and backups; ``clock`` makes timeouts testable without sleeping;
    ``transcript_grace`` is :data:`TRANSCRIPT_GRACE_SECONDS` unless given.
    """

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        project_dir: Path | None = None,
        clock: Clock = monotonic,
        transcript_grace: float = TRANSCRIPT_GRACE_SECONDS,
    ) -> None:
        self.settings = settings or RegistrySettings()
        self.transcript_grace = transcript_grace
        """Seconds a just-bound transcript may be absent before it is reported missing."""
        self.project_dir = Path(project_dir) if project_dir is not None else None
        self.clock = clock
        self._sessions: dict[str, SessionRecord] = {}
        self._ended: set[str] = set()
        """Transcript ids of sessions that ended here: their files are history, not orphans."""
        self.rejected = 0
        if self.permanent:
            log.info("permanent sessions: timeout 0 (never expire), no automatic cleanup")

    # -- registry ---------------------------------------------------------------------
    @property
    def permanent(self) -> bool:
        return self.settings.timeout_minutes == 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, key: object) -> bool:
        return key in self._sessions

    def __iter__(self) -> Iterator[str]:
        """The registered keys (a snapshot: safe while sessions come and go)."""
        return iter(list(self._sessions))

    def keys(self) -> list[str]:
        return list(self._sessions)

    def get(self, key: str) -> SessionRecord | None:
        return self._sessions.get(key)

    def register(self, key: str, transcript_id: str | None = None) -> bool:
        """Add ``key`` unless the registry is full; ``True`` if it is registered afterwards.

        Registering a key twice is not a second session: it only counts as activity.
        """
        if key in self._sessions:
            self.touch(key)
            return True
        if len(self._sessions) >= self.settings.max_sessions:
            self.rejected += 1
            log.warning("session limit %d reached: %s rejected", self.settings.max_sessions, key)
            return False
        now = self.clock()
        self._sessions[key] = SessionRecord(key, now, now, transcript_id)
        return True

    def unregister(self, key: str) -> bool:
        record = self._sessions.pop(key, None)
        if record is not None and record.transcript_id:
            self._ended.add(record.transcript_id)
        return record is not None

    def touch(self, key: str) -> None:
        """Record activity (the seed's ``update_session_activity``)."""
        record = self._sessions.get(key)
        if record is not None:
            record.last_activity = self.clock()

    def bind(self, key: str, transcript_id: str) -> None:
        """Remember the CLI's session id for ``key`` (the name of its transcript file)."""
        record = self._sessions.get(key)
        if record is not None:
            if record.transcript_id == transcript_id:
                return  # a later turn of the same file: its grace period already started
            if record.transcript_id:
                self._ended.add(record.transcript_id)  # a legacy --resume fork moved on
            record.transcript_id = transcript_id
            record.bound_at = self.clock()  # the CLI may not have written the file yet

    # -- timeouts ---------------------------------------------------------------------
    def idle_seconds(self, key: str) -> float:
        return self.clock() - self._sessions[key].last_activity

    def expired(self) -> list[str]:
        """Keys idle for at least the timeout; always empty when the timeout is 0."""
        if self.permanent:
            return []
        limit = self.settings.timeout_minutes * 60.0
        now = self.clock()
        return [k for k, r in self._sessions.items() if now - r.last_activity >= limit]

    def cleanup_inactive(self) -> list[str]:
        """Unregister the expired sessions and return their keys (transcripts are kept)."""
        gone = self.expired()
        for key in gone:
            self.unregister(key)
        if gone:
            log.info("removed %d inactive session(s): %s", len(gone), gone)
        return gone

    # -- orphans ----------------------------------------------------------------------
    def known_transcripts(self) -> set[str]:
        """Transcript ids of live sessions and of sessions that ended in this registry."""
        live = {r.transcript_id for r in self._sessions.values() if r.transcript_id}
        return live | self._ended

    def orphans(self) -> Orphans:
        """Live sessions whose transcript is missing, and transcripts this registry never knew.

        A session that has not reported a transcript id yet is neither (its first turn has
        not happened); the file of a session that ended or expired is history, not an orphan.
        Nor is a transcript id bound less than ``transcript_grace`` seconds ago whose file is
        not there yet: the CLI reports the id before its first write (see
        :data:`TRANSCRIPT_GRACE_SECONDS`). After the grace period a missing file is reported.
        """
        if self.project_dir is None:
            raise CourseError("orphan detection needs the project folder: pass project_dir=")
        now = self.clock()
        live = {
            r.transcript_id
            for r in self._sessions.values()
            if r.transcript_id and (r.bound_at is None or now - r.bound_at >= self.transcript_grace)
        }
        found = find_orphans(self.known_transcripts(), self.project_dir)
        missing = [t for t in found.missing_transcripts if t in live]
        return Orphans(missing, found.unregistered_transcripts)

    # -- reports ----------------------------------------------------------------------
    def health_report(self) -> dict[str, Any]:
        now = self.clock()
        idle = [now - r.last_activity for r in self._sessions.values()]
        recent = sum(1 for seconds in idle if seconds < RECENT_SECONDS)
        report: dict[str, Any] = {
            "sessions": {
                "active": len(self._sessions),
                "recent": recent,
                "idle": len(idle) - recent,
                "max": self.settings.max_sessions,
                "rejected": self.rejected,
                "expiring": len(self.expired()),
            },
            "config": {
                "timeout_minutes": self.settings.timeout_minutes,
                "cleanup_interval": self.settings.cleanup_interval_minutes,
                "permanent": self.permanent,
            },
        }
        if self.project_dir is not None:
            orphans = self.orphans()
            report["orphans"] = {
                "missing_transcripts": orphans.missing_transcripts,
                "unregistered_transcripts": orphans.unregistered_transcripts,
            }
        return report

    # -- emergency --------------------------------------------------------------------
    def force_cleanup(
        self, backup_root: Path, *, delete_transcripts: bool = False
    ) -> ForcedCleanupReport:
        """Back up every transcript, then unregister every session.

        With ``delete_transcripts`` the files are deleted too, but only those whose backup
        was verified; if any copy failed nothing is deleted and nothing is unregistered.
        """
        files: list[Path] = []
        if self.project_dir is not None:
            files = [
                self.project_dir / f"{stem}.jsonl" for stem in transcript_ids(self.project_dir)
            ]
        backup = backup_transcripts(files, Path(backup_root)) if files else None
        if backup is not None and not backup.ok:
            raise CourseError(
                f"backup of {len(backup.failed)} transcript(s) failed "
                f"({backup.failed[0][0].name}: {backup.failed[0][1]}): nothing was cleaned up"
            )
        removed = list(self._sessions)
        for key in removed:
            self.unregister(key)
        deleted: list[Path] = []
        if delete_transcripts and backup is not None:
            for copy in backup.copied:
                original = files[0].parent / copy.name
                if original.exists() and sha256(original) == sha256(copy):
                    original.unlink()  # unchanged since its verified copy was taken
                    deleted.append(original)
                else:
                    log.warning("%s changed after its backup: kept", original.name)
        log.warning(
            "force cleanup: %d session(s) unregistered, %d file(s) backed up to %s",
            len(removed),
            len(files),
            backup.folder if backup else "-",
        )
        return ForcedCleanupReport(removed, backup, deleted)
