"""What one grading worker reports about itself: its name and the machine's load while it graded.

Workers grading at once on one machine (local worker processes, Celery pool children, two
``grade-worker`` commands) never share a jail uid: the jail claims one from its uid pool for
every kernel (:func:`sessionlab.grading.jail.claim_uid`), so nothing here needs to.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

from sessionlab.grading.unit import WorkerLoad


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def sample_load(interval_s: float = 1.0) -> Iterator[list[float]]:
    """The 1-minute load average, sampled every ``interval_s`` while the block runs."""
    samples = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, name="load-sampler", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        samples.append(os.getloadavg()[0])


def summarize_load(samples: list[float]) -> WorkerLoad:
    return WorkerLoad(
        worker=worker_name(),
        cores=os.cpu_count() or 1,
        load_min=round(min(samples), 2),
        load_mean=round(sum(samples) / len(samples), 2),
        load_max=round(max(samples), 2),
        samples=len(samples),
    )
