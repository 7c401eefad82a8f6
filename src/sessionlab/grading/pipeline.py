"""``sessionlab grade``: a class's submissions in, grades, feedback and reports out.

The coordinator's side of grading. Before: collect and name the submissions, keep the cached
result of every student whose notebook, lesson and grader did not change, and turn each of the
others into a :class:`~sessionlab.grading.unit.GradingTask`. Then a runner grades the tasks
(in this process, in N local worker processes, or on Celery workers on other machines; see
:mod:`sessionlab.grading.local_workers` and :mod:`sessionlab.grading.celery_workers`) and the
results come back in any order. As each arrives: one progress bar over all workers, the
result written into the one gradebook, the instructor's record, the student's feedback and
the cache. After: ``grades.csv``, the class report and a summary.

Outputs (under ``out``, by default the course's ``autograder/``, all ignored by git):
``gradebook.db``, ``autograded/<sid>/<a>/`` (the instructor's full record),
``feedback/<sid>/<a>/<a>.html``, ``exports/<a>/{grades.csv,class-report.html,state.json}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sessionlab.grading import defaults
from sessionlab.grading import report as reports
from sessionlab.grading.class_gradebook import ClassGradebook
from sessionlab.grading.collect import Collection, Submission, collect, submissions_folder
from sessionlab.grading.jail import capabilities
from sessionlab.grading.local_workers import InProcessRunner, LocalPoolRunner, Runner
from sessionlab.grading.monitor_grader import MonitorResult
from sessionlab.grading.notebook import leaked_lines
from sessionlab.grading.progress import Progress
from sessionlab.grading.report import StudentRow
from sessionlab.grading.unit import GradingResult, GradingTask, SubmissionLimits, WorkerLoad
from sessionlab.grading.workspace import Lesson


@dataclass
class GradeOptions:
    assignment: str
    submissions: Path
    course: Path  # the folder holding nbgrader_config.py (the repository's autograder/)
    out: Path | None = None  # default: ``course``
    cell_timeout: int | None = None  # default: the course config's Execute.timeout
    submission_timeout: float = defaults.SUBMISSION_TIMEOUT_S
    memory_mb: int = defaults.MEMORY_MB
    tmp_mb: int = defaults.TMP_MB
    nproc: int = defaults.NPROC
    isolate: bool = True
    force: bool = False
    monitor_plot: bool = True
    full_notebook: bool = False  # never skip demonstration cells
    workers: int = 1  # local worker processes; 1 grades in this process
    broker: str | None = None  # redis://HOST:PORT/DB: Celery workers grade instead
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def limits(self) -> SubmissionLimits:
        return SubmissionLimits(
            cell_timeout=self.cell_timeout, submission_timeout=self.submission_timeout,
            memory_mb=self.memory_mb, tmp_mb=self.tmp_mb, nproc=self.nproc,
            isolate=self.isolate, monitor_plot=self.monitor_plot,
            full_notebook=self.full_notebook,
        )  # fmt: skip


@dataclass
class GradeRun:
    rows: list[StudentRow]
    collection: Collection
    regraded: int
    seconds: float
    grading_seconds: float
    plan: str
    isolation: str
    csv: Path
    class_report: Path
    phases: dict[str, float] = field(default_factory=dict)  # seconds: where the time went
    runner: str = "in process"
    loads: list[WorkerLoad] = field(default_factory=list)  # one per graded submission

    @property
    def seconds_per_submission(self) -> float | None:
        return self.grading_seconds / self.regraded if self.regraded else None


class GradeCache:
    """``exports/<a>/state.json``: every student's last row, valid under one lesson key.

    Written after each result, so a coordinator that stops mid-run keeps what was graded.
    """

    def __init__(self, path: Path, lesson_key: str) -> None:
        self.path = path
        data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        if data.get("source_key") != lesson_key:
            data = {"source_key": lesson_key, "students": {}}
        self.data = data
        self.students: dict[str, dict[str, Any]] = data["students"]

    def cached_row(self, student_id: str, digest: str) -> StudentRow | None:
        entry = self.students.get(student_id)
        if not entry or entry.get("sha256") != digest or entry.get("status") != "graded":
            return None
        fields = {k: v for k, v in entry.items() if k in StudentRow.__dataclass_fields__}
        return StudentRow(**{**fields, "regraded": False})

    def monitor(self, student_id: str) -> MonitorResult | None:
        data = self.students.get(student_id, {}).get("monitor")
        return MonitorResult.from_dict(data) if data else None

    def store(self, row: StudentRow, monitor: dict[str, Any] | None) -> None:
        entry = {k: v for k, v in row.__dict__.items() if k != "regraded"}
        entry["monitor"] = monitor
        self.students[row.student_id] = entry

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data, indent=1, default=str))
        partial.replace(self.path)


def make_task(sub: Submission, lesson: Lesson, limits: SubmissionLimits) -> GradingTask:
    data = sub.path.read_bytes()
    stamp = sub.timestamp or datetime.fromtimestamp(sub.path.stat().st_mtime, UTC).strftime(
        "%Y-%m-%d %H:%M:%S.%f UTC"
    )
    return GradingTask(
        assignment=lesson.assignment, student_id=sub.student_id, name=sub.name, notebook=data,
        sha256=sub.sha256(), timestamp=stamp, lesson_key=lesson.lesson_key,
        grader_key=lesson.grader_key, limits=limits,
    )  # fmt: skip


def open_runner(options: GradeOptions, lesson: Lesson, hide: tuple[Path, ...]) -> Runner:
    limits = options.limits()
    if options.broker:
        from sessionlab.grading.celery_workers import CeleryRunner

        return CeleryRunner(options.broker, stream=options.stream, force=options.force)
    if options.workers > 1:
        return LocalPoolRunner(lesson.course, lesson.assignment, limits, hide, options.workers)
    return InProcessRunner(lesson.course, lesson.assignment, limits, hide)


def runner_label(options: GradeOptions) -> str:
    if options.broker:
        return f"Celery workers via {options.broker}"
    return f"{options.workers} local workers" if options.workers > 1 else "in process"


class ResultWriter:
    """Writes each result where the instructor and the student find it, as it arrives."""

    def __init__(self, lesson: Lesson, out: Path, cache: GradeCache) -> None:
        self.lesson = lesson
        self.out = out
        self.cache = cache
        self.gradebook = ClassGradebook(lesson, out)

    def write(self, result: GradingResult, sub: Submission, task: GradingTask) -> StudentRow:
        a, sid = self.lesson.assignment, sub.student_id
        row = StudentRow(
            sid, sub.name, sub.source, sub.lms_id, sub.original, score=result.score,
            max_score=result.max_score or self.gradebook.max_score, status=result.status,
            notes=[*sub.notes, *result.notes], sha256=result.sha256,
            cells={c.name: c.score for c in result.cells}, seconds=result.seconds,
        )  # fmt: skip
        monitor = MonitorResult.from_dict(result.monitor) if result.monitor else None
        check = monitor.check("detection_latency") if monitor else None
        if check:
            row.detection_p95_ms = check["numbers"].get("p95_ms")
        self.gradebook.record(result, sub.name, task.timestamp)
        record = self.out / "autograded" / sid / a
        if result.autograded is not None:
            record.mkdir(parents=True, exist_ok=True)
            (record / self.lesson.nb_name).write_bytes(result.autograded)
            (record / "timestamp.txt").write_text(task.timestamp)
        target = self.out / "feedback" / sid / a / self.lesson.nb_name.replace(".ipynb", ".html")
        html = result.feedback_html
        if html is not None and leaked_lines(html, self.lesson.secrets):
            # The worker checked against what this student wrote; this check is stricter.
            row.notes.append("feedback withheld: it quotes a hidden test")
            html = None
        if html is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html)
        self.cache.store(row, result.monitor)
        self.cache.save()
        return row


def grade(options: GradeOptions) -> GradeRun:
    """Grade every new or changed submission; returns every student's row (cached or new)."""
    started = time.monotonic()
    lesson = Lesson.load(options.course, options.assignment, full_notebook=options.full_notebook)
    out = (options.out or lesson.course).resolve()
    exports = out / "exports" / options.assignment
    cache = GradeCache(exports / "state.json", lesson.lesson_key)
    caps = capabilities() if options.isolate else {"isolated": False, "fallback": "--no-isolation"}
    isolation = (
        "jail: namespaces, private /tmp, uid drop, rlimits"
        if caps["isolated"]
        else (f"rlimits and time limits only ({caps['fallback']})")
    )
    phases: dict[str, float] = {}
    loads: list[WorkerLoad] = []
    limits = options.limits()
    with submissions_folder(options.submissions.resolve()) as folder:
        collection = collect(folder, options.assignment)
        rows: dict[str, StudentRow] = {}
        todo: dict[str, tuple[Submission, GradingTask]] = {}
        for sub in collection.submissions:
            cached = None if options.force else cache.cached_row(sub.student_id, sub.sha256())
            if cached is not None:
                rows[sub.student_id] = cached
            else:
                todo[sub.student_id] = (sub, make_task(sub, lesson, limits))
        grading_started = time.monotonic()
        if todo:
            writer = ResultWriter(lesson, out, cache)
            hide = (folder, options.submissions.resolve(), out, lesson.course)
            runner = open_runner(options, lesson, hide)
            try:
                bar = Progress(len(todo), stream=options.stream)
                tasks = [task for _, task in todo.values()]
                for done, result in enumerate(runner.run(tasks), 1):
                    sub, task = todo[result.student_id]
                    writing = time.monotonic()
                    rows[sub.student_id] = writer.write(result, sub, task)
                    recorded = time.monotonic() - writing
                    phases["coordinator: record"] = phases.get("coordinator: record", 0) + recorded
                    for phase, secs in result.phases.items():
                        phases[phase] = phases.get(phase, 0.0) + secs
                    if result.load:
                        loads.append(result.load)
                    where = f", {result.load.worker}" if result.load and options.workers > 1 else ""
                    bar.update(done, f"{sub.student_id} ({result.seconds:.1f} s{where})")
            finally:
                runner.close()
        grading_seconds = time.monotonic() - grading_started

    cache.save()
    ordered = sorted(rows.values(), key=lambda r: r.student_id)
    csv_path = reports.write_csv(ordered, exports / "grades.csv")
    monitors = {sid: m for sid in rows if (m := cache.monitor(sid))}
    per_sub = grading_seconds / len(todo) if todo else None
    report_path = exports / "class-report.html"
    report_path.write_text(
        reports.class_report(options.assignment, ordered, monitors, per_sub, loads)
    )
    return GradeRun(
        ordered, collection, len(todo), time.monotonic() - started, grading_seconds,
        lesson.plan.describe(), isolation, csv_path, report_path, phases,
        runner_label(options), loads,
    )  # fmt: skip


def run_cli(options: GradeOptions, *, echo: Callable[[str], None] = print) -> int:
    """What ``sessionlab grade`` prints; exit status 1 when a name was not understood."""
    run = grade(options)
    c = run.collection
    echo("")
    echo(reports.summary_table(run.rows))
    echo("")
    if c.unparsed:
        echo(f"{len(c.unparsed)} file(s) not graded, name not understood (rename and re-run):")
        for item in c.unparsed:
            echo(f"  {item}")
    for item in c.superseded:
        echo(f"  superseded: {item}")
    per = run.seconds_per_submission
    echo(f"grading: {run.plan}; isolation: {run.isolation}; workers: {run.runner}")
    if run.phases:
        echo("time: " + ", ".join(f"{name} {secs:.1f} s" for name, secs in run.phases.items()))
    echo(
        f"{len(run.rows)} students, {run.regraded} (re)graded in {run.seconds:.0f} s"
        + (f" ({per:.1f} s per submission)" if per else ", nothing changed")
    )
    echo(f"grades: {run.csv}\nclass report: {run.class_report}")
    return 1 if c.unparsed else 0
