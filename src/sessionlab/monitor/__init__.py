"""Monitors that merge stray Claude Code transcripts into one fixed session file.

``NaivePollingMonitor`` is the lesson's baseline, kept with its flaws so the harness can show
them. ``SessionMonitor`` (the reference design) and ``MultiProjectMonitor`` (several project
directories, one observer) are imported lazily, so this package imports even while the engine
is being written or when only the baseline is wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionlab.monitor.naive import NaivePollingMonitor

if TYPE_CHECKING:  # pragma: no cover
    from sessionlab.monitor.engine import SessionMonitor
    from sessionlab.monitor.multi import MultiProjectMonitor

__all__ = ["MultiProjectMonitor", "NaivePollingMonitor", "SessionMonitor"]

_LAZY = {
    "SessionMonitor": "sessionlab.monitor.engine",
    "MultiProjectMonitor": "sessionlab.monitor.multi",
}


def __getattr__(name: str) -> Any:
    """PEP 562: resolve the engine's classes on first use, not at package import."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
