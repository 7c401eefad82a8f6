"""``kill_restart``: SIGKILL the monitor at random points while writers run, restart it, repeat.

The monitor runs in a child process (see :mod:`sessionlab.monitor.harness.child` for which
factories can be rebuilt there). Two writers run meanwhile: one holding its fd with pauses,
one reopening per line. After the last restart the merge settles and the monitor is stopped
cleanly; then 0 lost and 0 duplicated is required. A crash between "appended" and "removed
the stray" is exactly where a non-idempotent merge duplicates.
"""

from __future__ import annotations

import random
import time

from sessionlab.monitor.harness.child import ChildMonitor
from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.lines import make_line
from sessionlab.monitor.harness.results import CheckResult


def check_kill_restart(ctx: CheckContext) -> CheckResult:
    cfg = ctx.config
    ctx.fixed_path.write_bytes(make_line("seed", 0, ctx.session_id))
    rng = random.Random()
    low, high = cfg.kill_after_s
    duration = cfg.kill_rounds * (low + high) / 2 + 1.0
    spawn_limit = max(cfg.start_timeout_s, 15.0)  # a spawned interpreter imports everything

    child = ChildMonitor(ctx.factory, ctx.project_dir, ctx.session_id)
    child.wait_ready(spawn_limit)
    time.sleep(cfg.warmup_s)
    pause = {"pause_every": 150, "pause_s": 0.25, "interval_s": 0.002, "duration_s": duration}
    writers = [ctx.writer("persistent", **pause), ctx.writer("reopen", **pause)]
    kills = 0
    try:
        for _ in range(cfg.kill_rounds):
            if ctx.time_left() < 4 * cfg.stop_timeout_s:
                break
            time.sleep(rng.uniform(low, high))
            child.kill()
            kills += 1
            child = ChildMonitor(ctx.factory, ctx.project_dir, ctx.session_id)
            child.wait_ready(spawn_limit)
        written: list[str] = []
        for proc in writers:
            written += proc.wait(ctx.time_left() - 3 * cfg.stop_timeout_s)
        waited = ctx.settle(written)
    except BaseException:
        child.kill()
        raise
    finally:
        ctx.kill_writers()
    stop_error = None
    try:
        child.stop(cfg.stop_timeout_s)
    except RuntimeError as error:
        stop_error = str(error)
    tally = ctx.tally(written)
    numbers = {**tally.numbers(), "kills": kills, "settle_s": round(waited, 2)}
    numbers["strays_left"] = len(ctx.strays())
    detail = f"{kills} SIGKILLs: {tally.summary()}"
    if stop_error:
        detail = f"{stop_error}; {detail}"
    passed = tally.clean and stop_error is None and kills == cfg.kill_rounds
    return CheckResult("kill_restart", passed, numbers, detail)
