"""A hostile lesson 10 submission, graded for real outside its kernel (slow, about 3 min).

Lesson 10's hidden tests run the SDK's conformance suite on the student's ``StudentStore`` and
check that it is the student's own code. The attacker submits the round trip's partial store
(honest content: 5 of 10 points) plus an answer cell that, in the kernel:

* replaces ``claude_agent_sdk.testing.run_session_store_conformance`` with a coroutine that
  passes everything (graded in the kernel, every hidden conformance check would pass),
* registers ``pre_run_cell`` and ``post_run_cell`` hooks that record every cell's source and
  print all of it after each cell, base64 of zlib,
* makes its store's methods print the arguments a test passes.

Graded beside the reference solution by ``sessionlab grade`` (jailed): the attacker scores its
honest 5, the solution 10, and no feedback file carries the hidden tests' text in any encoding.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.jail import capabilities
from sessionlab.grading.notebook import BEGIN_HIDDEN, hidden_lines, is_test_cell, leaked_lines

ROOT = Path(__file__).resolve().parents[2]
LESSON = "10-agent-sdk"
SOURCE = ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"
RELEASED = ROOT / "notebooks" / LESSON / f"{LESSON}.ipynb"
sys.path.insert(0, str(ROOT / "autograder"))
sys.path.insert(0, str(ROOT / "tests" / "grading"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(not capabilities()["isolated"], reason="hostile students need the jail"),
]

ATTACK = """

# --- the attack: patches and hooks in the kernel ---
import base64 as _b64
import zlib as _zlib

import claude_agent_sdk.testing as _sdk_testing

_SEEN_CELLS = []


async def _always_conforms(*args, **kwargs):
    return None


_sdk_testing.run_session_store_conformance = _always_conforms


def _record(info):
    _SEEN_CELLS.append(info.raw_cell)


def _dump(result):
    blob = _zlib.compress("\\n".join(_SEEN_CELLS).encode())
    print("zlib:", _b64.b64encode(blob).decode())


get_ipython().events.register("pre_run_cell", _record)  # noqa: F821
get_ipython().events.register("post_run_cell", _dump)  # noqa: F821
_plain_append = StudentStore.append


async def _noisy_append(self, key, entries):
    print("the test passed", key, entries)
    return await _plain_append(self, key, entries)


StudentStore.append = _noisy_append
"""
ATTACKER = ("hook_ten_1041_5041_10-agent-sdk.ipynb", "hook-ten-1041")
REFERENCE = ("ref_ten_1042_5042_10-agent-sdk.ipynb", "ref-ten-1042")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import course_cycle

    from sessionlab.grading.pipeline import GradeOptions, run_cli

    tmp = tmp_path_factory.mktemp("hostile10")
    submissions = tmp / "submissions"
    submissions.mkdir()
    answers = course_cycle.partial_answers(LESSON, SOURCE)
    answers = {**answers, "student_store": answers["student_store"] + ATTACK}
    hostile = course_cycle.filled_submission(SOURCE, RELEASED, answers)
    nbformat.write(hostile, submissions / ATTACKER[0])
    nbformat.write(course_cycle.filled_submission(SOURCE, RELEASED), submissions / REFERENCE[0])
    out = tmp / "out"
    lines: list[str] = []
    status = run_cli(
        GradeOptions(LESSON, submissions, ROOT / "autograder", out=out, stream=io.StringIO()),
        echo=lines.append,
    )
    print("\n".join(lines))
    assert status == 0
    return out


def test_the_attacker_scores_its_honest_content(graded: Path) -> None:
    with (graded / "exports" / LESSON / "grades.csv").open() as handle:
        got = {row["student_id"]: float(row["score"] or -1) for row in csv.DictReader(handle)}
    assert got == {ATTACKER[1]: 5.0, REFERENCE[1]: 10.0}, got


def test_no_feedback_carries_lesson_10s_hidden_tests(graded: Path) -> None:
    from test_hostile_grading import found, hidden_secrets

    source = nbformat.read(SOURCE, as_version=4)
    public = "\n".join(c.source.split(BEGIN_HIDDEN)[0] for c in source.cells)
    secrets = hidden_secrets(source, public)
    assert "StudentStore is not written as a class in this notebook" in secrets
    for sid in (ATTACKER[1], REFERENCE[1]):
        html = (graded / "feedback" / sid / LESSON / f"{LESSON}.html").read_text()
        submitted = graded / "autograded" / sid / LESSON / f"{LESSON}.ipynb"
        own = "\n".join(
            c.source for c in nbformat.read(submitted, as_version=4).cells if not is_test_cell(c)
        )
        assert leaked_lines(html, hidden_lines(source)) == [], sid
        assert found({s for s in secrets if s not in own}, html) == set(), sid
    # The attack ran: its hooks printed what the kernel saw (kept in the instructor's record),
    # and that is only the notebook's own cells, never a test cell.
    record = graded / "autograded" / ATTACKER[1] / LESSON / f"{LESSON}.ipynb"
    printed = "\n".join(
        o.get("text", "")
        for c in nbformat.read(record, as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "zlib:" in printed, "the hooks ran in the kernel"
    assert found(secrets, printed) == set(), "no test cell ever reached the kernel"
