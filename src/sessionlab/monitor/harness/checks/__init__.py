"""The harness's checks, by name, in the order they run."""

from __future__ import annotations

from collections.abc import Callable

from sessionlab.monitor.harness.checks import merged_conversation, preservation
from sessionlab.monitor.harness.checks.detection import check_detection_latency
from sessionlab.monitor.harness.checks.kill_restart import check_kill_restart
from sessionlab.monitor.harness.checks.merge_latency import check_merge_latency
from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.results import CheckResult

Check = Callable[[CheckContext], CheckResult]

CHECKS: dict[str, Check] = {
    "detection_latency": check_detection_latency,
    "merge_latency": check_merge_latency,
    **preservation.CHECKS,
    **merged_conversation.CHECKS,
    "kill_restart": check_kill_restart,
}

__all__ = ["CHECKS", "Check"]
