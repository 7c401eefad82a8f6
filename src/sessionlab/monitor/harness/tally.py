"""Count what ended up in the fixed file: lost, duplicated and malformed lines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Tally:
    """The invariant "every line written is in the fixed file exactly once", broken down."""

    written: int
    lines: int = 0
    malformed: int = 0
    unterminated: int = 0
    wrong_session: int = 0
    lost: int = 0
    duplicated: int = 0
    lost_examples: list[str] = field(default_factory=list)

    @property
    def lost_pct(self) -> float:
        return round(100.0 * self.lost / self.written, 2) if self.written else 0.0

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.malformed == 0

    def numbers(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "lost": self.lost,
            "lost_pct": self.lost_pct,
            "duplicated": self.duplicated,
            "malformed": self.malformed,
            "wrong_session_id": self.wrong_session,
            "fixed_lines": self.lines,
        }

    def summary(self) -> str:
        return (
            f"{self.lost}/{self.written} lost ({self.lost_pct} %), {self.duplicated} duplicated, "
            f"{self.malformed} malformed"
        )


def read_fixed(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    """Parsed entries, the number of unparseable lines, and whether the tail is unterminated."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, 0
    raw = data.split(b"\n")
    tail = raw.pop()
    unterminated = 1 if tail.strip() else 0
    if unterminated:
        raw.append(tail)
    entries: list[dict[str, Any]] = []
    malformed = 0
    for line in raw:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            malformed += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            malformed += 1
    return entries, malformed, unterminated


def tally_fixed(path: Path, expected: Iterable[str], session_id: str) -> Tally:
    """Compare the fixed file with the uuids that were written (``expected``)."""
    expected = list(expected)
    entries, malformed, unterminated = read_fixed(path)
    counts = Counter(e["uuid"] for e in entries if isinstance(e.get("uuid"), str))
    lost = [u for u in expected if counts[u] == 0]
    tally = Tally(written=len(expected))
    tally.lines = len(entries) + malformed
    tally.malformed = malformed
    tally.unterminated = unterminated
    tally.wrong_session = sum(
        1 for e in entries if "sessionId" in e and e["sessionId"] != session_id
    )
    tally.lost = len(lost)
    tally.lost_examples = lost[:3]
    tally.duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return tally
