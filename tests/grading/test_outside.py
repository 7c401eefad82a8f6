"""The data-only channel and the grader process, attacked from the student's side (fast).

A real student process (``sessionlab.grading.student_side``, jailed when this machine allows
it) serves hostile definitions; a real grader process (``sessionlab.grading.tester``) runs
test cells against it through the parent's relay, as ``sessionlab grade`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
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


def echo(value):
    return value


def add_to(box, item):
    box.add(item)
    return len(box)


def encode_secret(text, offset):
    # Encodes a hidden argument into numbers: one big int, and one float per character.
    SEEN.append(text)
    return {"big": int.from_bytes(text.encode(), "big"),
            "floats": [ord(c) + offset for c in text], "honest": 42.5}


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
           "hang", "forge", "Counter", "add_to", "encode_secret", "echo"]  # fmt: skip


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


# -- awaiting the student's coroutines: one loop, the kernel's own -----------------------------

ASYNC_STUDENT = '''
import asyncio
import time

STARTED = []
CANCELLED = []


class Manager:
    """Holds a lock, a queue and a worker task: all bound to the loop that made them."""

    def __init__(self):
        self.lock = asyncio.Lock()
        self.inbox = asyncio.Queue()
        self.replies = asyncio.Queue()
        self.worker = asyncio.get_running_loop().create_task(self._work())
        self.loop_id = id(asyncio.get_running_loop())

    async def _work(self):
        while True:
            text = await self.inbox.get()
            await self.replies.put(text.upper())

    async def send(self, text):
        async with self.lock:
            await self.inbox.put(text)
            return await self.replies.get()

    async def same_loop(self):
        return id(asyncio.get_running_loop()) == self.loop_id

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return True  # would swallow the test's error: the grader never lets it

    def __aiter__(self):
        return self._words()

    async def _words(self):
        for word in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield word


async def make_manager():
    return Manager()


async def nap(seconds):
    STARTED.append(time.monotonic())
    await asyncio.sleep(seconds)
    return seconds


async def forever():
    try:
        await asyncio.Event().wait()
    finally:
        CANCELLED.append("forever")


async def busy():
    while True:
        pass


def cancelled():
    return list(CANCELLED)


class Lie:
    def __eq__(self, other):
        return True


async def lies():
    return Lie()


async def two_faced():
    async def inner():
        return "agent-12ab.jsonl"
    return inner()  # a coroutine that returns a coroutine


class BadYield:
    def __await__(self):
        yield 42  # not a future: the loop refuses it


class NotIterator:
    def __await__(self):
        return 7


class Sneaky:
    def __await__(self):
        print("agent-12ab.jsonl from __await__")
        return iter([])  # finishes at once with None


def bad_yield():
    return BadYield()


def not_iterator():
    return NotIterator()


def sneaky():
    return Sneaky()


async def ask(callback, value):
    """Calls a function the test passed, awaits it, adds one."""
    return (await callback(value)) + 1


KEEP = []


def keep(callback):
    KEEP.append(callback)


async def call_kept(value):
    return await KEEP[0](value)
'''
KERNEL_CELL = "manager = await make_manager()  # a top-level await: the kernel's loop\n"
ASYNC_ANSWERS = ["Manager", "make_manager", "nap", "forever", "busy", "cancelled", "lies",
                 "two_faced", "bad_yield", "not_iterator", "sneaky", "ask", "keep",
                 "call_kept"]  # fmt: skip


@pytest.fixture
def kernel_tester(tmp_path: Path) -> Iterator[GraderProcess]:
    """A real Jupyter kernel (not jailed: the loop is what is tested here) serving the student
    side through ``ExecuteOutside``'s own transport, and a real grader process."""
    from jupyter_client.manager import KernelManager

    from sessionlab.grading.outside import ExecuteOutside

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.blocking_client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        for code in (ASYNC_STUDENT, KERNEL_CELL):
            reply = client.execute_interactive(code, timeout=60, output_hook=lambda m: None)
            assert reply["content"]["status"] == "ok", reply["content"]
        relay = ExecuteOutside()
        relay.km, relay.kc = manager, client
        exchange = fresh_exchange(tmp_path / "exchange", None)
        definitions = "import asyncio\nimport time\n"
        grader = GraderProcess(None, definitions, ASYNC_ANSWERS, exchange, relay._call)
        yield grader
        grader.close()
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_awaits_run_on_the_kernels_one_loop(kernel_tester: GraderProcess) -> None:
    """The student's manager was made by a top-level await cell: its lock, queues and worker
    task belong to the kernel's loop, and keep working across calls and cells."""
    cell = """assert await manager.send("hi") == "HI"
assert await manager.send("again") == "AGAIN"
assert await manager.same_loop() is True
mine = await make_manager()
assert await mine.send("x") == "X"
"""
    result = kernel_tester.run_cell(cell, None, 60)
    assert result.passed, result
    assert kernel_tester.run_cell('assert await manager.send("next cell") == "NEXT CELL"\n',
                                  None, 60).passed  # fmt: skip


def test_gather_runs_the_students_coroutines_at_once(kernel_tester: GraderProcess) -> None:
    cell = """started = time.monotonic()
got = await asyncio.gather(nap(1.0), nap(1.0), nap(1.0))
took = time.monotonic() - started
assert got == [1.0, 1.0, 1.0], got
assert took < 2.5, took  # one after the other: 3 s
"""
    result = kernel_tester.run_cell(cell, None, 60)
    assert result.passed, result


def test_async_with_and_async_for_and_test_functions(kernel_tester: GraderProcess) -> None:
    cell = """async with manager as m:
    assert await m.send("in") == "IN"
words = [w async for w in manager]
assert words == ["a", "b", "c"], words
async def double(x):
    return 2 * x
assert await ask(double, 4) == 9
assert await ask(lambda x: x * 10, 4) == 41  # a plain function works too
"""
    result = kernel_tester.run_cell(cell, None, 60)
    assert result.passed, result
    swallowed = "async with manager:\n    raise ValueError('the test failed')\n"
    result = kernel_tester.run_cell(swallowed, None, 60)
    assert not result.passed and result.error["type"] == "ValueError", "__aexit__ cannot swallow"


def test_a_coroutine_that_never_ends_fails_its_cell_only(kernel_tester: GraderProcess) -> None:
    result = kernel_tester.run_cell("await forever()\n", None, 3)
    assert not result.passed and result.error["type"] == "TimeoutError", result
    result = kernel_tester.run_cell(
        "import time\nt = time.monotonic()\nwhile not cancelled() and time.monotonic() < t + 5:\n"
        "    time.sleep(0.05)\nassert cancelled() == ['forever'], cancelled()\n"
        "assert await manager.send('after') == 'AFTER'\n",
        None, 30,
    )  # fmt: skip
    assert result.passed, ("the next cell works, the endless task was cancelled", result)


def test_a_coroutine_that_busy_loops_is_interrupted(kernel_tester: GraderProcess) -> None:
    """A coroutine that never awaits holds the kernel's loop; the grader's call timeout
    interrupts it (inside its own steps SIGINT raises) and the kernel serves the next cell."""
    result = kernel_tester.run_cell("await busy()\n", None, 4)
    assert not result.passed and result.error["type"] == "TimeoutError", result
    result = kernel_tester.run_cell("assert await manager.send('alive') == 'ALIVE'\n", None, 30)
    assert result.passed, result


def test_awaited_values_are_data_or_handles_never_trusted(kernel_tester: GraderProcess) -> None:
    cell = """value = await lies()
assert value != 3 and value == value, "a Remote: compared by identity"
inner = await two_faced()
assert not isinstance(inner, str)
print(await inner)
"""
    result = kernel_tester.run_cell(cell, None, 30)
    assert result.passed, result
    assert "agent-12ab" not in result.output and "<from your code>" in result.output


@pytest.mark.parametrize(
    ("call", "kind"), [("bad_yield", "RuntimeError"), ("not_iterator", "TypeError")]
)
def test_an_await_trick_fails_that_call(kernel_tester: GraderProcess, call: str, kind: str) -> None:
    result = kernel_tester.run_cell(f"await {call}()\n", None, 30)
    assert not result.passed and result.error["type"] == kind, result
    assert kernel_tester.run_cell("await sneaky()\nprint('ok')\n", None, 30).output.startswith(
        "ok"
    ), "what a student's __await__ prints stays in the kernel"
    assert kernel_tester.run_cell("assert await manager.send('y') == 'Y'\n", None, 30).passed


def test_a_test_function_dies_with_its_cell(kernel_tester: GraderProcess) -> None:
    first = "async def secret(x):\n    return 'hidden answer'\nkeep(secret)\n"
    assert kernel_tester.run_cell(first, None, 30).passed
    result = kernel_tester.run_cell("await call_kept(1)\n", None, 30)
    assert not result.passed and result.error["type"] == "RuntimeError", result


def test_what_the_test_passes_is_data_names_or_its_functions(tester: GraderProcess) -> None:
    """The course's classes cross by name; the grader's other objects never cross."""
    cell = "import functools\nc = Counter(functools.partial(Path, '/x'))\n"
    cell += "assert c.value() == Path('/x')\n"
    result = tester.run_cell(cell, None, 30)
    assert result.passed, result
    result = tester.run_cell("import threading\nCounter(threading.Lock())\n", None, 30)
    assert not result.passed and result.error["type"] == "TypeError", result
    with pytest.raises(wire.WireError):
        wire.decode({"$import": ["os", "system"]})  # the grader never decodes a name
    with pytest.raises(wire.WireError):
        wire.decode({"$callback": 1})


def test_objects_built_in_the_students_process_are_shared_and_read_back(
    tester: GraderProcess,
) -> None:
    cell = """from sessionlab.grading.student_objects import in_student, read_back
box = in_student(set)
assert add_to(box, "a") == 1 and add_to(box, "b") == 2, "one set, shared by both calls"
assert len(box) == 2 and "a" in box
assert read_back(box) == {"a", "b"}
assert read_back(3) == 3
"""
    result = tester.run_cell(cell, None, 30)
    assert result.passed, result


def test_numbers_the_student_returns_cannot_carry_a_hidden_argument_out(
    tester: GraderProcess,
) -> None:
    """The student's code encodes the hidden argument into the numbers it returns; the test
    prints what it got. Decoding every number in the output finds nothing; public literals
    (the visible part) and numbers the student never returned stay."""
    secret = "hidden-case-xyzzy"
    cell = f"""LIMIT = 42.5
print("visible tests passed")
### BEGIN HIDDEN TESTS
got = encode_secret({secret!r}, 0.25)
computed = sum(range(1000))
print("got", got, "limit", LIMIT, "computed", computed, "echo", echo(271828))
print("rounded", [f"{{x:.1f}}" for x in got["floats"]], round(got["floats"][0], 1))
raise AssertionError(f"case failed: got {{got['big']}}")
"""
    result = tester.run_cell(cell, 3, 30)
    assert not result.passed and result.error["hidden"] is True
    shown = result.output + str(result.error["message"])
    numbers = [int(n) for n in re.findall(r"\d{5,}", shown)]
    decoded = [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in numbers]
    assert not any(b"xyzzy" in d for d in decoded), shown
    floats = [float(x) for x in re.findall(r"\d+\.\d+", shown)]
    assert not any(chr(int(x)) in "xyz" for x in floats if 100 < x < 130), shown
    assert str(int.from_bytes(secret.encode(), "big")) not in shown
    assert "271828" not in shown, "a hidden input the code echoes back is not shown"
    assert "<number from your code>" in shown
    assert "': 42.5}" in shown and "limit 42.5" in shown, "a public literal is shown"
    assert "computed 499500" in shown, "the test's own numbers stay"


FILL = """
import os, sys
folder, megabytes = sys.argv[1], int(sys.argv[2])
written = 0
try:
    for n in range(10_000):
        with open(os.path.join(folder, f"fill-{n}"), "wb") as out:
            for _ in range(16):
                out.write(b"x" * (1 << 20))
                written += 1 << 20
                if written >= megabytes << 20:
                    raise SystemExit(print(written, "ok"))
except OSError as error:
    print(written, error.strerror)
"""


def test_a_student_filling_the_exchange_fails_alone(tmp_path: Path) -> None:
    """The exchange is a tmpfs of its own, mounted afresh per submission: a student who fills
    it gets "No space left" at its size (not the host's disk), and the next submission's
    exchange is empty and works."""
    if not capabilities()["isolated"]:
        pytest.skip("needs root and namespaces")
    from sessionlab.grading.relay import release_exchange

    limits = grading_limits(hide=[tmp_path], wall_s=60)
    with uid_held(limits) as uid:
        limits.claimed_uid = uid
        exchange = tmp_path / "exchange"

        def student(megabytes: int) -> list[str]:
            limits.shared = [str(exchange)]
            jail = [sys.executable, "-m", "sessionlab.grading.jail", "--config", limits.to_json(),
                    "--", sys.executable, "-c", FILL, str(exchange), str(megabytes)]  # fmt: skip
            done = subprocess.run(jail, capture_output=True, text=True, timeout=60, check=True)
            return done.stdout.strip().split(maxsplit=1)

        try:
            fresh_exchange(exchange, uid, 8)
            assert os.path.ismount(exchange)
            size = os.statvfs(exchange)
            assert size.f_blocks * size.f_frsize == 8 << 20, "a tmpfs of 8 MiB"
            written, outcome = student(1000)
            assert int(written) <= 8 << 20 and "space" in outcome, (written, outcome)
            fresh_exchange(exchange, uid, 8)  # the next submission
            assert list(exchange.iterdir()) == [], "nothing left of the filler"
            assert student(4) == [str(4 << 20), "ok"]
        finally:
            release_exchange(exchange)
        assert not exchange.exists() and not os.path.ismount(exchange)
