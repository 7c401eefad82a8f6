"""An nbgrader preprocessor that keeps hidden tests out of every feedback file.

nbgrader's autograde puts the hidden tests back into each graded notebook (so they run), and
``nbgrader generate_feedback`` then renders them for the student. The course config adds this
preprocessor to ``GenerateFeedback``, so feedback made by *any* route (``sessionlab grade``,
``nbgrader generate_feedback``, the formgrader) shows a placeholder instead: the hidden blocks
are still marked in the autograded notebook, which is all it needs.

It also drops what the student's code printed after the first test cell ran: from then on
the student's process may have seen a hidden test's arguments (the files it prepared, the
values it passed), and any output (plain, base64, zlib, reversed ...) could carry them out.
The test cells' own outputs are the grader's decisions (:mod:`sessionlab.grading.outside`).
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from sessionlab.grading.notebook import hidden_lines, is_test_cell, strip_hidden_tests

AFTER_TEST = "(what your code printed after a test ran is not shown in feedback)\n"


def hide_outputs_after_tests(nb: NotebookNode) -> NotebookNode:
    """Every non-test code cell after the first test cell loses its outputs (a note instead)."""
    seen_test = False
    for cell in nb.cells:
        if is_test_cell(cell):
            seen_test = True
        elif seen_test and cell.cell_type == "code" and cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=AFTER_TEST)]
    return nb


class HideHiddenTests(NbGraderPreprocessor):
    """Replace hidden-test blocks (and output lines that quote them) by a placeholder; drop
    the student's output after the first test cell."""

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        return hide_outputs_after_tests(strip_hidden_tests(nb, hidden_lines(nb))), resources
