"""Shared fixtures: sandboxed course environments that clean up after themselves, and a real
redis-server (``redis_url``) for the isolation and session-store tests.

Redis tests run against a real ``redis-server`` started here on a free loopback port, in a
temporary folder, without persistence. They skip, saying why, only when the binary is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack

import pytest

from sessionlab.sandbox import CourseLab, course_env, sandbox_root


@pytest.fixture
def make_lab() -> Iterator[Callable[..., CourseLab]]:
    """Open a fresh sandbox (own model, own config dir) for a pinned CLI; removed afterwards."""
    with ExitStack() as stack:
        names: list[str] = []

        def open_lab(cli: str = "legacy", **kwargs: object) -> CourseLab:
            name = f"pytest-{cli}-{uuid.uuid4().hex[:8]}"
            names.append(name)
            manager: AbstractContextManager[CourseLab] = course_env(cli, name=name, **kwargs)
            return stack.enter_context(manager)

        yield open_lab
    for name in names:
        shutil.rmtree(sandbox_root(name), ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` of a private redis-server for this test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    import redis

    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"redis-server on port {port} did not start")
            time.sleep(0.05)
    client.close()
    yield url
    process.terminate()
    process.wait(timeout=10)
