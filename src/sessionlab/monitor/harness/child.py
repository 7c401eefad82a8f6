"""Run a monitor in a child process the harness (or the benchmark) can SIGKILL or measure.

Protocol over a ``multiprocessing`` pipe: the child sends ``("ready", pid)`` after ``start()``
(or ``("error", text)``), then waits. On ``"stop"`` (or the pipe closing) it calls ``stop()``
and answers ``("stopped", report)`` with its stats and resource usage.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.factory import Factory


def peak_rss_kb() -> float:
    """This process's own peak RSS in KiB.

    ``VmHWM``, not ``ru_maxrss``: Linux keeps the pre-exec high-water mark across ``execve``,
    so a child spawned from a big parent would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _usage() -> dict[str, float]:
    return {"cpu_s": time.process_time(), "maxrss_kb": peak_rss_kb()}


def serve(build: Any, project_dir: str, session_id: str, conn: Connection) -> None:
    """Child side: build, start, report, wait for "stop" / "usage" requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        monitor = build(Path(project_dir), session_id)
        monitor.start()
    except BaseException as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = "stop"
        if message == "usage":
            conn.send(("usage", _usage()))
            continue
        break
    monitor.stop()
    stats = monitor.get_stats() if hasattr(monitor, "get_stats") else {}
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("stopped", {"stats": _jsonable(stats), **_usage()}))


def _jsonable(stats: Any) -> dict[str, Any]:
    if not isinstance(stats, dict):
        return {}
    return {str(k): v for k, v in stats.items() if isinstance(v, int | float | str | bool)}


class ChildMonitor:
    """Parent side: one monitor process. Never blocks longer than the timeouts given."""

    def __init__(self, factory: Factory, project_dir: Path, session_id: str) -> None:
        ctx: multiprocessing.context.BaseContext
        if factory.spec is not None:
            ctx = multiprocessing.get_context("spawn")
            build: Any = factory.spec
        else:  # not rebuildable by name: fork so the child inherits the object
            ctx = multiprocessing.get_context("fork")
            build = factory.build
        self._conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(
            target=serve,
            args=(build, str(project_dir), session_id, child_conn),
            name="monitor-under-test",
            daemon=True,
        )
        self.process.start()
        child_conn.close()

    def wait_ready(self, timeout: float) -> None:
        """Raise RuntimeError if the child did not start the monitor in time."""
        if not self._conn.poll(timeout):
            self.kill()
            raise RuntimeError(f"monitor process did not start within {timeout:g} s")
        kind, payload = self._conn.recv()
        if kind != "ready":
            self.kill()
            raise RuntimeError(f"monitor process failed to start: {payload}")

    def usage(self, timeout: float = 5.0) -> dict[str, float]:
        self._conn.send("usage")
        if not self._conn.poll(timeout):
            raise RuntimeError("monitor process did not answer")
        return self._conn.recv()[1]

    def kill(self) -> None:
        """SIGKILL: no cleanup, no stop(), exactly like a crash."""
        pid = self.process.pid
        if pid is not None and self.process.is_alive():
            os.kill(pid, signal.SIGKILL)
        self.process.join(5)
        self._conn.close()

    def stop(self, timeout: float) -> dict[str, Any]:
        """Ask for a clean ``stop()``; raise "did not stop within" (and kill) if it hangs."""
        try:
            self._conn.send("stop")
            if self._conn.poll(timeout):
                report = self._conn.recv()[1]
                self.process.join(timeout)
                return report
        except (BrokenPipeError, EOFError, OSError):
            pass
        alive = self.process.is_alive()
        self.kill()
        if alive:
            raise RuntimeError(f"did not stop within {timeout:g} s")
        raise RuntimeError("monitor process exited without reporting")
