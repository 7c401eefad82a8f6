"""What an instructor and a student get to read: CSV, summary table, plots, HTML reports."""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionlab.grading.monitor_grader import MonitorResult

KPI_MS = 200.0
CSV_COLUMNS = (
    "student_id", "name", "source", "lms_id", "file", "score", "max_score", "status",
    "detection_p95_ms", "notes", "sha256",
)  # fmt: skip


@dataclass
class StudentRow:
    """One line of the grades CSV and of the summary table."""

    student_id: str
    name: str = ""
    source: str = ""
    lms_id: str = ""
    file: str = ""
    score: float | None = None
    max_score: float = 0.0
    status: str = "graded"  # graded, error, timeout, killed
    detection_p95_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    sha256: str = ""
    cells: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    regraded: bool = True

    def to_csv(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in CSV_COLUMNS}
        row["notes"] = "; ".join(self.notes)
        row["score"] = "" if self.score is None else round(self.score, 3)
        p95 = self.detection_p95_ms
        row["detection_p95_ms"] = "" if p95 is None else round(p95, 1)
        return row


def write_csv(rows: Sequence[StudentRow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r.student_id):
            writer.writerow(row.to_csv())
    return path


def summary_table(rows: Sequence[StudentRow]) -> str:
    """Fixed-width table: one student per line, then the class's mean and median."""
    header = ("student", "score", "status", "p95 ms", "s", "notes")
    lines = []
    for r in sorted(rows, key=lambda r: r.student_id):
        score = "-" if r.score is None else f"{r.score:g}/{r.max_score:g}"
        p95 = "" if r.detection_p95_ms is None else f"{r.detection_p95_ms:.0f}"
        secs = f"{r.seconds:.1f}" if r.regraded else "cached"
        lines.append((r.student_id, score, r.status, p95, secs, "; ".join(r.notes)[:70]))
    widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(5)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=False)) + "  notes"]
    out.append("  ".join("-" * w for w in widths) + "  -----")
    out += [
        "  ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=False)) + "  " + x[5]
        for x in lines
    ]
    scores = [r.score for r in rows if r.score is not None]
    if scores:
        out.append(
            f"{len(rows)} students: mean {statistics.mean(scores):.2f}, "
            f"median {statistics.median(scores):g}, max {rows[0].max_score:g}"
        )
    return "\n".join(line.rstrip() for line in out)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _ecdf(ax: Any, values: list[float], label: str, **style: Any) -> None:
    xs = sorted(values)
    ys = [(i + 1) / len(xs) for i in range(len(xs))]
    ax.step(xs, ys, where="post", label=label, **style)


def latency_png(student: MonitorResult, reference: MonitorResult | None) -> bytes | None:
    """ECDF of the student's stray-detection latency against the reference's; None if no data."""
    key = "detection_latency/detection"
    mine = student.samples().get(key, [])
    if not mine:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    _ecdf(ax, mine, "your monitor", color="tab:blue", linewidth=2)
    if reference and reference.samples().get(key):
        _ecdf(ax, reference.samples()[key], "reference", color="tab:gray", linestyle="--")
    ax.axvline(KPI_MS, color="tab:red", linewidth=1, label=f"KPI: p95 ≤ {KPI_MS:g} ms")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("stray detection latency (ms)")
    ax.set_ylabel("fraction of strays noticed")
    ax.set_title("How fast your monitor notices a new session file")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def class_pngs(rows: Sequence[StudentRow], monitors: dict[str, MonitorResult]) -> list[bytes]:
    """Score histogram and the class's latency distribution (one ECDF per student)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    scores = [r.score for r in rows if r.score is not None]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    top = max((r.max_score for r in rows), default=1) or 1
    ax.hist(scores, bins=[x * top / 20 for x in range(21)], color="tab:blue", edgecolor="white")
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Score distribution ({len(scores)} submissions)")
    images.append(_png(fig))
    series = {s: m.samples().get("detection_latency/detection", []) for s, m in monitors.items()}
    series = {s: v for s, v in series.items() if v}
    if series:
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        for values in series.values():
            _ecdf(ax, values, "_", color="tab:blue", alpha=0.35, linewidth=1)
        ax.axvline(KPI_MS, color="tab:red", linewidth=1, label=f"KPI {KPI_MS:g} ms")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("stray detection latency (ms), one line per student")
        ax.set_ylabel("fraction noticed")
        ax.set_title(f"Class latency distribution ({len(series)} monitors)")
        ax.legend(loc="lower right", fontsize=8)
        images.append(_png(fig))
    return images


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'


def monitor_section(student: MonitorResult, reference: MonitorResult | None) -> str:
    """HTML block for a student's feedback: the latency plot and the measured numbers."""
    parts = [
        '<section id="sessionlab-monitor" style="margin:2em auto;max-width:900px">',
        "<h2>Your monitor, measured</h2>",
    ]
    if student.error:
        parts.append(
            f"<p>Your <code>StudentMonitor</code> could not be measured: "
            f"{html.escape(student.error)}</p>"
        )
    png = latency_png(student, reference)
    if png:
        parts.append(_img(png, "latency of your monitor against the reference"))
    rows = []
    for c in student.checks:
        numbers = ", ".join(f"{k}={v}" for k, v in c.get("numbers", {}).items())
        verdict = "PASS" if c["passed"] else "FAIL"
        rows.append(
            f"<tr><td>{html.escape(c['name'])}</td><td>{verdict}</td>"
            f"<td>{html.escape(numbers)}</td></tr>"
        )
    if rows:
        parts.append(
            "<table><tr><th>check</th><th>result</th><th>numbers</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def embed(feedback_html: str, block: str) -> str:
    """Insert ``block`` before ``</body>`` (or at the end)."""
    marker = feedback_html.rfind("</body>")
    if marker < 0:
        return feedback_html + block
    return feedback_html[:marker] + block + feedback_html[marker:]


def class_report(
    assignment: str,
    rows: Sequence[StudentRow],
    monitors: dict[str, MonitorResult],
    seconds_per_submission: float | None,
) -> str:
    """A self-contained HTML page: distributions, then the table."""
    images = "".join(_img(p, "class distribution") for p in class_pngs(rows, monitors))
    body = [
        f"<h1>{html.escape(assignment)}: class report</h1>",
        images,
        "<table>",
        "<tr>" + "".join(f"<th>{c}</th>" for c in CSV_COLUMNS[:9]) + "</tr>",
    ]
    for r in sorted(rows, key=lambda r: r.student_id):
        cells = r.to_csv()
        body.append(
            "<tr>"
            + "".join(f"<td>{html.escape(str(cells[c]))}</td>" for c in CSV_COLUMNS[:9])
            + "</tr>"
        )
    body.append("</table>")
    if seconds_per_submission is not None:
        body.append(f"<p>Grading took {seconds_per_submission:.1f} s per regraded submission.</p>")
    style = "body{font-family:sans-serif;margin:2em} td,th{padding:2px 8px;text-align:left}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}"
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
