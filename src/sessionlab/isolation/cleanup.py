"""Cleanup: expired sessions leave the store, their folders and their cached objects.

Expiry is lazy everywhere else (an expired session is simply never returned), so without a
sweeper the store and the disk would only grow. One pass also removes *orphan* folders: a
session folder whose record is gone (the app crashed between the two, or Redis dropped the
key on its own backstop TTL).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sessionlab.isolation.temporary_sessions import TemporarySessionManager


@dataclass
class SweepReport:
    """What one pass removed."""

    expired: list[str] = field(default_factory=list)
    orphan_folders: list[str] = field(default_factory=list)
    cache_entries: int = 0


class Cleaner:
    """Runs :meth:`run_once` now, or every ``interval`` seconds in a daemon thread."""

    def __init__(self, manager: TemporarySessionManager) -> None:
        self.manager = manager
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.last_error: Exception | None = None

    def run_once(self) -> SweepReport:
        manager = self.manager
        now = manager.clock.now()
        report = SweepReport(expired=manager.store.purge_expired(now=now))
        for session_id in report.expired:
            manager.folders.remove(session_id)
            report.cache_entries += manager.cache.drop(session_id)
        live = set(manager.store.live_ids(now=now))
        for session_id in manager.folders.existing_ids():
            # Re-check one by one: a session created after live_ids() is not an orphan.
            if session_id not in live and manager.store.get(session_id, now=now) is None:
                manager.folders.remove(session_id)
                report.cache_entries += manager.cache.drop(session_id)
                report.orphan_folders.append(session_id)
        self.passes += 1
        return report

    def start(self, interval: float | None = None) -> None:
        """Sweep periodically until :meth:`stop` (default interval: the limits' 5 minutes)."""
        if self._thread is not None:
            return
        every = interval if interval is not None else self.manager.limits.cleanup_interval
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.run_once()
                except Exception as error:  # one failed pass must not end the sweeper
                    self.last_error = error

        self._thread = threading.Thread(target=loop, name="session-cleanup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
