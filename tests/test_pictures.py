"""The chain pictures of lessons 01, 02 and 10, drawn from real CLI 1.0.120 captures."""

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
