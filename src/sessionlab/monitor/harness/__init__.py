"""A test harness for stray-transcript monitors: does it notice fast, and lose nothing?

>>> from sessionlab.monitor import NaivePollingMonitor
>>> from sessionlab.monitor.harness import run_harness
>>> report = run_harness(NaivePollingMonitor, quick=True)   # doctest: +SKIP
>>> print(report.table())                                  # doctest: +SKIP

Every monitor with the course interface works: ``Monitor(project_dir, session_id)``,
``start()``, ``stop()``, optionally ``get_stats()``. Everything is measured from outside, so
the monitor needs no instrumentation. Checks run in fresh temporary directories, writers are
separate processes, and every monitor call has a time limit.
"""

from __future__ import annotations

from sessionlab.monitor.harness.checks import CHECKS
from sessionlab.monitor.harness.factory import FactorySpec
from sessionlab.monitor.harness.results import CheckResult, HarnessReport, percentile
from sessionlab.monitor.harness.runner import run_harness
from sessionlab.monitor.harness.settings import HarnessConfig

__all__ = [
    "CHECKS",
    "CheckResult",
    "FactorySpec",
    "HarnessConfig",
    "HarnessReport",
    "percentile",
    "run_harness",
]
