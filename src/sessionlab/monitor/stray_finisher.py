"""Finishing a stray: remove it only once its inode is provably dead (rules 2, 4 and 5).

Take a read lease (it fails while any process has the inode open for writing), rename the
stray to its in-directory tombstone, drain it, merge its unterminated tail if it parses,
unlink it; before letting the lease go, check it is intact. Without leases, linger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from sessionlab.clock import Clock
from sessionlab.durable import failpoints
from sessionlab.durable.safety import fsync_dir
from sessionlab.monitor.counters import MonitorStats
from sessionlab.monitor.discovery import TOMBSTONE_PREFIX, StrayDiscovery
from sessionlab.monitor.follower import Follower
from sessionlab.monitor.lease import Lease, lease_intact, release, try_read_lease
from sessionlab.monitor.merge_pipeline import MergePipeline
from sessionlab.monitor.options import MonitorOptions

log = logging.getLogger(__name__)


class StrayFinisher:
    """Decides when a followed stray is done and removes it safely."""

    def __init__(
        self,
        options: MonitorOptions,
        stats: MonitorStats,
        discovery: StrayDiscovery,
        pipeline: MergePipeline,
        request_rescan: Callable[[], None],
        clock: Clock,
    ) -> None:
        self.options = options
        self.clock = clock  # the monitor's: quiet periods and removal latency
        self.stats = stats
        self.discovery = discovery
        self.pipeline = pipeline
        self.request_rescan = request_rescan

    def try_finish(self, follower: Follower, now: float) -> None:
        """Rule 5: remove a stray only once its inode is provably dead."""
        opts = self.options
        if opts.dry_run or follower.retry_at > now:
            follower.next_attempt = max(now + opts.quiet_period, follower.retry_at)
            return
        quiet_since = follower.last_growth
        empty = follower.read_pos == 0
        due = quiet_since + opts.quiet_period
        if follower.close_hint is not None:
            due = now  # IN_CLOSE_WRITE: try the lease right away (removal p99 target)
        if empty:
            due = max(due, follower.first_seen + opts.empty_grace)
        if not follower.leases or not opts.use_leases:
            due = max(quiet_since + opts.linger, due)
        if now < due:
            follower.next_attempt = due
            return
        closed_at, follower.close_hint = follower.close_hint, None
        if closed_at is not None:
            follower.last_close = closed_at
        leased = False
        if follower.leases and opts.use_leases:
            result = try_read_lease(follower.fd)
            if result is Lease.BUSY:
                self.stats.count("lease_busy")
                follower.next_attempt = now + opts.quiet_period
                return
            if result is Lease.UNSUPPORTED:
                log.info("no leases for %s: lingering %.0fs instead", follower.name, opts.linger)
                follower.leases = False
                follower.next_attempt = now + opts.linger
                return
            leased = True
        intact = True
        try:
            done = self._finish_leased(follower)
            if leased:
                intact = lease_intact(follower.fd)
        finally:
            if leased and not (done and intact):
                release(follower.fd)
        if not done:
            follower.next_attempt = max(follower.retry_at, now + opts.quiet_period)
            return
        if not intact:  # a writer opened it while we held the lease: keep following
            self.stats.count("lease_broken")
            release(follower.fd)
            follower.next_attempt = self.clock.monotonic() + opts.quiet_period
            return
        self._forget(follower)

    def _finish_leased(self, follower: Follower) -> bool:
        """Tombstone, drain, merge the tail, unlink. False means "keep it and retry"."""
        dir_fd = self.discovery.dir_fd
        if not follower.unlinked:
            if os.fstat(follower.fd).st_nlink == 0:
                follower.unlinked = True  # someone else removed the name; just drain
            elif not follower.tombstoned:
                tomb = f"{TOMBSTONE_PREFIX}{follower.key[0]}-{follower.key[1]}"
                if not self.discovery.still_named(follower):
                    self.request_rescan()
                    return False
                os.rename(follower.name, tomb, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                failpoints.hit("after_rename")
                fsync_dir(dir_fd)
                self.discovery.rename(follower, tomb)
                follower.tombstoned = True
        if not self.pipeline.pump(follower, self.clock.monotonic()):
            return False
        if not self._merge_tail(follower):
            return False
        if not follower.unlinked:
            if not self.discovery.still_named(follower):
                self.request_rescan()
                return False
            os.unlink(follower.name, dir_fd=dir_fd)
            failpoints.hit("after_unlink")
            fsync_dir(dir_fd)
            follower.unlinked = True
        return True

    def _merge_tail(self, follower: Follower) -> bool:
        """Rule 2: an unterminated last line counts only once the writer is gone."""
        tail = follower.take_tail()
        if follower.quarantined:
            self.stats.count("quarantined_lines", follower.quarantined)
            follower.quarantined = 0
        if not tail.strip():
            return True
        if not self.pipeline.merge(follower, [tail], self.clock.monotonic()):
            return False
        follower.committed = follower.read_pos
        return True

    def _forget(self, follower: Follower) -> None:
        self.stats.removed(empty=follower.read_pos == 0)
        if follower.last_close is not None:
            self.stats.sample("removal_latencies_ms", self.clock.monotonic() - follower.last_close)
        self.discovery.forget(follower)
