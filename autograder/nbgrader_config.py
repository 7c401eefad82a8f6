"""nbgrader configuration for the Session Engineering Lab.

Run nbgrader commands from the repository root with ``--CourseDirectory.root=autograder`` (the
Makefile does), from inside ``autograder/``, or from the instructor's JupyterLab (``make
instructor``): the course root is this file's folder wherever nbgrader starts. Lessons are
authored in ``solutions/`` and released into ``notebooks/``; grading directories
(``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``) stay in ``autograder/`` and
are ignored by git.
"""

from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, GetGrades

from sessionlab.classroom.exchange import COURSE_ID, exchange_root
from sessionlab.grading.feedback import HideHiddenTests
from sessionlab.grading.outside import ExecuteOutside

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by traitlets)

c.CourseDirectory.course_id = COURSE_ID
# Absolute: a relative "autograder" resolved against the current folder, so the Formgrader
# (started in autograder/) and nbgrader run from inside autograder/ found an empty course.
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
# Releases, submissions and feedback travel through the course-local exchange
# (``$SESSIONLAB_EXCHANGE`` on a shared server), never /usr/local/share/nbgrader.
c.Exchange.root = str(exchange_root())
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../notebooks"
# One notebook per assignment; nothing else in a lesson folder is course material.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py", "README.md"]

# A lesson drives a real Claude Code CLI; a cell can legitimately take tens of seconds.
# The worst case for a hanging submission is timeout × number of cells, so keep it bounded.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Any stderr output in a test cell zeroes it (nbgrader.utils.determine_grade). Warnings from
# libraries (DeprecationWarning, ResourceWarning from subprocess transports, ...) are not the
# student's fault, so drop stderr chunks that are only warnings. The preprocessor is off by
# default: it must be enabled explicitly.
c.IgnorePattern.enabled = True
# watchdog logs "InotifyEmitter.queue_events() called when the thread is inactive" to stderr
# when an observer stops while events are in flight: noise, not a failed test.
c.IgnorePattern.pattern = r"(?:Warning|warn\(|called when the thread is inactive)"

# Test cells run in a grader process, never in the student's kernel: the grader calls the
# student's definitions over a data-only channel and decides pass/fail itself (lessons in
# ExecuteOutside.lessons; the others still run their tests in the kernel).
c.Autograde.autograde_preprocessors = [
    ExecuteOutside if pp is Execute else pp
    for pp in Autograde.class_traits()["autograde_preprocessors"].default()
]

# Transcript dumps can be long; keep feedback readable.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40

# Solution stubs students see.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Feedback never shows hidden tests: nbgrader's autograde restores them in the graded notebook
# and its feedback would render them; this preprocessor replaces each hidden block (and output
# lines quoting one) with a placeholder, whichever command generates the feedback.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
