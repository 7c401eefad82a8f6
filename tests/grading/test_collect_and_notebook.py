"""Submission names, notebook reduction and hidden-test stripping: fast, nothing runs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.collect import collect, parse_lms_name, unpack
from sessionlab.grading.notebook import (
    extract_definitions,
    grading_plan,
    hidden_lines,
    leaked_lines,
    reduce_for_grading,
    strip_hidden_tests,
)
from sessionlab.grading.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
A = "03-monitor"


@pytest.mark.parametrize(
    ("name", "sid", "source"),
    [
        (f"lastname_firstname_12345_67890_{A}.ipynb", "lastname-firstname-12345", "canvas"),
        (f"smithjane_late_2222_3333_{A}-1.ipynb", "smithjane-2222", "canvas"),
        (f"Firstname Lastname_12345_assignsubmission_file_{A}.ipynb", "firstname-lastname-12345",
         "moodle"),
        (f"Zoë O'Brien_77_assignsubmission_file_{A} (1).ipynb", "zoe-o-brien-77", "moodle"),
    ],
)  # fmt: skip
def test_lms_names_are_parsed(name: str, sid: str, source: str) -> None:
    sub = parse_lms_name(name, A)
    assert not isinstance(sub, str), sub
    assert (sub.student_id, sub.source, sub.notes) == (sid, source, [])


@pytest.mark.parametrize("name", [f"{A}.ipynb", "my_homework.ipynb", "_1_2_x.ipynb"])
def test_unknown_names_are_reported_not_guessed(name: str) -> None:
    assert "not an LMS export name" in parse_lms_name(name, A)


def test_collect_mixed_folder_and_zip(tmp_path: Path) -> None:
    nb = nbformat.writes(nbformat.v4.new_notebook())
    files = {
        f"garcia_ana_1001_5001_{A}.ipynb": nb,
        f"garcia_ana_1001_4001_{A}.ipynb": nb,  # older submission: superseded
        f"Bruno Costa_1002_assignsubmission_file_/{A}.ipynb": nb,  # Moodle folder
        f"carla/{A}/{A}.ipynb": nb,  # nbgrader layout
        "kim_min_1006_5006_homework.ipynb": nb,  # graded, with a note
        "notes.ipynb": nb,  # not understood
        "../escape.ipynb": nb,  # zip slip: ignored
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    folder = unpack(tmp_path / "class.zip", tmp_path / "out")
    found = collect(folder, A)
    ids = sorted(s.student_id for s in found.submissions)
    assert ids == ["bruno-costa-1002", "carla", "garcia-ana-1001", "kim-min-1006"]
    assert [u.split(":")[0] for u in found.unparsed] == ["notes.ipynb"]
    assert len(found.superseded) == 1 and "4001" in found.superseded[0]
    kim = next(s for s in found.submissions if s.student_id == "kim-min-1006")
    assert "homework.ipynb" in kim.notes[0]
    assert not (tmp_path / "escape.ipynb").exists()


def _source(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def test_lesson1_runs_whole_because_tests_use_demonstrations() -> None:
    plan = grading_plan(_source("01-fragmentation"))
    assert plan.full and "lab" in plan.reason


def _graded_code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.metadata.get("nbgrader")]


@pytest.mark.skipif(not (ROOT / "solutions" / A).is_dir(), reason="lesson 03 not present")
def test_lesson3_keeps_graded_cells_and_definitions_only() -> None:
    source = _source(A)
    plan = grading_plan(source)
    assert not plan.full, plan.reason
    reduced = reduce_for_grading(source, plan)
    code = "\n".join(c.source for c in reduced.cells if c.cell_type == "code")
    assert _graded_code(reduced) == _graded_code(source), "graded cells untouched"
    assert "open_lab(" not in code and "await chat" not in code, "no real chat"
    assert "claude_agent_sdk" not in code, "unused slow import pruned"
    assert "def wait_until" in code and "GRADED_CHECKS = [" in code


def test_a_student_edited_demonstration_cell_runs_as_written() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nX = 1\nprint('demo')"),
        nbformat.v4.new_code_cell("assert X == 1", metadata={"nbgrader": {"grade": True}}),
    ]
    plan = grading_plan(nb)
    assert not plan.full
    student = nbformat.from_dict(nb)
    assert reduce_for_grading(student, plan).cells[0].source == "X = 1"
    student.cells[0].source = "import os\nX = 1\nprint('mine')"
    assert reduce_for_grading(student, plan).cells[0].source == student.cells[0].source


def test_extract_definitions_drops_calls_and_tests() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import json, os\nimport time\nrun_everything()"),
        nbformat.v4.new_code_cell(
            "class StudentMonitor:\n    def f(self):\n        return json.dumps(1)\n\n"
            "StudentMonitor().f()",
            metadata={"nbgrader": {"solution": True}},
        ),
        nbformat.v4.new_code_cell("assert False", metadata={"nbgrader": {"grade": True}}),
    ]
    code = extract_definitions(nb)
    assert "run_everything" not in code and "assert False" not in code
    assert "StudentMonitor().f()" not in code
    assert code.startswith("import json\n"), "unused imports (os, time) pruned"


@pytest.mark.skipif(not (ROOT / "solutions" / A).is_dir(), reason="lesson 03 not present")
def test_feedback_copy_has_no_hidden_lines_even_in_tracebacks() -> None:
    source = _source(A)
    secrets = hidden_lines(source)
    assert len(secrets) > 20
    graded = nbformat.from_dict(source)
    test_cell = next(c for c in graded.cells if "### BEGIN HIDDEN TESTS" in c.source)
    quoted = secrets[0]
    test_cell.outputs = [
        nbformat.v4.new_output("error", ename="AssertionError", evalue="a.jsonl",
                               traceback=[f"\x1b[0;32m---> 12\x1b[0m {quoted}",
                                          "\x1b[0;32m     13\x1b[0m ### BEGIN HIDDEN TESTS"]),
        nbformat.v4.new_output("stream", name="stdout", text=f"captured: {quoted}\n"),
    ]  # fmt: skip
    assert leaked_lines(nbformat.writes(graded), secrets), "the check sees the leak"
    clean = strip_hidden_tests(graded, secrets)
    assert leaked_lines(nbformat.writes(clean), secrets) == []
    assert "(hidden tests: not shown in feedback)" in nbformat.writes(clean)
    error = clean.cells[graded.cells.index(test_cell)].outputs[0]
    assert error.evalue == "a.jsonl"
    assert not any("BEGIN HIDDEN" in line for line in error.traceback), "markers go too"


@pytest.mark.skipif(not (ROOT / "solutions" / A).is_dir(), reason="lesson 03 not present")
def test_the_course_config_hides_hidden_tests_from_any_nbgrader_feedback() -> None:
    # An autograded notebook carries the hidden blocks, markers included, as the source does.
    from sessionlab.grading.feedback import HideHiddenTests
    from sessionlab.grading.workspace import load_course_config

    config = load_course_config(ROOT / "autograder")
    assert HideHiddenTests in config.GenerateFeedback.preprocessors
    source = _source(A)
    secrets = hidden_lines(source)
    assert leaked_lines(nbformat.writes(source), secrets)
    shown, _ = HideHiddenTests().preprocess(nbformat.from_dict(source), {})
    assert leaked_lines(nbformat.writes(shown), secrets) == []
    assert "(hidden tests: not shown in feedback)" in nbformat.writes(shown)


def test_progress_without_a_tty_prints_one_line_per_update() -> None:
    stream = io.StringIO()
    bar = Progress(3, stream=stream, width=6)
    for i in range(1, 4):
        bar.update(i, f"s{i}")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("[######] 3/3 100%")
    assert "\r" not in stream.getvalue()


def test_an_unanswered_monitor_is_not_measured() -> None:
    from sessionlab.grading.monitor_grader import unanswered_reason

    stub = (
        "class StudentMonitor:\n"
        "    def __init__(self, project_dir, session_id):\n"
        "        self.session_id = session_id\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError()\n"
    )
    assert unanswered_reason(stub) == "StudentMonitor.__init__ still raises NotImplementedError"
    answered = stub.replace("raise NotImplementedError()", "self.started = False") + (
        "    def start(self):\n"
        "        if not self.session_id:\n"
        "            raise NotImplementedError('conditional: may still work')\n"
    )
    assert unanswered_reason(answered) is None
    assert unanswered_reason("class StudentMonitor(:\n") is None  # the child reports it


def test_a_line_the_student_wrote_is_not_a_leak() -> None:
    from sessionlab.grading.notebook import known_to_student

    secrets = ["except Exception as error:", "assert merged == expected_lines, merged"]
    submission = nbformat.v4.new_notebook()
    submission.cells = [nbformat.v4.new_code_cell("try:\n    pass\nexcept Exception as error:\n")]
    assert known_to_student(secrets, submission) == ["assert merged == expected_lines, merged"]


def test_every_demo_student_has_a_number_of_their_own() -> None:
    """The demo class joins three sets of students (honest, jail attacks, grading attacks): an
    LMS file name's numbers identify a student, so a number used twice would merge two."""
    import csv
    import re

    rows = list(csv.DictReader((ROOT / "autograder/demo/expected_scores.csv").open()))
    ids = [row["student_id"] for row in rows]
    assert len(ids) == len(set(ids))
    numbers = [m.group(1) for i in ids if (m := re.search(r"-(\d+)$", i))]
    assert len(numbers) > 30
    assert len(numbers) == len(set(numbers)), sorted(n for n in numbers if numbers.count(n) > 1)
