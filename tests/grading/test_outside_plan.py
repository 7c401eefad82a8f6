"""What the grader process takes from the instructor's notebook (``outside_plan``).

A name a test cell reads is either the student's answer (fetched from the kernel, on purpose)
or the lesson's own helper, which must be the instructor's copy: a helper fetched from the
kernel could be replaced by the student's code (a ``transcripts_of`` that reports what it
likes). These tests pin that rule on a small notebook and on every lesson.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.notebook import nbgrader_meta, source_names, top_level_names
from sessionlab.grading.outside import OUTSIDE_LESSONS, outside_plan

ROOT = Path(__file__).resolve().parents[2]


def _cell(source: str, **nbgrader: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"grade_id": "x", "schema_version": 3, **nbgrader}
    return cell


def test_a_helper_whose_local_shares_an_answer_name_stays_the_instructors() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def transcripts_of(folder):\n    path = folder\n    return sorted(path.iterdir())"),
        _cell("def count(files):\n    path = None\n    return 0", solution=True, grade=False),
        _cell("assert count(transcripts_of(here)) == 0", grade=True, solution=False, points=1),
    ]
    plan = outside_plan(nb)
    assert "def transcripts_of(" in plan.definitions
    assert "def count(" not in plan.definitions, "the answer is the student's"


def test_a_helper_the_student_answers_is_the_students() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def count(path):\n    raise NotImplementedError"),
        _cell("def count(path):\n    return 0", solution=True, grade=False),
        _cell("assert count('.') == 0", grade=True, solution=False, points=1),
    ]
    assert "def count(" not in outside_plan(nb).definitions


def test_top_level_names_leave_out_locals_and_parameters() -> None:
    source = (
        "import os.path as p\nx = 1\ndef f(a):\n    b = a\nclass C:\n    y = 2\n"
        "for i in []:\n    j = i\n"
    )
    assert top_level_names(source) == {"p", "x", "f", "C", "i", "j"}


@pytest.mark.parametrize("assignment", OUTSIDE_LESSONS)
def test_every_helper_a_lesson_test_reads_comes_from_the_instructor(assignment: str) -> None:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    defined: set[str] = set()
    reads: set[str] = set()
    helpers: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            defined |= top_level_names(cell.source)
        elif meta.get("grade"):
            reads |= source_names(cell.source)[1]
        else:
            try:
                body = ast.parse(cell.source).body
            except SyntaxError:
                continue  # magics: not definitions
            helpers |= {n.name for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    wanted = (helpers & reads) - defined
    plan = outside_plan(nb).definitions
    missing = {
        name for name in wanted if f"def {name}(" not in plan and f"class {name}" not in plan
    }
    assert missing == set(), f"{assignment}: taken from the student's kernel: {sorted(missing)}"
