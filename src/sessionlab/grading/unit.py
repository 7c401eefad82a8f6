"""Grading one submission: the unit of work, with a plain input and a typed result.

Every way of grading a class runs this same unit: the sequential path (``--workers 1``), the
local worker processes (``--workers N``) and the Celery workers on other machines
(``--broker``). The coordinator collects submissions before and writes the one gradebook,
``grades.csv`` and the class report after; in between, only a :class:`GradingTask` goes out
and a :class:`GradingResult` comes back. Both are plain data that survive JSON, so a task can
cross a message broker and a result can wait in Redis for a coordinator that restarted.

A task carries the content hashes of the lesson and of the grader it was made for: a worker
whose checkout hashes differently refuses it (a stale checkout never grades).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sessionlab.errors import CourseError

STATUSES = ("graded", "error")


@dataclass(frozen=True)
class SubmissionLimits:
    """What bounds one submission's grading (the jail's limits and the grader's choices)."""

    cell_timeout: int | None = None  # seconds per cell; None: the course config's
    submission_timeout: float = 900.0  # seconds for the whole kernel
    memory_mb: int = 2048
    tmp_mb: int = 128
    nproc: int = 256
    isolate: bool = True
    monitor_plot: bool = True  # measure the student's monitor for the feedback's plot
    full_notebook: bool = False  # never skip demonstration cells


@dataclass(frozen=True)
class GradingTask:
    """One student's notebook and everything a worker needs to grade it, nothing else."""

    assignment: str
    student_id: str
    name: str
    notebook: bytes
    sha256: str  # of ``notebook``: with the student id, the result's key
    timestamp: str  # submission time as nbgrader writes it in ``timestamp.txt``
    lesson_key: str  # content hash of the lesson source and course config
    grader_key: str  # content hash of the grading code
    limits: SubmissionLimits = field(default_factory=SubmissionLimits)

    @property
    def key(self) -> str:
        """Who and what: a result is stored, found and deduplicated under this."""
        return f"{self.assignment}:{self.student_id}:{self.sha256}"

    def to_json(self) -> str:
        data = asdict(self)
        data["notebook"] = base64.b64encode(self.notebook).decode()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> GradingTask:
        data = json.loads(text)
        data["notebook"] = base64.b64decode(data["notebook"])
        data["limits"] = SubmissionLimits(**data["limits"])
        return cls(**data)


@dataclass(frozen=True)
class CellGrade:
    """One graded cell as nbgrader scored it."""

    name: str
    score: float | None
    max_score: float
    needs_manual_grade: bool = False


@dataclass(frozen=True)
class WorkerLoad:
    """The machine's load while one submission was graded: timing checks are wall-clock."""

    worker: str  # host and process, e.g. ``grader-2:4711``
    cores: int
    load_min: float  # 1-minute load average, lowest / mean / highest sample
    load_mean: float
    load_max: float
    samples: int


@dataclass
class GradingResult:
    """Everything a worker learned about one submission; the coordinator writes it down."""

    assignment: str
    student_id: str
    sha256: str
    lesson_key: str
    grader_key: str
    status: str = "graded"  # or "error": the kernel died, not a notebook, ...
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    autograded: bytes | None = None  # the graded notebook, hidden tests included: instructors
    feedback_html: str | None = None  # what the student gets (None: none, or withheld)
    monitor: dict[str, Any] | None = None  # MonitorResult.to_dict(): latency samples
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step
    load: WorkerLoad | None = None

    @property
    def key(self) -> str:
        return f"{self.assignment}:{self.student_id}:{self.sha256}"

    def to_json(self) -> str:
        data = asdict(self)
        data["autograded"] = (
            base64.b64encode(self.autograded).decode() if self.autograded is not None else None
        )
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> GradingResult:
        data = json.loads(text)
        if data.get("autograded") is not None:
            data["autograded"] = base64.b64decode(data["autograded"])
        data["cells"] = [CellGrade(**c) for c in data.get("cells", [])]
        data["load"] = WorkerLoad(**data["load"]) if data.get("load") else None
        return cls(**data)


class StaleWorkerError(CourseError):
    """A worker's lesson or grader differs from the coordinator's: it must not grade."""


def check_keys(task: GradingTask, lesson_key: str, grader_key: str, worker: str) -> None:
    """Refuse ``task`` unless this worker's checkout hashes like the coordinator's."""
    differs = [
        f"{what} {mine[:12]} here, {theirs[:12]} on the coordinator"
        for what, mine, theirs in (
            (f"lesson {task.assignment}", lesson_key, task.lesson_key),
            ("grader", grader_key, task.grader_key),
        )
        if mine != theirs
    ]
    if differs:
        raise StaleWorkerError(
            f"worker {worker} refuses {task.student_id}: its checkout differs from the "
            f"coordinator's ({'; '.join(differs)}); update it (git pull, make setup) and restart"
        )
