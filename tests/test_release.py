"""The student notebooks in ``notebooks/`` are exactly what ``make release`` generates.

``notebooks/`` is generated from ``solutions/`` by nbgrader; a lesson edited without
re-releasing would ship stale exercises (the fastbook ``clean/`` pattern: check in CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

from course_cycle import ASSIGNMENTS, release  # noqa: E402


def released(assignment: str) -> Path:
    return ROOT / "notebooks" / assignment / f"{assignment}.ipynb"


@pytest.mark.slow
def test_notebooks_match_a_fresh_release(tmp_path: Path) -> None:
    target = release(ROOT, tmp_path / "release")
    for assignment in ASSIGNMENTS:
        fresh = target / assignment / f"{assignment}.ipynb"
        assert released(assignment).exists(), f"{assignment} was never released: run make release"
        assert fresh.read_bytes() == released(assignment).read_bytes(), (
            f"notebooks/{assignment} is stale: run `make release` and commit notebooks/"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_hide_solutions_and_hidden_tests(assignment: str) -> None:
    nb = nbformat.read(released(assignment), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "sessionlab.paths"):
        assert marker not in text
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers, "every lesson has exercises"
    for cell in answers:
        stub = "NotImplementedError" if cell.cell_type == "code" else "YOUR ANSWER HERE"
        assert stub in cell.source, cell.metadata["nbgrader"]["grade_id"]
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
