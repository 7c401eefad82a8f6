"""Run one function of a notebook in a child process that really dies in the middle of a write.

Why a child process: "a backup survives a crash" means it survives the process dying at any
instant, between any two writes, with no ``finally``, no ``except`` and no ``atexit`` running.
Only a real process that really dies shows that; an exception raised "as if" it crashed lets
cleanup code run and proves nothing.

Why from the notebook's TEXT: the child is started from the notebook's code cells as text (the
grader's copy of the cells as submitted, or the kernel's history in the student's own run),
never from objects of the student's running kernel. Only definitions are kept (imports,
functions, classes, plain constants), so the lesson's chats and demos do not run again.

Where the crash lands: the child gets ``RLIMIT_FSIZE`` (soft and hard) and ``SIGXFSZ`` set back
to its default action (Python ignores it at start-up), so the kernel kills the child with
``SIGXFSZ`` at the exact write that would make any file longer than ``max_file_bytes``: a
write torn part-way, whatever the design writes and however it writes it.

What it wrote: the bytes the child passed to ``write`` calls (``wchar`` of
``/proc/<pid>/io``, its reaped children included) are read after it ended and before it is
reaped, so they come from the kernel's accounting, not from anything the child reports.
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_ANSWER = 4096
# The child's first lines: they run before any of the notebook's code.
_DRIVER = """\
import hashlib, json, os, resource, signal, sys
limit = int(sys.argv[2])
if limit >= 0:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
answer_fd = int(sys.argv[1])
request = json.loads(sys.stdin.read())
namespace = {"__name__": "__notebook__"}
try:
    exec(compile(request["code"], "<your notebook>", "exec"), namespace)
    value = namespace[request["function"]](*request["args"])
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


def run_in_child(
    cells: Iterable[str],
    function: str,
    *args: str | int | float | None,
    max_file_bytes: int | None = None,
    timeout: float = 60.0,
) -> ChildRun:
    """Call ``function(*args)`` from the definitions of ``cells`` in a fresh child process.

    ``max_file_bytes``: the child is killed (``SIGXFSZ``) by the write that would make any
    file longer than this. Arguments are plain data (paths as strings). The child's output
    goes nowhere; a child still running after ``timeout`` seconds is killed.
    """
    request = json.dumps(
        {"code": definitions_source(cells, function), "function": function, "args": list(args)}
    )
    read_end, write_end = os.pipe()
    limit = -1 if max_file_bytes is None else int(max_file_bytes)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-B", "-c", _DRIVER, str(write_end), str(limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        os.close(write_end)
    try:
        assert process.stdin is not None
        try:
            process.stdin.write(request.encode())
            process.stdin.close()
        except BrokenPipeError:
            pass
        if not _wait_unreaped(process.pid, started + timeout):
            process.kill()
            _wait_unreaped(process.pid, time.monotonic() + 10)
        written = _written_bytes(process.pid)
        seconds = time.monotonic() - started
        status = process.wait()
        answer = _read_answer(read_end)
    finally:
        os.close(read_end)
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
