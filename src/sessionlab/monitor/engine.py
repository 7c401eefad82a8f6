"""The reference monitor: merge stray transcripts into one fixed session, losing nothing.

Research (``monitor-reliability.md``) measured the lesson's polling monitor losing 95-99 % of
lines when the CLI keeps its fd open, because it ``unlink``s a file that is still being
written. This engine follows the eleven rules of §4 of that document; each rule is named where
it is implemented, and ``docs/monitor-design.md`` explains them.

Threads: watchdog's observer thread only puts hints on a queue; one worker thread owns every
fd, the fixed file and the state, so no locking is needed beyond the stats lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from sessionlab.monitor import failpoints
from sessionlab.monitor.baseline import MonitorState, load_state, save_state
from sessionlab.monitor.fixedfile import AppendFailed, FixedFile
from sessionlab.monitor.follower import Follower
from sessionlab.monitor.incremental_backup import IncrementalBackup
from sessionlab.monitor.lease import Lease, lease_intact, release, try_read_lease
from sessionlab.monitor.lock import DirectoryLock
from sessionlab.monitor.merge import LineRewriter, RewriterMark
from sessionlab.monitor.quarantine import Quarantine
from sessionlab.monitor.safety import UnsafeFile, fsync_dir, make_private_dir, open_stray
from sessionlab.transcripts import is_session_id, is_sidechain_file

log = logging.getLogger(__name__)

#: Hidden, in-directory name a stray gets before it is removed (rule 4/5). Renaming inside the
#: watched directory avoids watchdog's 0.5 s move-pairing stall; no ``.jsonl`` suffix, so the
#: CLI never lists it as a session.
TOMBSTONE_PREFIX = ".sessionlab-merging-"
STATE_DIR_NAME = ".sessionlab"
MiB = 1 << 20
#: Only what discovery needs: a smaller inotify mask means less queue pressure (research §2).
_EVENT_FILTER = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent]


@dataclass(frozen=True)
class MonitorOptions:
    """Tunables; the defaults match the research numbers (see docs/monitor-design.md)."""

    adopt_existing: bool = False
    state_dir: Path | None = None
    rescan_interval: float = 5.0  # os.scandir of 10k files: 5-9 ms -> ~0.1 % CPU
    quiet_period: float = 1.0  # no growth for this long -> try the lease
    empty_grace: float = 1.0  # a 0-byte stray must stay empty this long (created != written)
    linger: float = 30.0  # without leases: quiet this long before removal, then keep the fd
    retry_interval: float = 1.0  # after ENOSPC/EIO
    max_line_bytes: int = 64 * MiB
    batch_bytes: int = 4 * MiB  # one write+fsync per batch; bounds RSS (~3 copies in flight)
    backup: bool = True
    dry_run: bool = False
    use_leases: bool = True
    latency_samples: int = 10_000


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: turn events into cheap queue hints, nothing else."""

    def __init__(self, monitor: SessionMonitor) -> None:
        self._monitor = weakref.ref(monitor)

    def on_any_event(self, event: FileSystemEvent) -> None:
        monitor = self._monitor()
        if monitor is None or event.is_directory:
            return
        now = time.monotonic()
        kind = event.event_type
        monitor._hint(kind, os.fsdecode(event.src_path), now)
        if kind == "moved" and event.dest_path:
            monitor._hint("created", os.fsdecode(event.dest_path), now)


class _OverflowWatch(logging.Handler):
    """watchdog logs IN_Q_OVERFLOW but sends no event (research §2): rescan on that log line."""

    monitors: ClassVar[weakref.WeakSet[SessionMonitor]] = weakref.WeakSet()

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            for monitor in list(self.monitors):
                monitor.request_rescan(reason="overflow")


_OVERFLOW = _OverflowWatch(level=logging.WARNING)
for _name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
    logging.getLogger(_name).addHandler(_OVERFLOW)


class SessionMonitor:
    """Watch ``project_dir`` and merge every stray ``*.jsonl`` into ``<session_id>.jsonl``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``observer`` lets several
    monitors share one watchdog observer (see :mod:`sessionlab.monitor.multi`).
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str],
        session_id: str,
        *,
        observer: Any | None = None,
        **options: Any,
    ) -> None:
        if not is_session_id(session_id):
            raise ValueError(f"not a session id (UUID): {session_id!r}")
        opts = MonitorOptions(**options)
        self.options = opts
        self.project_dir = Path(os.path.realpath(project_dir))
        self.session_id = session_id
        self.fixed_name = f"{session_id}.jsonl"
        self.state_dir = (
            Path(opts.state_dir) if opts.state_dir else self.project_dir / STATE_DIR_NAME
        )
        self._shared_observer = observer
        self._observer: Any | None = None
        self._watch: Any | None = None
        self._queue: queue.SimpleQueue[tuple[str, str, float]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._started = False
        self._stopped = False
        self._idle = threading.Event()
        self._lock = DirectoryLock(self.state_dir / "lock")
        self._stats_lock = threading.Lock()
        self._dir_fd = -1
        self._dir_dev = 0
        self._dir_str = str(self.project_dir)
        self._baseline: set[str] = set()
        self._followers: dict[tuple[int, int], Follower] = {}
        self._names: dict[str, tuple[int, int]] = {}
        self._rejected: dict[str, int] = {}
        self._rescan_due = 0.0
        self._rewriter = LineRewriter(session_id)
        self._fixed: FixedFile | None = None
        self._quarantine = Quarantine(self.state_dir / "quarantine")
        self._backup = IncrementalBackup(self.state_dir / "backups", session_id)
        self._fixed_seen = 0  # bytes of the fixed file whose keys we know
        self._appender: ThreadPoolExecutor | None = None  # write+fsync while we rewrite
        self.error: BaseException | None = None
        n = opts.latency_samples
        self._stats: dict[str, Any] = {
            "corrections": 0,
            "intercepted_files": [],
            "lines_merged": 0,
            "bytes_merged": 0,
            "duplicates_skipped": 0,
            "quarantined_lines": 0,
            "relinked_fragments": 0,
            "empty_removed": 0,
            "rejected_files": {},
            "lease_busy": 0,
            "lease_broken": 0,
            "write_errors": 0,
            "rescans": 0,
            "overflow_rescans": 0,
            "detection_latencies_ms": deque(maxlen=n),
            "merge_latencies_ms": deque(maxlen=n),
            "removal_latencies_ms": deque(maxlen=n),
        }

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SessionMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, watch: bool = True) -> SessionMonitor:
        """Lock the directory, load or take the baseline, then watch and merge."""
        if self._started:
            return self
        self._started = True
        try:
            self._open()
        except BaseException:
            self._stopped = True
            self._close()
            raise
        if watch:
            self._start_watching()
        self._thread = threading.Thread(
            target=self._run, name=f"sessionlab-monitor:{self.project_dir.name}", daemon=True
        )
        self._thread.start()
        _OverflowWatch.monitors.add(self)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, finish the current batch, close every fd. Idempotent."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._queue.put(("stop", "", time.monotonic()))
        self._stop_watching()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        _OverflowWatch.monitors.discard(self)
        self._close()

    def _open(self) -> None:
        if not self.project_dir.is_dir():
            raise FileNotFoundError(f"project directory not found: {self.project_dir}")
        self._dir_fd = os.open(self.project_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dir_dev = os.fstat(self._dir_fd).st_dev
        opts = self.options
        if not opts.dry_run:
            make_private_dir(self.state_dir)
            self._lock.acquire()
        self._fixed = FixedFile(self.project_dir / self.fixed_name, self._dir_fd)
        if not opts.dry_run:
            torn = self._fixed.repair_torn_tail()
            if torn:
                self._quarantine.put(torn, origin=f"{self.fixed_name} torn tail")
        self._load_fixed()
        state_path = self.state_dir / "state.json"
        state = load_state(state_path)
        if state is None or opts.adopt_existing:
            # Rule 10: files present when we first watch are history, not strays.
            baseline = set() if opts.adopt_existing else self._list_candidates()
            state = MonitorState(self.session_id, baseline)
            if not opts.dry_run:
                save_state(state_path, state)
        self._baseline = state.baseline

    def _load_fixed(self) -> None:
        """Rebuild the dedup keys and the leaf from the fixed file (rule 3)."""
        assert self._fixed is not None
        self._fixed_seen = 0
        for end, line in self._fixed.iter_lines():
            self._rewriter.observe_existing(line)
            self._fixed_seen = end

    def _close(self) -> None:
        if self._appender is not None:
            self._appender.shutdown(wait=True)
            self._appender = None
        for follower in self._followers.values():
            follower.close()
        self._followers.clear()
        self._names.clear()
        if self._fixed is not None:
            self._fixed.close()
        self._lock.release()
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def _start_watching(self) -> None:
        observer = self._shared_observer
        if observer is None:
            observer = self._observer = Observer()
        self._watch = observer.schedule(
            _Handler(self), self._dir_str, recursive=False, event_filter=_EVENT_FILTER
        )
        if self._observer is not None:
            self._observer.start()

    def _stop_watching(self) -> None:
        try:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join(5)
            elif self._shared_observer is not None and self._watch is not None:
                self._shared_observer.unschedule(self._watch)
        except Exception:  # stopping must never raise
            log.debug("error while stopping the observer", exc_info=True)

    # ------------------------------------------------------------------ public helpers
    def request_rescan(self, reason: str = "request") -> None:
        """Ask for a full ``os.scandir`` pass now (used on inotify queue overflow)."""
        if reason == "overflow":
            with self._stats_lock:
                self._stats["overflow_rescans"] += 1
        self._queue.put(("rescan", "", time.monotonic()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no stray is being followed (tests and ``consolidate``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._idle.clear()
            self._queue.put(("rescan", "", time.monotonic()))
            if self._idle.wait(max(0.0, deadline - time.monotonic())) and not self._followers:
                return True
            if self.error is not None:
                return False
            time.sleep(0.01)
        return False

    def pending(self) -> list[str]:
        """Names of strays still being followed (not yet provably finished)."""
        return sorted(f.name for f in list(self._followers.values()))

    def get_stats(self) -> dict[str, Any]:
        """Counters and latency samples; the first three keys match the naive monitor's."""
        with self._stats_lock:
            stats = dict(self._stats)
            names = list(stats["intercepted_files"])
            stats["intercepted_files"] = len(names)  # same meaning as the naive monitor's
            stats["intercepted_names"] = names
            stats["unique_files"] = len(set(names))
            stats["rejected_files"] = dict(stats["rejected_files"])
            for key in ("detection_latencies_ms", "merge_latencies_ms", "removal_latencies_ms"):
                stats[key] = list(stats[key])
        stats["pending_files"] = self.pending()
        stats["bytes_unread"] = self._bytes_unread()
        return stats

    def _bytes_unread(self) -> int:
        total = 0
        for follower in list(self._followers.values()):
            with contextlib.suppress(OSError):
                total += max(0, follower.size() - follower.committed)
        return total

    def _count(self, key: str, amount: int = 1) -> None:
        with self._stats_lock:
            self._stats[key] += amount

    def _sample(self, key: str, seconds: float) -> None:
        with self._stats_lock:
            self._stats[key].append(seconds * 1000.0)

    # ------------------------------------------------------------------ discovery
    def _hint(self, kind: str, path: str, now: float) -> None:
        directory, name = os.path.split(path)
        if directory == self._dir_str:
            self._queue.put((kind, name, now))

    def _classify(self, name: str) -> str | None:
        if name.startswith(TOMBSTONE_PREFIX):
            return "tombstone"
        if (
            not name.endswith(".jsonl")
            or name.startswith(".")
            or name == self.fixed_name
            or is_sidechain_file(name)  # the CLI finds sidechains by agentId: leave them
            or name in self._baseline
        ):
            return None
        return "stray"

    def _list_candidates(self) -> set[str]:
        names = set()
        with os.scandir(self._dir_fd) as listing:
            for entry in listing:
                if (
                    entry.name.endswith(".jsonl")
                    and entry.name != self.fixed_name
                    and not entry.name.startswith(".")
                ):
                    names.add(entry.name)
        return names

    def _scan(self, now: float) -> None:
        """Rule 10's safety net: find every stray an event may have missed."""
        self._count("rescans")
        found: list[tuple[float, str]] = []
        with os.scandir(self._dir_fd) as listing:
            for entry in listing:
                name = entry.name
                if name in self._names or self._classify(name) is None:
                    continue
                if self._rejected.get(name) == entry.inode():
                    continue
                try:
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
                found.append((mtime, name))
        for _, name in sorted(found):  # oldest first keeps the merged chain in time order
            self._ensure(name, now, from_event=False)
        for follower in list(self._followers.values()):
            self._pump(follower, now)

    def _ensure(self, name: str, now: float, *, from_event: bool) -> Follower | None:
        key = self._names.get(name)
        if key is not None:
            return self._followers.get(key)
        kind = self._classify(name)
        if kind is None:
            return None
        try:
            opened = open_stray(self._dir_fd, name, self._dir_dev)
        except FileNotFoundError:
            return None
        except UnsafeFile as why:
            self._reject(name, str(why))
            return None
        existing = self._followers.get(opened.key)
        if existing is not None:  # renamed by someone else: same inode, new name
            os.close(opened.fd)
            self._names.pop(existing.name, None)
            existing.name = name
            self._names[name] = opened.key
            return existing
        follower = Follower(
            fd=opened.fd,
            key=opened.key,
            name=name,
            original_name=name,
            max_line=self.options.max_line_bytes,
            quarantine=self._quarantine,
            tombstoned=kind == "tombstone",
            first_seen=now,
            last_growth=now,
        )
        self._followers[opened.key] = follower
        self._names[name] = opened.key
        with self._stats_lock:
            self._stats["intercepted_files"].append(name)
        if from_event:
            born = min(opened.st.st_mtime, opened.st.st_ctime)
            self._sample("detection_latencies_ms", max(0.0, time.time() - born))
        return follower

    def _reject(self, name: str, why: str) -> None:
        try:
            inode = os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False).st_ino
        except OSError:
            return  # vanished: nothing to remember
        if self._rejected.get(name) != inode:
            log.warning("leaving %s alone: %s", name, why)
        self._rejected[name] = inode
        with self._stats_lock:
            self._stats["rejected_files"][name] = why

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        try:
            self._scan(time.monotonic())
            self._rescan_due = time.monotonic() + self.options.rescan_interval
            while not self._stopping.is_set():
                timeout = self._next_timeout(time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                batch = [item] if item is not None else []
                while True:  # drain every queued hint before acting on them
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._handle(batch, time.monotonic())
        except BaseException as error:  # keep the reason for the caller; never die silently
            self.error = error
            log.exception("monitor for %s stopped", self.project_dir)
        finally:
            self._idle.set()

    def _next_timeout(self, now: float) -> float:
        due = self._rescan_due
        for follower in self._followers.values():
            due = min(due, follower.next_attempt)
        return max(0.0, min(due - now, self.options.rescan_interval))

    def _handle(self, batch: Iterable[tuple[str, str, float]], now: float) -> None:
        rescan = False
        touched: dict[tuple[int, int], Follower] = {}
        for kind, name, when in batch:
            if kind == "stop":
                return
            if kind == "rescan":
                rescan = True
                continue
            if kind == "deleted":
                continue
            follower = self._ensure(name, now, from_event=kind == "created")
            if follower is None:
                continue
            if kind == "closed":
                follower.close_hint = when
                follower.next_attempt = 0.0
            touched[follower.key] = follower
        if rescan or now >= self._rescan_due:
            self._rescan_due = now + self.options.rescan_interval
            self._scan(now)
        for follower in touched.values():
            self._pump(follower, now)
        for follower in list(self._followers.values()):
            if now >= follower.next_attempt:
                self._pump(follower, now)
                self._try_finish(follower, time.monotonic())
        if not self._followers or rescan:
            self._idle.set()

    # ------------------------------------------------------------------ merging
    def _pump(self, follower: Follower, started: float) -> bool:
        """Merge every complete line available now; False if an append failed (kept).

        A big stray is pipelined: while batch N is written and fsynced on the appender
        thread (the syscalls release the GIL), batch N+1 is read and rewritten here. The
        ordering of rule 4 is unchanged: batch N is committed (offset, dedup keys) only
        after its fsync, batch N+1 is written only after that, and nothing touches the
        stray before every batch is durable (this method waits before it returns).
        """
        if follower.retry_at > time.monotonic():
            return False
        inflight: _Batch | None = None
        try:
            while True:
                if self._stopping.is_set():
                    complete = False
                    break
                before = follower.read_pos
                lines = follower.read_batch(self.options.batch_bytes)
                if follower.read_pos != before:
                    follower.last_growth = time.monotonic()
                    follower.next_attempt = max(follower.next_attempt, follower.last_growth)
                if lines or follower.quarantined:
                    batch = self._prepare(follower, lines, started)  # consumes ``lines``
                    if inflight is not None:
                        inflight, landed = None, self._land(follower, inflight)
                        if not landed:
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
                inflight, landed = None, self._land(follower, inflight)
                complete = complete and landed
            return complete
        finally:
            if inflight is not None:  # an exception on the way: never leave a write running
                self._land(follower, inflight)

    def _prepare(self, follower: Follower, lines: list[bytes], started: float) -> _Batch:
        """Rewrite one batch (provisionally) and quarantine its bad lines."""
        result = self._rewriter.rewrite_batch(lines)
        if result.bad and not self.options.dry_run:
            for raw in result.bad:
                self._quarantine.put(raw, origin=f"{follower.original_name}")
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
            mark=self._rewriter.mark(),
            started=started,
        )
        follower.quarantined = 0
        return batch

    def _submit(self, batch: _Batch, *, background: bool) -> None:
        """Start the durable append of ``batch`` (on the appender thread if ``background``)."""
        assert batch.data is not None and self._fixed is not None
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
        assert self._fixed is not None
        try:
            sizes = self._fixed.append([data])
        except AppendFailed as error:
            return error
        if self.options.backup:
            try:
                self._backup.sync(self._fixed.path)
            except OSError as error:
                log.warning("backup failed: %s", error)
        return sizes

    def _land(self, follower: Follower, batch: _Batch) -> bool:
        """Wait for ``batch``'s append; commit it, or roll back everything not yet committed."""
        if batch.future is not None:
            batch.outcome, batch.future = batch.future.result(), None
        outcome = batch.outcome
        if isinstance(outcome, AppendFailed):
            log.warning("append to %s failed (%s); will retry", self.fixed_name, outcome)
            self._count("write_errors")
            self._rewriter.rollback()  # this batch and any prepared after it
            follower.rewind()
            follower.retry_at = time.monotonic() + self.options.retry_interval
            follower.next_attempt = follower.retry_at
            return False
        assert outcome is not None
        before, after = outcome
        if before == self._fixed_seen:
            self._fixed_seen = after
        self._sample("merge_latencies_ms", time.monotonic() - batch.started)
        self._commit(follower, batch)
        return True

    def _commit(self, follower: Follower, batch: _Batch) -> None:
        self._rewriter.commit(batch.mark)
        follower.commit(batch.offset)
        with self._stats_lock:
            s = self._stats
            s["lines_merged"] += batch.lines
            s["bytes_merged"] += len(batch.data or b"")
            s["duplicates_skipped"] += batch.duplicates
            s["quarantined_lines"] += batch.quarantined
            s["relinked_fragments"] += batch.relinked

    def _merge(self, follower: Follower, lines: list[bytes], started: float) -> bool:
        """Merge one list of lines synchronously (the unterminated tail)."""
        batch = self._prepare(follower, lines, started)
        if batch.data is None:
            self._commit(follower, batch)
            return True
        self._submit(batch, background=False)
        return self._land(follower, batch)

    def _catch_up_fixed(self) -> None:
        """Learn lines someone else (the CLI resumed on the fixed id) appended meanwhile."""
        assert self._fixed is not None
        size = self._fixed.size()
        if size > self._fixed_seen:
            for end, line in self._fixed.iter_lines(self._fixed_seen):
                self._rewriter.observe_existing(line)
                self._fixed_seen = end

    # ------------------------------------------------------------------ finishing a stray
    def _try_finish(self, follower: Follower, now: float) -> None:
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
                self._count("lease_busy")
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
            self._count("lease_broken")
            release(follower.fd)
            follower.next_attempt = time.monotonic() + opts.quiet_period
            return
        self._forget(follower, removed=True)

    def _finish_leased(self, follower: Follower) -> bool:
        """Tombstone, drain, merge the tail, unlink. False means "keep it and retry"."""
        if not follower.unlinked:
            if os.fstat(follower.fd).st_nlink == 0:
                follower.unlinked = True  # someone else removed the name; just drain
            elif not follower.tombstoned:
                tomb = f"{TOMBSTONE_PREFIX}{follower.key[0]}-{follower.key[1]}"
                if not self._still_named(follower):
                    self.request_rescan()
                    return False
                os.rename(follower.name, tomb, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
                failpoints.hit("after_rename")
                fsync_dir(self._dir_fd)
                self._names.pop(follower.name, None)
                follower.name, follower.tombstoned = tomb, True
                self._names[tomb] = follower.key
        if not self._pump(follower, time.monotonic()):
            return False
        if not self._merge_tail(follower):
            return False
        if not follower.unlinked:
            if not self._still_named(follower):
                self.request_rescan()
                return False
            os.unlink(follower.name, dir_fd=self._dir_fd)
            failpoints.hit("after_unlink")
            fsync_dir(self._dir_fd)
            follower.unlinked = True
        return True

    def _still_named(self, follower: Follower) -> bool:
        try:
            st = os.stat(follower.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == follower.key

    def _merge_tail(self, follower: Follower) -> bool:
        """Rule 2: an unterminated last line counts only once the writer is gone."""
        tail = follower.take_tail()
        if follower.quarantined:
            self._count("quarantined_lines", follower.quarantined)
            follower.quarantined = 0
        if not tail.strip():
            return True
        if not self._merge(follower, [tail], time.monotonic()):
            return False
        follower.committed = follower.read_pos
        return True

    def _forget(self, follower: Follower, *, removed: bool) -> None:
        self._followers.pop(follower.key, None)
        self._names.pop(follower.name, None)
        if removed:
            with self._stats_lock:
                self._stats["corrections"] += 1
                if follower.read_pos == 0:
                    self._stats["empty_removed"] += 1
            if follower.last_close is not None:
                self._sample("removal_latencies_ms", time.monotonic() - follower.last_close)
        follower.close()


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
