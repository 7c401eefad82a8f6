"""``sessionlab``: the course's command line.

Each sub-command lives in its own module under :mod:`sessionlab.commands` and exposes
``register(subparsers)``. A :class:`~sessionlab.errors.CourseError` becomes one clear line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from sessionlab import __version__
from sessionlab.errors import CourseError

# Module names under sessionlab.commands, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "doctor",
    "model",
    "cli_versions",
    "demo",
    "monitor",
    "consolidate",
    "lab",
    "bench",
    "grade",
    "grade_worker",
    "bot",
    "hub",
)


class CourseArgumentParser(argparse.ArgumentParser):
    """Reports a usage mistake in one line, pointing at ``--help``, instead of the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CourseArgumentParser(
        prog="sessionlab",
        description="Session Engineering Lab: tools for the course on persistent Claude Code "
        "sessions. Everything runs offline against the course model unless you ask for --live.",
    )
    parser.add_argument("--version", action="version", version=f"sessionlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"sessionlab.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CourseError as error:
        print(f"sessionlab {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sessionlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
