"""The synthetic class of lesson 03, graded end to end; every score checked (slow).

By default: generate one student per kind (24 notebooks: correct, naive, slow poller, a merge
that loses the chain, crashes, a loop, a memory hog, a cheat, a vandal, a fork bomb, a disk
filler, ...) and grade them with ``sessionlab grade --workers 3`` (three local worker
processes, each kernel in its own jail with its own uid: the fork bomb and the memory hog run
beside correct students and must not cost them a point; about 2 minutes on 2 cores).
``make grade-demo`` grades all 42 and then runs this test on its results
(``SESSIONLAB_DEMO_RESULTS=<out>``).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import pytest

from sessionlab.grading.jail import capabilities

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "autograder" / "demo"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ROOT / "solutions" / "03-monitor").is_dir(), reason="no lesson 03"),
    pytest.mark.timeout(900),
]


def _grade_subset(tmp_path: Path) -> Path:
    import generate

    from sessionlab.grading.pipeline import GradeOptions, run_cli

    submissions = tmp_path / "submissions"
    generate.build(submissions, subset=True)
    out = tmp_path / "out"
    lines: list[str] = []
    status = run_cli(
        GradeOptions("03-monitor", submissions, ROOT / "autograder", out=out, cell_timeout=60,
                     workers=3, stream=io.StringIO()),
        echo=lines.append,
    )  # fmt: skip
    print("\n".join(lines))
    assert status == 0, "every file name of the subset is understood"
    return out


@pytest.mark.skipif(not capabilities()["isolated"], reason="the demo's hostile kinds need the jail")
def test_every_student_scores_as_expected(tmp_path: Path) -> None:
    import generate

    given = os.environ.get("SESSIONLAB_DEMO_RESULTS")
    out = Path(given) if given else _grade_subset(tmp_path)
    grades = out / "exports" / "03-monitor" / "grades.csv"
    wrong = generate.score_mismatches(grades, None if given else generate.SUBSET)
    assert not wrong, "\n".join(wrong)
    wanted = generate.SUBSET if not given else set(generate.expected_scores())
    # Nobody's grading touched anything outside their jail.
    assert (ROOT / "solutions" / "03-monitor" / "03-monitor.ipynb").is_file()
    assert (ROOT / "src" / "sessionlab" / "cli.py").is_file()
    # Feedback exists for graded students and never quotes a hidden test.
    import nbformat

    from sessionlab.grading.notebook import hidden_lines, leaked_lines

    secrets = hidden_lines(nbformat.read(ROOT / "solutions/03-monitor/03-monitor.ipynb", 4))
    feedback = sorted((out / "feedback").rglob("*.html"))
    assert len(feedback) >= len(wanted) - 3  # the kernel crash, garbage file, syntax error may lack
    for path in feedback:
        text = path.read_text()
        assert leaked_lines(text, secrets) == [], path
    correct = out / "feedback" / "garcia-ana-1001" / "03-monitor" / "03-monitor.html"
    assert "data:image/png;base64," in correct.read_text(), "latency plot embedded"
    report = (out / "exports/03-monitor/class-report.html").read_text()
    assert "data:image/png;base64," in report
    if not given:  # three worker processes graded, each listed with the load it saw
        workers = report.split("<h2>Workers and their load while grading</h2>")[1]
        assert workers.count("<tr><td>") == 3, workers
    # The one gradebook holds what the workers sent back.
    from nbgrader.api import Gradebook

    with grades.open() as handle:
        graded = [row for row in csv.DictReader(handle) if row["status"] == "graded"]
    assert len(graded) >= len(wanted) - 3
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for row in graded:
            assert gb.find_submission("03-monitor", row["student_id"]).score == float(row["score"])
    if not given:  # the cache works as without workers: a second run regrades only the errors
        from sessionlab.grading.pipeline import GradeOptions, grade

        subs = tmp_path / "submissions"
        options = GradeOptions("03-monitor", subs, ROOT / "autograder", out=out,
                               cell_timeout=60, workers=3, stream=io.StringIO())  # fmt: skip
        again = grade(options)
        errors = {r.student_id for r in again.rows if r.status != "graded"}
        assert again.regraded == len(errors) <= 2, errors  # the garbage file, the kernel crash
