"""Session lifecycle: limits, timeouts, orphans, a connection pool, metrics and maintenance.

The reference for lessons 05 and 06, built from the seed systems "optimized session
management" and "permanent sessions", with their claims measured (docs/session-lifecycle.md).

* :mod:`~.config`: settings from ``SM_*``/``CP_*``/``OPT_*`` variables, validated;
  :func:`~.config.permanent_config` is the permanent profile;
* :mod:`~.registry`: the registry (limit, activity, timeout, orphans, health, forced cleanup);
* :mod:`~.connection` and :mod:`~.pool`: live ``ClaudeSDKClient`` connections, one
  conversation each;
* :mod:`~.metrics`: per-session messages, tokens, cost (``total_cost_usd`` is cumulative per
  CLI process) and errors;
* :mod:`~.handler`: all of it behind ``create_session`` / ``send`` / ``destroy_session``;
* :mod:`~.growth` and :mod:`~.backup`: what permanent sessions need instead of expiry.

Time comes from a :class:`sessionlab.clock.Clock` (monotonic readings), so nothing here needs
a test to sleep.
"""

from __future__ import annotations

import logging

from sessionlab.lifecycle.backup import BackupReport, backup_transcripts
from sessionlab.lifecycle.config import (
    PoolSettings,
    RegistrySettings,
    SystemConfig,
    TimeoutSettings,
    permanent_config,
)
from sessionlab.lifecycle.connection import PoolConnectionError, PooledConnection
from sessionlab.lifecycle.growth import GrowthMonitor
from sessionlab.lifecycle.handler import MaintenanceReport, SessionHandler, TurnReply
from sessionlab.lifecycle.metrics import CostTracker, MetricsBook, SessionMetrics, usage_tokens
from sessionlab.lifecycle.orphans import Orphans, find_orphans
from sessionlab.lifecycle.pool import ConnectionPool, PoolEvent
from sessionlab.lifecycle.registry import SessionRegistry

# A library logs; the application decides where it goes (no "No handler" warnings on stderr).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BackupReport",
    "ConnectionPool",
    "CostTracker",
    "GrowthMonitor",
    "MaintenanceReport",
    "MetricsBook",
    "Orphans",
    "PoolConnectionError",
    "PoolEvent",
    "PoolSettings",
    "PooledConnection",
    "RegistrySettings",
    "SessionHandler",
    "SessionMetrics",
    "SessionRegistry",
    "SystemConfig",
    "TimeoutSettings",
    "TurnReply",
    "backup_transcripts",
    "find_orphans",
    "permanent_config",
    "usage_tokens",
]
