"""Lesson 07's stampede, graded from outside: the student's process cannot make a race serial.

The stampede used to run its threads in the student's kernel through a name the student's
code could rebind. Now the grader's own copy of ``stampede`` (the lesson's definition, kept
by :func:`outside_plan`) starts the racing workers itself, from the notebook's text as
submitted. The attacker below submits the racy "count, then insert" and, in its kernel,
rebinds ``stampede`` and ``run_stampede`` to a serial fake that inserts exactly the allowed
rows, and swaps ``ThreadPoolExecutor`` for a one-thread pool. Graded through a real grader
process and a real student process (jailed when this machine allows it), the race is real:
more than 5 rows. The solution's atomic answer, graded the same way, leaves exactly 5. Both
answers are read from the lesson (its ``naive_create``, its solution cell), not copied.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.jail import capabilities, uid_held
from sessionlab.grading.jail_settings import grading_limits
from sessionlab.grading.outside import outside_plan
from sessionlab.grading.relay import GraderProcess, StandaloneStudent, fresh_exchange

ROOT = Path(__file__).resolve().parents[2]
LESSON = "07-isolated-sessions"
SOURCE = ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"


def _lesson_code() -> tuple[str, str]:
    """(the lesson's racy ``naive_create`` as a ``create_limited``, the solution's answer)."""
    nb = nbformat.read(SOURCE, as_version=4)
    naive = next(c.source for c in nb.cells if "def naive_create(" in c.source)
    function = next(
        node
        for node in ast.parse(naive).body
        if isinstance(node, ast.FunctionDef) and node.name == "naive_create"
    )
    racy = (
        "import sqlite3\nimport time\n\n\n"
        + ast.unparse(function)
        + ("\n\n\ndef create_limited(*args, **kwargs):\n    return naive_create(*args, **kwargs)\n")
    )
    answer = next(
        c.source
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "create_limited"
    )
    atomic = "import sqlite3\nimport time\n\n\n" + "\n".join(
        line for line in answer.splitlines() if "### " not in line
    )
    return racy, atomic


RACY, ATOMIC = _lesson_code()
ATTACK = '''
import concurrent.futures


def stampede(create_name, db_path, creators=30, pause=0.05):
    """The forgery: one creator at a time, exactly the allowed rows."""
    for number in range(5):
        create_limited(db_path, f"forged-{number}", "203.0.113.99", now=1000.0, ttl=3600,
                       max_per_ip=5)
    return 5


run_stampede = stampede


class _OneAtATime(concurrent.futures.ThreadPoolExecutor):
    def __init__(self, *args, **kwargs):
        super().__init__(max_workers=1)


concurrent.futures.ThreadPoolExecutor = _OneAtATime
'''


def test_the_stampede_is_the_instructors_and_reads_nothing_from_the_kernel() -> None:
    plan = outside_plan(nbformat.read(SOURCE, as_version=4))
    assert "def stampede(" in plan.definitions
    assert "race_in_children" in plan.definitions and "notebook_cells" in plan.definitions
    assert "stampede" not in plan.answers and "create_limited" in plan.answers
    assert "run_stampede" not in SOURCE.read_text(), "no kernel-side stampede left to rebind"


@contextlib.contextmanager
def _grader(tmp_path: Path, jailed: bool, cells: list[str]) -> Iterator[tuple[GraderProcess, Path]]:
    plan = outside_plan(nbformat.read(SOURCE, as_version=4))
    limits = grading_limits(hide=[tmp_path], wall_s=300) if jailed else None
    with contextlib.ExitStack() as stack:
        if limits is not None:  # the student's jail and the grader's: one uid, held here
            limits.claimed_uid = stack.enter_context(uid_held(limits))
        exchange = fresh_exchange(tmp_path / "exchange", limits.claimed_uid if limits else None)
        student = StandaloneStudent(limits, "\n".join(cells))
        stack.callback(student.close)
        grader_limits = None
        if limits is not None:
            limits.shared = [str(exchange)]
            grader_limits = grading_limits(hide=[tmp_path], wall_s=300)
            grader_limits.claimed_uid = limits.claimed_uid
            grader_limits.shared = [str(exchange)]
            grader_limits.join_pid_ns = f"/proc/{student.pid}/ns/pid_for_children"
        grader = GraderProcess(
            grader_limits, plan.definitions, plan.answers, exchange, student, submitted=cells
        )
        stack.callback(grader.close)
        yield grader, exchange


CELL = """import sqlite3
db_path = {db!r}
with sqlite3.connect(db_path) as db:
    db.execute(SCHEMA)
won = stampede("create_limited", db_path)
with sqlite3.connect(db_path) as db:
    rows = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
print("won", won, "rows", rows)
"""


@pytest.mark.parametrize("jailed", [False, True], ids=["plain", "jailed"])
@pytest.mark.parametrize(
    ("cells", "five"), [([RACY, ATTACK], False), ([ATOMIC], True)], ids=["attacker", "atomic"]
)
def test_a_kernel_side_forgery_does_not_make_the_race_serial(
    tmp_path: Path, jailed: bool, cells: list[str], five: bool
) -> None:
    if jailed and not capabilities()["isolated"]:
        pytest.skip("needs root and namespaces")
    with _grader(tmp_path, jailed, cells) as (grader, exchange):
        cell = CELL.format(db=str(exchange / "stampede.sqlite3"))
        result = grader.run_cell(cell, None, 240)
    assert result.passed, result
    won, rows = (int(word) for word in result.output.split()[1::2])
    if five:
        assert (won, rows) == (5, 5), result.output
    else:
        assert rows > 5 and won == rows, f"the race was made serial: {result.output}"
