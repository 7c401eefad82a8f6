"""Performance and preservation of each student's ``StudentMonitor``, one test per student.

The class is taken from the submitted notebook without running it (definitions only, see
:func:`sessionlab.grading.monitor_grader.monitor_source`) and measured by the course harness in a
jailed child (no network, hidden solutions, memory/process/time limits). A failure names the
check and the numbers it measured::

    FAILED autograder/graders/test_monitor.py::test_monitor[lee-jo-1007]
      preservation_persistent_fd: 332/400 lost (83.0 %) ... [written=400, lost=332, ...]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.collect import Submission, collect
from sessionlab.grading.jail_settings import grading_limits
from sessionlab.grading.monitor_grader import GRADED_CHECKS, monitor_source, run_monitor_checks
from sessionlab.grading.pipeline import _submissions_folder

_stack = contextlib.ExitStack()


def _submissions(config: pytest.Config) -> list[Submission]:
    option = config.getoption("--submissions")
    if not option:
        return []
    folder = _stack.enter_context(_submissions_folder(Path(option).resolve()))
    found = collect(folder, config.getoption("--assignment"))
    for item in found.unparsed:
        print(f"not graded (name not understood): {item}")
    return found.submissions


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "submission" in metafunc.fixturenames:
        subs = _submissions(metafunc.config)
        metafunc.parametrize(
            "submission",
            subs or [pytest.param(None, marks=pytest.mark.skip(reason="no --submissions"))],
            ids=[s.student_id for s in subs] or ["none"],
        )


@pytest.fixture(scope="session", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _stack.close()


@pytest.fixture(scope="session")
def checks(request: pytest.FixtureRequest) -> tuple[str, ...]:
    option = request.config.getoption("--monitor-checks")
    return tuple(option.split(",")) if option else GRADED_CHECKS


def test_monitor(submission: Submission, checks: tuple[str, ...]) -> None:
    """Every harness check passes; otherwise the report says which and with what numbers."""
    try:
        nb = nbformat.read(submission.path, as_version=4)
    except Exception as error:
        pytest.fail(f"{submission.original}: not a readable notebook ({type(error).__name__})")
    source = monitor_source(nb)
    if source is None:
        pytest.fail(f"{submission.original}: no StudentMonitor class defined")
    result = run_monitor_checks(source, label=submission.student_id, checks=checks,
                                limits=grading_limits(wall_s=240), timeout_s=240)  # fmt: skip
    lines = [f"{submission.student_id} ({submission.original}):"]
    for check in result.checks:
        numbers = ", ".join(f"{k}={v}" for k, v in check.get("numbers", {}).items())
        lines.append(f"  {'PASS' if check['passed'] else 'FAIL'} {check['name']}: {numbers}")
    print("\n".join(lines))
    assert result.passed, "\n".join([lines[0], *("  " + f for f in result.failures())])
