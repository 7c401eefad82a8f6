"""``sessionlab doctor``: is this machine ready for the course?"""

from __future__ import annotations

import argparse

from sessionlab import readiness


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Node, the pinned CLIs, the course model and the sandbox",
        description="Check everything the course needs. For each missing part, print the "
        "command that fixes it. Exit status 1 when something is missing.",
    )
    parser.set_defaults(func=lambda args: 0 if readiness.run() else 1)
