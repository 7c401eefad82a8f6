"""Several project directories, one watchdog observer (one inotify fd, one reader thread).

Each project keeps its own :class:`SessionMonitor` (own lock, state, dedup keys and worker
thread) because every rule is per directory; only event delivery is shared, which is what
keeps 10+ projects at ~0 idle CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Unpack

from watchdog.observers import Observer

from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.options import MonitorOverrides


class MultiProjectMonitor:
    """``MultiProjectMonitor({project_dir: session_id, ...}, **options)``."""

    def __init__(
        self, projects: Mapping[str | os.PathLike[str], str], **options: Unpack[MonitorOverrides]
    ) -> None:
        self._observer = Observer()
        self.monitors: dict[Path, SessionMonitor] = {
            Path(directory): SessionMonitor(
                directory, session_id, observer=self._observer, **options
            )
            for directory, session_id in projects.items()
        }
        self._started = False

    def start(self) -> MultiProjectMonitor:
        started: list[SessionMonitor] = []
        try:
            for monitor in self.monitors.values():
                monitor.start()
                started.append(monitor)
            self._observer.start()
        except BaseException:
            for monitor in started:
                monitor.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop every project, then the shared observer. Idempotent."""
        for monitor in self.monitors.values():
            monitor.stop()
        if self._started:
            self._started = False
            self._observer.stop()
            self._observer.join(5)

    def __enter__(self) -> MultiProjectMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return all(m.wait_idle(timeout) for m in self.monitors.values())

    def get_stats(self) -> dict[str, dict[str, Any]]:
        """Per-project stats, keyed by project directory."""
        return {str(path): m.get_stats() for path, m in self.monitors.items()}
