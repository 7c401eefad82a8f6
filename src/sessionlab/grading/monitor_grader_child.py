"""The jailed side of :mod:`sessionlab.grading.monitor_grader`: load a class, run the harness.

Kept apart, with only the harness imported: a child that imported nbformat would pay about
3 s of start-up per student.
"""

from __future__ import annotations

import argparse
import json
import sys

MARKER = "SESSIONLAB-MONITOR-REPORT "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--class", dest="class_name", default="StudentMonitor")
    parser.add_argument("--checks", required=True)
    args = parser.parse_args(argv)
    source = sys.stdin.read()
    from sessionlab.monitor.harness import FactorySpec, run_harness

    spec = FactorySpec(source=source, name=args.class_name)
    try:
        spec.resolve()
    except BaseException as error:  # the student's module: anything can happen
        message = f"loading {args.class_name} failed: {type(error).__name__}: {error}"
        print(MARKER + json.dumps({"error": message[:500]}), flush=True)
        return 0
    report = run_harness(spec, quick=True, checks=args.checks.split(","))
    print(MARKER + json.dumps(report.to_dict(), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
