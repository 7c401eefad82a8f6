"""``merge_latency``: from a writer closing its stray to the stray gone and all its lines merged.

This is the end-to-end time a conversation fragment spends outside the fixed file. A monitor
that waits for a quiet period before removing a stray (as it should) pays that period here;
the check passes if every stray completes within ``merge_timeout_s`` and reports p50/p99.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.lines import line_uuid, make_line
from sessionlab.monitor.harness.results import CheckResult, latency_numbers


def check_merge_latency(ctx: CheckContext) -> CheckResult:
    cfg = ctx.config
    per_file = cfg.merge_lines_per_file
    ctx.fixed_path.write_bytes(make_line("seed", 0, ctx.session_id))
    tail = ctx.new_tail()
    strays: list[tuple[str, list[str], float]] = []  # (path, uuids, closed at)
    done_at: dict[int, float] = {}
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            tail.poll()
            now = time.monotonic()
            for i in range(len(strays)):
                path, uuids, _ = strays[i]
                if i in done_at or os.path.lexists(path):
                    continue
                if all(u in tail.first_seen for u in uuids):
                    done_at[i] = now
            time.sleep(0.001)

    with ctx.monitor():
        observer = threading.Thread(target=observe, name="harness-merge-observer", daemon=True)
        observer.start()
        try:
            for i in range(cfg.merge_files):
                sid = str(uuid.uuid4())
                run = f"merge-{i}-{sid[:8]}"
                data = b"".join(make_line(run, s, sid) for s in range(per_file))
                path, closed = ctx.write_stray(data, f"{sid}.jsonl")
                strays.append((str(path), [line_uuid(run, s) for s in range(per_file)], closed))
                time.sleep(cfg.merge_pace_s)
            limit = min(
                time.monotonic() + cfg.merge_timeout_s,
                ctx.deadline - 2 * cfg.stop_timeout_s,
            )
            while time.monotonic() < limit and len(done_at) < len(strays):
                time.sleep(0.02)
        finally:
            stop.set()
            observer.join(5)
    samples = [(done_at[i] - strays[i][2]) * 1000.0 for i in sorted(done_at)]
    missed = len(strays) - len(done_at)
    numbers = {**latency_numbers(samples), "missed": missed, "strays": len(strays)}
    passed = missed == 0
    detail = (
        f"{missed}/{len(strays)} strays not fully merged and removed within "
        f"{cfg.merge_timeout_s:g} s"
        if missed
        else f"all {len(strays)} strays merged and removed"
    )
    return CheckResult("merge_latency", passed, numbers, detail, samples={"merge": samples})
