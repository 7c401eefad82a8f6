"""``sessionlab grade-worker --broker redis://HOST:PORT/DB``: grade for a coordinator elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path

from sessionlab.paths import repo_root


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade-worker",
        help="serve `sessionlab grade --broker` from this machine (Celery worker)",
        description="Take submissions from the grading queue, grade each in the jail with this "
        "checkout's lessons and grader, and send the result back through Redis. Tasks made "
        "by a coordinator whose lesson or grader differs from this checkout are refused.",
    )
    parser.add_argument("--broker", required=True, metavar="redis://HOST:PORT/DB")
    root = repo_root() or Path.cwd()
    parser.add_argument(
        "--course",
        type=Path,
        default=root / "autograder",
        help="folder with nbgrader_config.py (default: this checkout's autograder/)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="submissions at once (default: as grade)"
    )
    parser.add_argument("--name", help="worker name (default: celery@<host>)")
    parser.add_argument(
        "--hide",
        type=Path,
        action="append",
        default=[],
        help="a folder kernels must not see on this machine (repeatable)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=120.0,
        help="seconds before a task a dead worker held is delivered again (120)",
    )
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from sessionlab.grading.celery_workers import WorkerSettings, run_worker
    from sessionlab.grading.local_workers import default_workers

    settings = WorkerSettings(
        broker=args.broker,
        course=args.course.resolve(),
        hide=tuple(p.resolve() for p in args.hide),
    )
    return run_worker(
        settings,
        concurrency=args.concurrency or default_workers(),
        name=args.name,
        visibility_timeout_s=args.visibility_timeout,
    )
