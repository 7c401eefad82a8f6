"""Linux read leases: the only cheap proof that no process has a file open for writing.

``fcntl(fd, F_SETLEASE, F_RDLCK)`` on a read-only fd fails with EAGAIN while *any* process
holds the inode open for writing (rule 5). Size and mtime checks (Filebeat's grace period)
only narrow the race; the lease closes it. While we hold the lease, a writer's ``open`` blocks
and the kernel signals us: the signal is redirected to SIGURG (default action: ignore) with
``F_SETSIG``, because SIGIO's default action would kill the whole process.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import signal

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_GETLEASE = getattr(fcntl, "F_GETLEASE", 1025)
F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
_QUIET_SIGNAL = signal.SIGURG


class Lease(enum.Enum):
    ACQUIRED = "acquired"
    BUSY = "busy"  # a writer has the file open
    UNSUPPORTED = "unsupported"  # EINVAL/EACCES/ENOLCK: fall back to lingering


def try_read_lease(fd: int) -> Lease:
    """Try to take a read lease on ``fd``; never blocks."""
    try:
        fcntl.fcntl(fd, F_SETSIG, _QUIET_SIGNAL)
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EBUSY):
            return Lease.BUSY
        return Lease.UNSUPPORTED
    return Lease.ACQUIRED


def lease_intact(fd: int) -> bool:
    """False once a writer's open has broken our lease (it is now waiting for us)."""
    try:
        return fcntl.fcntl(fd, F_GETLEASE) == fcntl.F_RDLCK
    except OSError:
        return False


def release(fd: int) -> None:
    """Drop the lease at once so a blocked writer's ``open`` proceeds."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
