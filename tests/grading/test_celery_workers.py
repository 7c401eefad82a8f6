"""The CI class graded by Celery workers from separate copies of the course (slow, about 3 min).

Against the session's real ``redis-server``: two ``sessionlab grade-worker`` process trees,
each started from its own copy of the course and unable to see the coordinator's lessons,
grader sources, submissions and outputs (a mount namespace hides them), plus a third worker
whose copy of lesson 03 was edited (stale). The coordinator runs as its own process; in the
middle of the run it is killed, and so is one worker in the middle of a task (``kill -9`` of
the whole tree, as when a machine dies); the worker comes back, a new coordinator picks up.
Then: every score equals ``expected_scores.csv``, every student was graded exactly once, and
the stale worker graded nobody and said why.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionlab.grading.jail import capabilities

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "autograder" / "demo"))
sys.path.insert(0, str(ROOT / "autograder"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ROOT / "solutions" / "03-monitor").is_dir(), reason="no lesson 03"),
    pytest.mark.skipif(not capabilities()["isolated"], reason="the hostile kinds need the jail"),
    pytest.mark.timeout(900),
]


def _wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_celery_workers_grade_the_class_once_each(tmp_path: Path, redis_url: str) -> None:
    import generate
    import grading_workers
    import redis

    from sessionlab.grading.celery_workers import GRADED_LOG, PREFIX
    from sessionlab.grading.pipeline import GradeOptions, run_cli

    broker = redis_url.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    generate.build(submissions, subset=True)
    hidden = [ROOT / "solutions", ROOT / "autograder", ROOT / "src", submissions, out]
    copies = [grading_workers.course_copy(tmp_path / f"machine-{i}") for i in (1, 2, 3)]
    stale_nb = copies[2] / "solutions" / "03-monitor" / "03-monitor.ipynb"
    edited = stale_nb.read_text().replace("Exercise 1", "Exercise one", 1)
    assert edited != stale_nb.read_text()
    stale_nb.write_text(edited)  # one word of the lesson: its content hash differs
    workers = {
        name: grading_workers.WorkerProcess(
            copy, broker, f"{name}@ci", hidden=hidden, log=tmp_path / f"{name}.log"
        )
        for name, copy in zip(("w1", "w2", "stale"), copies, strict=True)
    }
    coordinator = None
    try:
        for worker in workers.values():
            worker.wait_ready()
        command = [
            sys.executable, "-m", "sessionlab", "grade", "03-monitor", "--submissions",
            str(submissions), "--out", str(out), "--cell-timeout", "60", "--broker", broker,
        ]  # fmt: skip
        first_log = tmp_path / "coordinator-1.log"
        coordinator = subprocess.Popen(
            command, stdout=first_log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT
        )

        def w1_busy() -> bool:
            claims = [client.get(k) for k in client.scan_iter(f"{PREFIX}:claim:*")]
            return client.llen(GRADED_LOG) >= 4 and any(
                c and c.startswith(b"w1@ci") for c in claims
            )

        _wait_for(w1_busy, 400, "four results and w1 in the middle of a task")
        coordinator.kill()  # the instructor's laptop closes
        coordinator.wait()
        workers["w1"].kill()  # a grading machine dies mid-task
        assert "refuses" in workers["stale"].log.read_text()
        assert "refused: worker stale@ci" in first_log.read_text(), first_log.read_text()
        workers["w1"] = grading_workers.WorkerProcess(
            copies[0], broker, "w1@ci", hidden=hidden, log=tmp_path / "w1-again.log"
        )
        workers["w1"].wait_ready()
        lines: list[str] = []
        status = run_cli(
            GradeOptions("03-monitor", submissions, ROOT / "autograder", out=out,
                         cell_timeout=60, broker=broker, stream=io.StringIO()),
            echo=lines.append,
        )  # fmt: skip
        print("\n".join(lines))
        assert status == 0
    finally:
        if coordinator and coordinator.poll() is None:
            coordinator.kill()
        for worker in workers.values():
            worker.stop()
    wrong = generate.score_mismatches(
        out / "exports" / "03-monitor" / "grades.csv", generate.SUBSET
    )
    assert not wrong, "\n".join(wrong)
    graded = [entry.decode().split() for entry in client.lrange(GRADED_LOG, 0, -1)]
    keys = [key for key, _, _ in graded]
    assert len(keys) == len(set(keys)) == len(generate.SUBSET), "each student graded once"
    assert {how for _, _, how in graded} == {"stored"}
    assert {worker.split("/")[0] for _, worker, _ in graded} <= {"w1@ci", "w2@ci"}
    client.flushdb()
