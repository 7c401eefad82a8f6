"""The reference monitor: merge stray transcripts into one fixed session, losing nothing.

Research (``docs/monitor-baseline.md``) measured the lesson's polling monitor losing 95-99 % of
lines when the CLI keeps its fd open, because it ``unlink``s a file that is still being
written. This engine follows the eleven rules of §4 of that document; each rule is named where
it is implemented, and ``docs/monitor-design.md`` explains them.

The class is split by its jobs, behind this one public API: :mod:`.discovery` (which files are
strays, the follower table), :mod:`.merge_pipeline` (read, rewrite, durably append),
:mod:`.stray_finisher` (remove a stray once its inode is dead), :mod:`.counters` (stats);
this module keeps the lifecycle, the watch and the worker loop.

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Unpack

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from sessionlab.clock import SYSTEM_CLOCK, Clock
from sessionlab.durable.appends import FixedFile
from sessionlab.durable.safety import make_private_dir
from sessionlab.ids import is_uuid
from sessionlab.jsonl import is_object_line
from sessionlab.monitor.baseline import MonitorState, load_state, save_state
from sessionlab.monitor.counters import MonitorStats
from sessionlab.monitor.discovery import TOMBSTONE_PREFIX, StrayDiscovery
from sessionlab.monitor.follower import Follower
from sessionlab.monitor.incremental_backup import IncrementalBackup
from sessionlab.monitor.lock import DirectoryLock
from sessionlab.monitor.merge_pipeline import MergePipeline
from sessionlab.monitor.options import MiB, MonitorOptions, MonitorOverrides, resolve_options
from sessionlab.monitor.quarantine import Quarantine
from sessionlab.monitor.stray_finisher import StrayFinisher

log = logging.getLogger(__name__)

__all__ = ["STATE_DIR_NAME", "TOMBSTONE_PREFIX", "MiB", "MonitorOptions", "SessionMonitor"]

STATE_DIR_NAME = ".sessionlab"
#: Only what discovery needs: a smaller inotify mask, less queue pressure (monitor-baseline §2).
_EVENT_FILTER = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent]


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: turn events into cheap queue hints, nothing else."""

    def __init__(self, monitor: SessionMonitor) -> None:
        self._monitor = weakref.ref(monitor)

    def on_any_event(self, event: FileSystemEvent) -> None:
        monitor = self._monitor()
        if monitor is None or event.is_directory:
            return
        now = monitor.clock.monotonic()
        kind = event.event_type
        monitor._hint(kind, os.fsdecode(event.src_path), now)
        if kind == "moved" and event.dest_path:
            monitor._hint("created", os.fsdecode(event.dest_path), now)


class _OverflowWatch(logging.Handler):
    """watchdog logs IN_Q_OVERFLOW but sends no event (monitor-baseline §2): rescan on that line.

    watchdog 7.x gives an Observer's user no other signal: its one warning, "Inotify queue
    overflowed; ...", is the event. The handler is attached to watchdog's loggers only while at
    least one monitor runs, so importing the package changes no logging configuration.
    """

    LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")
    MESSAGE = "inotify queue overflowed"
    monitors: ClassVar[weakref.WeakSet[SessionMonitor]] = weakref.WeakSet()
    _lock = threading.Lock()
    _installed: ClassVar[_OverflowWatch | None] = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().lower().startswith(self.MESSAGE):
            for monitor in list(self.monitors):
                monitor.request_rescan(reason="overflow")

    @classmethod
    def watch(cls, monitor: SessionMonitor) -> None:
        with cls._lock:
            cls.monitors.add(monitor)
            if cls._installed is None:
                cls._installed = cls(level=logging.WARNING)
                for name in cls.LOGGERS:
                    logging.getLogger(name).addHandler(cls._installed)

    @classmethod
    def unwatch(cls, monitor: SessionMonitor) -> None:
        with cls._lock:
            cls.monitors.discard(monitor)
            if cls._installed is not None and not cls.monitors:
                for name in cls.LOGGERS:
                    logging.getLogger(name).removeHandler(cls._installed)
                cls._installed = None


class SessionMonitor:
    """Watch ``project_dir`` and merge every stray ``*.jsonl`` into ``<session_id>.jsonl``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``observer`` lets several
    monitors share one watchdog observer (see :mod:`sessionlab.monitor.multi`). Options come as
    ``options=`` (a :class:`MonitorOptions`) and/or keywords (:class:`MonitorOverrides`).
    ``clock`` is every time reading (real by default; a test may pass its own).
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str],
        session_id: str,
        *,
        observer: BaseObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        options: MonitorOptions | None = None,
        **overrides: Unpack[MonitorOverrides],
    ) -> None:
        if not is_uuid(session_id):
            raise ValueError(f"not a session id (UUID): {session_id!r}")
        opts = resolve_options(options, overrides)
        self.options = opts
        #: Every time reading: monotonic for deadlines and latencies, wall time against file
        #: timestamps (detection latency). The split-out parts below read this same clock.
        self.clock = clock
        self.project_dir = Path(os.path.realpath(project_dir))
        self.session_id = session_id
        self.fixed_name = f"{session_id}.jsonl"
        self.state_dir = (
            Path(opts.state_dir) if opts.state_dir else self.project_dir / STATE_DIR_NAME
        )
        self._shared_observer = observer
        self._observer: BaseObserver | None = None
        self._watch: ObservedWatch | None = None
        self._queue: queue.SimpleQueue[tuple[str, str, float]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._started = False
        self._stopped = False
        self._idle = threading.Event()
        self._lock = DirectoryLock(self.state_dir / "lock")
        self._dir_fd = -1
        self._dir_str = str(self.project_dir)
        self._rescan_due = 0.0
        self._stats = MonitorStats(opts.latency_samples)
        self._quarantine = Quarantine(self.state_dir / "quarantine")
        self._discovery = StrayDiscovery(
            self.fixed_name, opts.max_line_bytes, self._quarantine, self._stats, clock
        )
        self._pipeline = MergePipeline(
            session_id,
            opts,
            self._stats,
            self._quarantine,
            IncrementalBackup(self.state_dir / "backups", session_id),
            self._stopping,
            clock,
        )
        self._finisher = StrayFinisher(
            opts, self._stats, self._discovery, self._pipeline, self.request_rescan, clock
        )
        self._followers = self._discovery.followers  # the one table, shared by the parts
        self.error: BaseException | None = None

    @property
    def _fixed(self) -> FixedFile | None:
        """The fixed file (tests use its ``write`` seam to inject ENOSPC)."""
        return self._pipeline.fixed

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
        _OverflowWatch.watch(self)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, finish the current batch, close every fd. Idempotent."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._queue.put(("stop", "", self.clock.monotonic()))
        self._stop_watching()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        _OverflowWatch.unwatch(self)
        self._close()

    def _open(self) -> None:
        if not self.project_dir.is_dir():
            raise FileNotFoundError(f"project directory not found: {self.project_dir}")
        self._dir_fd = os.open(self.project_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._discovery.attach(self._dir_fd)
        opts = self.options
        fixed = FixedFile(self.project_dir / self.fixed_name, self._dir_fd)
        fixed.check()  # a link or special file: refused before anything is written
        if not opts.dry_run:
            make_private_dir(self.state_dir)
            self._lock.acquire()
        repair = fixed.repair_tail(
            self._quarantine, is_complete_line=is_object_line, dry_run=opts.dry_run
        )
        if repair.quarantined:
            self._stats.count("quarantined_lines")
            log.warning(
                "%s ended with a torn line (%d bytes): %s",
                self.fixed_name,
                repair.quarantined,
                f"quarantined in {repair.path}" if repair.path else "would be quarantined",
            )
        self._pipeline.load(fixed)
        state_path = self.state_dir / "state.json"
        state = load_state(state_path)
        if state is None or opts.adopt_existing:
            # Rule 10: files present when we first watch are history, not strays.
            baseline = set() if opts.adopt_existing else self._discovery.list_candidates()
            state = MonitorState(self.session_id, baseline)
            if not opts.dry_run:
                save_state(state_path, state)
        self._discovery.baseline = state.baseline

    def _close(self) -> None:
        self._pipeline.close()
        self._discovery.close()
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
            self._stats.count("overflow_rescans")
        self._queue.put(("rescan", "", self.clock.monotonic()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no stray is being followed (tests and ``consolidate``)."""
        deadline = self.clock.monotonic() + timeout
        while self.clock.monotonic() < deadline:
            self._idle.clear()
            self._queue.put(("rescan", "", self.clock.monotonic()))
            if self._idle.wait(max(0.0, deadline - self.clock.monotonic())) and not self._followers:
                return True
            if self.error is not None:
                return False
            time.sleep(0.01)  # a real wait, not a reading: stays off the clock
        return False

    def pending(self) -> list[str]:
        """Names of strays still being followed (not yet provably finished)."""
        return sorted(f.name for f in list(self._followers.values()))

    def get_stats(self) -> dict[str, Any]:
        """Counters and latency samples; the first three keys match the naive monitor's."""
        stats = self._stats.snapshot()
        stats["quarantine_dir"] = str(self._quarantine.directory)
        stats["pending_files"] = self.pending()
        stats["bytes_unread"] = self._bytes_unread()
        return stats

    def _bytes_unread(self) -> int:
        total = 0
        for follower in list(self._followers.values()):
            with contextlib.suppress(OSError):
                total += max(0, follower.size() - follower.committed)
        return total

    # ------------------------------------------------------------------ worker
    def _hint(self, kind: str, path: str, now: float) -> None:
        directory, name = os.path.split(path)
        if directory == self._dir_str:
            self._queue.put((kind, name, now))

    def _run(self) -> None:
        try:
            self._scan(self.clock.monotonic())
            self._rescan_due = self.clock.monotonic() + self.options.rescan_interval
            while not self._stopping.is_set():
                timeout = self._next_timeout(self.clock.monotonic())
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
                self._handle(batch, self.clock.monotonic())
        except BaseException as error:  # keep the reason for the caller; never die silently
            self.error = error
            log.exception("monitor for %s stopped", self.project_dir)
        finally:
            self._idle.set()

    def _scan(self, now: float) -> None:
        """Rule 10's safety net: find every stray an event may have missed."""
        self._stats.count("rescans")
        for name in self._discovery.unseen():  # oldest conversation first
            self._discovery.ensure(name, now, from_event=False)
        for follower in list(self._followers.values()):
            self._pipeline.pump(follower, now)

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
            follower = self._discovery.ensure(name, now, from_event=kind == "created")
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
            self._pipeline.pump(follower, now)
        for follower in list(self._followers.values()):
            if now >= follower.next_attempt:
                self._pipeline.pump(follower, now)
                self._finisher.try_finish(follower, self.clock.monotonic())
        if not self._followers or rescan:
            self._idle.set()
