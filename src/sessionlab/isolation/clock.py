"""Clocks: real time for the service, a hand-moved one for tests and lessons.

Every TTL decision takes ``now`` from a :class:`Clock`, so a test can jump 61 minutes ahead
in a microsecond instead of sleeping for an hour (and without flaky wall-clock asserts).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` in seconds since the epoch."""

    def now(self) -> float: ...


class SystemClock:
    """Wall-clock time (``time.time``): what a real deployment uses."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; thread-safe so concurrent tests can share it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now
