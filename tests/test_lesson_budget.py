"""Each lesson's time budget agrees with the measured table in docs/time-budgets.md.

``autograder/lesson_budget.py`` counts what can be counted (words of prose, code cells,
exercises and points) and records the measured run time of each solved notebook; the budget
line at the top of every lesson and README's course total must be the ones it computes from
that table. A lesson that grows (a new exercise) fails here until
``python autograder/lesson_budget.py write`` (and ``measure`` for its run time) is run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

import lesson_budget as budget  # noqa: E402
from lesson_sources import ASSIGNMENTS  # noqa: E402


def test_lessons_docs_and_readme_agree_with_the_measured_table() -> None:
    assert budget.problems() == []


@pytest.mark.parametrize("lesson", ASSIGNMENTS)
def test_every_lesson_states_its_budget_from_the_table(lesson: str) -> None:
    timings = budget.recorded_timings(budget.DOC.read_text())
    assert lesson in timings, "every lesson has a measured solved run"
    line = budget.current_header(lesson)
    stated = budget.header(budget.sizes_of(lesson), timings[lesson])
    assert line == stated
    assert "measured" in line and "estimates" in line, "says what is measured, what is not"
    ipynb = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    first = "\n".join(c.source for c in ipynb.cells[:2] if c.cell_type == "markdown")
    assert "\n".join(row.removeprefix("# ") for row in stated.splitlines()) in first


def test_readme_total_is_the_sum_of_the_lessons() -> None:
    timings = budget.recorded_timings(budget.DOC.read_text())
    rows = budget.rows_for(timings)
    total, _ = budget.total_minutes(rows)
    assert total == sum(budget.budget_minutes(s, t) for s, t in rows)
    assert f"**Time budget: about {budget.duration(total)} of work" in budget.README.read_text()


def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def _graded(kind: str, grade_id: str, points: float = 0, solution: bool = False):
    meta = {"nbgrader": {"grade_id": grade_id, "grade": points > 0, "solution": solution,
                         "points": points, "locked": not solution}}  # fmt: skip
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return make("x = 1" if kind == "code" else "YOUR ANSWER HERE", metadata=meta)


def test_counting_words_cells_exercises_and_optional_challenges() -> None:
    md = nbformat.v4.new_markdown_cell
    nb = _notebook(
        [
            md(
                "# Lesson 9 · Title\n\n**Time budget:** about 2 h: 1,000 words\nmore of it\n\n"
                "Two words."
            ),
            nbformat.v4.new_code_cell("import os"),
            md("## ✏️ Exercise 1 · Build it (3 points)"),
            _graded("code", "build", solution=True),
            _graded("code", "test_build", 2),
            _graded("code", "test_build_more", 1),
            md("## 2 · Optional challenges"),
            md("### ✏️ Challenge 1 · More"),
            _graded("code", "more", solution=True),
            _graded("code", "test_more", 1),
            md("## ✏️ Exercise 2 · Reflect"),
            _graded("markdown", "reflection", 1, solution=True),
        ]
    )
    sizes = budget.count_sizes("x", nb)
    # "Lesson 9 Title Two words." + headings: the budget paragraph is not prose to read
    prose = "Lesson 9 Title Two words Exercise 1 Build it 3 points 2 Optional challenges"
    headings = "Challenge 1 More Exercise 2 Reflect"
    assert sizes.words == len(f"{prose} {headings}".split())
    assert sizes.code_cells == 6
    assert (sizes.exercises, sizes.points) == (2, 4.0)
    assert (sizes.optional_exercises, sizes.optional_points) == (1, 1.0)


def test_budget_arithmetic_and_wording() -> None:
    sizes = budget.Sizes("x", words=1500, code_cells=20, exercises=3, points=5)
    timing = budget.Timing(seconds=90.0, load=3.0, date="2026-11-29")
    # 10 min reading + 20 min cells + 30 min exercises + 1.5 min run = 61.5 -> 60
    assert budget.budget_minutes(sizes, timing) == 60
    assert budget.duration(60) == "1 h" and budget.duration(95) == "1 h 35"
    assert budget.duration(45) == "45 min"
    text = budget.header(sizes, timing)
    assert text.startswith("# **Time budget:** about 1 h: 1,500 words to read (10 min")
    assert "runs top to bottom in 90 s" in text and len(text.splitlines()) == 3


def test_recorded_timings_read_back_from_the_table() -> None:
    rows = [
        (budget.Sizes("a-lesson", 100, 2, 1, 1), budget.Timing(12.3, 4.5, "2026-11-29")),
        (budget.Sizes("b-lesson", 100, 2, 1, 1), None),
    ]
    text = budget.table(rows)
    assert budget.recorded_timings(text) == {"a-lesson": budget.Timing(12.3, 4.5, "2026-11-29")}


def test_a_lesson_without_a_budget_paragraph_is_refused() -> None:
    with pytest.raises(ValueError, match="Time budget"):
        budget._replace_header("# %% [markdown]\n# # Lesson\n#\n", "x")
