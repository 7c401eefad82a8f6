"""The pre-submit check (``sessionlab.lessons.presubmit``): what it reports, and on every lesson.

Fast tests drive ``check_all`` on small notebooks written here (passed, failed, not started,
hidden blocks, ``await``, a hostile exception, the grading skip). The slow ones execute every
released lesson with nbclient as a student would: untouched (every exercise *not started*,
and *Run All* reaches the last cell) and half done (answered exercises *passed*, the others
*not started*). The solution run (all *passed*) is in ``tests/test_notebooks.py``.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

from course_cycle import (  # noqa: E402
    ASSIGNMENTS,
    PARTIAL_ANSWERS,
    filled_submission,
    reference_answers,
)
from test_notebooks import presubmit_statuses  # noqa: E402

from sessionlab.lessons.presubmit import (  # noqa: E402
    AT_GRADING,
    BY_HAND,
    FAILED,
    NOT_STARTED,
    PASSED,
    check_all,
    visible_source,
)


def _test_cell(grade_id: str, source: str, points: float = 1) -> nbformat.NotebookNode:
    meta = {"grade": True, "grade_id": grade_id, "locked": True, "points": points}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {**meta, "solution": False}})


def _lesson(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## ✏️ Exercise 1 · Double it (2 points)\n\ntext"),
        _test_cell("test_double", "assert double(2) == 4\nprint('visible tests passed')", 2),
        nbformat.v4.new_markdown_cell("## ✏️ Exercise 2 · Half it (1 point)"),
        _test_cell("test_half", "assert half(4) == 2\n"),
        nbformat.v4.new_markdown_cell("## ✏️ Exercise 3 · Stub"),
        _test_cell("test_stub", "assert stub() == 1\n"),
        _test_cell("test_missing", "assert never_defined() == 1\n"),
        _test_cell(
            "test_async",
            "import asyncio\nawait asyncio.sleep(0)\nvalue = 99\nassert double(1) == 2\n"
            "### BEGIN HIDDEN TESTS\nassert False, 'hidden'\n### END HIDDEN TESTS\n",
        ),
        _test_cell("test_hostile", "raise Hostile()\n"),
        _test_cell("test_stub_graded", "print('graded by the harness')\n"),  # same title
        nbformat.v4.new_markdown_cell("## ✏️ Exercise 4 · Graded only"),
        _test_cell("test_only_hidden", "print('graded later')\n"),
        nbformat.v4.new_markdown_cell(
            "YOUR ANSWER HERE",
            metadata={"nbgrader": {"grade": True, "grade_id": "reflection", "points": 1}},
        ),
    ]
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    return path


class Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def _namespace() -> dict[str, Any]:
    def stub() -> int:
        raise NotImplementedError()

    return {
        "double": lambda x: 2 * x,
        "half": lambda x: x,  # wrong
        "stub": stub,
        "value": 1,
        "Hostile": Hostile,
    }


def test_reports_each_status_with_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = _namespace()
    results = asyncio.run(check_all("toy", namespace, notebook=_lesson(tmp_path)))
    got = {r.grade_id: r.status for r in results}
    assert got == {
        "test_double": PASSED,
        "test_half": FAILED,
        "test_stub": NOT_STARTED,
        "test_missing": NOT_STARTED,
        "test_async": PASSED,  # top-level await runs; the hidden block is not run
        "test_hostile": FAILED,
        "test_stub_graded": FAILED,  # checks nothing itself: shares test_hostile's fate
        "test_only_hidden": AT_GRADING,  # checks nothing, nothing failed before it
        "reflection": BY_HAND,
    }
    by_id = {r.grade_id: r for r in results}
    assert by_id["test_double"].title == "Exercise 1 · Double it"
    assert by_id["test_half"].detail == "AssertionError at: assert half(4) == 2"
    assert "never_defined" in by_id["test_missing"].detail
    assert "could not be printed" in by_id["test_hostile"].detail
    assert namespace["value"] == 1, "re-checking must not rebind the student's variables"
    out = capsys.readouterr().out
    assert "visible tests passed" not in out, "the checks' own output is swallowed"
    assert "2 passed, 3 failed, 2 not started, 1 checked only at grading" in out
    assert "the visible checks pass for 3 of 9 automatic points" in out
    assert "Hidden checks run only when your notebook is graded" in out


def test_hidden_blocks_are_never_run() -> None:
    source = "a = 1\n### BEGIN HIDDEN TESTS\nboom()\n### END HIDDEN TESTS\nb = 2\n"
    assert visible_source(source) == "a = 1\nb = 2\n"


def test_skipped_under_nbgrader_and_quiet_without_a_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _lesson(tmp_path)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert asyncio.run(check_all("toy", _namespace(), notebook=path)) == []
    assert "skipped" in capsys.readouterr().out
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.chdir(tmp_path)
    assert asyncio.run(check_all("no-such-lesson", {})) == []
    assert "was not found" in capsys.readouterr().out
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert asyncio.run(check_all("broken", {})) == []
    assert "cannot read broken.ipynb" in capsys.readouterr().out


def test_every_lesson_ends_with_the_check_and_how_to_submit() -> None:
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", 4)
        sources = [c.source for c in nb.cells]
        assert sum(f'check_all("{assignment}", globals())' in s for s in sources) == 1, assignment
        assert any("**How to submit.**" in s for s in sources), assignment
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("grade") or meta.get("solution")):
                assert "raises-exception" in cell.metadata.get("tags", []), meta["grade_id"]


# --- every lesson, executed as a student would run it ---


def _answer_of(test_id: str, answers: list[str]) -> str:
    """The exercise a test cell grades: ``test_<answer>...``, the longest matching answer."""
    owners = [a for a in answers if test_id.startswith(f"test_{a}")]
    return max(owners, key=len)


def _run(nb: nbformat.NotebookNode, folder: Path, name: str) -> nbformat.NotebookNode:
    """Run All, as in JupyterLab: nbclient stops at any error not tagged raises-exception."""
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")  # the student's copy on disk
    client = NotebookClient(
        nb, kernel_name="sessionlab", timeout=120, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    last = nb.cells[-1]
    assert last.outputs and all(o.output_type != "error" for o in last.outputs), "reached the end"
    return nb


@pytest.mark.slow
@pytest.mark.cli
@pytest.mark.timeout(600)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_lesson_runs_to_the_end_all_not_started(assignment: str, tmp_path: Path) -> None:
    released = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    nb = _run(nbformat.read(released, 4), tmp_path / assignment, assignment)
    statuses = presubmit_statuses(nb)
    tests = [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert statuses == dict.fromkeys(tests, "not started")


@pytest.mark.slow
@pytest.mark.cli
@pytest.mark.timeout(600)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_half_done_lesson_reports_passed_and_not_started(assignment: str, tmp_path: Path) -> None:
    source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    released = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    reference = reference_answers(source)
    code_answers = [
        gid
        for gid in reference
        if any(
            c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id") == gid
            for c in nbformat.read(source, 4).cells
        )
    ]
    if len(code_answers) > 1:
        done = code_answers[: math.ceil(len(code_answers) / 2)]
        answers = {gid: reference[gid] for gid in done}
    else:  # one exercise: the round trip's half-right answer to it
        done = []
        answers = PARTIAL_ANSWERS[assignment]
    nb = _run(filled_submission(source, released, answers), tmp_path / assignment, assignment)
    statuses = presubmit_statuses(nb)
    if done:
        for test_id, status in statuses.items():
            expected = PASSED if _answer_of(test_id, code_answers) in done else NOT_STARTED
            assert status == expected, (test_id, statuses)
    else:
        assert PASSED in statuses.values() and FAILED in statuses.values(), statuses
