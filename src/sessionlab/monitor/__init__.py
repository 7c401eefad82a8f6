"""Monitors that merge stray Claude Code transcripts into one fixed session file.

``NaivePollingMonitor`` is the lesson's baseline, kept with its flaws so the harness can show
them. ``SessionMonitor`` (the reference design) is imported lazily, so this package imports
even while the engine is being written or when only the baseline is wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionlab.monitor.naive import NaivePollingMonitor

if TYPE_CHECKING:  # pragma: no cover
    from sessionlab.monitor.engine import SessionMonitor

__all__ = ["NaivePollingMonitor", "SessionMonitor"]


def __getattr__(name: str) -> Any:
    """PEP 562: resolve ``SessionMonitor`` on first use, not at package import."""
    if name == "SessionMonitor":
        from sessionlab.monitor.engine import SessionMonitor

        return SessionMonitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
