"""pytest options for the graders in ``autograder/graders/``.

``pytest autograder --submissions DIR [--assignment 03-monitor]`` grades every student's
monitor found in DIR (nbgrader layout, Canvas or Moodle names, or a .zip). Without
``--submissions`` the graders are skipped, so a plain ``pytest`` run stays fast.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sessionlab graders")
    group.addoption("--submissions", default=None, help="folder or .zip of student notebooks")
    group.addoption("--assignment", default="03-monitor", help="assignment id (03-monitor)")
    group.addoption(
        "--monitor-checks",
        default=None,
        help="comma-separated harness checks (default: the lesson's graded checks)",
    )
