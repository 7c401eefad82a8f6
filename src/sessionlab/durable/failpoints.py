"""Crash injection for tests: ``SESSIONLAB_FAILPOINT=after_write`` makes the process die there.

A real crash can happen between any two syscalls; the tests kill the merger at each step of
the merge protocol (in a child process) and check that a restart ends with every line exactly
once. ``os._exit`` skips every cleanup, like SIGKILL.
"""

from __future__ import annotations

import os

ENV = "SESSIONLAB_FAILPOINT"
#: The points the engine checks, in protocol order.
POINTS = ("after_write", "after_fsync", "after_rename", "after_unlink", "after_quarantine")
EXIT_STATUS = 137


def hit(name: str) -> None:
    """Die with status 137 if the environment asks for a crash at ``name``.

    The variable may list several points separated by commas; ``name:N`` dies on the N-th hit.
    """
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    for item in wanted.split(","):
        point, _, count = item.partition(":")
        if point != name:
            continue
        if count:
            key = f"_SESSIONLAB_FP_{name}"
            seen = int(os.environ.get(key, "0")) + 1
            os.environ[key] = str(seen)
            if seen < int(count):
                continue
        os._exit(EXIT_STATUS)
