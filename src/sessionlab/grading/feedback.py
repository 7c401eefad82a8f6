"""An nbgrader preprocessor that keeps hidden tests out of every feedback file.

nbgrader's autograde puts the hidden tests back into each graded notebook (so they run), and
``nbgrader generate_feedback`` then renders them for the student. The course config adds this
preprocessor to ``GenerateFeedback``, so feedback made by *any* route (``sessionlab grade``,
``nbgrader generate_feedback``, the formgrader) shows a placeholder instead: the hidden blocks
are still marked in the autograded notebook, which is all it needs.
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from sessionlab.grading.notebook import hidden_lines, strip_hidden_tests


class HideHiddenTests(NbGraderPreprocessor):
    """Replace hidden-test blocks (and output lines that quote them) by a placeholder."""

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        return strip_hidden_tests(nb, hidden_lines(nb)), resources
