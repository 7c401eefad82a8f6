"""Time for every decision the course's code makes: one injectable clock, real or fake.

Two readings, because they answer different questions:

* :meth:`Clock.monotonic`: how long something took or has been idle. It never jumps (NTP,
  daylight saving), and only differences between two readings mean anything. Idle timeouts,
  connection ages, latencies.
* :meth:`Clock.wall`: seconds since the epoch, for times that are stored or shared between
  processes (a session's ``expires_at`` in SQLite or Redis must mean the same thing to every
  app process reading it).

Code takes a ``clock: Clock = SYSTEM_CLOCK`` and reads time only through it, so a test or a
lesson passes a :class:`FakeClock` and jumps thirty minutes ahead in a microsecond instead
of sleeping (and without flaky wall-clock asserts).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Anything that reads monotonic and wall time in seconds."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clocks: ``time.monotonic`` and ``time.time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


SYSTEM_CLOCK: Clock = SystemClock()
"""The default everywhere a clock is optional."""


class FakeClock:
    """A clock that moves only when told to: ``clock.advance(minutes=31)``.

    Both readings move together. ``start`` is the first monotonic reading, ``epoch`` the
    first wall reading (2027-01-15 by default: a plausible date, far from any real "now").
    Thread-safe, so concurrent tests can share one.
    """

    def __init__(self, start: float = 0.0, *, epoch: float = 1_800_000_000.0) -> None:
        self._monotonic = float(start)
        self._offset = float(epoch) - float(start)  # wall - monotonic, fixed
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def wall(self) -> float:
        with self._lock:
            return self._monotonic + self._offset

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0) -> None:
        """Move forward by ``seconds + 60 * minutes``; never back, as a real clock cannot."""
        step = seconds + 60.0 * minutes
        if step < 0:
            raise ValueError("a clock never goes back: advance() takes a step >= 0")
        with self._lock:
            self._monotonic += step

    def set(self, monotonic: float) -> None:
        """Test set-up only: put the monotonic reading at ``monotonic`` (wall moves with it).

        Unlike :meth:`advance` this may go back, to replay a scenario from its start; code
        under test never calls it.
        """
        with self._lock:
            self._monotonic = float(monotonic)

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self.monotonic()!r}, wall={self.wall()!r})"
