"""The grader process: runs test cells (visible and hidden) against the student's process.

``python -m sessionlab.grading.tester`` (jailed like the student's kernel, as the same uid so
that folders a test prepares are the student's to use, but in its own namespaces) reads frames
on stdin and writes frames on stdout:

* ``{"op": "setup", "definitions": src, "answers": [...], "exchange": dir}``: the instructor's
  definitions from the lesson's *source* notebook (helpers such as ``wait_until``, imports,
  constants; never the student's edits of them), the names the student answers, and the
  folder both processes see (``tempfile`` puts a test's folders there);
* ``{"op": "cell", "source": ..., "hidden_line": n}``: one test cell, run here. Names the cell
  reads that the student defines (or that only the student's process holds, like lesson 1's
  ``lab``) are fetched as data or :class:`~sessionlab.grading.remote.Remote` proxies before it
  runs; each call crosses as ``{"op": "request", ...}`` and waits for ``{"op": "reply", ...}``;
* the answer ``{"op": "done", "passed", "score", "output", "error", "value"}``: the grader's
  decision. ``output`` is what the test printed, with every string the student's code returned
  scrubbed out; ``error`` is the exception's type and message (scrubbed the same way), and says
  whether the failing line was in the hidden part; ``score`` is the value of a last bare
  expression that is a number (the ``float(score)`` partial-credit convention).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from typing import Any

from sessionlab.grading import plain_data as wire
from sessionlab.grading.remote import Channel
from sessionlab.grading.returned_numbers import public_numbers, public_strings

CELL_FILE = "<test cell>"
MAX_OUTPUT = 20_000


def names_in(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names bound, names read) anywhere in ``tree``."""
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store | ast.Del) else read).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, read


@dataclass
class Tester:
    """The namespace test cells share, and which of its names come from the student."""

    channel: Channel
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__main__"})
    answers: set[str] = field(default_factory=set)
    definition_reads: set[str] = field(default_factory=set)
    fetched: set[str] = field(default_factory=set)
    loop: Any = None
    definitions_tree: ast.Module | None = None

    def setup(
        self, definitions: str, answers: list[str], exchange: str, submitted: list[str]
    ) -> None:
        # The student's code cells as text (never run here): for checks on what the notebook
        # says, which no patch in the student's process can change.
        self.namespace["SUBMITTED_CELLS"] = list(submitted)
        if exchange:
            tempfile.tempdir = exchange
            os.environ["TMPDIR"] = exchange
        self.answers = set(answers)
        tree = ast.parse(definitions)
        self.definitions_tree = tree
        exec(compile(tree, "<lesson definitions>", "exec"), self.namespace)
        bound, read = names_in(tree)
        self.definition_reads = read - bound
        for name in self.answers:
            self.namespace.pop(name, None)

    def _fetch(self, tree: ast.Module) -> None:
        bound, read = names_in(tree)
        wanted = (read | self.definition_reads) - set(dir(builtins))
        remote = sorted(
            n
            for n in wanted
            if n in self.answers
            or n in self.fetched
            or (n not in self.namespace and n not in bound)
        )
        if not remote:
            return
        found = self.channel.get(remote)
        for name in remote:
            if name in found:
                self.namespace[name] = found[name]
                self.fetched.add(name)
            elif name in self.fetched or name in self.answers:
                self.namespace.pop(name, None)

    def run_cell(self, source: str, hidden_line: int | None) -> dict[str, object]:
        out = io.StringIO()
        value: object = None
        error: dict[str, object] | None = None
        try:
            tree = ast.parse(source, CELL_FILE)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body[-1].value)
                tree.body.pop()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                self._fetch(ast.Module([*tree.body, *([ast.Expr(last.body)] if last else [])], []))
                flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                value = self._run(compile(tree, CELL_FILE, "exec", flags=flags))
                if last is not None:
                    value = self._run(compile(last, CELL_FILE, "eval", flags=flags))
        except BaseException as exc:  # the test failed (or the grader's own code did)
            error = self._describe(exc, source, hidden_line)
        text = self.channel.scrub(out.getvalue(), *self._public(source, hidden_line))
        text = text[:MAX_OUTPUT]
        passed = error is None
        score = (
            float(value)
            if passed and isinstance(value, int | float) and not isinstance(value, bool)
            else None
        )
        try:
            data = wire.encode(value) if passed else None
        except wire.WireError:
            data = None
        return {"op": "done", "passed": passed, "score": score, "output": text,
                "error": error, "value": data}  # fmt: skip

    def _run(self, code: Any) -> object:
        """Run compiled cell code; a top-level ``await`` runs on the tester's one loop (kept for
        every cell, as a kernel keeps its loop)."""
        import inspect

        result = eval(code, self.namespace)
        if inspect.iscoroutine(result):
            import asyncio

            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        return result

    def _public(self, source: str, hidden_line: int | None) -> tuple[set[float], set[str]]:
        """The numbers and strings the release shows: literals of the cell's visible part and
        of the lesson's definitions (a returned value equal to one of them is not scrubbed)."""
        visible = source if hidden_line is None else "\n".join(source.splitlines()[:hidden_line])
        try:
            cell = ast.parse(visible)
        except SyntaxError:
            cell = ast.Module([], [])
        trees = [cell, *([self.definitions_tree] if self.definitions_tree else [])]
        return public_numbers(trees), public_strings(trees)

    def _describe(
        self, exc: BaseException, source: str, hidden_line: int | None
    ) -> dict[str, object]:
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == CELL_FILE:
                line = frame.lineno
        hidden = hidden_line is not None and line is not None and line >= hidden_line
        text = ""
        if line is not None and not hidden:
            lines = source.splitlines()
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        message = self.channel.scrub(str(exc), *self._public(source, hidden_line))[:500]
        return {"type": type(exc).__name__, "message": message, "hidden": hidden,
                "line": text}  # fmt: skip


def _not_dumpable() -> None:
    """No ptrace, no /proc/<pid>/mem for the student's processes (same uid, same PID
    namespace): PR_SET_DUMPABLE 0."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass


def main() -> int:
    _not_dumpable()
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # a subprocess a test starts never writes into the protocol
    frames = sys.stdin.buffer

    def transport(request: dict[str, object]) -> dict[str, object]:
        out.write(wire.dumps({"op": "request", "req": request}))
        line = frames.readline()
        if not line:
            raise SystemExit(0)
        frame = wire.loads(line)
        reply = frame.get("rep")
        return reply if isinstance(reply, dict) else {"error": {"type": "ProcessDied"}}

    from sessionlab.grading import student_objects

    tester = Tester(Channel(transport))
    student_objects.CHANNEL = tester.channel  # in_student()/read_back() of the test cells
    for line in frames:
        frame = wire.loads(line)
        if frame.get("op") == "setup":
            try:
                tester.setup(
                    str(frame.get("definitions", "")),
                    [str(n) for n in frame.get("answers", [])],  # type: ignore[attr-defined]
                    str(frame.get("exchange", "")),
                    [str(c) for c in frame.get("submitted", [])],  # type: ignore[attr-defined]
                )
                out.write(wire.dumps({"op": "ready"}))
            except BaseException as error:
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                out.write(wire.dumps({"op": "ready", "error": detail[:2000]}))
        elif frame.get("op") == "cell":
            hidden = frame.get("hidden_line")
            result = tester.run_cell(
                str(frame.get("source", "")), hidden if isinstance(hidden, int) else None
            )
            out.write(wire.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
