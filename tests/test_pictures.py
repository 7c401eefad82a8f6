"""The pictures: chains of lessons 01, 02 and 10 (real CLI 1.0.120 captures), lesson 03's
harness chart and lesson 05's pool timeline."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from sessionlab.lessons.pictures import draw_chains

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "cc-1.0.120"


def test_a_legacy_fork_is_drawn_with_its_copies_linked(tmp_path: Path) -> None:
    original, fork = sorted(SAMPLES.glob("[AB]-*.jsonl"))
    (tmp_path / "torn.jsonl").write_text(original.read_text() + '{"uuid": "half')
    fig = draw_chains([original, fork, tmp_path / "torn.jsonl"], labels=["a", "b", "torn"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "torn"]
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    # the fork repeats the original's 2 entries, and so does the torn copy
    assert len(dotted) == 4
    hollow = sum(
        1
        for points in ax.collections
        for face in points.get_facecolors()
        if tuple(face[:3]) == (1.0, 1.0, 1.0)
    )
    assert hollow == 4
    fig.savefig(tmp_path / "fork.png")
    assert (tmp_path / "fork.png").stat().st_size > 1000


def test_the_harness_chart_shows_merged_and_lost_lines_and_the_cdf() -> None:
    from sessionlab.lessons.pictures import draw_harness
    from sessionlab.monitor.harness.results import CheckResult, HarnessReport

    def report(name: str, lost: int, latency: list[float]) -> HarnessReport:
        checks = [
            CheckResult("detection_latency", True, {}, samples={"detection": latency}),
            CheckResult("preservation_persistent_fd", lost == 0, {"written": 100, "lost": lost}),
            CheckResult("chain_continuity", True, {"roots": 1}),  # counts no lines: no bar
        ]
        return HarnessReport(name, True, checks)

    fig = draw_harness({"naive": report("n", 90, [50.0, 99.0]), "yours": report("y", 0, [1.0])})
    bars, cdf = fig.axes
    heights = sorted(round(p.get_height()) for p in bars.patches)
    assert heights == [0, 10, 90, 100], "merged and lost, per monitor, for one check"
    assert len(cdf.get_lines()) == 3  # two CDFs and the KPI line
    # An unfinished monitor: its checks crashed and counted nothing; the chart still draws.
    crashed = HarnessReport("x", True, [CheckResult("preservation_persistent_fd", False, {})])
    fig = draw_harness({"naive": report("n", 90, [50.0]), "yours": crashed})
    assert sorted(round(p.get_height()) for p in fig.axes[0].patches) == [0, 0, 10, 90]


def test_the_pool_timeline_has_a_row_per_session_and_a_bar_per_connection() -> None:
    from sessionlab.lessons.pictures import POOL_MARKS, WARM_LANE, draw_pool_timeline
    from sessionlab.lifecycle import PoolEvent
    from sessionlab.lifecycle.pool import EVENT_KINDS

    assert set(POOL_MARKS) == set(EVENT_KINDS), "every kind of event has a marker"

    events = [
        PoolEvent(10.0, "open", "conn-1", "ana"),
        PoolEvent(11.0, "open", "conn-2", "bo"),
        PoolEvent(12.0, "reuse", "conn-1", "ana"),
        PoolEvent(13.0, "evict", "conn-2", "bo"),
        PoolEvent(13.5, "close", "conn-2", "bo"),
        PoolEvent(14.0, "open", "conn-3", None),  # warm, never bound
        PoolEvent(15.0, "open", "conn-4", "bo", "resumes its session"),
        PoolEvent(16.0, "dead", "conn-1", "ana"),
    ]
    fig = draw_pool_timeline(events, title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ana", "bo", WARM_LANE]
    bars = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    assert len(bars) == 4, "one bar per connection"
    spans = sorted(tuple(round(x, 1) for x in seg[:, 0]) for c in bars for seg in c.get_segments())
    assert (1.0, 3.5) in spans, "bo's first connection: opened at 1 s, closed at 3.5 s"
    assert (0.0, 6.0) in spans, "ana's connection is drawn to the end: never closed"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 5 and any("evicted" in label for label in labels)
    assert draw_pool_timeline([]).axes[0].get_legend() is None  # no events: an empty chart
