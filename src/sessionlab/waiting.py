"""Wait for something another thread or process will make true, with a deadline.

The one polling loop of the package (the demo, the monitor's test kit and the tests share
it). Polling, not an event, because what is awaited is usually outside this process: a file
the CLI writes, a stray a monitor removes. The timeout is a generous upper bound for a slow,
shared machine, never a performance claim; latency is measured in benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` every ``step`` seconds until it is true (``True``) or ``timeout``.

    The predicate is asked once more at the deadline, so a condition that became true during
    the last sleep is not reported as a timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
