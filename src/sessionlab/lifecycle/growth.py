"""Watch a permanent session's transcript grow: sizes over time, per turn, and a projection.

Permanent sessions never expire, so their file never stops growing, and (measured in lesson
06) every turn sends the model the whole history: input tokens grow with the file. The seed
says "monitor the file size periodically"; this is that monitor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionlab.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Sample:
    at: float
    bytes: int
    lines: int


@dataclass
class GrowthMonitor:
    """Samples of one transcript; ``warn_bytes`` is the size that deserves a warning."""

    path: Path
    warn_bytes: int = 50 * 1024 * 1024
    clock: Clock = SYSTEM_CLOCK
    samples: list[Sample] = field(default_factory=list)

    def sample(self) -> Sample:
        """Record the file's current size and line count (0 and 0 while it does not exist)."""
        try:
            data = Path(self.path).read_bytes()
        except FileNotFoundError:
            data = b""
        entry = Sample(self.clock.monotonic(), len(data), data.count(b"\n"))
        self.samples.append(entry)
        return entry

    def report(self, turns: int | None = None) -> dict[str, Any]:
        """Growth between the first and last sample; ``turns`` gives bytes per turn."""
        if not self.samples:
            return {"samples": 0}
        first, last = self.samples[0], self.samples[-1]
        grown = last.bytes - first.bytes
        seconds = last.at - first.at
        rate = grown / seconds if seconds > 0 else 0.0
        report: dict[str, Any] = {
            "samples": len(self.samples),
            "bytes": last.bytes,
            "lines": last.lines,
            "grown_bytes": grown,
            "bytes_per_second": rate,
            "over_warning": last.bytes >= self.warn_bytes,
        }
        if turns:
            report["bytes_per_turn"] = grown / turns
            remaining = max(0, self.warn_bytes - last.bytes)
            per_turn = grown / turns
            report["turns_until_warning"] = math.ceil(remaining / per_turn) if grown > 0 else None
        return report
