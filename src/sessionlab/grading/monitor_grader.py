"""Grade a student's monitor class straight from the notebook, in a jailed child process.

The notebook is never run: :func:`monitor_source` keeps its definitions (imports, helper
functions, the answer classes) and drops every statement that would do something. A child
process, started through :mod:`sessionlab.grading.jail`, executes that source and runs the
course harness (:func:`sessionlab.monitor.harness.run_harness`) on the class; it prints the
harness report as JSON, which is all the parent trusts. A class that crashes on import, hangs,
eats memory or forks harms only its own result.

The child is :mod:`sessionlab.grading.monitor_grader_child`; it reads the source on stdin.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from sessionlab.grading.jail import JailLimits
from sessionlab.grading.monitor_grader_child import MARKER
from sessionlab.grading.notebook import extract_definitions

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
    """Run the harness on ``class_name`` from ``source`` in a jailed child; never raises."""
    limits = limits or JailLimits()
    limits.wall_s = min(limits.wall_s or timeout_s, timeout_s)
    command = [
        sys.executable, "-m", "sessionlab.grading.jail", "--config", limits.to_json(), "--",
        sys.executable, "-m", "sessionlab.grading.monitor_grader_child",
        "--class", class_name, "--checks", ",".join(checks),
    ]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, input=source, capture_output=True, text=True, timeout=timeout_s + 15
        )
    except subprocess.TimeoutExpired:
        return MonitorResult(label, error=f"no result within {timeout_s:g} s", seconds=timeout_s)
    seconds = time.monotonic() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            if data.get("error"):
                return MonitorResult(label, error=data["error"], seconds=seconds)
            return MonitorResult(label, data["checks"], seconds=seconds)
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
    reason = {137: "killed (time or memory limit)", -9: "killed"}.get(done.returncode, "")
    return MonitorResult(
        label, error=f"the monitor's process ended with status {done.returncode} "
        f"{reason}before reporting: {tail}", seconds=seconds,
    )  # fmt: skip


def load_result(path: Path) -> MonitorResult | None:
    try:
        return MonitorResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        return None
