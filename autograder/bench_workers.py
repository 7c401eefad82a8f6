"""Seconds per notebook and speed-up with grading workers, in one run (``make bench-grade``).

``python autograder/bench_workers.py [--workers 1,2,4,8] [--celery 2] [--subset]`` writes the
synthetic class of lesson 03 (42 notebooks, every hostile kind included) once, then grades
the same notebooks with ``sessionlab grade --workers N`` for each N, and with N Celery workers
(``sessionlab grade-worker`` from separate copies of the course, a private ``redis-server``),
one configuration after the other. For each: wall-clock seconds of grading, seconds per
notebook, the speed-up over ``--workers 1``, how many scores equal ``expected_scores.csv``
and how many equal the ``--workers 1`` run, the machine's load while it ran, and the CPU
seconds per notebook of the local grading processes (not counted for Celery workers, which
are not this process's children): wall / CPU per notebook bounds what workers can gain on an
idle machine (cores x wall / CPU). Prints a
table and writes JSON. Grading is wait-bound (the harness's warm-ups, quiet periods and paced
strays), so more workers than cores pay off.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "demo"))

import generate  # noqa: E402
import grading_workers  # noqa: E402

from sessionlab.grading.pipeline import GradeOptions, GradeRun, grade  # noqa: E402
from sessionlab.redis_server import private_redis  # noqa: E402


@dataclass
class Row:
    mode: str
    workers: int
    notebooks: int
    seconds: float
    seconds_per_notebook: float
    speedup: float
    as_expected: int
    same_as_one_worker: int
    load_mean: float
    cpu_per_notebook: float  # user+sys s of this process and its children (meaningful: n=1)
    scores: dict[str, float]


def _scores(run: GradeRun) -> dict[str, float]:
    return {r.student_id: float(r.score or 0.0) for r in run.rows}


def _cpu_seconds() -> float:
    """User+system time of this process and every child it waited for (kernels, workers)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def _run(label: str, options: GradeOptions) -> tuple[GradeRun, float, float, int, float]:
    load_before = os.getloadavg()[0]
    started, cpu = time.monotonic(), _cpu_seconds()
    run = grade(options)
    seconds = time.monotonic() - started
    cpu = _cpu_seconds() - cpu
    loads = [load.load_mean for load in run.loads] or [load_before]
    with (run.csv).open() as handle:
        wrong = generate.score_mismatches(
            run.csv, {r["student_id"] for r in csv.DictReader(handle)}
        )
    record = run.phases.get("coordinator: record", 0.0) / max(run.regraded, 1)
    print(f"  {label}: {seconds:.1f} s, {len(wrong)} score(s) off the expected; coordinator "
          f"{record:.2f} s per result", flush=True)  # fmt: skip
    for line in wrong:
        print(f"    {line}")
    return run, seconds, sum(loads) / len(loads), len(run.rows) - len(wrong), cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8", help="local worker counts (1,2,4,8)")
    parser.add_argument("--celery", type=int, default=2, help="Celery workers (2; 0: none)")
    parser.add_argument("--subset", action="store_true", help="the 19-student CI class")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "grade-workers.json")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]
    if not counts or counts[0] != 1 or any(c < 1 or c > 32 for c in counts):
        parser.error("--workers must start with 1 (the baseline), each between 1 and 32")
    rows: list[Row] = []
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="sessionlab-bench-workers-") as tmp:
        work = Path(tmp)
        submissions = work / "submissions"
        generate.build(submissions, subset=args.subset)
        baseline: dict[str, float] = {}
        base_seconds = 0.0

        def record(label: str, n: int, options: GradeOptions) -> None:
            nonlocal base_seconds
            run, seconds, load, ok, cpu = _run(label, options)
            scores = _scores(run)
            if not baseline:
                baseline.update(scores)
                base_seconds = seconds
            same = sum(1 for s, v in scores.items() if baseline.get(s) == v)
            per = round(seconds / max(run.regraded, 1), 2)
            speedup = round(base_seconds / seconds, 2)
            cpu_per = round(cpu / max(run.regraded, 1), 2)
            row = Row(label, n, run.regraded, round(seconds, 1), per, speedup, ok, same,
                      round(load, 2), cpu_per, scores)  # fmt: skip
            rows.append(row)

        def options(out: Path, **extra: object) -> GradeOptions:
            return GradeOptions("03-monitor", submissions, HERE, out=out, cell_timeout=60,
                                force=True, stream=io.StringIO(), **extra)  # type: ignore[arg-type]  # fmt: skip

        for n in counts:
            record(f"--workers {n}", n, options(work / f"out-{n}", workers=n))
        if args.celery:
            with private_redis(work / "redis") as url:
                out = work / "out-celery"
                started = []
                try:
                    for i in range(1, args.celery + 1):
                        copy = grading_workers.course_copy(work / f"machine-{i}")
                        started.append(grading_workers.WorkerProcess(
                            copy, url, f"bench{i}@local", hidden=[submissions, out],
                            log=work / f"worker-{i}.log", visibility_timeout_s=300,
                        ))  # fmt: skip
                    for worker in started:
                        worker.wait_ready()
                    record(f"{args.celery} Celery workers", args.celery,
                           options(out, broker=url))  # fmt: skip
                finally:
                    for worker in started:
                        worker.stop()
        shutil.rmtree(work / "submissions", ignore_errors=True)
    print()
    print(f"{'mode':<20} {'n':>3} {'s total':>8} {'s/notebook':>10} {'speed-up':>8} "
          f"{'as expected':>11} {'= workers 1':>11} {'load':>5}")  # fmt: skip
    for r in rows:
        print(f"{r.mode:<20} {r.notebooks:>3} {r.seconds:>8.1f} {r.seconds_per_notebook:>10.2f} "
              f"{r.speedup:>7.2f}x {r.as_expected:>5}/{r.notebooks:<5} "
              f"{r.same_as_one_worker:>5}/{r.notebooks:<5} {r.load_mean:>5.2f}")  # fmt: skip
    if rows:
        base = rows[0]
        cores = os.cpu_count() or 1
        bound = cores * base.seconds_per_notebook / max(base.cpu_per_notebook, 0.01)
        print(f"\n--workers 1: {base.cpu_per_notebook:.2f} CPU s per notebook against "
              f"{base.seconds_per_notebook:.2f} s wall: grading waits "
              f"{100 - 100 * base.cpu_per_notebook / base.seconds_per_notebook:.0f} % of the "
              f"time; on {cores} idle cores workers can gain up to {bound:.1f}x")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
