"""What one grading worker holds for its lifetime: a jail uid of its own, its name, its load.

Workers grading at once on one machine (local worker processes, Celery pool children, two
``grade-worker`` commands) must never share the jail uid: ``RLIMIT_NPROC`` counts processes
per uid, so a fork bomb in one student's kernel would starve every other kernel of that uid.
:func:`lease_uid` hands each worker its own uid with an ``flock`` held until the process ends
(the kernel drops the lock with the process, even after ``kill -9``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from sessionlab.grading.jail import DEFAULT_UID
from sessionlab.grading.unit import WorkerLoad

LEASE_DIR = Path("/run/lock/sessionlab-jail-uids")
FIRST_UID = DEFAULT_UID + 1
POOL_SIZE = 512
_held: dict[int, int] = {}  # uid -> lock fd, kept open for the life of this process


def lease_uid(lease_dir: Path = LEASE_DIR) -> int:
    """A jail uid no other live process on this machine holds (the same uid when called again).

    Not root: the jail cannot drop to another uid anyway, so the default is returned.
    """
    if os.geteuid() != 0:
        return DEFAULT_UID
    if _held:
        return next(iter(_held))
    folder = lease_dir if lease_dir.parent.is_dir() else Path("/tmp") / lease_dir.name
    folder.mkdir(mode=0o700, exist_ok=True)
    for uid in range(FIRST_UID, FIRST_UID + POOL_SIZE):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held[uid] = fd
        return uid
    raise RuntimeError(f"all {POOL_SIZE} jail uids from {FIRST_UID} are in use on this machine")


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
