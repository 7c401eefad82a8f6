"""Run a maintenance job every N seconds in an asyncio task, and stop cleanly.

An interval of 0 disables the scheduler (the permanent profile): ``start()`` then starts
nothing, so there is no background task to forget about. ``stop()`` lets a running job finish
instead of cancelling it half-way through a cleanup. ``sleep`` is injectable: tests pass one
that advances a :class:`~sessionlab.clock.FakeClock` and returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]
Sleep = Callable[[float], Awaitable[None]]


class MaintenanceScheduler:
    def __init__(self, job: Job, interval_seconds: float, *, sleep: Sleep | None = None) -> None:
        if interval_seconds < 0:
            raise ValueError("interval_seconds must be >= 0 (0 disables the scheduler)")
        self.job = job
        self.interval = interval_seconds
        self._sleep = sleep or self._wait_or_stop
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.failures = 0
        self.last_result: Any = None
        self.last_error: str = ""

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> bool:
        """Start the loop; ``False`` (and no task) when the interval is 0."""
        if not self.enabled:
            log.info("automatic cleanup disabled (interval 0): sessions are never cleaned up")
            return False
        if not self.running:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="sessionlab-maintenance")
        return True

    async def _wait_or_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self._sleep(self.interval)
            if self._stop.is_set():
                break
            try:
                self.last_result = await self.job()
                self.runs += 1
            except Exception as error:  # one failed run must not end maintenance for good
                self.failures += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("maintenance run failed")

    def request_stop(self) -> None:
        """End the loop after the current sleep or job, without waiting (safe from a job)."""
        self._stop.set()

    async def stop(self, timeout: float = 15.0) -> None:
        """Ask the loop to end after the current job; cancel it only after ``timeout``."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
