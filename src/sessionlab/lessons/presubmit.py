"""The pre-submit check at the end of every lesson: where do I stand before I hand this in?

Like otter's ``check_all``: it reads the lesson's test cells from the notebook on disk (the
student's own copy in the kernel's working directory, else the released notebook), keeps only
their *visible* part, runs each one again in a copy of the kernel's namespace and prints, per
exercise, *passed*, *failed* or *not started* with the points at stake.

Why it decides nothing: it runs in the student's kernel, which the student controls. The grade
comes from the test cells themselves when the notebook is graded (with hidden checks this
report cannot see), so this is a mirror for the student, never an input to grading. Under
nbgrader's autograde it does not run at all (nbgrader sets ``NBGRADER_EXECUTION``): the
graded cells already ran and re-running them would only cost time.

It never raises: a broken check, a missing notebook or a hostile ``__str__`` ends up as a
line of the report, so *Run All* always reaches the end of the lesson.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import time
import traceback
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat

from sessionlab.lessons.show import clip
from sessionlab.paths import repo_root

PASSED = "passed"
FAILED = "failed"
NOT_STARTED = "not started"
BY_HAND = "by hand"
AT_GRADING = "at grading"

_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)
_HEADING = re.compile(r"^#+\s*(?:✏️\s*)?(.*?)\s*(?:\(\d+(?:\.\d+)? points?[^)]*\))?\s*$")
_EXERCISE = re.compile(r"\A[^\n]*(?:Exercise|Challenge)")
_DETAIL_WIDTH = 110


@dataclass(frozen=True)
class VisibleCheck:
    """One graded test cell: its id, the exercise it belongs to, its points, its visible code."""

    grade_id: str
    title: str
    points: float
    source: str


@dataclass(frozen=True)
class ExerciseResult:
    """What re-running one visible check gave: a status word and one line saying why."""

    grade_id: str
    title: str
    points: float
    status: str
    detail: str = ""


def visible_source(source: str) -> str:
    """A test cell's code without its hidden block(s) (a graded copy may carry them)."""
    return _HIDDEN.sub("", source)


def _title(heading: str, fallback: str) -> str:
    first = heading.strip().splitlines()[0] if heading.strip() else ""
    found = _HEADING.match(first)
    return found.group(1) if found and found.group(1) else fallback


def read_checks(notebook: nbformat.NotebookNode) -> tuple[list[VisibleCheck], list[ExerciseResult]]:
    """The visible checks of a lesson, in order, and its answers graded by hand.

    Each check is titled by the nearest exercise heading above it (``## ✏️ Exercise 2 ·
    Follow the chain``), so a student finds the place; the grade id is kept to be exact.
    """
    checks: list[VisibleCheck] = []
    manual: list[ExerciseResult] = []
    heading = ""
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = cell.source.lstrip()
        if cell.cell_type == "markdown" and source.startswith("#") and _EXERCISE.search(source):
            heading = source
        if not meta.get("grade"):
            continue
        grade_id = str(meta.get("grade_id", "?"))
        points = float(meta.get("points", 0) or 0)
        title = _title(heading, grade_id)
        if cell.cell_type == "code":
            checks.append(VisibleCheck(grade_id, title, points, visible_source(cell.source)))
        else:
            written = "YOUR ANSWER HERE" not in cell.source
            note = "written (as last saved)" if written else "not written yet (as last saved)"
            manual.append(ExerciseResult(grade_id, title, points, BY_HAND, note))
    return checks, manual


def find_notebook(assignment: str, folder: Path | None = None) -> Path | None:
    """The student's own copy (the kernel runs in the notebook's folder), else the release."""
    candidates = [(folder or Path.cwd()) / f"{assignment}.ipynb"]
    root = repo_root()
    if root is not None:
        candidates.append(root / "notebooks" / assignment / f"{assignment}.ipynb")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _one_line(text: str) -> str:
    return clip(text, _DETAIL_WIDTH)


def _describe(error: BaseException) -> str:
    """``Type: message`` without trusting the exception's own ``__str__`` to behave."""
    try:
        message = str(error)
    except Exception:  # a hostile or broken __str__ must not break the report
        message = "(its message could not be printed)"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _failing_line(error: BaseException, filename: str, source: str) -> str:
    """The line of the visible check that raised, for asserts without a message."""
    lines = source.splitlines()
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == filename and 0 < lineno <= len(lines):
            return lines[lineno - 1].strip()
    return ""


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(check: VisibleCheck, error: BaseException | None, filename: str) -> ExerciseResult:
    """passed (no error), not started (a stub still raising, or its answer never ran), failed."""
    if error is None:
        return ExerciseResult(check.grade_id, check.title, check.points, PASSED)
    if any(isinstance(e, NotImplementedError) for e in _chain(error)):
        detail = "the exercise still raises NotImplementedError"
        return ExerciseResult(check.grade_id, check.title, check.points, NOT_STARTED, detail)
    if isinstance(error, NameError):
        detail = f"{_describe(error)} (run the exercise cell, and the cells above it, first)"
        return ExerciseResult(check.grade_id, check.title, check.points, NOT_STARTED, detail)
    detail = _describe(error)
    if isinstance(error, AssertionError) and not str(error):
        detail = f"AssertionError at: {_failing_line(error, filename, check.source)}"
    return ExerciseResult(check.grade_id, check.title, check.points, FAILED, _one_line(detail))


async def run_check(check: VisibleCheck, namespace: MutableMapping[str, Any]) -> ExerciseResult:
    """Run one visible check in a *copy* of the namespace, output swallowed, errors caught.

    A copy, so re-checking never rebinds the student's variables; top-level ``await`` is
    allowed because several checks drive the real SDK.
    """
    filename = f"<visible checks of {check.grade_id}>"
    scope: dict[str, Any] = dict(namespace)
    sink = io.StringIO()
    error: BaseException | None = None
    try:
        code = compile(check.source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            result = eval(code, scope)  # the lesson's own locked test cell
            if inspect.isawaitable(result):
                await result
    except (Exception, SystemExit, KeyboardInterrupt) as caught:
        # KeyboardInterrupt: a student interrupting one slow check still gets the report.
        error = caught
    return classify(check, error, filename)


def _checks_something(source: str) -> bool:
    """Does a visible part assert anything? (Some exercises are checked only at grading.)"""
    try:
        tree = compile(
            source, "<check>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
    except SyntaxError:
        return True  # running it will report the error
    return any(isinstance(node, ast.Assert | ast.Raise) for node in ast.walk(tree))


def _nothing_to_check(check: VisibleCheck, earlier: list[ExerciseResult]) -> ExerciseResult:
    """A test cell whose visible part checks nothing: never *passed* before grading.

    It shares the fate of the exercise's previous check when that one did not pass (an
    unfinished answer is not started for every check of it); otherwise it runs at grading.
    """
    same = [r for r in earlier if r.title == check.title]
    if same and same[-1].status in (NOT_STARTED, FAILED):
        detail = f"like {same[-1].grade_id} above"
        return ExerciseResult(check.grade_id, check.title, check.points, same[-1].status, detail)
    detail = "no visible check: it runs when your notebook is graded"
    return ExerciseResult(check.grade_id, check.title, check.points, AT_GRADING, detail)


def report(assignment: str, results: list[ExerciseResult], seconds: float) -> str:
    """The printed report: one line per check, totals, and what this check cannot tell."""
    auto = [r for r in results if r.status != BY_HAND]
    lines = [
        f"Pre-submit check of {assignment}: every visible check run again ({seconds:.1f} s)",
        "",
    ]
    for r in results:
        unit = "point" if r.points == 1 else "points"
        lines.append(f"  {r.status:<12} {r.points:>4g} {unit:<6}  {r.title}  [{r.grade_id}]")
        if r.detail:
            lines.append(f"{'':16}→ {r.detail}")
    statuses = (PASSED, FAILED, NOT_STARTED, AT_GRADING)
    counts = {s: sum(1 for r in auto if r.status == s) for s in statuses}
    at_stake = sum(r.points for r in auto)
    passing = sum(r.points for r in auto if r.status == PASSED)
    lines += [
        "",
        f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[NOT_STARTED]} not started"
        + (f", {counts[AT_GRADING]} checked only at grading" if counts[AT_GRADING] else "")
        + ": "
        f"the visible checks pass for {passing:g} of {at_stake:g} automatic points.",
        "Hidden checks run only when your notebook is graded: passing here is necessary, not "
        "sufficient.",
    ]
    manual = sum(r.points for r in results if r.status == BY_HAND)
    if manual:
        unit = "point" if manual == 1 else "points"
        lines.append(f"Answers graded by hand ({manual:g} {unit}) are read by your instructor.")
    return "\n".join(lines)


async def check_all(
    assignment: str,
    namespace: MutableMapping[str, Any],
    *,
    notebook: str | os.PathLike[str] | None = None,
) -> list[ExerciseResult]:
    """Re-run every visible check of ``assignment`` against ``namespace`` and print a report.

    Call it from the lesson's last cells as ``await check_all("01-fragmentation", globals())``.
    Returns the results (empty when skipped); never raises.
    """
    if os.environ.get("NBGRADER_EXECUTION"):
        print("Pre-submit check skipped: this notebook is being graded by its test cells.")
        return []
    path = Path(notebook) if notebook is not None else find_notebook(assignment)
    if path is None:
        print(
            f"Pre-submit check: {assignment}.ipynb was not found here;"
            " run the notebook from the lesson's folder."
        )
        return []
    try:
        checks, manual = read_checks(nbformat.read(path, as_version=4))
    except Exception as error:
        print(f"Pre-submit check: cannot read {path.name}: {_describe(error)}")
        return []
    started = time.monotonic()
    results: list[ExerciseResult] = []
    for check in checks:
        if _checks_something(check.source):
            results.append(await run_check(check, namespace))
        else:
            results.append(_nothing_to_check(check, results))
    own_copy = path.resolve().parent == Path.cwd().resolve()
    # Whether a written answer is there can only be read from the student's own saved copy.
    results += manual if own_copy else [replace(r, detail="") for r in manual]
    print(report(assignment, results, time.monotonic() - started))
    return results
