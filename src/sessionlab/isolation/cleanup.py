"""Cleanup: expired sessions leave the store, their folders and their cached objects.

Expiry is lazy everywhere else (an expired session is simply never returned), so without a
sweeper the store and the disk would only grow. One pass also removes *orphan* folders: a
session folder whose record is gone (the app crashed between the two, or Redis dropped the
key on its own backstop TTL).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sessionlab.isolation.temporary_sessions import TemporarySessionManager
from sessionlab.sweeper import Sweeper


@dataclass
class SweepReport:
    """What one pass removed."""

    expired: list[str] = field(default_factory=list)
    orphan_folders: list[str] = field(default_factory=list)
    cache_entries: int = 0


class Cleaner:
    """Runs :meth:`run_once` now, or every ``interval`` seconds in a daemon thread.

    The periodic runs go through a :class:`~sessionlab.sweeper.Sweeper` (:attr:`sweeper`, set
    by :meth:`start`): a failed pass is logged, counted and remembered there, and the next
    pass runs as planned.
    """

    def __init__(self, manager: TemporarySessionManager) -> None:
        self.manager = manager
        self.sweeper: Sweeper | None = None

    def run_once(self) -> SweepReport:
        manager = self.manager
        now = manager.clock.wall()
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
        return report

    def start(self, interval: float | None = None) -> None:
        """Sweep periodically until :meth:`stop` (default interval: the limits' 5 minutes)."""
        if self.sweeper is not None and self.sweeper.running:
            return
        every = interval if interval is not None else self.manager.limits.cleanup_interval
        self.sweeper = Sweeper(self.run_once, every, name="session-cleanup")
        self.sweeper.start_thread()

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop_thread(timeout=5)
