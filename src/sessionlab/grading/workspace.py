"""A grading worker's private course: where the unit of work runs, one submission at a time.

A :class:`GraderWorkspace` is built once per worker (a local worker process, a Celery pool
child, or the coordinator itself with ``--workers 1``): a 0700 temporary folder holding a copy
of the assignment's source and the course config, nbgrader's API with the source generated
into the workspace's own gradebook, a kernel spec that starts every kernel in the jail (as a
uid of the jail's pool the workspace holds for its lifetime: no other running jail gets it,
and the grader process that runs a kernel's test cells runs as it too), an exchange folder
the two share, and an IPC socket folder. :meth:`GraderWorkspace.grade` then turns a
:class:`~sessionlab.grading.unit.GradingTask` into a
:class:`~sessionlab.grading.unit.GradingResult`: prepare the notebook, autograde it (the one
swappable step, :mod:`sessionlab.grading.autograde`), read its grades, measure the student's
monitor for the plot, render feedback without hidden tests. Nothing it reads or writes is
shared with another worker or with the coordinator: the notebook came in the task, the
result goes back whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from sessionlab.errors import CourseError
from sessionlab.grading import report as reports
from sessionlab.grading.autograde import Autograder, nbgrader_autograde
from sessionlab.grading.fingerprint import grader_key, lesson_key
from sessionlab.grading.jail import JailLimits, capabilities, uid_held
from sessionlab.grading.jail_settings import (
    KERNEL_NAME,
    grading_limits,
    prepare_runtime_dir,
    write_kernelspec,
)
from sessionlab.grading.monitor_grader import (
    LATENCY_CHECKS,
    MonitorResult,
    monitor_source,
    run_monitor_checks,
    unanswered_reason,
)
from sessionlab.grading.notebook import (
    GradingPlan,
    grading_plan,
    hidden_lines,
    known_to_student,
    leaked_lines,
    reduce_for_grading,
)
from sessionlab.grading.relay import release_exchange
from sessionlab.grading.unit import (
    CellGrade,
    GradingResult,
    GradingTask,
    SubmissionLimits,
    check_keys,
)
from sessionlab.grading.worker_env import sample_load, summarize_load, worker_name
from sessionlab.sandbox import patched_environ

# watchdog logs this when an observer stops while the emitter thread winds down: known
# harmless stderr that would zero a passing test (nbgrader scores any stderr 0).
WATCHDOG_NOISE = r"InotifyEmitter\.queue_events\(\) called when the thread is inactive"


WORK_PREFIX = "sessionlab-grade-"
OWNER_FILE = "owner.pid"


def sweep_dead_workspaces(root: Path | None = None) -> list[Path]:
    """Remove workspaces whose worker died without cleaning up (``kill -9``, a lost machine
    coming back): each records its owner's pid; one whose owner is gone is removed."""
    removed = []
    for folder in (root or Path(tempfile.gettempdir())).glob(WORK_PREFIX + "*"):
        try:
            pid = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or not finished being made
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            release_exchange(folder / "exchange")  # its tmpfs may still be mounted
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except PermissionError:
            continue  # alive, another user's
    return removed


def load_course_config(course: Path) -> Any:
    """The course's ``nbgrader_config.py`` as a traitlets ``Config``."""
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        raise CourseError(f"no nbgrader_config.py in {course}: pass --course")
    return PyFileConfigLoader(path.name, path=str(course)).load_config()


def source_notebook(course: Path, config: Any, assignment: str) -> Path:
    source_dir = config.CourseDirectory.get("source_directory", "source")
    folder = (course / str(source_dir) / assignment).resolve()
    notebooks: list[Path] = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise CourseError(f"no source notebook for {assignment!r} in {folder}")
    return notebooks[0]


def copy_course(course: Path, source_path: Path, root: Path) -> None:
    """A private nbgrader course in ``root``: the assignment's source folder and the config."""
    shutil.copytree(
        source_path.parent,
        root / "source" / source_path.parent.name,
        ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints", "__pycache__"),
    )
    shutil.copy(course / "nbgrader_config.py", root / "nbgrader_config.py")


def venv_first_path() -> str:
    """``PATH`` with this interpreter's ``bin`` first: nbgrader shells out to ``alembic``."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def quiet_nbgrader() -> None:
    """nbgrader logs every cell at INFO and expected noise at WARNING; the bar says enough."""
    import logging

    for name in ("traitlets", "NbGraderAPI", "nbgrader"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # SQLAlchemy 2.x warns about nbgrader's session use (harmless, nbgrader's to fix).
    warnings.filterwarnings("ignore", module=r"nbgrader(\..*)?$")
    warnings.filterwarnings("ignore", message=r".*not in session.*")


@dataclass(frozen=True)
class Lesson:
    """An assignment as this checkout has it: its source, plan, hidden lines and keys."""

    course: Path
    assignment: str
    source_path: Path
    source_nb: nbformat.NotebookNode
    plan: GradingPlan
    secrets: list[str]
    lesson_key: str
    grader_key: str
    config: Any = field(repr=False)

    @classmethod
    def load(cls, course: Path, assignment: str, *, full_notebook: bool = False) -> Lesson:
        course = course.resolve()
        config = load_course_config(course)
        source_path = source_notebook(course, config, assignment)
        source_nb = nbformat.read(source_path, as_version=4)
        plan = grading_plan(source_nb)
        if full_notebook and not plan.full:
            plan.full, plan.reason = True, "--full-notebook"
        return cls(
            course, assignment, source_path, source_nb, plan, hidden_lines(source_nb),
            lesson_key(source_path, course / "nbgrader_config.py"), grader_key(), config,
        )  # fmt: skip

    @property
    def nb_name(self) -> str:
        return self.source_path.name


def isolation_available(limits: SubmissionLimits) -> bool:
    return bool(limits.isolate and capabilities()["isolated"])


class GraderWorkspace:
    """One worker's private nbgrader course; :meth:`grade` runs the unit of work."""

    def __init__(
        self,
        course: Path,
        assignment: str,
        limits: SubmissionLimits,
        *,
        hide: tuple[Path, ...] = (),
        autograder: Autograder = nbgrader_autograde,
    ) -> None:
        from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor as CSSHTMLHeader
        from nbgrader.apps import NbGraderAPI
        from nbgrader.preprocessors import GetGrades

        from sessionlab.grading.feedback import HideHiddenTests
        from sessionlab.grading.outside import configure as configure_outside

        quiet_nbgrader()
        self.lesson = Lesson.load(course, assignment, full_notebook=limits.full_notebook)
        self.assignment = assignment
        self.limits = limits
        self.autograder = autograder
        self.worker = worker_name()
        sweep_dead_workspaces()
        self.work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
        os.chmod(self.work, 0o700)
        (self.work / OWNER_FILE).write_text(str(os.getpid()))
        self.root = self.work / "course"
        self.db_url = f"sqlite:///{self.work / 'gradebook.db'}"
        self._reference: MonitorResult | None = None
        self._held = contextlib.ExitStack()  # the claimed uid, released by close()
        try:
            self.jail = grading_limits(
                hide=[*hide, self.lesson.course], wall_s=limits.submission_timeout,
                memory_mb=limits.memory_mb, tmp_mb=limits.tmp_mb, nproc=limits.nproc,
                isolate=isolation_available(limits),
            )  # fmt: skip
            # The kernel and the grader process that runs its test cells share one uid, the
            # workspace's own for its lifetime (see jail.uid_held for why).
            self.jail.claimed_uid = self._held.enter_context(uid_held(self.jail))
            copy_course(self.lesson.course, self.lesson.source_path, self.root)
            config = load_course_config(self.lesson.course)
            # Test cells run in a grader process (the course config's ExecuteOutside) that
            # shares the exchange folder with the kernel: set before the kernel spec is written.
            configure_outside(config, self.jail, self.work / "exchange")
            write_kernelspec(self.work / "jupyter", self.jail)
            runtime = prepare_runtime_dir(self.work / "rt")
            config.CourseDirectory.root = str(self.root)
            config.CourseDirectory.source_directory = "source"
            config.CourseDirectory.release_directory = "release"
            config.CourseDirectory.db_url = self.db_url
            config.Execute.kernel_name = KERNEL_NAME
            config.KernelManager.transport = "ipc"  # TCP cannot cross into the jail's network
            config.KernelManager.ip = str(runtime / "k")  # absolute: sockets k-1, k-2, ... here
            pattern = config.IgnorePattern.get("pattern", "")
            noise = WATCHDOG_NOISE
            config.IgnorePattern.pattern = f"(?:{pattern})|{noise}" if pattern else noise
            config.IgnorePattern.enabled = True
            # Whatever the course config says: feedback never renders a hidden test.
            config.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeader]
            if limits.cell_timeout:
                config.Execute.timeout = limits.cell_timeout
            self.env = {
                "JUPYTER_PATH": str(self.work / "jupyter"),
                "JUPYTER_RUNTIME_DIR": str(runtime),
                "PATH": venv_first_path(),
            }
            with patched_environ(self.env):
                self.api = NbGraderAPI(config=config)
                result = self.api.generate_assignment(assignment, force=True)
            if not result.get("success"):
                raise CourseError(f"nbgrader generate_assignment failed:\n{result.get('log', '')}")
            from nbgrader.api import Gradebook

            with Gradebook(self.db_url) as gb:
                self.max_score = float(gb.find_assignment(assignment).max_score)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        release_exchange(self.work / "exchange")
        shutil.rmtree(self.work, ignore_errors=True)
        self._held.close()

    def __enter__(self) -> GraderWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _folder(self, step: str, student_id: str) -> Path:
        return self.root / step / student_id / self.assignment

    def grade(self, task: GradingTask) -> GradingResult:
        """The unit of work: one submission in, one result out; never raises for bad input."""
        lesson = self.lesson
        check_keys(task, lesson.lesson_key, lesson.grader_key, self.worker)
        started = time.monotonic()
        result = GradingResult(
            task.assignment, task.student_id, task.sha256, task.lesson_key, task.grader_key,
            max_score=self.max_score,
        )  # fmt: skip
        clock = started

        def lap(phase: str) -> None:
            nonlocal clock
            moment = time.monotonic()
            result.phases[phase] = round(moment - clock, 3)
            clock = moment

        with sample_load() as samples:
            self._grade(task, result, lap)
        result.seconds = time.monotonic() - started
        result.load = summarize_load(samples)
        return result

    def _grade(self, task: GradingTask, result: GradingResult, lap: Any) -> None:
        sid, lesson = task.student_id, self.lesson
        for step in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self._folder(step, sid), ignore_errors=True)
        try:
            nb = nbformat.reads(task.notebook.decode("utf-8"), as_version=4)
        except Exception as error:  # not UTF-8, not JSON, not a notebook
            result.status, result.score = "error", 0.0
            result.notes.append(f"not a readable notebook: {type(error).__name__}")
            return
        folder = self._folder("submitted", sid)
        folder.mkdir(parents=True)
        nbformat.write(reduce_for_grading(nb, lesson.plan), folder / lesson.nb_name)
        (folder / "timestamp.txt").write_text(task.timestamp)
        lap("prepare")
        with patched_environ(self.env):
            outcome = self.autograder(self, sid)
            if not outcome.ok:
                result.status = "error"
                result.notes.append(outcome.reason)
            self._read_grades(sid, result)
            lap("autograde")
            monitor = self._measure_monitor(nb, sid)
            result.monitor = monitor.to_dict() if monitor else None
            lap("latency plot")
            self._feedback(nb, sid, result, monitor)
            lap("feedback")
        for step in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self._folder(step, sid), ignore_errors=True)

    def _read_grades(self, sid: str, result: GradingResult) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gb:
            try:
                submission = gb.find_submission(self.assignment, sid)
            except MissingEntry:
                result.status, result.score = "error", 0.0
                return
            if result.status != "graded":
                result.score = 0.0
                return
            result.score = float(submission.score)
            for notebook in submission.notebooks:
                for g in notebook.grades:
                    result.cells.append(
                        CellGrade(g.cell.name, g.score, g.max_score, bool(g.needs_manual_grade))
                    )
                    if g.needs_manual_grade:
                        result.notes.append(f"{g.cell.name} needs a manual grade")

    def reference_monitor(self) -> MonitorResult | None:
        """The solution's monitor measured once per worker, on this worker's machine."""
        source = monitor_source(self.lesson.source_nb)
        if source is None:
            return None
        if self._reference is None:
            self._reference = run_monitor_checks(
                source, label="reference", checks=LATENCY_CHECKS, limits=self._jail(), timeout_s=60
            )
        return self._reference

    def _jail(self) -> JailLimits:
        return JailLimits.from_json(self.jail.to_json())  # run_monitor_checks edits its copy

    def _measure_monitor(self, nb: nbformat.NotebookNode, sid: str) -> MonitorResult | None:
        """Latency of the student's monitor for the feedback's plot (lessons with one)."""
        if not self.limits.monitor_plot or monitor_source(self.lesson.source_nb) is None:
            return None
        source = monitor_source(nb)
        if source is None:
            return MonitorResult(sid, error="no StudentMonitor class in the notebook")
        if reason := unanswered_reason(source):
            return MonitorResult(sid, error=f"{reason} (finish it to get your plot)")
        return run_monitor_checks(
            source, label=sid, checks=LATENCY_CHECKS, limits=self._jail(), timeout_s=60
        )

    def _feedback(
        self,
        nb: nbformat.NotebookNode,
        sid: str,
        result: GradingResult,
        monitor: MonitorResult | None,
    ) -> None:
        """The full record and feedback without hidden tests (``HideHiddenTests`` strips them
        while nbgrader renders; the leak check below is the second line)."""
        lesson = self.lesson
        graded = self._folder("autograded", sid) / lesson.nb_name
        if not graded.is_file():
            return
        result.autograded = graded.read_bytes()
        done = self.api.generate_feedback(self.assignment, sid, force=True)
        html_path = self._folder("feedback", sid) / lesson.nb_name.replace(".ipynb", ".html")
        if not done.get("success") or not html_path.is_file():
            result.notes.append("no feedback generated")
            return
        text = html_path.read_text()
        if monitor is not None:
            text = reports.embed(text, reports.monitor_section(monitor, self.reference_monitor()))
        leaks = leaked_lines(text, known_to_student(lesson.secrets, nb))
        if leaks:  # never hand out a file that quotes hidden tests
            result.notes.append(f"feedback withheld: {len(leaks)} hidden line(s) leaked")
            return
        result.feedback_html = text
