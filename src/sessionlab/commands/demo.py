"""``sessionlab demo``: the course's core story, headless, with a short report."""

from __future__ import annotations

import argparse
import sys

from sessionlab import clis


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the core story headless and print a report",
        description="Several SDK connections fragment the history and the course model "
        "forgets; the monitor folds them into one session and the model remembers again. "
        "Runs offline in a sandbox; exit status 1 when the story does not hold.",
    )
    parser.add_argument(
        "--cli",
        default="legacy",
        choices=sorted(clis.PINNED),
        help="which pinned CLI to run (default: legacy)",
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from sessionlab.demo import run_demo

    report = run_demo(args.cli)
    report.render(sys.stdout)
    return 0 if report.story_holds else 1
