"""Seconds per notebook of ``sessionlab grade``: this checkout against another, alternating.

``python autograder/bench_against.py BASELINE_CHECKOUT [--students 3] [--rounds 3]`` writes
``--students`` solved lesson 03 notebooks once, then grades them ``--rounds`` times with each
checkout's own ``.venv/bin/sessionlab grade`` (``--force``, its own ``--course``), the two
alternating and swapping who goes first each round, so that the load of a shared machine
falls on both alike. Prints seconds per submission (median of the rounds) and the ratio: a
change to the jail must keep it within 15 % of the baseline's.
"""

from __future__ import annotations

import argparse
import re
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
PER_SUBMISSION = re.compile(r"\(([\d.]+) s per submission\)")


def solved(out: Path, students: int) -> Path:
    source = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    released = course_cycle.release(ROOT, out / "release", assignments=(ASSIGNMENT,))
    folder = out / "submissions"
    for index in range(1, students + 1):
        path = folder / f"solved-{index}" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        notebook = released / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        nbformat.write(course_cycle.filled_submission(source, notebook), path)
    return folder


def grade(checkout: Path, submissions: Path, out: Path) -> tuple[float, str]:
    command = [str(checkout / ".venv" / "bin" / "sessionlab"), "grade", ASSIGNMENT,
               "--submissions", str(submissions), "--course", str(checkout / "autograder"),
               "--out", str(out), "--force"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = PER_SUBMISSION.search(done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{checkout}: sessionlab grade failed:\n{done.stdout}\n{done.stderr}")
    phases = next((line for line in done.stdout.splitlines() if line.startswith("time:")), "")
    return float(found.group(1)), phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path, help="another checkout, set up (make setup)")
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    checkouts = {"baseline": args.baseline.resolve(), "this": ROOT}
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="sessionlab-bench-against-") as tmp:
        submissions = solved(Path(tmp), args.students)
        for round_ in range(args.rounds):
            order = list(checkouts) if round_ % 2 == 0 else list(reversed(checkouts))
            for name in order:
                seconds, phases = grade(
                    checkouts[name], submissions, Path(tmp) / f"{name}-{round_}"
                )
                times[name].append(seconds)
                print(f"round {round_ + 1} {name:<8} {seconds:6.2f} s per notebook  {phases}")
    base, ours = (statistics.median(times[n]) for n in ("baseline", "this"))
    print(f"\nmedian s per solved notebook: baseline {base:.2f} ({checkouts['baseline']}),")
    print(f"this {ours:.2f}; ratio {ours / base:.3f} ({(ours / base - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
