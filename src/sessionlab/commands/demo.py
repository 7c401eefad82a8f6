"""``sessionlab demo``: the course's core story, headless, with a short report."""

from __future__ import annotations

import argparse
import sys

from sessionlab import claude_clis


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
        choices=sorted(claude_clis.PINNED),
        help="which pinned CLI to run (default: legacy)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        default=None,
        help="talk to the real Anthropic API with your ANTHROPIC_API_KEY (default: the course "
        "model; SESSIONLAB_LIVE=1 does the same)",
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from sessionlab.core_story import run_demo

    report = run_demo(args.cli, live=args.live)
    report.render(sys.stdout)
    return 0 if report.story_holds else 1
