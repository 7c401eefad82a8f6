"""``preservation_*``: every line a writer wrote must end up in the fixed file exactly once.

One check per writer behaviour (see :mod:`sessionlab.monitor.harness.writers`). The monitor
runs while a writer process writes; after it finishes and the merge settles, the fixed file
is counted: lost (written, not there), duplicated (there twice), malformed (not JSON).
Pass = 0 / 0 / 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sessionlab.ids import short_id
from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.lines import make_line
from sessionlab.monitor.harness.results import CheckResult


def _run(ctx: CheckContext, check: str, plans: list[dict[str, Any]]) -> CheckResult:
    ctx.fixed_path.write_bytes(make_line("seed", 0, ctx.session_id))
    written: list[str] = []
    with ctx.monitor():
        procs = [ctx.writer(**plan) for plan in plans]
        try:
            for proc in procs:
                written += proc.wait(ctx.time_left() - 3 * ctx.config.stop_timeout_s)
        finally:
            ctx.kill_writers()
        waited = ctx.settle(written)
    tally = ctx.tally(written)
    numbers = {**tally.numbers(), "strays_left": len(ctx.strays()), "settle_s": round(waited, 2)}
    detail = tally.summary()
    if tally.lost_examples:
        detail += f"; e.g. lost uuid {short_id(tally.lost_examples[0])}"
    return CheckResult(check, tally.clean, numbers, detail)


def check_persistent_fd(ctx: CheckContext) -> CheckResult:
    """One fd held open, a line every 1 ms, pauses: the race that loses ~95 % in the lesson."""
    cfg = ctx.config
    plan = {
        "kind": "persistent",
        "duration_s": cfg.writer_duration_s,
        "interval_s": 0.001,
        "pause_every": cfg.writer_pause_every,
        "pause_s": cfg.writer_pause_s,
    }
    return _run(ctx, "preservation_persistent_fd", [plan])


def check_reopen(ctx: CheckContext) -> CheckResult:
    """open/append/close per line: exposes the gap between reading and unlinking."""
    cfg = ctx.config
    plan = {
        "kind": "reopen",
        "duration_s": cfg.writer_duration_s,
        "interval_s": 0.001,
        "pause_every": cfg.writer_pause_every,
        "pause_s": cfg.writer_pause_s,
    }
    return _run(ctx, "preservation_reopen", [plan])


def check_torn(ctx: CheckContext) -> CheckResult:
    """Lines written in 2-3 pieces with sleeps (some split inside a UTF-8 character).

    Two writers run at once, as two connections would, so a fragment merged too early gets
    the other writer's lines glued onto it instead of its own rest.
    """
    plans = [
        {
            "kind": "torn",
            "run": f"torn-{i}",
            "duration_s": ctx.config.writer_duration_s,
            "interval_s": 0.002,
            "seed": i,
        }
        for i in range(2)
    ]
    return _run(ctx, "preservation_torn", plans)


def check_large(ctx: CheckContext) -> CheckResult:
    """Lines of 20 KB up to 10 MB (tool output, images): long reads widen every race."""
    plan = {"kind": "large", "sizes": list(ctx.config.large_sizes), "interval_s": 0.001}
    return _run(ctx, "preservation_large", [plan])


def check_burst(ctx: CheckContext) -> CheckResult:
    """Many small strays created back to back (1,000 full, 200 quick)."""
    plan = {"kind": "burst", "files": ctx.config.burst_files, "lines_per_file": 2}
    return _run(ctx, "preservation_burst", [plan])


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "preservation_persistent_fd": check_persistent_fd,
    "preservation_reopen": check_reopen,
    "preservation_torn": check_torn,
    "preservation_large": check_large,
    "preservation_burst": check_burst,
}
