"""The data-only channel and the grader process, attacked from the student's side (fast).

A real student process (``sessionlab.grading.student_side``, jailed when this machine allows
it) serves hostile definitions; a real grader process (``sessionlab.grading.tester``) runs
test cells against it through the parent's relay, as ``sessionlab grade`` does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionlab.grading import plain_data as wire
from sessionlab.grading.jail import capabilities, uid_held
from sessionlab.grading.jail_settings import grading_limits
from sessionlab.grading.relay import GraderProcess, StandaloneStudent, fresh_exchange

STUDENT = """
import os
import sys
from pathlib import Path

SEEN = []


def is_stray(path, fixed_name, baseline):
    SEEN.append(str(path))
    print("leaking", path)
    sys.stderr.write("leaking too\\n")
    return Path(path).suffix == ".jsonl" and Path(path).name != fixed_name


def seen():
    return list(SEEN)


class Lie:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 1e9

    def __bool__(self):
        return True


def liar():
    return Lie()


def deep():
    value = []
    for _ in range(500):
        value = [value]
    return value


def recursive():
    value = []
    value.append(value)
    return value


def huge():
    return "x" * (40 << 20)


def raises():
    raise ValueError("agent-12ab.jsonl was the hidden case")


class Custom(Exception):
    pass


def raises_custom():
    raise type("agent_12ab_jsonl", (Exception,), {})("secret")


def hang():
    import time
    time.sleep(60)


def forge():
    os.write(1, b'{"id": 1, "ok": 1}\\n')  # the protocol fd is not fd 1 any more
    for fd in range(3, 12):
        try:
            os.write(fd, b'{"id": 999, "ok": true}\\n')
        except OSError:
            pass
    return 5


async def doubled(x):
    import asyncio

    await asyncio.sleep(0.01)
    return {"twice": 2 * x}


class Counter:
    def __init__(self, start):
        self.value = start

    def bump(self):
        self.value += 1
        return self.value

    def __len__(self):
        return -1
"""

ANSWERS = ["is_stray", "seen", "liar", "deep", "recursive", "huge", "raises", "raises_custom",
           "hang", "forge", "doubled", "Counter"]  # fmt: skip


@pytest.fixture(params=["plain", "jailed"])
def tester(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraderProcess]:
    jailed = request.param == "jailed"
    if jailed and not capabilities()["isolated"]:
        pytest.skip("needs root and namespaces")
    limits = grading_limits(hide=[tmp_path], wall_s=120) if jailed else None
    with contextlib.ExitStack() as stack:
        if limits is not None:  # the student's jail and the grader's: one uid, held here
            limits.claimed_uid = stack.enter_context(uid_held(limits))
        exchange = fresh_exchange(tmp_path / "exchange", limits.claimed_uid if limits else None)
        if limits is not None:
            limits.shared = [str(exchange)]
        student = StandaloneStudent(limits, STUDENT)
        grader_limits = None
        if limits is not None:
            grader_limits = grading_limits(hide=[tmp_path], wall_s=120)
            grader_limits.claimed_uid = limits.claimed_uid
            grader_limits.shared = [str(exchange)]
            grader_limits.join_pid_ns = f"/proc/{student.pid}/ns/pid_for_children"
        definitions = "import tempfile\nfrom pathlib import Path\n"
        grader = GraderProcess(grader_limits, definitions, ANSWERS, exchange, student)
        yield grader
        grader.close()
        student.close()


def test_a_passing_cell_scores_its_number_and_shows_only_the_graders_output(
    tester: GraderProcess,
) -> None:
    cell = """with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "a.jsonl").write_text("{}")
    assert is_stray(Path(tmp) / "a.jsonl", "f.jsonl", {"x"})
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert not is_stray("agent-12ab.txt", "f.jsonl", set())
got = seen()
print("the student saw", got)
1.5
"""
    result = tester.run_cell(cell, 5, 60)
    assert result.passed and result.score == 1.5, result
    assert "leaking" not in result.output, "the student's prints never reach the grader"
    assert "agent-12ab" not in result.output, "a string from the student's code is scrubbed"
    assert result.output.startswith("visible tests passed\nthe student saw [")


def test_lying_objects_are_not_believed(tester: GraderProcess) -> None:
    assert not tester.run_cell("assert liar() == 3\n", None, 30).passed
    result = tester.run_cell("float(liar())\n", None, 30)
    assert not result.passed and result.error["type"] == "TypeError"
    assert tester.run_cell("assert liar() is not True and liar() != liar()\n", None, 30).passed
    result = tester.run_cell("c = Counter(1)\nassert c.bump() == 2 and c.value == 2\nlen(c)\n",
                             None, 30)  # fmt: skip
    assert not result.passed and result.error["type"] == "TypeError", "len -1 is no count"


@pytest.mark.parametrize("name", ["deep", "recursive", "huge"])
def test_data_too_deep_recursive_or_huge_fails_that_call_only(
    tester: GraderProcess, name: str
) -> None:
    result = tester.run_cell(f"{name}()\n", None, 60)
    assert not result.passed and result.error["type"] == "StudentCodeError", result
    assert tester.run_cell("assert Counter(4).bump() == 5\n", None, 30).passed


def test_student_exceptions_keep_their_type_never_their_text(tester: GraderProcess) -> None:
    result = tester.run_cell("raises()\n", None, 30)
    assert result.error["type"] == "ValueError"
    assert "agent" not in json.dumps(result.error)
    catch = "try:\n    raises()\nexcept ValueError as e:\n    print(e)\n"
    result = tester.run_cell(catch, None, 30)
    assert result.passed and "agent" not in result.output
    result = tester.run_cell("raises_custom()\n", None, 30)
    assert result.error["type"] == "StudentCodeError" and "agent" not in json.dumps(result.error)


def test_hidden_failures_say_so_without_quoting_the_line(tester: GraderProcess) -> None:
    cell = "x = 1\n### BEGIN HIDDEN TESTS\nassert is_stray('secret.txt', 'f', set()), 'case 7'\n"
    result = tester.run_cell(cell, 2, 30)
    assert not result.passed and result.error["hidden"] is True
    assert result.error["line"] == "" and result.error["message"] == "case 7"
    result = tester.run_cell("assert 1 == 2, 'visible'\n", None, 30)
    assert result.error["hidden"] is False and result.error["line"] == "assert 1 == 2, 'visible'"


def test_forged_frames_on_other_fds_change_nothing(tester: GraderProcess) -> None:
    result = tester.run_cell("forge()\n", None, 30)
    assert result.passed and result.score == 5.0
    assert tester.run_cell("assert Counter(1).bump() == 2\n", None, 30).passed


def test_a_hanging_call_ends_the_cell_not_the_grader(tester: GraderProcess) -> None:
    result = tester.run_cell("hang()\n", None, 3)
    assert not result.passed and result.error["type"] == "TimeoutError"
    assert tester.run_cell("assert Counter(1).bump() == 2\n", None, 30).passed


def test_an_async_answer_is_awaited_in_the_students_process(tester: GraderProcess) -> None:
    """Lesson 02's experiment is an ``async def``: the test cell awaits it as written."""
    result = tester.run_cell("got = await doubled(21)\nassert got == {'twice': 42}\n2\n", None, 30)
    assert result.passed and result.score == 2.0, result
    result = tester.run_cell("await liar()\n", None, 30)  # a handle, but nothing to await
    assert not result.passed and result.error["type"] == "TypeError", result
    result = tester.run_cell("await seen()\n", None, 30)  # plain data is not awaitable either
    assert not result.passed and result.error["type"] == "TypeError", result
    assert tester.run_cell("assert Counter(1).bump() == 2\n", None, 30).passed


def test_wire_refuses_what_is_not_data() -> None:
    for line in (b"[1]", b"{", b'{"ok": NaN}', b"{" + b'"a":' * 1 + b"[" * 100_000 + b"]"):
        with pytest.raises(wire.WireError):
            wire.loads(line)
    with pytest.raises(wire.WireError):
        wire.loads(b'{"ok": ' + b"9" * 5000 + b"}")
    for data in ({"$eval": "1+1"}, {"$handle": "1"}, {"$dict": [[[1], 2]]}, {"a": 1, "b": 2}):
        with pytest.raises(wire.WireError):
            wire.decode(data)
    value = {"k": (1, 2.5, b"\x00", {"s"}, Path("/x"), None, [float("nan")])}
    again = wire.decode(json.loads(json.dumps(wire.encode(value))))
    assert again["k"][:6] == value["k"][:6]  # type: ignore[index]
