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

Lesson 05's pool is drawn in lanes too (:func:`draw_pool_timeline`): a row per session, a bar
per connection over time, a marker per decision, so "a client never serves two sessions" and
"never more than two processes" are things a student sees.
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


# What each pool event looks like on the timeline: (marker, colour, legend text).
POOL_MARKS: dict[str, tuple[str, str, str]] = {
    "open": ("o", "tab:green", "opened (a CLI process starts)"),
    "warm": ("s", "tab:olive", "warm connection taken"),
    "reuse": ("o", "tab:blue", "reused (same process)"),
    "evict": ("X", "tab:red", "evicted: pool full, least recently used"),
    "retire": ("x", "tab:orange", "retired: worn out or session ended"),
    "dead": ("X", "black", "found dead: replaced"),
    "fail": ("v", "tab:purple", "failed to open"),
    "close": ("|", "tab:gray", "closed"),
}
WARM_LANE = "(warm, unbound)"


def _field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def draw_pool_timeline(events: Sequence[Any], *, title: str = "") -> Any:
    """Lesson 05's pool as a timeline; returns the matplotlib ``Figure``.

    ``events`` are :class:`sessionlab.lifecycle.PoolEvent`s (or dicts with the same fields:
    ``seconds``, ``kind``, ``connection``, ``session``). One row per session, in the order
    sessions first appear; each connection is a bar in the row of the session it served, from
    its opening to its close (to the right edge if still open), labelled with its id; each
    event is a marker. Two bars in one row are one conversation carried by two CLI processes
    one after the other (the second resumed the first); two rows never share a bar.
    """
    import matplotlib.pyplot as plt

    rows = sorted(events, key=lambda e: float(_field(e, "seconds") or 0.0))
    start = float(_field(rows[0], "seconds")) if rows else 0.0
    end = max([float(_field(e, "seconds")) - start for e in rows] + [1.0])
    served: dict[str, str] = {}  # connection -> the session it (last) served
    for event in rows:
        if _field(event, "session") is not None:
            served[str(_field(event, "connection"))] = str(_field(event, "session"))
    lanes: list[str] = []
    for event in rows:
        lane = served.get(str(_field(event, "connection")), WARM_LANE)
        if lane not in lanes:
            lanes.append(lane)
    y_of = {lane: -index for index, lane in enumerate(lanes)}
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.6 * max(len(lanes), 1)))
    spans: dict[str, list[float]] = {}
    for event in rows:
        conn, x = str(_field(event, "connection")), float(_field(event, "seconds")) - start
        spans.setdefault(conn, [x, end])
        if _field(event, "kind") in ("close", "fail"):
            spans[conn][1] = x
    for conn, (x0, x1) in spans.items():
        y = y_of[served.get(conn, WARM_LANE)]
        ax.hlines(y, x0, x1, colors="tab:blue", linewidth=9, alpha=0.18, zorder=1)
        ax.annotate(conn, (x0, y), (2, 7), textcoords="offset points", fontsize=7, color="dimgray")
    for kind, (marker, colour, label) in POOL_MARKS.items():
        mine = [e for e in rows if _field(e, "kind") == kind]
        if not mine:
            continue
        xs = [float(_field(e, "seconds")) - start for e in mine]
        ys = [y_of[served.get(str(_field(e, "connection")), WARM_LANE)] for e in mine]
        size = 110 if marker in ("X", "|") else 55
        ax.scatter(xs, ys, marker=marker, s=size, color=colour, label=label, zorder=3)
    ax.set_yticks(list(y_of.values()), list(y_of))
    ax.set_ylim(-len(lanes) + 0.4, 0.6)
    ax.set_xlim(-0.02 * end, end * 1.02)
    ax.set_xlabel("seconds since the pool's first event")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "the pool over time: one row per session, one bar per connection")
    if rows:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
