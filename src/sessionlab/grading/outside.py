"""nbgrader's Execute step with every test cell run outside the student's kernel.

:class:`ExecuteOutside` replaces nbgrader's ``Execute`` in ``Autograde``'s preprocessors. For a
lesson listed in :attr:`ExecuteOutside.lessons` it runs the notebook in order as nbgrader
would, except that a **test cell** (visible part and hidden part) never reaches the kernel: it
runs in a grader process (:mod:`sessionlab.grading.tester`) that calls the student's
definitions through the kernel over a data-only channel, at the point where the cell stands.
The cell's outputs are the grader's decision (its messages, then an ``error`` output or the
partial-credit ``execute_result``), so nbgrader's ``SaveAutoGrades``, the gradebook, the
formgrader and feedback work unchanged. The student's process never holds test source, and
nothing it prints, hooks, patches or returns can make a test pass.

Lessons not (yet) listed run the classic way, test cells in the kernel.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, List, Unicode

from sessionlab.grading.jail import JailLimits
from sessionlab.grading.notebook import (
    BEGIN_HIDDEN,
    is_test_cell,
    nbgrader_meta,
    prune_imports,
    python_source,
    source_names,
    top_level_names,
    without_imports,
)
from sessionlab.grading.relay import (
    EXCHANGE_MB,
    REPLY_KEYS,
    CellResult,
    GraderProcess,
    fresh_exchange,
    release_exchange,
)

# Lessons whose tests are graded from outside the kernel (verified by the round trip).
OUTSIDE_LESSONS = (
    "01-fragmentation",
    "02-failed-fixes",
    "03-monitor",
    "04-validation",
    "05-session-manager",
    "06-permanent-sessions",
    "07-isolated-sessions",
    "08-multisession-bot",
    "09-capstone",
    "10-agent-sdk",
)
SERVE = "__import__('sessionlab.grading.student_side').grading.student_side"
_QUOTED_BASE64 = re.compile(r"'([A-Za-z0-9+/]*={0,2})'")


def hidden_line(source: str) -> int | None:
    """1-based number of the first hidden line of a test cell (the marker's), or None."""
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == BEGIN_HIDDEN:
            return number
    return None


@dataclass
class OutsidePlan:
    """What the grader process needs from the lesson's source notebook."""

    definitions: str  # the instructor's definitions (set-up helpers, imports, constants)
    answers: list[str]  # names the student's answer cells define


def _definition_nodes(source: str) -> Iterator[ast.stmt]:
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return
    from sessionlab.grading.notebook import is_definition

    yield from (node for node in tree.body if is_definition(node))


_MUTATORS = frozenset({"append", "extend", "insert", "update", "add", "setdefault", "pop",
                       "popitem", "remove", "discard", "clear", "sort", "reverse"})  # fmt: skip


def kernel_state(source: str) -> set[str]:
    """Names that the notebook's own run (its statements that are not definitions) rebinds or
    changes in place: ``reports = {}`` filled by a loop is the kernel's value, not the literal."""
    names: set[str] = set()
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return names
    from sessionlab.grading.notebook import is_definition

    for node in tree.body:
        if is_definition(node):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif (
                isinstance(sub, ast.Subscript | ast.Attribute)
                and isinstance(sub.ctx, ast.Store | ast.Del)
                and isinstance(sub.value, ast.Name)
            ):
                names.add(sub.value.id)
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in _MUTATORS
                and isinstance(sub.func.value, ast.Name)
            ):
                names.add(sub.func.value.id)
    return names


def outside_plan(source_nb: NotebookNode) -> OutsidePlan:
    """The instructor's definitions (never the student's copy of them) and the answer names.
    A constant the notebook's run changes (:func:`kernel_state`) is left out: the test reads
    the kernel's value."""
    answers: set[str] = set()
    defined: set[str] = set()  # what the answer cells define at top level
    test_reads: set[str] = set()
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            answers |= source_names(cell.source)[0]
            defined |= top_level_names(cell.source)
        elif meta.get("grade"):
            test_reads |= source_names(cell.source)[1]
    kept: list[str] = []
    plain = [
        cell
        for cell in source_nb.cells
        if cell.cell_type == "code"
        and not nbgrader_meta(cell).get("solution")
        and not nbgrader_meta(cell).get("grade")
    ]
    changed = set().union(*(kernel_state(cell.source) for cell in plain))
    for cell in plain:
        for node in _definition_nodes(cell.source):
            bound = source_names(ast.unparse(node))[0]
            literal = isinstance(node, ast.Assign | ast.AnnAssign)
            if literal and bound & changed:
                continue
            # A helper a test reads is the instructor's, even when one of its locals shares a
            # name with something in an answer cell: taken from the kernel, the student's
            # code could replace it (a ``transcripts_of`` that reports what it likes).
            names = top_level_names(ast.unparse(node))
            helper = bool(names & test_reads) and not names & defined
            if isinstance(node, ast.Import | ast.ImportFrom) or not bound & answers or helper:
                kept.append(ast.unparse(node))
    code = "\n\n".join(kept)
    if code:
        code = prune_imports(code, source_names(without_imports(code))[1] | test_reads)
    return OutsidePlan(code + "\n", sorted(answers))


class ExecuteOutside(Execute):
    """nbgrader's ``Execute``, with test cells graded by a separate grader process."""

    lessons = List(list(OUTSIDE_LESSONS), help="assignments graded from outside").tag(config=True)
    tester_limits = Unicode("", help="jail JailLimits (JSON) for the grader process").tag(
        config=True
    )
    exchange_dir = Unicode("", help="folder the tester and the kernel share").tag(config=True)
    exchange_uid = Integer(-1, help="owner of the exchange folder (the jail uid)").tag(config=True)
    exchange_mb = Integer(0, help="size of the exchange's tmpfs in MiB (0: a plain folder)").tag(
        config=True
    )
    course_links = Unicode("", help="links to make in <exchange>/.course (JSON)").tag(config=True)

    _tester: GraderProcess | None = None
    _outside: dict[str, Any] | None = None

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, Any]:
        assignment = (resources or {}).get("nbgrader", {}).get("assignment")
        outside = assignment in self.lessons
        own = not self.exchange_dir
        if own and not outside:  # plain nbgrader, classic lesson: nothing to share
            self._outside = None
            return super().preprocess(nb, resources, km)
        exchange = Path(self.exchange_dir or tempfile.mkdtemp(prefix="sessionlab-exchange-"))
        uid = self.exchange_uid if self.exchange_uid >= 0 else None
        # Every lesson's kernel keeps its course folder there under ``sessionlab grade``.
        self._fill_exchange(exchange, uid)
        self._outside = None
        if outside:
            plan = outside_plan(self._source_notebook(resources))
            cells = [c.source for c in nb.cells if c.cell_type == "code" and not is_test_cell(c)]
            self._outside = {"plan": plan, "exchange": exchange, "submitted": cells}
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._tester is not None:
                self._tester.close()
            self._tester = None
            self._outside = None
            if own:
                release_exchange(exchange)
            else:
                self._fill_exchange(exchange, uid)

    def _fill_exchange(self, exchange: Path, uid: int | None) -> None:
        """A fresh exchange folder, with the kernel's course folder and its links (the CLIs)."""
        fresh_exchange(exchange, uid, self.exchange_mb)
        links = json.loads(self.course_links) if self.course_links else {}
        if links:
            course = exchange / ".course"
            course.mkdir()
            for name, target in links.items():
                (course / name).symlink_to(target)
            if uid is not None and os.geteuid() == 0:
                os.chown(course, uid, uid)

    def _start_tester(self) -> GraderProcess:
        """The grader process, started once the kernel runs: as the kernel's uid, in a jail of
        its own but in the kernel's PID namespace (the lesson's writer processes must be
        visible to the student's ``open_for_writing``; the tester itself is not dumpable)."""
        assert self._outside is not None
        limits = JailLimits.from_json(self.tester_limits) if self.tester_limits else None
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if limits is not None and limits.isolate and isinstance(pid, int):
            limits.join_pid_ns = f"/proc/{pid}/ns/pid_for_children"
        plan: OutsidePlan = self._outside["plan"]
        return GraderProcess(
            limits, plan.definitions, plan.answers, self._outside["exchange"], self._call,
            submitted=self._outside["submitted"],
        )  # fmt: skip

    def _source_notebook(self, resources: dict[str, Any]) -> NotebookNode:
        from nbgrader.coursedir import CourseDirectory

        info = resources["nbgrader"]
        owner: Any = self.parent  # the exporter; its parent, nbgrader's converter, knows the course
        while owner is not None and not hasattr(owner, "coursedir"):
            owner = getattr(owner, "parent", None)
        coursedir = owner.coursedir if owner is not None else CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        return nbformat.read(folder / f"{info['notebook']}.ipynb", as_version=4)

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, index: int
    ) -> tuple[NotebookNode, Any]:
        if self._outside is not None and not self._outside.get("primed"):
            # Load the student side before any student code runs: its builtins are the real
            # ones (a later ``builtins.float = ...`` patch does not break the channel).
            self._outside["primed"] = True
            self._call({"op": "get", "names": []}, 60.0)
        if self._outside is None or not is_test_cell(cell):
            return super().preprocess_cell(cell, resources, index)
        if self._tester is None:
            self._tester = self._start_tester()
        timeout = float(self.timeout or 120)
        result = self._tester.run_cell(cell.source, hidden_line(cell.source), timeout)
        cell.outputs = decision_outputs(result, float(nbgrader_meta(cell).get("points", 0)))
        cell.execution_count = None
        return cell, self.resources

    # -- the student's side, through the kernel ---------------------------------------------
    def _call(self, request: dict[str, object], timeout: float) -> dict[str, object]:
        return run_sync(self._async_call)(request, timeout)

    async def _async_call(self, request: dict[str, object], timeout: float) -> dict[str, object]:
        from sessionlab.grading import plain_data as wire

        nonce = secrets.token_hex(8)  # a stale or replayed reply is not this call's answer
        frame = wire.dumps({**request, "id": nonce}).decode().strip()
        # An ``await`` runs as a top-level await: IPython runs it on the kernel's own loop.
        serve = f"await {SERVE}.serve_async" if request.get("op") == "await" else f"{SERVE}.serve"
        msg_id = self.kc.execute(
            f"{serve}({frame!r})",
            silent=True,
            store_history=False,
            user_expressions={"r": f"{SERVE}.LAST"},
            allow_stdin=False,
        )
        reply = await self._reply(msg_id, time.monotonic() + timeout)
        if reply is None:  # interrupt the call; its reply (KeyboardInterrupt) is dropped
            await ensure_async(self.km.interrupt_kernel())
            await self._reply(msg_id, time.monotonic() + 5)
            return {"error": {"type": "GraderTimeout"}}
        content = reply.get("content", {})
        if content.get("status") == "dead":
            return {"error": {"type": "ProcessDied"}}
        if content.get("status") != "ok":
            return {"error": {"type": "BrokenChannel"}}
        try:
            text = content["user_expressions"]["r"]["data"]["text/plain"]
            if not isinstance(text, str) or len(text) > wire.MAX_FRAME * 4 // 3 + 8:
                raise ValueError("no answer, or too big")
            match = _QUOTED_BASE64.fullmatch(text)
            if match is None:
                raise ValueError("not the student side's answer")
            answer = wire.loads(base64.b64decode(match.group(1), validate=True))
            if answer.get("id") != nonce:
                raise ValueError("not this call's reply")
        except (KeyError, TypeError, ValueError):
            return {"error": {"type": "BrokenChannel"}}
        return {k: v for k, v in answer.items() if k in REPLY_KEYS}

    async def _reply(self, msg_id: str, deadline: float) -> dict[str, Any] | None:
        import queue

        while time.monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=0.5))
            except queue.Empty:
                if not await ensure_async(self.km.is_alive()):
                    return {"content": {"status": "dead"}}
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg
        return None


def decision_outputs(result: CellResult, points: float) -> list[NotebookNode]:
    """The test cell's outputs: the grader's messages and its verdict (what nbgrader scores)."""
    outputs = []
    text = result.output
    if result.passed:
        verdict = "grader: passed"
        if result.score is not None:
            verdict += f" ({max(0.0, min(points, result.score)):g} of {points:g} points)"
    else:
        error = result.error
        where = "in the hidden tests" if error.get("hidden") else "in the visible tests"
        verdict = f"grader: failed {where}"
    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text + verdict + "\n"))
    if not result.passed:
        error = result.error
        kind = str(error.get("type", "Error"))
        message = str(error.get("message", ""))
        lines = [f"{kind}: {message}" if message else kind]
        if error.get("line"):
            lines.append(f"at: {error['line']}")
        outputs.append(nbformat.v4.new_output("error", ename=kind, evalue=message, traceback=lines))
    elif result.score is not None:
        score = max(0.0, min(points, result.score))
        outputs.append(
            nbformat.v4.new_output(
                "execute_result", data={"text/plain": repr(score)}, execution_count=None
            )
        )
    return outputs


def describe(result: CellResult) -> str:
    """One line for logs and tests."""
    return json.dumps({"passed": result.passed, "score": result.score, "error": result.error})


def configure(config: Any, limits: JailLimits, exchange: Path) -> None:
    """Set up a grading workspace: the kernel (whose kernel spec is written from ``limits``
    afterwards) and the grader process share ``exchange``, and the grader process is jailed
    with the kernel's limits, as the uid the workspace claimed for both
    (``limits.claimed_uid``, -1 without isolation; see :func:`sessionlab.grading.jail.uid_held`)."""
    limits.shared = [*limits.shared, str(exchange)]
    # The kernel's course folder (lesson sandboxes: transcripts real chats wrote) lives in the
    # exchange folder too, so that a test reads them at the same paths (lesson 2).
    course = exchange / ".course"
    limits.env = {**limits.env, "SESSIONLAB_HOME": str(course)}
    config.ExecuteOutside.course_links = json.dumps(
        {name.removeprefix(".course/"): target for name, target in limits.links.items()
         if name.startswith(".course/")}
    )  # fmt: skip
    config.ExecuteOutside.tester_limits = limits.to_json()
    config.ExecuteOutside.exchange_dir = str(exchange)
    config.ExecuteOutside.exchange_uid = limits.claimed_uid if limits.isolate else -1
    # A bounded tmpfs, mounted afresh for every submission (only the jail's root can mount).
    config.ExecuteOutside.exchange_mb = EXCHANGE_MB if limits.isolate else 0
