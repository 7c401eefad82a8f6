"""Shared fixtures: sandboxed course environments that clean up after themselves."""

from __future__ import annotations

import shutil
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
