"""The monitor's counters and latency samples (rule 11), shared by its parts under one lock.

The worker thread counts; ``get_stats()`` may be called from any thread, so every update and
the snapshot take the lock. The keys keep the naive monitor's meaning where they overlap.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

LATENCIES = ("detection_latencies_ms", "merge_latencies_ms", "removal_latencies_ms")


class MonitorStats:
    """Counters, the names seen and rejected, and bounded latency samples."""

    def __init__(self, latency_samples: int) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {
            "corrections": 0,
            "intercepted_files": [],
            "lines_merged": 0,
            "bytes_merged": 0,
            "duplicates_skipped": 0,
            "quarantined_lines": 0,
            "relinked_fragments": 0,
            "empty_removed": 0,
            "rejected_files": {},
            "lease_busy": 0,
            "lease_broken": 0,
            "write_errors": 0,
            "rescans": 0,
            "overflow_rescans": 0,
            **{key: deque(maxlen=latency_samples) for key in LATENCIES},
        }

    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._values[key] += amount

    def sample(self, key: str, seconds: float) -> None:
        with self._lock:
            self._values[key].append(seconds * 1000.0)

    def intercepted(self, name: str) -> None:
        with self._lock:
            self._values["intercepted_files"].append(name)

    def rejected(self, name: str, why: str) -> None:
        with self._lock:
            self._values["rejected_files"][name] = why

    def removed(self, *, empty: bool) -> None:
        with self._lock:
            self._values["corrections"] += 1
            self._values["empty_removed"] += int(empty)

    def merged(
        self, *, lines: int, size: int, duplicates: int, quarantined: int, relinked: int
    ) -> None:
        with self._lock:
            values = self._values
            values["lines_merged"] += lines
            values["bytes_merged"] += size
            values["duplicates_skipped"] += duplicates
            values["quarantined_lines"] += quarantined
            values["relinked_fragments"] += relinked

    def snapshot(self) -> dict[str, Any]:
        """A copy: counts, ``intercepted_files`` as a count (naive meaning) and the names."""
        with self._lock:
            stats = dict(self._values)
            names = list(stats["intercepted_files"])
            stats["rejected_files"] = dict(stats["rejected_files"])
            for key in LATENCIES:
                stats[key] = list(stats[key])
        stats["intercepted_files"] = len(names)
        stats["intercepted_names"] = names
        stats["unique_files"] = len(set(names))
        return stats
