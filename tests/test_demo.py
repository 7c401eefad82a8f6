"""`make demo` tells the core story end to end, with each pinned CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.cli


@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_the_demo_story_holds(cli):
    done = subprocess.run(
        [sys.executable, "-m", "sessionlab", "demo", "--cli", cli],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout
    assert "the story holds" in report
    assert "3 connections -> 3 session files" in report
    assert "the model saw 0 earlier messages" in report
    assert "the model saw 3 earlier messages" in report
    assert "Your name is Ana." in report
    assert "session files at the end: 1" in report
