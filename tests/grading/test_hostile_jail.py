"""The jail's hostile students, graded for real: one batch, then two batches at once (slow).

``autograder/demo/hostile_jail.py`` holds the kinds (a process hoarder, a runtime-folder
saboteur, a SysV IPC planter and reader, a reader of other checkouts, an environment dumper,
a host-socket prober). Each must score what its honest content earns, every other student
what they would have scored anyway, and ``grades.csv`` must list everyone; the grader's
secrets must appear in no output. About 4 min for one batch and 3 min for two at once.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sessionlab.grading.jail import capabilities

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "autograder" / "demo"))

import generate  # noqa: E402
import hostile_jail  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not capabilities()["isolated"], reason="the hostile kinds need the jail"),
    pytest.mark.timeout(1200),
]

HOSTILE = {sid for _, _, sid in hostile_jail.STUDENTS}
INNOCENT = "garcia-ana-1001"  # a correct student
# Batch A: the hoarder (graded first), the saboteur, the IPC planter, the checkout reader.
# Batch B, at the same time: students that need processes while the hoarder holds its own.
BATCH_A = {"aaberg-ola-1031", "abbas-nur-1032", "acosta-ian-1033", "adams-kit-1034"}
BATCH_B = (HOSTILE - BATCH_A) | {INNOCENT}


@pytest.fixture
def secrets() -> dict[str, str]:
    return {
        "DATABASE_URL": f"postgres://grader:{uuid.uuid4().hex}@db/course",
        "MYSQL_PWD": uuid.uuid4().hex,
        "SMTP_PASSWD": uuid.uuid4().hex,
        "SENTRY_DSN": f"https://{uuid.uuid4().hex}@sentry.example/1",
    }


def check(out: Path, students: set[str], secrets: dict[str, str]) -> None:
    with (out / "exports" / "03-monitor" / "grades.csv").open() as handle:
        got = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(got) == students, "grades.csv lists everyone"
    expected = generate.expected_scores()
    wrong = []
    for sid in sorted(students):
        low, high, kind = expected[sid]
        score = float(got[sid]["score"] or "nan")
        if not low - 1e-6 <= score <= high + 1e-6:
            wrong.append(f"{sid} ({kind}): expected {low:g}..{high:g}, got {score} {got[sid]}")
    assert not wrong, "\n".join(wrong)
    attacks = ""
    for sid in students:
        feedback = out / "feedback" / sid / "03-monitor" / "03-monitor.html"
        assert feedback.is_file(), f"feedback for {sid}"
        attacks += feedback.read_text()
    everything = "".join(
        path.read_text(errors="replace") for path in out.rglob("*") if path.is_file()
    )
    for name, value in secrets.items():
        assert value not in everything, f"{name} reached a student's output"
    wanted = {
        "adams-kit-1034": "other_checkout: found 0 course copies",
        "ahn-joon-1036": "host_reach: host sockets reached [], wrote []",
        "akers-liv-1037": "ipc_reader: queue -1, segment -1, received 0 bytes",
        "abbas-nur-1032": "runtime_sabotage: chmod refused (1), rename refused (1)",
        "aaberg-ola-1031": "process_hoarder: holding 2",
    }
    for sid, line in wanted.items():
        if sid in students:
            assert f"JAIL-ATTACK {line}" in attacks, line


def test_hostile_class_in_one_batch(
    tmp_path: Path, secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionlab.grading.pipeline import GradeOptions, run_cli

    students = HOSTILE | {INNOCENT}
    generate.build(tmp_path / "submissions", only=students)
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    lines: list[str] = []
    options = GradeOptions("03-monitor", tmp_path / "submissions", ROOT / "autograder", out=out,
                           cell_timeout=60, stream=io.StringIO())  # fmt: skip
    assert run_cli(options, echo=lines.append) == 0
    print("\n".join(lines))
    check(out, students, secrets)


def test_hostile_class_in_two_concurrent_batches(tmp_path: Path, secrets: dict[str, str]) -> None:
    """Two ``sessionlab grade`` runs at once: the hoarder in one, innocents in the other."""
    runs = []
    for name, students in (("a", BATCH_A), ("b", BATCH_B)):
        generate.build(tmp_path / name / "submissions", only=students)
        command = [
            str(Path(sys.executable).parent / "sessionlab"), "grade", "03-monitor",
            "--submissions", str(tmp_path / name / "submissions"),
            "--course", str(ROOT / "autograder"), "--out", str(tmp_path / name / "out"),
            "--cell-timeout", "60",
            # Two workers each: the batches still overlap (and each has two jails at once),
            # while the machine runs at most four kernels. The default (8 workers on 2 cores:
            # all eight students' kernels at once) once pushed a correct monitor's detection
            # p95 to 349 ms under other load: a timing failure of our making, not the hoarder's.
            "--workers", "2",
        ]  # fmt: skip
        log = (tmp_path / f"{name}.log").open("w")
        runs.append(
            subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **secrets}
            )
        )
    for run in runs:
        assert run.wait(timeout=1100) == 0, (tmp_path / "a.log").read_text() + (
            tmp_path / "b.log"
        ).read_text()
    print((tmp_path / "a.log").read_text()[-1500:], (tmp_path / "b.log").read_text()[-1500:])
    check(tmp_path / "a" / "out", BATCH_A, secrets)
    check(tmp_path / "b" / "out", BATCH_B, secrets)
