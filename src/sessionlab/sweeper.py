"""Run a sweep (cleanup, expiry, maintenance) every N seconds in the background, and stop cleanly.

The course has three periodic jobs: the lifecycle registry's maintenance (lesson 05), the
isolated sessions' cleanup (lesson 07) and the bot's history expiry (lesson 08). They share
this one loop and its one error policy: **a failed pass is logged with its traceback
(logger ``sessionlab.sweeper``), counted in** :attr:`Sweeper.failures` **and remembered in**
:attr:`Sweeper.last_error` **; the next pass runs as planned.** One bad pass must not end
maintenance for good, and it must not pass silently either.

Two ways to run, because the callers live in two worlds: :meth:`Sweeper.start` runs the loop
as an asyncio task in the running event loop (the job may be sync or async), and
:meth:`Sweeper.start_thread` runs it in a daemon thread (the job must be sync).

An interval of 0 disables the sweeper (the permanent profile): starting it then starts
nothing, so there is no background task to forget about. Stopping lets a running pass finish
instead of cancelling it half-way through a cleanup. ``sleep`` is injectable for the asyncio
loop: tests pass one that advances a :class:`~sessionlab.clock.FakeClock` and returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Job", "Sleep", "Sweeper"]

log = logging.getLogger(__name__)

Job = Callable[[], Any]
"""A pass: a plain function, or (asyncio loop only) one returning an awaitable."""
Sleep = Callable[[float], Awaitable[None]]


class Sweeper:
    def __init__(
        self,
        job: Job,
        interval_seconds: float,
        *,
        name: str = "sessionlab-sweeper",
        sleep: Sleep | None = None,
    ) -> None:
        if interval_seconds < 0:
            raise ValueError("interval_seconds must be >= 0 (0 disables the sweeper)")
        self.job = job
        self.interval = interval_seconds
        self.name = name
        self._sleep = sleep or self._wait_or_stop
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread_stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.failures = 0
        self.last_result: Any = None
        self.last_error: str = ""

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def running(self) -> bool:
        task_alive = self._task is not None and not self._task.done()
        return task_alive or (self._thread is not None and self._thread.is_alive())

    # -- the one error policy ----------------------------------------------------------------
    def _succeeded(self, result: Any) -> None:
        self.last_result = result
        self.runs += 1

    def _failed(self, error: Exception) -> None:
        """Called from an ``except`` block, so ``log.exception`` has the traceback."""
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        log.exception("%s: a pass failed (%d so far); the next one runs as planned", self.name,
                      self.failures)  # fmt: skip

    # -- asyncio ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the loop as a task of the running event loop; ``False`` when disabled."""
        if not self.enabled:
            log.info("%s disabled (interval 0): it never runs", self.name)
            return False
        if not self.running:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name=self.name)
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
                result = self.job()
                if inspect.isawaitable(result):
                    result = await result
            except Exception as error:
                self._failed(error)
            else:
                self._succeeded(result)

    def request_stop(self) -> None:
        """End the loop after the current sleep or pass, without waiting (safe from a pass)."""
        self._stop.set()
        self._thread_stop.set()

    async def stop(self, timeout: float = 15.0) -> None:
        """Ask the task to end after the current pass; cancel it only after ``timeout``."""
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

    # -- thread -----------------------------------------------------------------------------
    def start_thread(self) -> bool:
        """Start the loop in a daemon thread (a sync job); ``False`` when disabled."""
        if not self.enabled:
            log.info("%s disabled (interval 0): it never runs", self.name)
            return False
        if self._thread is None:
            self._thread_stop.clear()
            self._thread = threading.Thread(target=self._thread_loop, name=self.name, daemon=True)
            self._thread.start()
        return True

    def _thread_loop(self) -> None:
        while not self._thread_stop.wait(self.interval):
            try:
                result = self.job()
            except Exception as error:
                self._failed(error)
            else:
                self._succeeded(result)

    def stop_thread(self, timeout: float = 5.0) -> None:
        """End the thread after the current pass (waits up to ``timeout``)."""
        self._thread_stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
