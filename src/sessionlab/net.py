"""Loopback networking helpers: the course never listens beyond 127.0.0.1."""

from __future__ import annotations

import errno
import socket

from sessionlab.errors import CourseError


def listen_error(host: str, port: int, error: OSError, *, flag: str = "--port") -> CourseError:
    """The one line every course server prints when it cannot bind ``host:port``."""
    if error.errno in (errno.EADDRINUSE, errno.EACCES):
        return CourseError(f"port {port} on {host} is busy: pick another with {flag} (or {flag} 0)")
    return CourseError(f"cannot listen on {host}:{port}: {error.strerror or error}")


def ensure_port_free(host: str, port: int, *, flag: str = "--port") -> None:
    """Fail with one clear line when ``port`` is taken (0 always means "pick a free one")."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise listen_error(host, port, error, flag=flag) from None
