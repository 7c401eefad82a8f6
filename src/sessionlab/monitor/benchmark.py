"""``sessionlab bench monitor``: the naive monitor against the reference, measured the same way.

What it measures (research: ``monitor-reliability.md`` §2-3, whose numbers are the baseline):

- detection latency, paced (10 ms apart) and in a burst, in an empty project directory and
  with 10,000 old session files present (the naive monitor runs with ``baseline=True`` there,
  or it would first swallow all 10,000 old sessions; that trap is measured separately);
- idle CPU of the monitor process over a few seconds, empty and with 10,000 files;
- merge throughput of one 200 MB stray, as a ratio to ``shutil.copyfileobj`` of the same file,
  with the monitor's defaults (backups on) and, for the reference, without backups; the stray's
  2 KB lines are multi-byte text (the worst case); a second stray of mostly-ASCII lines like
  the real CLI's is merged too (``merge_realistic_stray``, defaults);
- peak RSS of the monitor process while it merges that stray (``ru_maxrss``).

Monitors run in-process for latency (as a notebook runs them) and in a spawned child process
for CPU and memory, so the numbers are the monitor's own, not the harness's.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.checks.detection import measure_detection
from sessionlab.monitor.harness.child import ChildMonitor
from sessionlab.monitor.harness.factory import Factory, FactorySpec
from sessionlab.monitor.harness.lines import make_line
from sessionlab.monitor.harness.monitor_handle import MonitorHandle
from sessionlab.monitor.harness.results import latency_numbers

NAIVE = "sessionlab.monitor.naive:NaivePollingMonitor"
REFERENCE = "sessionlab.monitor.engine:SessionMonitor"
MB = 1_000_000


@dataclass(frozen=True)
class BenchSizes:
    """How big each measurement is; ``quick`` is for smoke runs, not for the docs."""

    strays: int = 200
    pace_s: float = 0.01
    old_files: int = 10_000
    idle_s: float = 5.0
    stray_mb: int = 200
    line_bytes: int = 2_000

    @classmethod
    def for_mode(cls, quick: bool) -> BenchSizes:
        if quick:
            return cls(strays=50, old_files=2_000, idle_s=2.0, stray_mb=20)
        return cls()


@dataclass(frozen=True)
class Contender:
    """One monitor under benchmark: a spec, and the spec to use when old files are present."""

    name: str
    spec: FactorySpec
    spec_with_old_files: FactorySpec

    def factory(self, *, old_files: bool = False) -> Factory:
        spec = self.spec_with_old_files if old_files else self.spec
        return Factory(build=spec, spec=spec, label=self.name)


def contenders() -> tuple[list[Contender], str | None]:
    """Naive always; the reference if it imports. Returns a note when it does not."""
    naive = FactorySpec(target=NAIVE)
    found = [Contender("naive", naive, FactorySpec(target=NAIVE, options={"baseline": True}))]
    try:
        FactorySpec(target=REFERENCE).resolve()
    except Exception as error:
        return found, f"reference monitor not available ({type(error).__name__}: {error})"
    reference = FactorySpec(target=REFERENCE)
    found.append(Contender("reference", reference, reference))
    return found, None


# -- fixtures ---------------------------------------------------------------------------------
def _project(root: Path, old_files: int) -> tuple[Path, str]:
    """A project dir with a fixed session file and ``old_files`` finished old sessions."""
    project = Path(tempfile.mkdtemp(prefix="proj-", dir=root)) / "-home-student-w"
    project.mkdir()
    session_id = str(uuid.uuid4())
    (project / f"{session_id}.jsonl").write_bytes(make_line("seed", 0, session_id))
    for i in range(old_files):
        sid = str(uuid.uuid4())
        data = make_line(f"old{i}", 0, sid) + make_line(f"old{i}", 1, sid)
        (project / f"{sid}.jsonl").write_bytes(data)
    return project, session_id


def _big_stray(path: Path, megabytes: int, line_bytes: int, *, plain: bool = False) -> int:
    """Write a transcript of about ``megabytes`` MB; return its line count.

    The default pads every line with multi-byte text, the parser's worst case; ``plain``
    pads with ASCII code (escaped newlines and quotes) and puts multi-byte text in one line
    of six, like the real CLI lines in ``tests/fixtures/samples``.
    """
    sid = str(uuid.uuid4())
    lines = 0
    with open(path, "wb") as f:
        while f.tell() < megabytes * MB:
            f.write(make_line("big", lines, sid, size=line_bytes, plain=plain))
            lines += 1
    return lines


# -- measurements -----------------------------------------------------------------------------
def bench_detection(contender: Contender, root: Path, sizes: BenchSizes, old: int) -> dict:
    """Paced and burst detection latency, in-process, with ``old`` old files present."""
    project, session_id = _project(root, old)
    handle = MonitorHandle(contender.factory(old_files=bool(old)).build, project, session_id)
    handle.start(timeout=30)
    time.sleep(1.0 if old else 0.3)  # let a start-up scan of the old files finish
    try:
        paced = measure_detection(
            project,
            project / f"{session_id}.jsonl",
            count=sizes.strays,
            pace_s=sizes.pace_s,
            timeout_s=3.0,
        )
        time.sleep(0.3)
        burst = measure_detection(
            project, project / f"{session_id}.jsonl", count=sizes.strays, pace_s=0, timeout_s=5.0
        )
    finally:
        handle.stop(timeout=30)
    return {
        "paced": {**latency_numbers(paced.latencies_ms), "missed": paced.missed},
        "burst": {**latency_numbers(burst.latencies_ms), "missed": burst.missed},
        "samples": {"paced": paced.latencies_ms, "burst": burst.latencies_ms},
    }


def bench_idle_cpu(contender: Contender, root: Path, sizes: BenchSizes, old: int) -> dict:
    """CPU seconds the monitor *process* uses while nothing happens."""
    project, session_id = _project(root, old)
    child = ChildMonitor(contender.factory(old_files=bool(old)), project, session_id)
    child.wait_ready(60)
    try:
        time.sleep(1.0)
        before = child.usage()["cpu_s"]
        time.sleep(sizes.idle_s)
        used = child.usage()["cpu_s"] - before
    finally:
        child.stop(30)
    return {
        "old_files": old,
        "seconds": sizes.idle_s,
        "cpu_ms_per_10s": round(used * 1000 * 10 / sizes.idle_s, 1),
        "cpu_pct_of_core": round(100 * used / sizes.idle_s, 2),
    }


def bench_copy(source: Path, root: Path) -> float:
    """Seconds ``shutil.copyfileobj`` takes for ``source`` (warm page cache)."""
    target = root / "copy.out"
    started = time.monotonic()
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    elapsed = time.monotonic() - started
    target.unlink()
    return elapsed


def bench_merge(
    contender: Contender, root: Path, source: Path, lines: int, timeout_s: float
) -> dict:
    """Time to merge one big stray, and the monitor process's peak RSS while doing it."""
    project, session_id = _project(root, 0)
    fixed = project / f"{session_id}.jsonl"
    start_size = fixed.stat().st_size
    staged = root / "stray.staged"
    shutil.copyfile(source, staged)
    os.sync()  # the fixture's own writeback must not be timed (it halved a run once)
    size = staged.stat().st_size
    child = ChildMonitor(contender.factory(), project, session_id)
    child.wait_ready(60)
    time.sleep(0.5)
    usage_before = child.usage()
    rss_before = usage_before["maxrss_kb"]
    started = time.monotonic()
    os.rename(staged, project / f"{uuid.uuid4()}.jsonl")  # appears complete, in one step
    last_size, last_growth = start_size, started
    while time.monotonic() - started < timeout_s:
        current = fixed.stat().st_size
        now = time.monotonic()
        if current != last_size:
            last_size, last_growth = current, now
        elif current - start_size >= 0.9 * size and now - last_growth > 2.0:
            break
        time.sleep(0.02)
    elapsed = last_growth - started
    report = child.stop(60)
    with open(fixed, "rb") as f:
        merged_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1
    cpu_s = report["cpu_s"] - usage_before["cpu_s"]  # the monitor process's own CPU time
    return {
        "stray_mb": round(size / MB, 1),
        "seconds": round(elapsed, 2),
        "mb_per_s": round(size / MB / elapsed, 1) if elapsed > 0 else None,
        "cpu_s": round(cpu_s, 2),  # steadier than wall time on a shared VM
        "mb_per_cpu_s": round(size / MB / cpu_s, 1) if cpu_s > 0 else None,
        "lines": lines,
        "lines_in_fixed": merged_lines,
        "peak_rss_mb": round(report["maxrss_kb"] / 1024, 1),
        "rss_before_mb": round(rss_before / 1024, 1),
    }


def bench_baseline_trap(root: Path, old: int) -> dict:
    """The faithful naive monitor in a directory of old sessions: how many it swallows."""
    project, session_id = _project(root, old)
    handle = MonitorHandle(FactorySpec(target=NAIVE), project, session_id)
    started = time.monotonic()
    handle.start(timeout=30)
    deadline = started + 30
    while time.monotonic() < deadline and len(os.listdir(project)) > 1:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    handle.stop(timeout=30)
    left = len(os.listdir(project)) - 1
    return {"old_files": old, "swallowed": old - left, "seconds": round(elapsed, 2)}


# -- orchestration ----------------------------------------------------------------------------
def run_bench(
    *, quick: bool = False, out: Path | str = "bench-results", say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every measurement for every available monitor; write JSON and PNG into ``out``."""
    sizes = BenchSizes.for_mode(quick)
    found, note = contenders()
    if note:
        say(f"note: {note}; running the naive monitor only")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": _machine(),
        "quick": quick,
        "sizes": sizes.__dict__,
        "note": note,
        "monitors": {},
    }
    with tempfile.TemporaryDirectory(prefix="sessionlab-bench-") as tmp:
        root = Path(tmp)
        source = root / "big.source"
        say(f"writing a {sizes.stray_mb} MB stray ...")
        lines = _big_stray(source, sizes.stray_mb, sizes.line_bytes)
        bench_copy(source, root)  # warm the page cache
        copy_s = min(bench_copy(source, root) for _ in range(3))
        results["copyfileobj"] = {
            "seconds": round(copy_s, 3),
            "mb_per_s": round(source.stat().st_size / MB / copy_s, 1),
        }
        realistic = root / "realistic.source"
        realistic_lines = _big_stray(realistic, sizes.stray_mb, sizes.line_bytes, plain=True)
        for contender in found:
            r: dict[str, Any] = {}
            for label, old in (("empty", 0), (f"{sizes.old_files}_old_files", sizes.old_files)):
                say(f"{contender.name}: detection latency, {label} ...")
                r[f"detection_{label}"] = bench_detection(contender, root, sizes, old)
                say(f"{contender.name}: idle CPU, {label} ...")
                r[f"idle_cpu_{label}"] = bench_idle_cpu(contender, root, sizes, old)
            say(f"{contender.name}: merging a {sizes.stray_mb} MB stray ...")
            r["merge_big_stray"] = _with_ratio(
                bench_merge(contender, root, source, lines, timeout_s=300), copy_s
            )
            say(f"{contender.name}: merging a {sizes.stray_mb} MB stray of realistic lines ...")
            r["merge_realistic_stray"] = _with_ratio(
                bench_merge(contender, root, realistic, realistic_lines, timeout_s=300), copy_s
            )
            if contender.name == "reference":
                say(f"{contender.name}: merging a {sizes.stray_mb} MB stray, no backups ...")
                lean = FactorySpec(target=REFERENCE, options={"backup": False})
                r["merge_big_stray_no_backup"] = _with_ratio(
                    bench_merge(Contender("reference", lean, lean), root, source, lines, 300),
                    copy_s,
                )
            results["monitors"][contender.name] = r
        say(f"naive (no baseline): {sizes.old_files} old session files present ...")
        results["naive_baseline_trap"] = bench_baseline_trap(root, sizes.old_files)
    (out / "monitor-bench.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / "monitor-bench.png")
    return results


def _with_ratio(merge: dict[str, Any], copy_s: float) -> dict[str, Any]:
    if merge["mb_per_s"]:
        merge["slower_than_copy_x"] = round(merge["seconds"] / copy_s, 1)
    return merge


def _machine() -> dict[str, Any]:
    try:
        from importlib.metadata import version

        watchdog = version("watchdog")
    except Exception:
        watchdog = "?"
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "watchdog": watchdog,
    }


def table(results: dict[str, Any]) -> str:
    """The headline numbers, one row per measurement, one column per monitor."""
    names = list(results["monitors"])
    old = results["sizes"]["old_files"]
    rows: list[tuple[str, ...]] = [("measurement", *names)]

    def lat(key: str, mode: str) -> list[str]:
        cells = []
        for n in names:
            d = results["monitors"][n][key][mode]
            missed = f" ({d['missed']} missed)" if d["missed"] else ""
            cells.append(
                f"{d['p50_ms']:.1f} / {d['p95_ms']:.1f} / {d['p99_ms']:.1f} / {d['max_ms']:.1f}"
                + missed
            )
        return cells

    def pick(key: str, field: str, fmt: str) -> list[str]:  # n/a: older results lack a key
        return [fmt.format(results["monitors"][n].get(key, {}).get(field, "n/a")) for n in names]

    rows.append(("detection paced, p50/p95/p99/max ms", *lat("detection_empty", "paced")))
    rows.append(("detection burst, p50/p95/p99/max ms", *lat("detection_empty", "burst")))
    rows.append((f"  with {old} old files, paced", *lat(f"detection_{old}_old_files", "paced")))
    rows.append((f"  with {old} old files, burst", *lat(f"detection_{old}_old_files", "burst")))
    rows.append(
        ("idle CPU, empty dir (% of a core)", *pick("idle_cpu_empty", "cpu_pct_of_core", "{}"))
    )
    rows.append(
        (
            f"idle CPU, {old} files (% of a core)",
            *pick(f"idle_cpu_{old}_old_files", "cpu_pct_of_core", "{}"),
        )
    )
    mb = results["monitors"][names[0]]["merge_big_stray"]["stray_mb"]
    rows.append((f"merge {mb:.0f} MB stray, s", *pick("merge_big_stray", "seconds", "{}")))
    rows.append(("  MB/s", *pick("merge_big_stray", "mb_per_s", "{}")))
    rows.append(
        ("  x slower than copyfileobj", *pick("merge_big_stray", "slower_than_copy_x", "{}"))
    )
    rows.append(("  MB per CPU second", *pick("merge_big_stray", "mb_per_cpu_s", "{}")))
    rows.append(("  peak RSS, MB", *pick("merge_big_stray", "peak_rss_mb", "{}")))
    rows.append(("  realistic lines, MB/s", *pick("merge_realistic_stray", "mb_per_s", "{}")))
    rows.append(("    MB per CPU second", *pick("merge_realistic_stray", "mb_per_cpu_s", "{}")))

    def lean(field: str) -> list[str]:
        cells = []
        for n in names:
            d = results["monitors"][n].get("merge_big_stray_no_backup")
            cells.append("n/a" if d is None else str(d[field]))
        return cells

    rows.append(("  without backups, MB/s", *lean("mb_per_s")))
    rows.append(("    x slower than copyfileobj", *lean("slower_than_copy_x")))
    rows.append(("    MB per CPU second", *lean("mb_per_cpu_s")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    copy = results["copyfileobj"]
    trap = results["naive_baseline_trap"]
    lines.append(f"copyfileobj: {copy['mb_per_s']} MB/s")
    lines.append(
        f"naive without baseline: swallowed {trap['swallowed']} of {trap['old_files']} old "
        f"sessions in {trap['seconds']} s"
    )
    if results.get("note"):
        lines.append(f"note: {results['note']}")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency CDFs (naive vs reference) and idle CPU, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    old = results["sizes"]["old_files"]
    panels = [
        ("detection_empty", "paced", "Paced strays (10 ms apart), empty dir"),
        ("detection_empty", "burst", "Burst of strays, empty dir"),
        (f"detection_{old}_old_files", "paced", f"Paced strays, {old:,} old files present"),
    ]
    colors = {"naive": "tab:red", "reference": "tab:blue"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), layout="constrained")
    for ax, (key, mode, title) in zip(axes.flat, panels, strict=False):
        for name, data in results["monitors"].items():
            xs = sorted(max(v, 0.01) for v in data[key]["samples"][mode])
            if not xs:
                continue
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            p95 = data[key][mode]["p95_ms"]
            ax.step(
                xs, ys, where="post", color=colors.get(name), label=f"{name} (p95 {p95:.1f} ms)"
            )
        longest = max(max(d[key]["samples"][mode], default=0) for d in results["monitors"].values())
        ax.set_xscale("log")
        ax.set_xlim(0.01, max(400.0, longest * 1.5))
        ax.axvline(200, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(0, 1.02)
        kpi_at = ax.get_xaxis_transform()  # x in data, y in axes fraction
        ax.text(200, 0.03, " 200 ms KPI", color="grey", fontsize=8, transform=kpi_at)
        ax.set_xlabel("detection latency, ms (log scale)")
        ax.set_ylabel("fraction of strays detected")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
    ax = axes.flat[3]
    names = list(results["monitors"])
    width = 0.38
    for i, name in enumerate(names):
        data = results["monitors"][name]
        values = [
            data["idle_cpu_empty"]["cpu_pct_of_core"],
            data[f"idle_cpu_{old}_old_files"]["cpu_pct_of_core"],
        ]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(2)]
        bars = ax.bar(xs, values, width, color=colors.get(name), label=name)
        ax.bar_label(bars, fmt="%.2f %%", fontsize=8)
    ax.set_xticks([0, 1], ["empty dir", f"{old:,} old files"])
    ax.set_ylabel("idle CPU, % of one core")
    ax.set_title("Idle cost of watching the directory", fontsize=10)
    ax.legend(loc="upper left", fontsize=9)
    machine = results["machine"]
    fig.suptitle(
        f"Stray-transcript monitors: naive polling vs reference "
        f"({machine['cpus']} CPUs, Python {machine['python']}, watchdog {machine['watchdog']})"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
