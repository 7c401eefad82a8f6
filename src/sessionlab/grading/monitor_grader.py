"""Grade a student's monitor class straight from the notebook, in a jailed child process.

The notebook is never run: :func:`monitor_source` keeps its definitions (imports, helper
functions, the answer classes) and drops every statement that would do something. A child
process, started through :mod:`sessionlab.grading.jail`, executes that source and serves
data-only calls; a second jailed process, the grader, runs the course harness
(:func:`sessionlab.monitor.harness.run_harness`) on the class through those calls and measures
the effects on the files. A class that crashes on import, hangs, eats memory, forks or prints
forged reports harms only its own result.
"""

from __future__ import annotations

import ast
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat

from sessionlab.grading import plain_data as wire
from sessionlab.grading.jail import JailLimits, uid_held
from sessionlab.grading.notebook import extract_definitions
from sessionlab.grading.relay import GraderProcess, StandaloneStudent, fresh_exchange

# What the lesson grades (03-monitor, section 3), in the harness's quick mode.
GRADED_CHECKS = (
    "detection_latency",
    "preservation_persistent_fd",
    "preservation_reopen",
    "preservation_torn",
    "chain_continuity",
    "dedup_resume_copy",
    "old_sessions_untouched",
)
# For the latency plot only: cheap (about 2 s) and 40 samples, enough for a distribution.
LATENCY_CHECKS = ("detection_latency",)


@dataclass
class MonitorResult:
    """The harness report of one monitor (``checks`` as ``CheckResult`` dicts) or the error."""

    label: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c["passed"] for c in self.checks)

    def check(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.checks if c["name"] == name), None)

    def samples(self) -> dict[str, list[float]]:
        """Latency samples (ms) per ``check/series``, for plots."""
        return {f"{c['name']}/{k}": v for c in self.checks for k, v in c.get("samples", {}).items()}

    def failures(self) -> list[str]:
        """One readable line per failed check, with the measured numbers."""
        if self.error:
            return [self.error]
        lines = []
        for c in self.checks:
            if not c["passed"]:
                numbers = ", ".join(f"{k}={v}" for k, v in c.get("numbers", {}).items())
                lines.append(f"{c['name']}: {c.get('detail') or 'failed'} [{numbers}]")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "checks": self.checks,
            "error": self.error,
            "seconds": round(self.seconds, 2),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorResult:
        return cls(
            data["label"], data.get("checks", []), data.get("error", ""), data.get("seconds", 0.0)
        )


def monitor_source(nb: nbformat.NotebookNode, class_name: str = "StudentMonitor") -> str | None:
    """The notebook's definitions as one module, or None when ``class_name`` is not defined."""
    source = extract_definitions(nb)
    return source if f"class {class_name}" in source else None


def unanswered_reason(source: str, class_name: str = "StudentMonitor") -> str | None:
    """Why measuring ``class_name`` is pointless, or None: its ``__init__`` or ``start`` still
    raises ``NotImplementedError`` unconditionally (the released stub), so the child would only
    fail to build it. Saves a jailed child (about 0.7 s) per unanswered notebook."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # the child reports the syntax error itself
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef)
                    and item.name in ("__init__", "start")
                    and any(_raises_not_implemented(stmt) for stmt in item.body)
                ):
                    return f"{class_name}.{item.name} still raises NotImplementedError"
    return None


def _raises_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    target = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


def run_monitor_checks(
    source: str,
    *,
    label: str,
    checks: tuple[str, ...] = GRADED_CHECKS,
    class_name: str = "StudentMonitor",
    limits: JailLimits | None = None,
    timeout_s: float = 180.0,
) -> MonitorResult:
    """Run the harness on ``class_name`` from ``source``; never raises.

    The class lives in a jailed child of its own (:mod:`sessionlab.grading.student_side`);
    the harness runs in a second jailed process, the grader (:mod:`sessionlab.grading.tester`),
    which builds, starts and stops the monitor through data-only calls and measures what it
    did to the files (lines merged, strays left, timings). Nothing the student's process
    prints or reports is read: a forged report line is just output nobody looks at.
    """
    limits = replace(limits or JailLimits())
    limits.wall_s = min(limits.wall_s or timeout_s, timeout_s) + 30
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if limits.claimed_uid < 0:  # the student's jail and the grader's run as one uid
            try:
                limits.claimed_uid = stack.enter_context(uid_held(limits))
            except OSError as error:  # every uid of the pool busy for wall_s
                return MonitorResult(label, error=str(error), seconds=time.monotonic() - started)
        uid = limits.claimed_uid if limits.claimed_uid >= 0 else None
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sessionlab-monitor-"))
        exchange = fresh_exchange(Path(tmp) / "exchange", uid)
        limits.shared = [*limits.shared, str(exchange)]
        try:
            student = StandaloneStudent(limits, source, start_timeout=60)
        except RuntimeError as error:
            message = f"loading {class_name} failed: {error}"
            return MonitorResult(label, error=message, seconds=time.monotonic() - started)
        grader = replace(limits)
        if grader.isolate:
            grader.join_pid_ns = f"/proc/{student.pid}/ns/pid_for_children"
        tester = GraderProcess(
            grader, "from sessionlab.monitor.harness import run_harness\n", [class_name],
            exchange, student,
        )  # fmt: skip
        try:
            cell = f"run_harness({class_name}, quick=True, checks={list(checks)!r}).to_dict()"
            result = tester.run_cell(cell, None, timeout_s)
        finally:
            tester.close()
            student.close()
    seconds = time.monotonic() - started
    if not result.passed:
        reason = f"{result.error.get('type')}: {result.error.get('message')}"
        return MonitorResult(label, error=f"the harness could not run: {reason}", seconds=seconds)
    try:
        report = wire.decode(result.value)
        found = report["checks"] if isinstance(report, dict) else None
        if not isinstance(found, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and type(c.get("passed")) is bool
            for c in found
        ):
            raise ValueError("no checks")
    except (wire.WireError, ValueError, KeyError, TypeError):
        return MonitorResult(label, error="the harness gave no report", seconds=seconds)
    return MonitorResult(label, [_plain(c) for c in found], seconds=seconds)


def _plain(check: dict[object, object]) -> dict[str, Any]:
    """A check from the grader's report as JSON-ready data (state.json keeps it)."""
    return json.loads(json.dumps({str(k): v for k, v in check.items()}, default=str))
