"""The one step of grading a submission that runs student code: "autograde this notebook".

A :class:`~sessionlab.grading.workspace.GraderWorkspace` has put the student's notebook at
``<root>/submitted/<student>/<assignment>/<notebook>`` and configured nbgrader (the jailed
kernel spec, the gradebook at ``workspace.db_url``). An :data:`Autograder` then must leave

* the student's per-cell grades in that gradebook (as nbgrader's ``SaveAutoGrades`` does), and
* the graded notebook at ``<root>/autograded/<student>/<assignment>/<notebook>``,

and say whether it succeeded. Everything before (collection, preparation) and after (reading
the grades, the latency plot, feedback, the coordinator's gradebook and reports) is the same
whatever runs this step, so a different way of executing test cells replaces only
:func:`nbgrader_autograde`. Today's lessons keep nbgrader's autograde: the course config swaps
its ``Execute`` for :class:`~sessionlab.grading.outside.ExecuteOutside`, which runs each test
cell in a grader process that calls the jailed kernel over a data-only channel (the workspace
configures it: :func:`sessionlab.grading.outside.configure`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sessionlab.grading.workspace import GraderWorkspace


@dataclass(frozen=True)
class AutogradeOutcome:
    ok: bool
    reason: str = ""  # why not, in one line a student can read


Autograder = Callable[["GraderWorkspace", str], AutogradeOutcome]


def nbgrader_autograde(workspace: GraderWorkspace, student_id: str) -> AutogradeOutcome:
    """nbgrader's own autograde, in this process, each kernel in the jail."""
    result = workspace.api.autograde(workspace.assignment, student_id, force=True, create=True)
    if result.get("success"):
        return AutogradeOutcome(True)
    return AutogradeOutcome(False, failure_reason(result, workspace.limits.submission_timeout))


def failure_reason(result: dict[str, Any], wall_s: float) -> str:
    log = (result.get("log") or "") + (result.get("error") or "")
    if "Kernel died" in log or "DeadKernelError" in log:
        return f"the kernel died (crash, memory or the {wall_s:g} s submission limit)"
    lines = [line for line in log.splitlines() if line.strip()]
    return "nbgrader: " + (lines[-1][:200] if lines else "autograde failed")
