"""Call a monitor's methods with a hard time limit, so a hanging monitor never hangs the harness.

Each call runs in a daemon thread that the harness abandons when it overruns. An abandoned
call keeps running in the background (Python cannot kill a thread); the harness moves on to
the next check in a fresh directory. A monitor that holds the GIL in a C loop, or leaves
non-daemon threads behind, can still delay interpreter exit: that is the limit of in-process
testing, and why ``kill_restart`` uses a child process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.factory import MonitorFactory


class MonitorFailure(Exception):
    """The monitor misbehaved (raised, hung) in a way that ends the check."""


def call_with_timeout(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """Run ``fn()``; raise :class:`MonitorFailure` if it raises or takes over ``timeout`` s."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, name=f"harness-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise MonitorFailure(f"{what} did not return within {timeout:g} s")
    if "error" in box:
        error = box["error"]
        raise MonitorFailure(f"{what} raised {type(error).__name__}: {error}") from error
    return box.get("value")


class MonitorHandle:
    """One monitor instance under the harness: build, start, stats, stop, all time-limited."""

    def __init__(self, factory: MonitorFactory, project_dir: Path, session_id: str) -> None:
        self._factory = factory
        self._project_dir = project_dir
        self._session_id = session_id
        self.monitor: Any = None
        self.started = False
        self.stopped = False

    def start(self, timeout: float) -> None:
        self.monitor = call_with_timeout(
            lambda: self._factory(self._project_dir, self._session_id), timeout, "constructor"
        )
        call_with_timeout(self.monitor.start, timeout, "start()")
        self.started = True

    def stats(self, timeout: float) -> dict[str, Any]:
        """``get_stats()``, or ``{}`` if the monitor has none or it fails (never fatal)."""
        if self.monitor is None or not hasattr(self.monitor, "get_stats"):
            return {}
        try:
            stats = call_with_timeout(self.monitor.get_stats, timeout, "get_stats()")
        except MonitorFailure:
            return {}
        return dict(stats) if isinstance(stats, dict) else {}

    def stop(self, timeout: float) -> None:
        """``stop()`` with a deadline; raises :class:`MonitorFailure` "did not stop within"."""
        if self.monitor is None or self.stopped:
            return
        self.stopped = True
        try:
            call_with_timeout(self.monitor.stop, timeout, "stop()")
        except MonitorFailure as failure:
            if "did not return" in str(failure):
                raise MonitorFailure(f"did not stop within {timeout:g} s") from None
            raise
