"""The lessons: clean sources, run top to bottom on the real CLIs, and grade as intended.

* sources in ``solutions/`` carry no outputs and agree with their jupytext ``.py`` twins;
* each solution notebook runs without an unexpected error in under two minutes (the nbval
  ``--nbval-lax`` check, done with nbclient so the time can be asserted too);
* the instructor's nbgrader cycle in a temporary copy of the course gives the solutions full
  marks, a half-right submission partial credit, and the untouched student notebooks zero,
  failing only in the test cells.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

from course_cycle import ASSIGNMENTS, report, roundtrip, students_for  # noqa: E402
from lesson_sources import problems  # noqa: E402

from sessionlab.grading.notebook import hidden_lines, known_to_student, leaked_lines  # noqa: E402

BUDGET_SECONDS = 120
PRESUBMIT_LINE = re.compile(r"^\s+(passed|failed|not started|at grading)\s+.*\[(\w+)\]\s*$", re.M)


def presubmit_statuses(nb: nbformat.NotebookNode) -> dict[str, str]:
    """What the executed notebook's pre-submit check printed: status by test cell id."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "check_all(" in c.source]
    assert len(cells) == 1, "one pre-submit check per lesson"
    text = "".join(o.get("text", "") for o in cells[0].outputs if o.output_type == "stream")
    return {grade_id: status for status, grade_id in PRESUBMIT_LINE.findall(text)}


def source(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_sources_are_clean_and_in_sync(assignment: str) -> None:
    assert problems(assignment) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_has_a_graded_test(assignment: str) -> None:
    cells = nbformat.read(source(assignment), as_version=4).cells
    meta = [c.metadata["nbgrader"] for c in cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "grade ids are unique"
    for m in meta:
        if m["solution"] and not m["grade"]:
            assert f"test_{m['grade_id']}" in ids, f"{m['grade_id']} has no test cell"
    assert all(m.get("points", 0) > 0 for m in meta if m["grade"])


@pytest.mark.slow
@pytest.mark.cli
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_runs_top_to_bottom(assignment: str, tmp_path: Path) -> None:
    nb = nbformat.read(source(assignment), as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="sessionlab",
        timeout=BUDGET_SECONDS,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    started = time.monotonic()
    client.execute()  # raises CellExecutionError on any error not tagged raises-exception
    elapsed = time.monotonic() - started
    print(f"{assignment}: {elapsed:.1f}s")
    assert elapsed < BUDGET_SECONDS
    tagged = [c for c in nb.cells if "raises-exception" in c.metadata.get("tags", [])]
    for cell in tagged:
        raised = any(o.output_type == "error" for o in cell.outputs)
        if "nbgrader" in cell.metadata:  # tagged so Run All goes on; the solution must pass
            assert not raised, cell.metadata["nbgrader"]["grade_id"]
        else:
            assert raised, "a tagged demonstration must raise"
    statuses = presubmit_statuses(nb)
    assert statuses, "the lesson ends with a pre-submit check"
    assert set(statuses.values()) <= {"passed", "at grading"}, statuses
    assert "passed" in statuses.values(), statuses


@pytest.mark.slow
@pytest.mark.cli
@pytest.mark.timeout(1200)
def test_roundtrip_scores_solutions_partial_and_untouched(tmp_path: Path) -> None:
    scores = roundtrip(tmp_path)
    print(report(scores, tmp_path / "autograder" / "grades.csv"))
    submissions = sum(len(students_for(a)) for a in ASSIGNMENTS)
    assert len(scores) == submissions
    reference = {s.assignment: s for s in scores if s.student == "solutions"}
    for score in scores:
        if score.student == "solutions":
            assert score.auto == score.auto_max > 0, score
            assert score.error_cells == [], score
            assert score.manual_pending == [], "the round trip grades reflections by hand"
        elif score.student == "partial":
            assert 0 < score.auto < score.auto_max, score
            if score.assignment == "01-fragmentation":  # its answer warns; the test passes
                assert score.cells["test_count_session_files"] == 2, "a warning zeroed a test"
            if score.assignment == "02-failed-fixes":  # the experiment right but for memory
                cells = score.cells
                assert cells["test_measure_attempt"] == 2, "the counts are right"
                assert cells["test_measure_attempt_turn"] == 0, "'name' is in every reply"
                assert 0 < cells["test_judge_attempt"] < 3, "one hidden case (the stray) wrong"
            if score.assignment == "03-monitor":  # the lesson's naive monitor as StudentMonitor
                full = reference["03-monitor"].cells
                rules = "test_student_monitor_rules"  # the harness: preservation, chain, ...
                assert 0 < score.cells[rules] < full[rules], "naive keeps only detection"
                # The basics usually pass; a poll that lands between the stray's creation and
                # its write unlinks it empty and loses both lines (the lesson's point).
                basics = "test_student_monitor"
                assert score.cells[basics] in (0, full[basics]), score
                tests = {k for k in score.cells if k.startswith("test_")} - {rules, basics}
                assert {k: score.cells[k] for k in tests} == {k: full[k] for k in tests}
            if score.assignment == "05-session-manager":  # a pool with no limit, no health
                pool = {k: v for k, v in score.cells.items() if k.startswith("test_session_pool")}
                assert pool == {"test_session_pool": 2, "test_session_pool_rules": 1}, pool
                full = reference["05-session-manager"].cells
                others = {k for k in score.cells if k.startswith("test_")} - set(pool)
                assert {k: score.cells[k] for k in others} == {k: full[k] for k in others}
            if score.assignment == "09-capstone":  # the reference wrapped; a torn backup
                full = reference["09-capstone"].cells
                zero = {"test_my_chat_system", "test_backup_transcript_crash"}
                assert {k: score.cells[k] for k in zero} == dict.fromkeys(zero, 0), score
                tests = {k for k in score.cells if k.startswith("test_")} - zero
                assert {k: score.cells[k] for k in tests} == {k: full[k] for k in tests}
            if score.assignment == "10-agent-sdk":  # seconds for mtimes, a delete without cascade
                tests = {k: v for k, v in score.cells.items() if k.startswith("test_")}
                assert tests == {
                    "test_student_store": 4,
                    "test_student_store_list_sessions": 0,
                    "test_student_store_delete": 1,
                    "test_student_store_list_subkeys": 0,
                    "test_student_store_summaries": 0,
                }, tests
        else:
            assert score.auto == 0, score
            tests = {name for name in score.cells if name.startswith("test_")}
            # An answer cell whose stub runs at top level (`raise NotImplementedError`) fails
            # itself too; any other failing cell means the lesson breaks without answers.
            answers = {name.removeprefix("test_") for name in tests}
            assert score.error_cells, "untouched answers must fail their tests"
            assert set(score.error_cells) <= tests | answers, "only missing answers fail"
    feedback = list((tmp_path / "autograder" / "feedback").rglob("*.html"))
    assert len(feedback) == submissions
    # Plain `nbgrader generate_feedback` too: the course config hides every hidden test.
    for html_file in feedback:
        assignment, student = html_file.parent.name, html_file.parents[1].name
        source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", 4)
        submitted = tmp_path / "autograder" / "submitted" / student / assignment
        own = nbformat.read(submitted / f"{assignment}.ipynb", 4)  # its own code is no leak
        secrets = known_to_student(hidden_lines(source), own)
        assert leaked_lines(html_file.read_text(), secrets) == [], html_file
