"""Open a candidate stray without ever following a link or blocking on a special file.

Rule 6: a symlink could carry ``/etc/passwd`` into the transcript, a FIFO would hang a plain
``open``, a hard link would let us unlink someone else's name, a file from another owner or
device is not ours to remove. Every check runs on the *opened* fd (``fstat``), so a path
swapped between scan and open is judged by what was actually opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass

from sessionlab.errors import SessionLabError

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
PRIVATE_MODE = 0o600


class UnsafeFile(SessionLabError):
    """The path is not a plain, private, single-link regular file on our device."""


@dataclass(frozen=True)
class Opened:
    """A safely opened stray: its fd pins the inode, so ``key`` cannot be reused meanwhile."""

    fd: int
    st: os.stat_result

    @property
    def key(self) -> tuple[int, int]:
        return (self.st.st_dev, self.st.st_ino)


def check_stat(st: os.stat_result, dir_dev: int) -> None:
    """Raise :class:`UnsafeFile` unless ``st`` describes a file we may read and remove."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile("not a regular file")
    if st.st_uid != os.getuid():
        raise UnsafeFile(f"owned by uid {st.st_uid}, not {os.getuid()}")
    if st.st_nlink != 1:
        raise UnsafeFile(f"has {st.st_nlink} hard links")
    if st.st_dev != dir_dev:
        raise UnsafeFile("on another device")


def open_stray(dir_fd: int, name: str, dir_dev: int) -> Opened:
    """Open ``name`` relative to ``dir_fd`` read-only, non-blocking, never following links."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise  # vanished (merged, renamed): not a verdict on whatever appears there next
    except OSError as error:
        raise UnsafeFile(f"cannot open safely: {error.strerror}") from None
    try:
        st = os.fstat(fd)
        check_stat(st, dir_dev)
    except BaseException:
        os.close(fd)
        raise
    return Opened(fd, st)


def open_private(path: str | os.PathLike[str], flags: int, *, dir_fd: int | None = None) -> int:
    """Open/create a file we own with mode 0600 whatever the umask (rule 7).

    A file we create is ``fchmod``-ed to 0600 (umask can only narrow ``open``'s mode). An
    existing file's mode is never widened; it is left alone.
    """
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_MODE, dir_fd=dir_fd)
    except FileExistsError:
        if flags & os.O_EXCL:
            raise
        fd = os.open(path, flags, dir_fd=dir_fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise UnsafeFile(f"{path}: not a single-link regular file") from None
        return fd
    os.fchmod(fd, PRIVATE_MODE)
    return fd


def make_private_dir(path: str | os.PathLike[str]) -> None:
    """Create a 0700 directory (and parents) for monitor bookkeeping; refuse a symlink."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"{path}: not a directory")
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
        os.chmod(path, 0o700)


def fsync_dir(dir_fd: int) -> None:
    """Make a rename/unlink/create in the directory durable."""
    # Some filesystems refuse fsync on a directory; nothing more we can do there.
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)
