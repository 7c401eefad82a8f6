"""``detection_latency``: how fast a new stray is noticed (the lesson's KPI: p95 <= 200 ms).

A stray counts as detected when its name disappears or its line appears in the fixed file,
whichever comes first, seen by a tight ``os.stat``/``pread`` loop (no inotify, so the
observer does not share the monitor's mechanism). Latency is measured from the moment the
stray's single complete line was written and the file closed.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.lines import line_uuid, make_line
from sessionlab.monitor.harness.observe import FixedFileTail
from sessionlab.monitor.harness.results import CheckResult, latency_numbers

OBSERVER_TICK_S = 0.0005


@dataclass
class DetectionRun:
    """Latencies (ms) of the strays that were detected, and how many never were."""

    latencies_ms: list[float] = field(default_factory=list)
    missed: int = 0


def _create(path: Path, data: bytes) -> float:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return time.monotonic()


def measure_detection(
    project_dir: Path,
    fixed_path: Path,
    *,
    count: int,
    pace_s: float,
    timeout_s: float,
    run: str | None = None,
) -> DetectionRun:
    """Create ``count`` strays ``pace_s`` apart (0 = a burst) and time their detection."""
    run = run or f"detect-{uuid.uuid4().hex[:8]}"
    tail = FixedFileTail(fixed_path)
    created: list[tuple[Path, str, float]] = []  # appended by the creator, read by observer
    gone_at: dict[int, float] = {}
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            tail.poll()
            now = time.monotonic()
            for i in range(len(created)):
                path, uid, _closed = created[i]
                if i not in gone_at and uid not in tail.first_seen and not os.path.lexists(path):
                    gone_at[i] = now
            time.sleep(OBSERVER_TICK_S)

    observer = threading.Thread(target=observe, name="harness-observer", daemon=True)
    observer.start()
    try:
        for i in range(count):
            sid = str(uuid.uuid4())
            path = project_dir / f"{sid}.jsonl"
            closed = _create(path, make_line(run, i, sid, chained=False))
            created.append((path, line_uuid(run, i), closed))
            if pace_s:
                time.sleep(pace_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(i in gone_at or created[i][1] in tail.first_seen for i in range(count)):
                break
            time.sleep(0.01)
    finally:
        stop.set()
        observer.join(5)
    result = DetectionRun()
    for i, (_path, uid, closed) in enumerate(created):
        seen = [t for t in (gone_at.get(i), tail.first_seen.get(uid)) if t is not None]
        if seen:
            result.latencies_ms.append(max(0.0, (min(seen) - closed) * 1000.0))
        else:
            result.missed += 1
    return result


def check_detection_latency(ctx: CheckContext) -> CheckResult:
    cfg = ctx.config
    ctx.fixed_path.write_bytes(make_line("seed", 0, ctx.session_id))
    with ctx.monitor():
        run = measure_detection(
            ctx.project_dir,
            ctx.fixed_path,
            count=cfg.detection_files,
            pace_s=cfg.detection_pace_s,
            timeout_s=cfg.detection_timeout_s,
        )
    numbers: dict[str, float | int] = {**latency_numbers(run.latencies_ms), "missed": run.missed}
    numbers["strays"] = cfg.detection_files
    numbers["pace_ms"] = cfg.detection_pace_s * 1000
    p95 = numbers["p95_ms"]
    passed = run.missed == 0 and p95 <= cfg.detection_p95_ms
    if run.missed:
        detail = f"{run.missed}/{cfg.detection_files} strays never detected"
    else:
        detail = f"p95 {p95:.1f} ms vs threshold {cfg.detection_p95_ms:g} ms"
    return CheckResult(
        "detection_latency", passed, numbers, detail, samples={"detection": run.latencies_ms}
    )
