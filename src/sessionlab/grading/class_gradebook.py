"""The coordinator's one nbgrader gradebook, filled from results that workers sent back.

Workers grade in private courses with private gradebooks (on other machines, maybe); the
instructor gets a single ``gradebook.db`` in the output folder, the one nbgrader's formgrader
and exports read. It is built like nbgrader builds it (``generate_assignment`` records the
assignment's cells and points), then each :class:`~sessionlab.grading.unit.GradingResult`
becomes a submission with its per-cell auto scores, as nbgrader's ``SaveAutoGrades`` would
have written them. Nothing here runs student code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from sessionlab.errors import CourseError
from sessionlab.grading.unit import GradingResult
from sessionlab.grading.workspace import (
    Lesson,
    copy_course,
    quiet_nbgrader,
    venv_first_path,
    without_exchange,
)
from sessionlab.sandbox import patched_environ


class ClassGradebook:
    """``<out>/gradebook.db`` with the assignment generated; :meth:`record` adds a result."""

    def __init__(self, lesson: Lesson, out: Path) -> None:
        from nbgrader.apps import NbGraderAPI

        quiet_nbgrader()
        self.lesson = lesson
        out.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite:///{out / 'gradebook.db'}"
        work = Path(tempfile.mkdtemp(prefix="sessionlab-gradebook-"))
        os.chmod(work, 0o700)
        try:
            root = work / "course"
            copy_course(lesson.course, lesson.source_path, root)
            config = lesson.config.copy()
            config.CourseDirectory.root = str(root)
            config.CourseDirectory.source_directory = "source"
            config.CourseDirectory.release_directory = "release"
            config.CourseDirectory.db_url = self.db_url
            without_exchange(config, work)
            with patched_environ({"PATH": venv_first_path()}):
                api = NbGraderAPI(config=config)
                result = api.generate_assignment(lesson.assignment, force=True)
            if not result.get("success"):
                raise CourseError(f"nbgrader generate_assignment failed:\n{result.get('log', '')}")
            from nbgrader.api import Gradebook

            with Gradebook(self.db_url) as gb:
                self.max_score = float(gb.find_assignment(lesson.assignment).max_score)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def record(self, result: GradingResult, name: str, timestamp: str) -> None:
        """The submission and its auto scores; a result without grades leaves no submission."""
        from nbgrader.api import Gradebook, MissingEntry

        assignment, sid = self.lesson.assignment, result.student_id
        notebook = Path(self.lesson.nb_name).stem
        with Gradebook(self.db_url) as gb:
            first, _, last = name.partition(" ")
            gb.update_or_create_student(sid, first_name=first, last_name=last)
            with contextlib.suppress(MissingEntry):
                gb.remove_submission(assignment, sid)
            if not result.cells:
                return
            gb.add_submission(assignment, sid, timestamp=timestamp)
            for cell in result.cells:
                grade = gb.find_grade(cell.name, notebook, assignment, sid)
                grade.auto_score = cell.score
                grade.needs_manual_grade = cell.needs_manual_grade
            gb.db.commit()
