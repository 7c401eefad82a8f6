"""Run functions of a notebook in child processes started from the notebook's text.

Two uses, one mechanism:

* :func:`run_in_child`: one call in a child that may **really die in the middle of a write**
  (the capstone's crash-safe backup). "A backup survives a crash" means it survives the
  process dying at any instant, with no ``finally``, no ``except`` and no ``atexit`` running;
  an exception raised "as if" it crashed lets cleanup code run and proves nothing.
* :func:`race_in_children`: many calls, **one per process, released at the same instant**
  (lesson 07's stampede on a per-IP limit): 30 web workers creating sessions at once. Threads
  in one process would share whatever that process's code patched (a serialized executor, a
  ``threading.Lock`` that holds for threads and not for workers); separate processes race
  for real, and only the database's own atomicity keeps the limit.

Why from the notebook's TEXT: a child is started from the notebook's code cells as text (the
grader's copy of the cells as submitted, or the kernel's history in the student's own run),
never from objects of the student's running kernel. Only definitions are kept (imports,
functions, classes, plain constants), so the lesson's chats and demos do not run again.

Where a crash lands: a child given ``max_file_bytes`` gets ``RLIMIT_FSIZE`` (soft and hard)
and ``SIGXFSZ`` set back to its default action (Python ignores it at start-up), so the kernel
kills the child with ``SIGXFSZ`` at the exact write that would make any file longer than
that: a write torn part-way, whatever the design writes and however it writes it.

What it wrote: the bytes a child passed to ``write`` calls (``wchar`` of ``/proc/<pid>/io``,
its reaped children included) are read after it ended and before it is reaped, so they come
from the kernel's accounting, not from anything the child reports.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_ANSWER = 4096
# The child's first lines: they run before any of the notebook's code.
_DRIVER = """\
import hashlib, json, os, resource, signal, sys
answer_fd, limit, ready_fd, go_fd = (int(a) for a in sys.argv[1:5])
if limit >= 0:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
request = json.loads(sys.stdin.read())
namespace = {"__name__": "__notebook__"}
try:
    exec(compile(request["code"], "<your notebook>", "exec"), namespace)
    function = namespace[request["function"]]
    if ready_fd >= 0:  # a race: say ready, then wait until the parent releases everyone
        os.write(ready_fd, b"r")
        os.close(ready_fd)
        os.read(go_fd, 1)
    value = function(*request["args"], **request["kwargs"])
    if isinstance(value, (bytes, bytearray)):
        value = {"sha256": hashlib.sha256(value).hexdigest(), "length": len(value)}
    elif not isinstance(value, (int, float, str, bool, type(None))):
        value = repr(value)[:200]
    answer = {"returned": value}
except BaseException as error:
    answer = {"error": f"{type(error).__name__}: {error}"[:500]}
os.write(answer_fd, json.dumps(answer).encode()[:4096])
"""


@dataclass(frozen=True)
class ChildRun:
    """How one run in a child process ended, and what it wrote (measured by the kernel)."""

    returned: object = None
    error: str = ""
    killed_by: int | None = None  # the signal that ended the child, if one did
    exit_code: int | None = None
    written_bytes: int | None = None  # wchar: None when /proc could not tell
    seconds: float = 0.0

    @property
    def crashed(self) -> bool:
        return self.killed_by is not None

    def describe(self) -> str:
        """One line: how it ended."""
        if self.killed_by is not None:
            return f"killed by {signal.Signals(self.killed_by).name} after {self.seconds:.2f} s"
        if self.error:
            return f"raised {self.error}"
        return f"returned {self.returned!r} in {self.seconds:.2f} s"


def digest(data: bytes) -> dict[str, object]:
    """What :attr:`ChildRun.returned` holds when the function returned ``data`` (bytes)."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def notebook_cells(namespace: Mapping[str, object]) -> list[str]:
    """The notebook's code cells as text, for a child to start from.

    Graded, a test cell's namespace holds the grader's copy of the cells as submitted
    (``SUBMITTED_CELLS``); in the student's own kernel, IPython's history of what ran so far
    (``In``), without any hidden test cell (the instructor's run has them).
    """
    submitted = namespace.get("SUBMITTED_CELLS")
    if isinstance(submitted, list):
        return [str(cell) for cell in submitted]
    history = namespace.get("In")
    if not isinstance(history, list):
        raise RuntimeError("no notebook here: neither the grader's cells nor IPython's In")
    marker = "### BEGIN " + "HIDDEN TESTS"  # split: nbgrader reads the whole marker
    return [str(cell) for cell in history if marker not in str(cell)]


def _plain_python(source: str) -> str:
    """A cell as plain Python (IPython magics translated when IPython is there)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return str(TransformerManager().transform_cell(source))
    except Exception:  # no IPython: parse the cell as it is
        return source


_CONSTANT_PARTS = (
    ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Tuple, ast.List,
    ast.Set, ast.Dict, ast.expr_context,
)  # fmt: skip


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    if isinstance(node, ast.ClassDef):
        return True
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        # A constant (``CHUNK = 64 * 1024``): literals and arithmetic, no names, no calls.
        return all(isinstance(sub, _CONSTANT_PARTS) for sub in ast.walk(node.value))
    return False


def _binds(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    assert isinstance(node, ast.Assign)
    return {t.id for t in node.targets if isinstance(t, ast.Name)}


def definitions_source(cells: Iterable[str], wanted: str | None = None) -> str:
    """The definitions of the given cells, in order: what the child loads before calling.

    With ``wanted``, only what that name needs (the definitions of the names it reads, and
    of the names those read, ...): the child does not import what the lesson's chats need.
    A cell that does not parse is skipped (its definitions are missing in the child, as they
    would be in a kernel where the cell raised ``SyntaxError``).
    """
    kept: list[ast.stmt] = []
    for cell in cells:
        try:
            tree = ast.parse(_plain_python(cell))
        except SyntaxError:
            continue
        kept += [node for node in tree.body if _is_definition(node)]
    if wanted is not None:
        needed, todo = set(), [wanted]
        while todo:
            name = todo.pop()
            if name in needed:
                continue
            needed.add(name)
            for node in kept:
                if name in _binds(node):
                    todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
        kept = [node for node in kept if _binds(node) & needed]
    return "\n\n".join(ast.unparse(node) for node in kept) + "\n"


def _written_bytes(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:  # no /proc, or the child made itself unreadable
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "wchar":
            return int(value)
    return None


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait until the child ended, leaving it unreaped (its /proc entry still readable)."""
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.01)
    return False


Plain = str | int | float | bool | None


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    answer_fd: int
    started: float


def _spawn(
    request: dict[str, object], max_file_bytes: int | None, race: tuple[int, int] | None = None
) -> _Child:
    """Start one driver child; ``race``: the (ready write end, go read end) it shares."""
    read_end, write_end = os.pipe()
    limit = -1 if max_file_bytes is None else int(max_file_bytes)
    ready_fd, go_fd = race if race is not None else (-1, -1)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-B", "-c", _DRIVER, str(write_end), str(limit), str(ready_fd),
             str(go_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=tuple(fd for fd in (write_end, ready_fd, go_fd) if fd >= 0),
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps(request).encode())
        process.stdin.close()
    except BrokenPipeError:
        pass
    return _Child(process, read_end, started)


def _collect(child: _Child, deadline: float) -> ChildRun:
    """Wait for the child (killed at ``deadline``) and say how it ended."""
    process = child.process
    try:
        if not _wait_unreaped(process.pid, deadline):
            process.kill()
            _wait_unreaped(process.pid, time.monotonic() + 10)
        written = _written_bytes(process.pid)
        seconds = time.monotonic() - child.started
        status = process.wait()
        answer = _read_answer(child.answer_fd)
    finally:
        os.close(child.answer_fd)
        if process.poll() is None:
            process.kill()
            process.wait()
    killed_by = -status if status < 0 else None
    return ChildRun(
        returned=answer.get("returned"),
        error=str(answer.get("error", "")) if killed_by is None else "",
        killed_by=killed_by,
        exit_code=status if status >= 0 else None,
        written_bytes=written,
        seconds=seconds,
    )


def _request(cells: Iterable[str], function: str, args: Sequence[Plain],
             kwargs: Mapping[str, Plain]) -> dict[str, object]:  # fmt: skip
    code = definitions_source(cells, function)
    return {"code": code, "function": function, "args": list(args), "kwargs": dict(kwargs)}


def run_in_child(
    cells: Iterable[str],
    function: str,
    *args: Plain,
    max_file_bytes: int | None = None,
    timeout: float = 60.0,
) -> ChildRun:
    """Call ``function(*args)`` from the definitions of ``cells`` in a fresh child process.

    ``max_file_bytes``: the child is killed (``SIGXFSZ``) by the write that would make any
    file longer than this. Arguments are plain data (paths as strings). The child's output
    goes nowhere; a child still running after ``timeout`` seconds is killed.
    """
    child = _spawn(_request(cells, function, args, {}), max_file_bytes)
    return _collect(child, child.started + timeout)


def race_in_children(
    cells: Iterable[str],
    function: str,
    calls: Sequence[Sequence[Plain]],
    kwargs: Mapping[str, Plain] | None = None,
    timeout: float = 60.0,
) -> list[ChildRun]:
    """Call ``function(*args, **kwargs)`` once per ``args`` of ``calls``, each in its own
    process, all released at the same instant: a stampede of independent workers.

    Every child loads the definitions first and says it is ready; only when all are ready
    (or ``timeout`` passed) does this process release them together, by closing the one pipe
    they all wait on. A child still running ``timeout`` seconds after the release is killed.
    """
    request = _request(cells, function, (), kwargs or {})  # the definitions, parsed once
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    children: list[_Child] = []
    try:
        for args in calls:
            one = {**request, "args": list(args)}
            try:
                children.append(_spawn(one, None, (ready_write, go_read)))
            except BaseException:  # no half stampede left running: end the ones started
                for child in children:
                    child.process.kill()
                    _collect(child, time.monotonic())
                raise
        os.close(ready_write)
        ready_write = -1
        os.close(go_read)
        go_read = -1
        _wait_ready(ready_read, len(children), time.monotonic() + timeout)
    finally:
        for fd in (ready_write, go_read, ready_read):
            if fd >= 0:
                os.close(fd)
        os.close(go_write)  # the release: every waiting child reads end-of-file at once
    deadline = time.monotonic() + timeout
    return [_collect(child, deadline) for child in children]


def _wait_ready(fd: int, count: int, deadline: float) -> None:
    """Until ``count`` children said ready, every child closed its end, or the deadline."""
    seen = 0
    while seen < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        data = os.read(fd, count)
        if not data:  # every child has closed its end: the rest died before being ready
            return
        seen += len(data)


def _read_answer(fd: int) -> dict[str, object]:
    """What the child's driver wrote (nothing if it died first); never blocks."""
    ready, _, _ = select.select([fd], [], [], 0)
    if not ready:
        return {}
    try:
        data = os.read(fd, MAX_ANSWER)
        answer = json.loads(data.decode("utf-8", "replace"))
    except (OSError, ValueError):
        return {"error": "the child's answer was not understood"}
    return answer if isinstance(answer, dict) else {}
