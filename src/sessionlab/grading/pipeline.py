"""``sessionlab grade``: a class's submissions in, grades, feedback and reports out.

One run, one Python process with nbgrader imported once (its start-up costs 3-4 s per
process): collect and name the submissions, skip the ones whose content did not change since
the last run, autograde the rest one by one in a private copy of the course (each kernel in the
jail, see :mod:`sessionlab.grading.jail_settings`), measure each student's monitor for the latency
plot, write feedback without hidden tests, then the CSV, the class report and a summary.

Outputs (under ``out``, by default the course's ``autograder/``, all ignored by git):
``gradebook.db``, ``autograded/<sid>/<a>/`` (the instructor's full record),
``feedback/<sid>/<a>/<a>.html``, ``exports/<a>/{grades.csv,class-report.html,state.json}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import nbformat

from sessionlab.errors import CourseError
from sessionlab.grading import report as reports
from sessionlab.grading.collect import Collection, Submission, collect, unpack
from sessionlab.grading.jail import capabilities
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
    grading_plan,
    hidden_lines,
    known_to_student,
    leaked_lines,
    reduce_for_grading,
)
from sessionlab.grading.progress import Progress
from sessionlab.grading.report import StudentRow
from sessionlab.sandbox import patched_environ

# Bump when a change here changes scores: every cached result is then regraded.
GRADER_VERSION = "2"


@dataclass
class GradeOptions:
    assignment: str
    submissions: Path
    course: Path  # the folder holding nbgrader_config.py (the repository's autograder/)
    out: Path | None = None  # default: ``course``
    cell_timeout: int | None = None  # default: the course config's Execute.timeout
    submission_timeout: float = 900.0
    memory_mb: int = 2048
    tmp_mb: int = 128
    nproc: int = 256
    isolate: bool = True
    force: bool = False
    monitor_plot: bool = True
    full_notebook: bool = False  # never skip demonstration cells
    stream: TextIO = field(default_factory=lambda: sys.stderr)


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

    @property
    def seconds_per_submission(self) -> float | None:
        return self.grading_seconds / self.regraded if self.regraded else None


def load_course_config(course: Path) -> Any:
    """The course's ``nbgrader_config.py`` as a traitlets ``Config``."""
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        raise CourseError(f"no nbgrader_config.py in {course}: pass --course")
    return PyFileConfigLoader(path.name, path=str(course)).load_config()


def source_notebook(course: Path, config: Any, assignment: str) -> Path:
    source_dir = config.CourseDirectory.get("source_directory", "source")
    folder = (course / source_dir / assignment).resolve()
    notebooks = sorted(folder.glob("*.ipynb"))
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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _submissions_folder(path: Path) -> Iterator[Path]:
    if path.is_file() and path.suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="sessionlab-unzip-") as tmp:
            yield unpack(path, Path(tmp))
    elif path.is_dir():
        yield path
    else:
        raise CourseError(f"--submissions {path}: not a folder or a .zip")


def quiet_nbgrader() -> None:
    """nbgrader logs every cell at INFO and expected noise at WARNING; the bar says enough."""
    for name in ("traitlets", "NbGraderAPI", "nbgrader"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # SQLAlchemy 2.x warns about nbgrader's session use (harmless, nbgrader's to fix).
    warnings.filterwarnings("ignore", module=r"nbgrader(\..*)?$")
    warnings.filterwarnings("ignore", message=r".*not in session.*")


def grade(options: GradeOptions) -> GradeRun:
    """Grade every new or changed submission; returns every student's row (cached or new)."""
    started = time.monotonic()
    course = options.course.resolve()
    out = (options.out or course).resolve()
    config = load_course_config(course)
    source_path = source_notebook(course, config, options.assignment)
    source_nb = nbformat.read(source_path, as_version=4)
    plan = grading_plan(source_nb)
    if options.full_notebook and not plan.full:
        plan.full, plan.reason = True, "--full-notebook"
    secrets = hidden_lines(source_nb)
    source_key = _sha(source_path.read_bytes() + GRADER_VERSION.encode())
    exports = out / "exports" / options.assignment
    state_path = exports / "state.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("source_key") != source_key:
        state = {"source_key": source_key, "students": {}}
    caps = capabilities() if options.isolate else {"isolated": False, "fallback": "--no-isolation"}
    isolation = (
        "jail: namespaces, private /tmp, uid drop, rlimits"
        if caps["isolated"]
        else (f"rlimits and time limits only ({caps['fallback']})")
    )

    with _submissions_folder(options.submissions.resolve()) as folder:
        collection = collect(folder, options.assignment)
        rows: dict[str, StudentRow] = {}
        todo: list[tuple[Submission, str]] = []
        for sub in collection.submissions:
            digest = sub.sha256()
            cached = state["students"].get(sub.student_id)
            if (
                not options.force
                and cached
                and cached.get("sha256") == digest
                and cached.get("status") == "graded"
            ):
                row = StudentRow(**{k: v for k, v in cached.items() if k != "monitor"})
                row.regraded = False
                rows[sub.student_id] = row
            else:
                todo.append((sub, digest))
        grading_started = time.monotonic()
        phases: dict[str, float] = {}
        if todo:
            new_rows = _grade_batch(
                options,
                config,
                source_path,
                source_nb,
                plan,
                secrets,
                todo,
                out,
                state,
                caps,
                hide=[folder, options.submissions.resolve(), out, course],
                phases=phases,
            )
            rows.update({r.student_id: r for r in new_rows})
        grading_seconds = time.monotonic() - grading_started

    for student_id, row in rows.items():
        entry = {k: v for k, v in row.__dict__.items() if k != "regraded"}
        entry["monitor"] = state["students"].get(student_id, {}).get("monitor")
        state["students"][student_id] = entry
    exports.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=1, default=str))
    ordered = sorted(rows.values(), key=lambda r: r.student_id)
    csv_path = reports.write_csv(ordered, exports / "grades.csv")
    monitors = {
        s: MonitorResult.from_dict(e["monitor"])
        for s, e in state["students"].items()
        if e.get("monitor") and s in rows
    }
    per_sub = grading_seconds / len(todo) if todo else None
    report_path = exports / "class-report.html"
    report_path.write_text(reports.class_report(options.assignment, ordered, monitors, per_sub))
    return GradeRun(
        ordered, collection, len(todo), time.monotonic() - started, grading_seconds,
        plan.describe(), isolation, csv_path, report_path, phases,
    )  # fmt: skip


def _grade_batch(
    options: GradeOptions,
    config: Any,
    source_path: Path,
    source_nb: nbformat.NotebookNode,
    plan: Any,
    secrets: list[str],
    todo: list[tuple[Submission, str]],
    out: Path,
    state: dict[str, Any],
    caps: dict[str, Any],
    hide: list[Path],
    phases: dict[str, float],
) -> list[StudentRow]:
    """Autograde ``todo`` in a private course copy; feedback, monitors, rows."""
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        phases[phase] = phases.get(phase, 0.0) + now - clock
        clock = now

    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor as CSSHTMLHeader
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.preprocessors import GetGrades

    from sessionlab.grading.feedback import HideHiddenTests
    from sessionlab.grading.outside import configure as configure_outside

    quiet_nbgrader()
    assignment = options.assignment
    nb_name = source_path.name
    work = Path(tempfile.mkdtemp(prefix="sessionlab-grade-"))
    os.chmod(work, 0o700)
    limits = grading_limits(
        hide=hide, wall_s=options.submission_timeout, memory_mb=options.memory_mb,
        tmp_mb=options.tmp_mb, nproc=options.nproc, isolate=bool(caps["isolated"]),
    )  # fmt: skip
    try:
        root = work / "course"
        copy_course(options.course, source_path, root)
        out.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{out / 'gradebook.db'}"
        rows: dict[str, StudentRow] = {}
        for sub, digest in todo:
            folder = root / "submitted" / sub.student_id / assignment
            folder.mkdir(parents=True)
            row = StudentRow(
                sub.student_id,
                sub.name,
                sub.source,
                sub.lms_id,
                sub.original,
                sha256=digest,
                notes=list(sub.notes),
            )
            rows[sub.student_id] = row
            try:
                nb = nbformat.read(sub.path, as_version=4)
            except Exception as error:  # not JSON, not a notebook
                row.status, row.score = "error", 0.0
                row.notes.append(f"not a readable notebook: {type(error).__name__}")
                continue
            nbformat.write(reduce_for_grading(nb, plan), folder / nb_name)
            stamp = sub.timestamp or datetime.fromtimestamp(sub.path.stat().st_mtime, UTC).strftime(
                "%Y-%m-%d %H:%M:%S.%f UTC"
            )
            (folder / "timestamp.txt").write_text(stamp)
        configure_outside(config, limits, work / "exchange")  # before the kernel spec
        write_kernelspec(work / "jupyter", limits)
        runtime = prepare_runtime_dir(work / "rt", limits.uid)
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.db_url = db_url
        config.Execute.kernel_name = KERNEL_NAME
        config.KernelManager.transport = "ipc"  # TCP cannot cross into the jail's network
        config.KernelManager.ip = str(runtime / "k")  # absolute: sockets k-1, k-2, ... here
        # Known harmless stderr that would zero a passing test (nbgrader scores any stderr 0):
        # watchdog logs this when an observer stops while the emitter thread winds down.
        noise = r"InotifyEmitter\.queue_events\(\) called when the thread is inactive"
        pattern = config.IgnorePattern.get("pattern", "")
        config.IgnorePattern.pattern = f"(?:{pattern})|{noise}" if pattern else noise
        config.IgnorePattern.enabled = True
        # Whatever the course config says: feedback never renders a hidden test.
        config.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeader]
        if options.cell_timeout:
            config.Execute.timeout = options.cell_timeout
        env = {
            "JUPYTER_PATH": str(work / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "PATH": venv_first_path(),
        }
        graded = [s for s, _ in todo if rows[s.student_id].status == "graded"]
        with patched_environ(env):
            api = NbGraderAPI(config=config)
            result = api.generate_assignment(assignment, force=True)
            if not result.get("success"):
                raise CourseError(f"nbgrader generate_assignment failed:\n{result.get('log', '')}")
            with Gradebook(db_url) as gb:
                for sub in graded:
                    first, _, last = sub.name.partition(" ")
                    gb.update_or_create_student(sub.student_id, first_name=first, last_name=last)
            lap("prepare")
            bar = Progress(len(graded), stream=options.stream)
            for index, sub in enumerate(graded, 1):
                t0 = time.monotonic()
                result = api.autograde(assignment, sub.student_id, force=True, create=True)
                row = rows[sub.student_id]
                row.seconds = time.monotonic() - t0
                if not result.get("success"):
                    row.status = "error"
                    row.notes.append(_failure_reason(result, options.submission_timeout))
                bar.update(index, f"{sub.student_id} ({row.seconds:.1f} s)")
            _read_scores(db_url, assignment, rows)
            lap("autograde")
            monitors = _measure_monitors(options, source_nb, graded, limits, rows, state, out)
            lap("latency plots")
            _feedback(api, root, out, assignment, nb_name, secrets, graded, rows, monitors, state)
            lap("feedback")
        return list(rows.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _failure_reason(result: dict[str, Any], wall_s: float) -> str:
    log = (result.get("log") or "") + (result.get("error") or "")
    if "Kernel died" in log or "DeadKernelError" in log:
        return f"the kernel died (crash, memory or the {wall_s:g} s submission limit)"
    lines = [line for line in log.splitlines() if line.strip()]
    return "nbgrader: " + (lines[-1][:200] if lines else "autograde failed")


def _read_scores(db_url: str, assignment: str, rows: dict[str, StudentRow]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        max_score = gb.find_assignment(assignment).max_score
        for row in rows.values():
            row.max_score = max_score
            try:
                submission = gb.find_submission(assignment, row.student_id)
            except MissingEntry:
                row.score = 0.0
                row.status = "error" if row.status == "graded" else row.status
                continue
            if row.status != "graded":
                row.score = 0.0
                continue
            row.score = submission.score
            for nb in submission.notebooks:
                for g in nb.grades:
                    row.cells[g.cell.name] = g.score
                    if g.needs_manual_grade:
                        row.notes.append(f"{g.cell.name} needs a manual grade")


def _measure_monitors(
    options: GradeOptions,
    source_nb: nbformat.NotebookNode,
    graded: list[Submission],
    limits: Any,
    rows: dict[str, StudentRow],
    state: dict[str, Any],
    out: Path,
) -> dict[str, MonitorResult]:
    """Latency of each student's monitor (and the reference's, once) for the plots."""
    reference_source = monitor_source(source_nb)
    if not options.monitor_plot or reference_source is None:
        return {}
    if not state.get("reference"):
        ref = run_monitor_checks(
            reference_source, label="reference", checks=LATENCY_CHECKS, limits=limits, timeout_s=60
        )
        state["reference"] = ref.to_dict()
    results: dict[str, MonitorResult] = {}
    bar = Progress(len(graded), stream=options.stream)
    for index, sub in enumerate(graded, 1):
        nb = nbformat.read(sub.path, as_version=4)
        source = monitor_source(nb)
        if source is None:
            result = MonitorResult(sub.student_id, error="no StudentMonitor class in the notebook")
        elif reason := unanswered_reason(source):
            result = MonitorResult(sub.student_id, error=f"{reason} (finish it to get your plot)")
        else:
            result = run_monitor_checks(
                source, label=sub.student_id, checks=LATENCY_CHECKS, limits=limits, timeout_s=60
            )
        results[sub.student_id] = result
        check = result.check("detection_latency")
        if check:
            rows[sub.student_id].detection_p95_ms = check["numbers"].get("p95_ms")
        state["students"].setdefault(sub.student_id, {})["monitor"] = result.to_dict()
        bar.update(index, f"latency {sub.student_id} ({result.seconds:.1f} s)")
    return results


def _feedback(
    api: Any,
    root: Path,
    out: Path,
    assignment: str,
    nb_name: str,
    secrets: list[str],
    graded: list[Submission],
    rows: dict[str, StudentRow],
    monitors: dict[str, MonitorResult],
    state: dict[str, Any],
) -> None:
    """Keep the full autograded record; feedback without hidden tests (``HideHiddenTests``
    strips them while nbgrader renders; the leak check below is the second line)."""
    reference = MonitorResult.from_dict(state["reference"]) if state.get("reference") else None
    done = []
    own_secrets: dict[str, list[str]] = {}
    for sub in graded:
        notebook = root / "autograded" / sub.student_id / assignment / nb_name
        if not notebook.is_file():
            continue
        record = out / "autograded" / sub.student_id / assignment
        shutil.rmtree(record, ignore_errors=True)
        shutil.copytree(notebook.parent, record)
        own_secrets[sub.student_id] = known_to_student(
            secrets, nbformat.read(sub.path, as_version=4)
        )
        done.append(sub.student_id)
    if not done:
        return
    result = api.generate_feedback(assignment, force=True)
    if not result.get("success"):
        raise CourseError(f"nbgrader generate_feedback failed:\n{result.get('log', '')}")
    for student_id in done:
        html_path = root / "feedback" / student_id / assignment / nb_name.replace(".ipynb", ".html")
        if not html_path.is_file():
            rows[student_id].notes.append("no feedback generated")
            continue
        text = html_path.read_text()
        if student_id in monitors:
            text = reports.embed(text, reports.monitor_section(monitors[student_id], reference))
        leaks = leaked_lines(text, own_secrets[student_id])
        target = out / "feedback" / student_id / assignment / html_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if leaks:  # never hand out a file that quotes hidden tests
            rows[student_id].notes.append(f"feedback withheld: {len(leaks)} hidden line(s) leaked")
            target.unlink(missing_ok=True)
            continue
        target.write_text(text)


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
    echo(f"grading: {run.plan}; isolation: {run.isolation}")
    if run.phases:
        echo("time: " + ", ".join(f"{name} {secs:.1f} s" for name, secs in run.phases.items()))
    echo(
        f"{len(run.rows)} students, {run.regraded} (re)graded in {run.seconds:.0f} s"
        + (f" ({per:.1f} s per submission)" if per else ", nothing changed")
    )
    echo(f"grades: {run.csv}\nclass report: {run.class_report}")
    return 1 if c.unparsed else 0
