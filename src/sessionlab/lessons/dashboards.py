"""Read back what an HTML status dashboard shows: its numbers and its bars, as data.

Why: a dashboard is checked on the data it renders, not on its pixels. The capstone asks for
each number in an element carrying a ``data-metric`` attribute and one SVG ``<rect
data-turn="N">`` per answered turn, its ``height`` proportional to that turn's latency. This
module parses the page with the standard library's HTML parser (what a browser sees as text,
entities decoded) so a student can check their own page, and a test can compare it with the
live system's numbers.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class DashboardData:
    """What a page shows: ``metrics`` (name -> visible text) and ``bars`` (turn -> height)."""

    metrics: dict[str, str] = field(default_factory=dict)
    bars: dict[int, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)  # every element, in order (``script`` found)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data = DashboardData()
        self._open: list[tuple[str, str | None]] = []  # (tag, metric it belongs to)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.data.tags.append(tag)
        metric = found.get("data-metric")
        if metric is not None:
            self.data.metrics.setdefault(metric, "")
        if tag == "rect" and found.get("data-turn") is not None:
            with contextlib.suppress(ValueError):  # an unreadable bar is a missing bar
                self.data.bars[int(str(found["data-turn"]))] = float(str(found.get("height")))
        if tag not in {"rect", "br", "img", "meta", "input", "hr", "line", "circle", "path"}:
            self._open.append((tag, metric))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        metric = next((m for _, m in reversed(self._open) if m is not None), None)
        if metric is not None:
            self.data.metrics[metric] += data


def read_dashboard(page: str) -> DashboardData:
    """The numbers (stripped text per ``data-metric``) and bar heights a page shows."""
    reader = _Reader()
    reader.feed(page)
    reader.close()
    reader.data.metrics = {k: " ".join(v.split()) for k, v in reader.data.metrics.items()}
    return reader.data


def bars_match(heights: dict[int, float], latencies: list[float], tolerance: float = 0.02) -> bool:
    """One bar per turn (1..N), each height proportional to that turn's latency."""
    if sorted(heights) != list(range(1, len(latencies) + 1)):
        return False
    if not latencies:
        return True
    top_height, top_latency = max(heights.values()), max(latencies)
    if top_height <= 0 or top_latency <= 0:
        return False
    return all(
        abs(heights[turn] / top_height - seconds / top_latency) <= tolerance
        for turn, seconds in enumerate(latencies, 1)
    )
