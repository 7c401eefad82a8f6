"""Seconds per solved lesson 03 notebook: this checkout against a baseline checkout, one run.

``python autograder/bench_outside_grading.py --baseline /path/to/other/checkout [--students 3]
[--rounds 2]`` writes ``--students`` solved notebooks (every answer from the solutions) and
grades them with ``sessionlab grade`` (jail, feedback, latency plot, CSV), alternately with
the baseline checkout's own interpreter and code and with this one's, ``--rounds`` times each,
so that both see the same machine load. Prints seconds per notebook for each and the ratio
(this checkout's grader runs every test cell in a separate grader process; the baseline runs
them in the student's kernel).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import course_cycle  # noqa: E402

ASSIGNMENT = "03-monitor"
RUN = """
import io, json, sys
from pathlib import Path
from sessionlab.grading.pipeline import GradeOptions, grade
run = grade(GradeOptions(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), out=Path(sys.argv[4]),
                         force=True, stream=io.StringIO()))
scores = [r.score for r in run.rows]
print(json.dumps({"per": run.seconds_per_submission, "scores": scores, "phases": run.phases}))
"""


def grade_with(checkout: Path, submissions: Path, out: Path) -> dict[str, object]:
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", RUN, ASSIGNMENT, str(submissions), str(checkout / "autograder"),
         str(out)],
        capture_output=True, text=True, check=False, cwd=checkout,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"grading with {checkout} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    source = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    times: dict[str, list[float]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="sessionlab-bench-outside-") as tmp:
        work = Path(tmp)
        released = course_cycle.release(ROOT, work / "release", assignments=(ASSIGNMENT,))
        submissions = work / "submissions"
        for number in range(args.students):
            folder = submissions / f"student{number}" / ASSIGNMENT
            folder.mkdir(parents=True)
            nb = course_cycle.filled_submission(
                source, released / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            )
            nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        for round_ in range(args.rounds):
            for name, checkout in (("baseline", args.baseline.resolve()), ("this", ROOT)):
                result = grade_with(checkout, submissions, work / f"out-{name}-{round_}")
                per = float(result["per"])  # type: ignore[arg-type]
                times[name].append(per)
                line = f"round {round_ + 1} {name:<8} {per:6.2f} s per notebook"
                print(f"{line}, scores {result['scores']}, phases {result['phases']}", flush=True)
    base, this = statistics.median(times["baseline"]), statistics.median(times["this"])
    print(f"\nbaseline ({args.baseline}): {base:.2f} s per solved notebook (median of "
          f"{len(times['baseline'])} runs of {args.students})")  # fmt: skip
    print(f"this checkout: {this:.2f} s per solved notebook; ratio {this / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
