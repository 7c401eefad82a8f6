"""Serve an ASGI app on a UNIX socket from a background thread, for as long as a test needs it.

Why a UNIX socket and not 127.0.0.1: lesson 8 grades a student's isolation test by running it
against bots the grader starts. When test cells are graded outside the student's kernel
(:mod:`sessionlab.grading.outside`), the grader and the kernel live in different network
namespaces, each with its own 127.0.0.1; both see the exchange folder, though, and a socket
file there connects them. The address is ``unix:<path>``, which
:func:`sessionlab.bot.client.connect` understands; the socket is made in ``tempfile``'s folder,
which the grader points at the exchange folder.

A file name cannot reach another machine, and the folder (``mkdtemp``: mode 0700) is the
owner's: nobody else on the host can post to a bot served this way.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from sessionlab.bot.client import UNIX_PREFIX
from sessionlab.errors import CourseError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# sockaddr_un.sun_path is 108 bytes on Linux, with its terminating NUL.
MAX_SOCKET_PATH = 107


@contextlib.contextmanager
def serve_on_unix_socket(app: ASGIApp, folder: str | Path | None = None) -> Iterator[str]:
    """``with serve_on_unix_socket(app) as address:`` -> ``unix:/tmp/.../bot.sock``.

    uvicorn runs in a daemon thread with its own event loop (the caller may be blocked in a
    synchronous call, or running a loop of its own); it stops, after in-flight requests, when
    the block ends.
    """
    home = Path(tempfile.mkdtemp(prefix="bot-", dir=folder))
    path = home / "bot.sock"
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        shutil.rmtree(home, ignore_errors=True)
        raise CourseError(f"the socket path {path} is too long for a UNIX socket")
    config = uvicorn.Config(
        app,
        uds=str(path),
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bot-on-unix-socket", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise CourseError(f"the bot on {path} did not start")
            time.sleep(0.01)
        yield UNIX_PREFIX + str(path)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        shutil.rmtree(home, ignore_errors=True)
