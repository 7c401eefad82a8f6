"""Draw transcripts as graphs: one lane per file, one dot per entry, arrows for ``parentUuid``.

Why a picture: a chain, a fork and a fragment are shapes. A table of eight-character uuids
asks the student to do the graph layout in their head; the picture shows at once that three
files are three separate chains (lesson 01), that a legacy fork repeats the original's
``uuid``s (lesson 02), or that ``fork_session`` branches off a conversation (lesson 10).

Reading the picture: each row is one file, entries in file order from left to right; blue is
a user entry, orange an assistant entry, grey anything else with a ``uuid``. A solid arrow
joins an entry to its parent in the same file; a dashed arrow to a parent in another file;
a hollow dot is a copy of an entry that appears (same ``uuid``) in a row above, joined to it
by a dotted line. A bar at the left marks a root (``parentUuid: null``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sessionlab.lessons.show import clip, short
from sessionlab.transcripts import message_text, read_entries

COLOURS = {"user": "tab:blue", "assistant": "tab:orange"}
OTHER = "tab:gray"


def _nodes(path: Path) -> list[dict[str, Any]]:
    parsed = read_entries(path, tolerant=True)  # a torn last line must not stop a picture
    entries: list[dict[str, Any]] = parsed[0] if isinstance(parsed, tuple) else parsed
    return [e for e in entries if isinstance(e.get("uuid"), str)]


def draw_chains(
    files: Sequence[str | os.PathLike[str]],
    *,
    title: str = "",
    labels: Sequence[str] | None = None,
    text_width: int = 14,
) -> Any:
    """One figure with a lane per transcript; returns the matplotlib ``Figure``.

    ``labels`` names the lanes (default: the first 8 characters of each file name).
    """
    import matplotlib.pyplot as plt

    paths = [Path(f) for f in files]
    lanes = [_nodes(p) for p in paths]
    width = max([len(lane) for lane in lanes] + [1])
    fig, ax = plt.subplots(figsize=(min(2.0 + 1.5 * width, 16), 0.9 + 0.95 * len(paths)))
    where: dict[str, tuple[float, float]] = {}  # first place each uuid was drawn
    for row, lane in enumerate(lanes):
        y = -row
        here = {e["uuid"]: (float(x), float(y)) for x, e in enumerate(lane)}
        for x, entry in enumerate(lane):
            uid, parent = entry["uuid"], entry.get("parentUuid")
            colour = COLOURS.get(str(entry.get("type")), OTHER)
            copied = uid in where
            ax.scatter(
                [x],
                [y],
                s=260,
                zorder=3,
                facecolors="white" if copied else colour,
                edgecolors=colour,
                linewidths=2,
            )
            words = clip(message_text(entry), text_width) or str(entry.get("type"))
            ax.annotate(
                f"{short(uid, 4)}\n{words}",
                (x, y),
                (0, -24),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=7,
            )
            if copied:
                ax.plot([where[uid][0], x], [where[uid][1], y], ":", color="grey", zorder=1)
            if parent is None:
                ax.plot([x - 0.3, x - 0.3], [y - 0.18, y + 0.18], color="black", linewidth=2)
            elif parent in here:
                px, py = here[parent]
                ax.annotate(
                    "",
                    (x - 0.1, y),
                    (px + 0.1, py),
                    arrowprops={"arrowstyle": "->", "color": "black"},
                )
            elif parent in where:
                px, py = where[parent]
                ax.annotate(
                    "",
                    (x, y + 0.12),
                    (px, py - 0.12),
                    arrowprops={"arrowstyle": "->", "color": "black", "linestyle": "--"},
                )
        for uid, spot in here.items():
            where.setdefault(uid, spot)
    names = list(labels) if labels is not None else [short(p.stem) for p in paths]
    ax.set_yticks([-row for row in range(len(paths))], names)
    ax.set_xticks([])
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-len(paths) + 0.35, 0.45)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "parentUuid chains, one row per file", fontsize=10)
    fig.tight_layout()
    return fig


def draw_harness(reports: dict[str, Any]) -> Any:
    """Lesson 03's harness as a chart: lines written, merged and lost per check, and the CDF.

    ``reports`` maps a label ("naive", "yours") to a ``HarnessReport``. Left: for every check
    that counts lines, bars of lines merged (written minus lost) and lost, per monitor. Right:
    the detection latency CDF of each monitor, with the lesson's 200 ms KPI dotted.
    """
    import matplotlib.pyplot as plt

    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(13, 4), width_ratios=[3, 2])
    names: list[str] = []
    for report in reports.values():
        names += [c.name for c in report.checks if "written" in c.numbers and c.name not in names]
    step = 0.8 / max(len(reports), 1)
    for index, (label, report) in enumerate(reports.items()):
        by_name = {c.name: c for c in report.checks}
        xs = [i + index * step for i in range(len(names))]
        # A check that crashed (an unfinished monitor) has no counts: it draws no bar.
        counts = [by_name[n].numbers if n in by_name else {} for n in names]
        written = [int(c.get("written", 0) or 0) for c in counts]
        lost = [int(c.get("lost", 0) or 0) for c in counts]
        merged = [w - gone for w, gone in zip(written, lost, strict=True)]
        bars.bar(xs, merged, step * 0.9, label=f"{label}: merged")
        bars.bar(xs, lost, step * 0.9, bottom=merged, hatch="//", alpha=0.5, label=f"{label}: lost")
        samples = report.latency_samples().get("detection_latency/detection", [])
        if samples:
            ordered = sorted(samples)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            cdf.step(ordered, ys, where="post", label=label)
    bars.set_xticks([i + step * (len(reports) - 1) / 2 for i in range(len(names))])
    bars.set_xticklabels([n.replace("_", "\n", 1) for n in names], fontsize=8)
    bars.set_ylabel("lines written by the writers")
    bars.set_title("where the lines went, per check (hatched: lost)", fontsize=10)
    bars.legend(fontsize="small")
    cdf.set_xscale("log")
    cdf.axvline(200, color="grey", linestyle=":", linewidth=1)
    cdf.set_xlabel("detection latency (ms, log scale; dotted: 200 ms KPI)")
    cdf.set_ylabel("fraction of strays detected")
    cdf.set_title("detection latency, empirical CDF", fontsize=10)
    if cdf.get_legend_handles_labels()[0]:
        cdf.legend(fontsize="small")
    fig.tight_layout()
    return fig
