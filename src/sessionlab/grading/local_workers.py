"""Where the unit of work runs: in the coordinator's process, or in N local worker processes.

Grading a lesson 03 notebook mostly waits (the harness's warm-ups, quiet periods and paced
strays), so a 2-core machine grades several at once with the same scores. Each worker process
builds its own :class:`~sessionlab.grading.workspace.GraderWorkspace` once (private course
copy, its own jail uid, its own socket folder) and then grades task after task; results come
back as they finish, in any order. ``--workers 1`` grades in the coordinator's own process,
as ``sessionlab grade`` always did.

The Celery runner (:mod:`sessionlab.grading.celery_workers`) has the same shape: a
:class:`Runner` takes tasks and yields results.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from sessionlab.grading.unit import GradingResult, GradingTask, SubmissionLimits
from sessionlab.grading.workspace import GraderWorkspace

# Memory one worker may need at once: its kernel (up to the jail's limit, but a lesson 03
# kernel stays under 300 MiB), the harness's writer processes and the coordinator's share.
MIB_PER_WORKER = 1536
MAX_DEFAULT_WORKERS = 8
PRELOAD = [
    "sessionlab.grading.workspace", "nbgrader.apps", "nbgrader.api", "nbgrader.preprocessors",
    "nbconvert.preprocessors",
]  # fmt: skip


class Runner(Protocol):
    """Grades tasks somewhere; yields each result as soon as it is there."""

    def run(self, tasks: list[GradingTask]) -> Iterator[GradingResult]: ...

    def close(self) -> None: ...


def default_workers() -> int:
    """Four per core (grading is wait-bound), at most 8, and no more than memory allows."""
    cores = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (ValueError, OSError):
        available = MIB_PER_WORKER * MAX_DEFAULT_WORKERS
    return max(1, min(4 * cores, MAX_DEFAULT_WORKERS, available // MIB_PER_WORKER))


def error_result(task: GradingTask, reason: str) -> GradingResult:
    """What the coordinator records when a worker could not produce a result."""
    return GradingResult(
        task.assignment, task.student_id, task.sha256, task.lesson_key, task.grader_key,
        status="error", notes=[reason],
    )  # fmt: skip


class InProcessRunner:
    """``--workers 1``: one workspace in this process, one task after the other."""

    def __init__(
        self, course: Path, assignment: str, limits: SubmissionLimits, hide: tuple[Path, ...]
    ) -> None:
        self.workspace = GraderWorkspace(course, assignment, limits, hide=hide)

    def run(self, tasks: list[GradingTask]) -> Iterator[GradingResult]:
        for task in tasks:
            yield self.workspace.grade(task)

    def close(self) -> None:
        self.workspace.close()


_workspace: GraderWorkspace | None = None


def _start_worker(
    course: Path, assignment: str, limits: SubmissionLimits, hide: tuple[Path, ...]
) -> None:
    global _workspace
    _workspace = GraderWorkspace(course, assignment, limits, hide=hide)
    import atexit

    atexit.register(_workspace.close)


def _grade_in_worker(task: GradingTask) -> GradingResult:
    assert _workspace is not None, "worker started without a workspace"
    return _workspace.grade(task)


class LocalPoolRunner:
    """``--workers N``: N worker processes, each with its own workspace."""

    def __init__(
        self,
        course: Path,
        assignment: str,
        limits: SubmissionLimits,
        hide: tuple[Path, ...],
        workers: int,
    ) -> None:
        # Each worker is forked from a fresh server process that imported nbgrader once
        # (about 2.5 CPU seconds each otherwise, all at once on a 2-core machine), never from
        # this process with its open gradebook and threads.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(course, assignment, limits, hide),
        )

    def run(self, tasks: list[GradingTask]) -> Iterator[GradingResult]:
        pending: dict[Future[GradingResult], GradingTask] = {
            self.pool.submit(_grade_in_worker, task): task for task in tasks
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                error = future.exception()
                if error is None:
                    yield future.result()
                else:
                    yield error_result(task, f"worker failed: {type(error).__name__}: {error}")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
