"""Fixtures for the lifecycle tests: fake CLI clients, a fake clock, SDK options."""

from __future__ import annotations

import pytest
from claude_code_sdk import ClaudeCodeOptions
from lifecycle_fakes import FakeClients

from sessionlab.clock import FakeClock


@pytest.fixture
def clients() -> FakeClients:
    return FakeClients()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def options(tmp_path) -> ClaudeCodeOptions:
    return ClaudeCodeOptions(cwd=tmp_path)
