"""``sessionlab grade ASSIGNMENT --submissions DIR``: grade a class in one batch, safely."""

from __future__ import annotations

import argparse
from pathlib import Path

from sessionlab.errors import CourseError
from sessionlab.grading import defaults
from sessionlab.paths import repo_root


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade",
        help="autograde a class's submissions (nbgrader layout, Canvas/Moodle folder or zip)",
        description="Autograde every new or changed submission in one nbgrader process, each "
        "kernel jailed (no network, hidden solutions and gradebook, memory/process/disk/time "
        "limits); write feedback without hidden tests (with a latency plot for monitor "
        "lessons), grades.csv, a class report and a summary table. Re-running regrades only "
        "submissions whose content changed.",
    )
    parser.add_argument("assignment", help="e.g. 03-monitor")
    parser.add_argument(
        "--submissions",
        type=Path,
        required=True,
        help="folder or .zip: nbgrader submitted/ layout, or notebooks named as Canvas or "
        "Moodle export them",
    )
    root = repo_root() or Path.cwd()
    parser.add_argument(
        "--course",
        type=Path,
        default=root / "autograder",
        help="folder with nbgrader_config.py (default: the repository's autograder/)",
    )
    parser.add_argument("--out", type=Path, help="where results go (default: --course)")
    parser.add_argument("--cell-timeout", type=int, help="seconds per cell (default: config)")
    parser.add_argument(
        "--submission-timeout",
        type=float,
        default=defaults.SUBMISSION_TIMEOUT_S,
        help=f"seconds per notebook ({defaults.SUBMISSION_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=defaults.MEMORY_MB,
        help=f"per kernel ({defaults.MEMORY_MB})",
    )
    parser.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    parser.add_argument(
        "--full-notebook",
        action="store_true",
        help="run demonstration cells too (default: skipped when tests do not need them)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the monitor latency runs")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="rlimits and time limits only (no namespaces): trusted submissions only",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="submissions graded at once on this machine, each kernel in its own jail "
        "(default: chosen from cores and memory; 1 grades one after the other in this process)",
    )
    parser.add_argument(
        "--broker",
        metavar="redis://HOST:PORT/DB",
        help="send the submissions to Celery workers (`sessionlab grade-worker`) through this "
        "Redis instead of grading here",
    )
    parser.set_defaults(func=_grade)


def _grade(args: argparse.Namespace) -> int:
    from sessionlab.grading.local_workers import default_workers
    from sessionlab.grading.pipeline import GradeOptions, run_cli

    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise CourseError(f"--workers {workers}: must be at least 1")
    options = GradeOptions(
        assignment=args.assignment,
        submissions=args.submissions,
        course=args.course,
        out=args.out,
        cell_timeout=args.cell_timeout,
        submission_timeout=args.submission_timeout,
        memory_mb=args.memory_mb,
        isolate=not args.no_isolation,
        force=args.force,
        monitor_plot=not args.no_plots,
        full_notebook=args.full_notebook,
        workers=workers,
        broker=args.broker,
    )
    return run_cli(options)
