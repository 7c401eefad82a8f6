"""The batch pipeline: read, rewrite and durably append a stray's lines (rules 3, 4 and 9).

A big stray is *pipelined*: while batch N is written and fsynced on a helper thread (the
syscalls release the GIL), batch N+1 is read and rewritten on the worker. Rule 4's ordering is
unchanged: batch N is committed (offset, dedup keys) only after its fsync, batch N+1 is written
only after that, and nothing touches the stray before every batch is durable (:meth:`pump`
waits before it returns). A failed append rolls back every batch not yet committed.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sessionlab.clock import Clock
from sessionlab.durable.appends import AppendFailed, FixedFile
from sessionlab.monitor.counters import MonitorStats
from sessionlab.monitor.follower import Follower
from sessionlab.monitor.incremental_backup import IncrementalBackup
from sessionlab.monitor.merge import LineRewriter, RewriterMark
from sessionlab.monitor.options import MonitorOptions
from sessionlab.monitor.quarantine import Quarantine

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    """One rewritten batch on its way into the fixed file, and where to commit it."""

    data: bytes | None  # the lines to append, joined; None when there is nothing to write
    lines: int
    duplicates: int
    relinked: int
    quarantined: int
    offset: int  # the stray's commit point once this batch is durable
    mark: RewriterMark
    started: float
    future: Future[tuple[int, int] | AppendFailed] | None = None
    outcome: tuple[int, int] | AppendFailed | None = None


class MergePipeline:
    """Owns the fixed file, the rewriter and the appender thread; one worker calls it."""

    def __init__(
        self,
        session_id: str,
        options: MonitorOptions,
        stats: MonitorStats,
        quarantine: Quarantine,
        backup: IncrementalBackup,
        stopping: threading.Event,
        clock: Clock,
    ) -> None:
        self.options = options
        self.clock = clock  # the monitor's: retry deadlines, growth times, merge latency
        self.stats = stats
        self.quarantine = quarantine
        self.backup = backup
        self.stopping = stopping
        self.rewriter = LineRewriter(session_id)
        self.fixed: FixedFile | None = None
        self.fixed_seen = 0  # bytes of the fixed file whose keys we know
        self._appender: ThreadPoolExecutor | None = None  # write+fsync while we rewrite

    def load(self, fixed: FixedFile) -> None:
        """Rebuild the dedup keys and the tip from the fixed file (rule 3)."""
        self.fixed = fixed
        self.fixed_seen = 0
        for end, line in fixed.iter_lines():
            self.rewriter.observe_existing(line)
            self.fixed_seen = end

    def close(self) -> None:
        if self._appender is not None:
            self._appender.shutdown(wait=True)
            self._appender = None
        if self.fixed is not None:
            self.fixed.close()

    # -- the pipeline ----------------------------------------------------------------------
    def pump(self, follower: Follower, started: float) -> bool:
        """Merge every complete line available now; False if an append failed (kept)."""
        if follower.retry_at > self.clock.monotonic():
            return False
        inflight: _Batch | None = None
        try:
            while True:
                if self.stopping.is_set():
                    complete = False
                    break
                before = follower.read_pos
                lines = follower.read_batch(self.options.batch_bytes)
                if follower.read_pos != before:
                    follower.last_growth = self.clock.monotonic()
                    follower.next_attempt = max(follower.next_attempt, follower.last_growth)
                if lines or follower.quarantined:
                    batch = self._prepare(follower, lines, started)  # consumes ``lines``
                    if inflight is not None:
                        waiting, inflight = inflight, None  # landed here, never in finally
                        if not self._land(follower, waiting):
                            return False
                    if batch.data is None:
                        self._commit(follower, batch)
                    elif follower.at_eof:  # the last (often the only) batch: no hand-off
                        self._submit(batch, background=False)
                        if not self._land(follower, batch):
                            return False
                    else:
                        self._submit(batch, background=True)
                        inflight = batch
                if follower.at_eof:
                    complete = True
                    break
            if inflight is not None:
                waiting, inflight = inflight, None
                complete = self._land(follower, waiting) and complete
            return complete
        finally:
            if inflight is not None:  # an exception on the way: never leave a write running
                self._land(follower, inflight)

    def merge(self, follower: Follower, lines: list[bytes], started: float) -> bool:
        """Merge one list of lines synchronously (the unterminated tail)."""
        batch = self._prepare(follower, lines, started)
        if batch.data is None:
            self._commit(follower, batch)
            return True
        self._submit(batch, background=False)
        return self._land(follower, batch)

    def _prepare(self, follower: Follower, lines: list[bytes], started: float) -> _Batch:
        """Rewrite one batch (provisionally) and quarantine its bad lines."""
        result = self.rewriter.rewrite_batch(lines, follower.fragment)
        if result.bad and not self.options.dry_run:
            for raw in result.bad:
                self.quarantine.put(raw, origin=f"{follower.original_name}")
        out = result.lines
        data: bytes | None = None
        count = len(out)
        if out and not self.options.dry_run:
            out.append(b"")  # one join per batch, ending with a newline, no second copy
            data = b"\n".join(out)
        out.clear()  # the lines are in ``data`` now: hold the batch once, not twice
        batch = _Batch(
            data=data,
            lines=count,
            duplicates=result.duplicates,
            relinked=result.relinked,
            quarantined=len(result.bad) + follower.quarantined,
            offset=follower.line_start,
            mark=self.rewriter.mark(),
            started=started,
        )
        follower.quarantined = 0
        return batch

    def _submit(self, batch: _Batch, *, background: bool) -> None:
        """Start the durable append of ``batch`` (on the appender thread if ``background``)."""
        assert batch.data is not None and self.fixed is not None
        self._catch_up_fixed()  # nothing is in flight here: the fixed file is quiet
        if background:
            try:
                if self._appender is None:
                    self._appender = ThreadPoolExecutor(1, thread_name_prefix="sessionlab-append")
                batch.future = self._appender.submit(self._append_job, batch.data)
                return
            except RuntimeError:  # interpreter shutting down: no new threads, append here
                pass
        batch.outcome = self._append_job(batch.data)

    def _append_job(self, data: bytes) -> tuple[int, int] | AppendFailed:
        """Rule 4 + 9: write and fsync (the fixed file restores itself on failure), back up."""
        assert self.fixed is not None
        try:
            sizes = self.fixed.append([data])
        except AppendFailed as error:
            return error
        if self.options.backup:
            try:
                self.backup.sync(self.fixed.path)
            except OSError as error:
                log.warning("backup failed: %s", error)
        return sizes

    def _land(self, follower: Follower, batch: _Batch) -> bool:
        """Wait for ``batch``'s append; commit it, or roll back everything not yet committed."""
        if batch.future is not None:
            batch.outcome, batch.future = batch.future.result(), None
        outcome = batch.outcome
        if isinstance(outcome, AppendFailed):
            assert self.fixed is not None
            log.warning("append to %s failed (%s); will retry", self.fixed.path.name, outcome)
            self.stats.count("write_errors")
            self.rewriter.rollback()  # this batch and any prepared after it
            follower.rewind()
            follower.retry_at = self.clock.monotonic() + self.options.retry_interval
            follower.next_attempt = follower.retry_at
            return False
        assert outcome is not None
        before, after = outcome
        if before == self.fixed_seen:
            self.fixed_seen = after
        self.stats.sample("merge_latencies_ms", self.clock.monotonic() - batch.started)
        self._commit(follower, batch)
        return True

    def _commit(self, follower: Follower, batch: _Batch) -> None:
        self.rewriter.commit(batch.mark)
        follower.commit(batch.offset)
        self.stats.merged(
            lines=batch.lines,
            size=len(batch.data or b""),
            duplicates=batch.duplicates,
            quarantined=batch.quarantined,
            relinked=batch.relinked,
        )

    def _catch_up_fixed(self) -> None:
        """Learn lines someone else (the CLI resumed on the fixed id) appended meanwhile."""
        assert self.fixed is not None
        size = self.fixed.size()
        if size > self.fixed_seen:
            for end, line in self.fixed.iter_lines(self.fixed_seen):
                self.rewriter.observe_existing(line)
                self.fixed_seen = end
