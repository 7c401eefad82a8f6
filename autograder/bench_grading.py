"""Seconds per notebook: nbgrader alone against ``sessionlab grade``, measured in one run.

``python autograder/bench_grading.py [--assignment 03-monitor] [--students 2]`` builds the same
submissions twice over (every answer filled in from the solutions, and the release untouched)
and grades each set three ways on this machine, one after the other:

* ``nbgrader, whole notebook``: plain ``NbGraderAPI.autograde`` in one process, no jail, every
  cell run (what an instructor gets without this course's tooling);
* ``nbgrader, graded cells``: the same, on the notebooks ``sessionlab grade`` actually runs
  (demonstrations cut down to their definitions; identical to the above when a lesson must run
  whole);
* ``sessionlab grade``: the whole pipeline: collection, the jail around every kernel, hidden
  tests stripped from the feedback, latency plots, CSV and class report.

The ratio of the last two is the cost of the safety layer and the feedback; the issue's
target is at most 3 s per notebook end to end. Prints a table, writes JSON next to it.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import course_cycle  # noqa: E402

from sessionlab.grading.notebook import grading_plan, reduce_for_grading  # noqa: E402
from sessionlab.grading.pipeline import GradeOptions, grade  # noqa: E402
from sessionlab.grading.workspace import (  # noqa: E402
    copy_course,
    load_course_config,
    quiet_nbgrader,
    source_notebook,
    venv_first_path,
)
from sessionlab.sandbox import patched_environ  # noqa: E402


@dataclass
class Row:
    workload: str
    mode: str
    notebooks: int
    seconds_per_notebook: float
    mean_score: float
    max_score: float
    phases: dict[str, float] = field(default_factory=dict)  # seconds per notebook


def submissions(assignment: str, students: int, out: Path) -> dict[str, dict[str, Path]]:
    """``{workload: {student id: notebook}}`` for the ``answered`` and ``untouched`` sets."""
    source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    released = course_cycle.release(ROOT, out / "release", assignments=(assignment,))
    release_nb = released / assignment / f"{assignment}.ipynb"
    sets: dict[str, dict[str, Path]] = {}
    for workload, answers in (("answered", None), ("untouched", {})):
        sets[workload] = {}
        for index in range(1, students + 1):
            sid = f"{workload}-{index}"
            path = out / workload / sid / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(course_cycle.filled_submission(source, release_nb, answers), path)
            sets[workload][sid] = path
    return sets


def plain_nbgrader(assignment: str, notebooks: dict[str, Path], work: Path, *, reduce: bool) -> Row:
    """Autograde with nbgrader's API in this process: no jail, no feedback, no plots."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    quiet_nbgrader()
    course = HERE
    config = load_course_config(course)
    source_path = source_notebook(course, config, assignment)
    plan = grading_plan(nbformat.read(source_path, as_version=4))
    root = work / "course"
    copy_course(course, source_path, root)
    for sid, path in notebooks.items():
        nb = nbformat.read(path, as_version=4)
        target = root / "submitted" / sid / assignment / path.name
        target.parent.mkdir(parents=True)
        nbformat.write(reduce_for_grading(nb, plan) if reduce else nb, target)
    db_url = f"sqlite:///{work / 'gradebook.db'}"
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.db_url = db_url
    with patched_environ({"PATH": venv_first_path()}):
        api = NbGraderAPI(config=config)
        started = time.monotonic()
        api.generate_assignment(assignment, force=True)
        with Gradebook(db_url) as gb:
            for sid in notebooks:
                gb.update_or_create_student(sid)
        for sid in notebooks:
            api.autograde(assignment, sid, force=True, create=True)
        seconds = time.monotonic() - started
        with Gradebook(db_url) as gb:
            scores = [gb.find_submission(assignment, sid).score for sid in notebooks]
            max_score = gb.find_assignment(assignment).max_score
    mode = "nbgrader, graded cells" if reduce else "nbgrader, whole notebook"
    return Row("", mode, len(notebooks), seconds / len(notebooks),
               statistics.fmean(scores), max_score)  # fmt: skip


def sessionlab_grade(assignment: str, folder: Path, work: Path) -> Row:
    run = grade(GradeOptions(assignment, folder, HERE, out=work, workers=1, stream=io.StringIO()))
    scores = [row.score or 0.0 for row in run.rows]
    per = run.seconds_per_submission or 0.0
    max_score = max((row.max_score or 0.0) for row in run.rows)
    phases = {name: secs / run.regraded for name, secs in run.phases.items()}
    return Row("", "sessionlab grade", run.regraded, per, statistics.fmean(scores), max_score,
               phases)  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [f"{'workload':<10} {'mode':<26} {'n':>2} {'s/notebook':>10} {'mean score':>11}"]
    for r in rows:
        lines.append(
            f"{r.workload:<10} {r.mode:<26} {r.notebooks:>2} {r.seconds_per_notebook:>10.2f} "
            f"{r.mean_score:>6.2f}/{r.max_score:g}"
        )
    lines.append("")
    for workload in dict.fromkeys(r.workload for r in rows):
        by_mode = {r.mode: r.seconds_per_notebook for r in rows if r.workload == workload}
        ours = by_mode["sessionlab grade"]
        for base in ("nbgrader, graded cells", "nbgrader, whole notebook"):
            if base in by_mode:
                lines.append(
                    f"{workload}: sessionlab grade / {base} = {ours / by_mode[base]:.2f} "
                    f"({ours - by_mode[base]:+.2f} s per notebook)"
                )
    for r in rows:
        if r.phases:
            parts = ", ".join(f"{name} {secs:.2f}" for name, secs in r.phases.items())
            lines.append(f"{r.workload}: sessionlab grade, s per notebook: {parts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="03-monitor")
    parser.add_argument("--students", type=int, default=2, help="notebooks per set (2)")
    parser.add_argument("--skip-whole", action="store_true", help="skip the whole-notebook runs")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "grade-bench.json")
    args = parser.parse_args(argv)
    if not 1 <= args.students <= 50:
        parser.error("--students must be between 1 and 50")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sessionlab-grade-bench-") as tmp:
        work = Path(tmp)
        sets = submissions(args.assignment, args.students, work / "subs")
        for workload, notebooks in sets.items():
            modes = [("graded", True)] + ([] if args.skip_whole else [("whole", False)])
            for label, reduce in modes:
                row = plain_nbgrader(args.assignment, notebooks, work / f"{workload}-{label}",
                                     reduce=reduce)  # fmt: skip
                row.workload = workload
                rows.append(row)
                print(f"  {workload}: {row.mode}: {row.seconds_per_notebook:.2f} s/notebook")
            folder = work / "subs" / workload
            row = sessionlab_grade(args.assignment, folder, work / f"{workload}-sessionlab")
            row.workload = workload
            rows.append(row)
            print(f"  {workload}: {row.mode}: {row.seconds_per_notebook:.2f} s/notebook")
    print()
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
