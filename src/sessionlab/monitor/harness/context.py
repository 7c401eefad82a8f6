"""What a check gets: a fresh project directory, the monitor under test, writers, a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.factory import Factory
from sessionlab.monitor.harness.monitor_handle import MonitorFailure, MonitorHandle
from sessionlab.monitor.harness.observe import FixedFileTail, strays_in
from sessionlab.monitor.harness.settings import HarnessConfig
from sessionlab.monitor.harness.tally import Tally, tally_fixed


class WriterProcess:
    """A writer subprocess (see :mod:`sessionlab.monitor.harness.writers`)."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sessionlab.monitor.harness.writers", json.dumps(plan)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait(self, timeout: float) -> list[str]:
        """The uuids it wrote; kills it and raises if it overruns or fails."""
        try:
            out, err = self.proc.communicate(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"writer {self.plan['kind']} overran its time limit") from None
        if self.proc.returncode != 0:
            raise RuntimeError(f"writer {self.plan['kind']} failed: {err.decode()[-500:]}")
        return list(json.loads(out)["uuids"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class CheckContext:
    """A fresh ``projects/<dir>`` plus the tools every check needs."""

    name: str
    root: Path
    factory: Factory
    config: HarnessConfig
    quick: bool
    deadline: float
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    writers: list[WriterProcess] = field(default_factory=list)
    handles: list[MonitorHandle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.project_dir = self.root / "projects" / "-home-student-w"
        self.project_dir.mkdir(parents=True)
        self.scratch = self.root / "scratch"  # outside the project dir: never a stray
        self.scratch.mkdir()

    @property
    def fixed_path(self) -> Path:
        return self.project_dir / f"{self.session_id}.jsonl"

    def time_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def new_tail(self) -> FixedFileTail:
        return FixedFileTail(self.fixed_path)

    def strays(self) -> list[str]:
        return strays_in(self.project_dir, self.fixed_path.name)

    # -- monitor ------------------------------------------------------------------------
    def start_monitor(self) -> MonitorHandle:
        """Build and start the monitor (time-limited), then give it ``warmup_s`` to settle."""
        handle = MonitorHandle(self.factory.build, self.project_dir, self.session_id)
        self.handles.append(handle)
        handle.start(self.config.start_timeout_s)
        time.sleep(self.config.warmup_s)
        return handle

    def stop_monitors(self) -> None:
        """Stop every monitor this check started; raise the first failure after trying all."""
        failure: MonitorFailure | None = None
        for handle in self.handles:
            try:
                handle.stop(self.config.stop_timeout_s)
            except MonitorFailure as error:
                failure = failure or error
        if failure:
            raise failure

    @contextlib.contextmanager
    def monitor(self) -> Iterator[MonitorHandle]:
        """``with ctx.monitor() as m:`` start, and always stop (a stop failure fails the check)."""
        handle = self.start_monitor()
        try:
            yield handle
        finally:
            self.stop_monitors()

    # -- writers ------------------------------------------------------------------------
    def writer(self, kind: str, **plan: Any) -> WriterProcess:
        """Start a writer process writing into the project directory."""
        full = {"kind": kind, "dir": str(self.project_dir), "run": f"{self.name}-{kind}"}
        full.setdefault("name", f"{uuid.uuid4()}.jsonl")
        full.setdefault("session_id", full["name"].removesuffix(".jsonl"))
        full.update(plan)
        process = WriterProcess(full)
        self.writers.append(process)
        return process

    def kill_writers(self) -> None:
        for process in self.writers:
            process.kill()

    def write_stray(self, data: bytes, name: str | None = None) -> tuple[Path, float]:
        """Create a stray in one open/write/close; return its path and the close time."""
        path = self.project_dir / (name or f"{uuid.uuid4()}.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return path, time.monotonic()

    # -- waiting ------------------------------------------------------------------------
    def settle(self, expected: Iterable[str]) -> float:
        """Wait until every expected uuid is merged, or the merge has clearly come to rest.

        "At rest" means no stray left and no growth for 0.5 s, or no growth for
        ``settle_quiet_s`` even with strays left (a monitor waiting for a quiet period first
        still gets that long). Returns the seconds waited.
        """
        wanted = set(expected)
        tail = self.new_tail()
        start = time.monotonic()
        limit = min(
            start + self.config.settle_max_s, self.deadline - 2 * self.config.stop_timeout_s
        )
        last_size, last_change = -1, start
        while time.monotonic() < limit:
            tail.poll()
            now = time.monotonic()
            if wanted and wanted.issubset(tail.first_seen):
                time.sleep(0.2)  # let a late duplicate show up before stop()
                break
            if tail.size != last_size:
                last_size, last_change = tail.size, now
            quiet = now - last_change
            if quiet >= self.config.settle_quiet_s or (quiet >= 0.5 and not self.strays()):
                break
            time.sleep(0.02)
        return time.monotonic() - start

    def tally(self, expected: Iterable[str]) -> Tally:
        return tally_fixed(self.fixed_path, expected, self.session_id)
