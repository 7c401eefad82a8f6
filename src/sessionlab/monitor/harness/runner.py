"""``run_harness``: run the checks against one monitor, each in a fresh temporary directory."""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.checks import CHECKS
from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.factory import Factory, as_factory
from sessionlab.monitor.harness.monitor_handle import MonitorFailure
from sessionlab.monitor.harness.results import CheckResult, HarnessReport
from sessionlab.monitor.harness.settings import HarnessConfig


def select_checks(checks: Iterable[str] | None) -> list[str]:
    """Check names in run order; accepts exact names and globs like ``"preservation_*"``."""
    if checks is None:
        return list(CHECKS)
    patterns = [checks] if isinstance(checks, str) else list(checks)
    chosen = [n for n in CHECKS if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in CHECKS)]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(CHECKS)}")
    return chosen


def run_check(
    name: str, factory: Factory, config: HarnessConfig, root: Path, quick: bool
) -> CheckResult:
    """Run one check under its time limit; every way it can go wrong becomes a failed result."""
    started = time.monotonic()
    ctx = CheckContext(
        name=name,
        root=root,
        factory=factory,
        config=config,
        quick=quick,
        deadline=started + config.check_time_limit_s,
    )
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = CHECKS[name](ctx)
        except MonitorFailure as failure:
            box["result"] = CheckResult(name, False, {}, str(failure))
        except BaseException as error:
            tb = traceback.format_exception_only(type(error), error)[-1].strip()
            box["result"] = CheckResult(name, False, {}, f"check aborted: {tb}")
        finally:
            ctx.kill_writers()

    thread = threading.Thread(target=target, name=f"harness-check-{name}", daemon=True)
    thread.start()
    thread.join(config.check_time_limit_s + config.stop_timeout_s + 5)
    if thread.is_alive():
        ctx.kill_writers()
        result = CheckResult(
            name, False, {}, f"check exceeded its {config.check_time_limit_s:g} s time limit"
        )
    else:
        result = box["result"]
    # A monitor that stopped badly has already failed the check; report it even if the
    # check's own numbers looked fine.
    result.seconds = time.monotonic() - started
    return result


def run_harness(
    monitor_factory: Callable[[Path, str], Any] | str | Any,
    *,
    checks: Iterable[str] | None = None,
    workdir: Path | str | None = None,
    quick: bool = False,
    config: HarnessConfig | None = None,
    progress: Callable[[CheckResult], None] | None = None,
) -> HarnessReport:
    """Run the named checks (default: all) against ``monitor_factory``; never hangs.

    ``monitor_factory(project_dir, session_id)`` returns an unstarted monitor; a class with
    that signature works. ``kill_restart`` needs to rebuild it in a child process: see
    :mod:`sessionlab.monitor.harness.factory` (``"pkg.mod:Name"``, ``FactorySpec(source=...)``).
    ``workdir`` keeps each check's directory for inspection; by default they are deleted.
    """
    factory = as_factory(monitor_factory)
    config = config or HarnessConfig.for_mode(quick)
    names = select_checks(checks)
    report = HarnessReport(monitor=factory.label, quick=quick)
    started = time.monotonic()
    base = (
        Path(workdir)
        if workdir is not None
        else Path(tempfile.mkdtemp(prefix="sessionlab-harness-"))
    )
    base.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
            result = run_check(name, factory, config, root, quick)
            report.checks.append(result)
            if progress is not None:
                progress(result)
    finally:
        report.seconds = time.monotonic() - started
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    return report
