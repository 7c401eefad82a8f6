"""Time sources: the real monotonic clock, and a fake one tests and lessons move by hand.

Every time-dependent decision in :mod:`sessionlab.lifecycle` (idle timeouts, connection age,
growth rates) reads a ``Clock`` passed in, never ``time`` directly, so a test can jump thirty
minutes ahead without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
"""A function returning seconds; only differences between two readings matter."""


def monotonic() -> float:
    """The default clock: immune to wall-clock jumps (NTP, daylight saving)."""
    return time.monotonic()


@dataclass
class FakeClock:
    """A clock that only moves when told to: ``clock.advance(minutes=31)``."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0) -> float:
        """Move forward (never back: a monotonic clock cannot) and return the new time."""
        step = seconds + 60.0 * minutes
        if step < 0:
            raise ValueError("a monotonic clock never goes back")
        self.now += step
        return self.now
