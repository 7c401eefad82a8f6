"""SessionMonitor(clock=...) is the only time source, for the engine and the parts split off it.

arch's issue 11 made the engine read an injected clock; monitor's issue 13 split the engine
into discovery, the merge pipeline and the stray finisher. Each part must read the monitor's
clock, not ``time`` directly: a frozen :class:`~sessionlab.clock.FakeClock` shows which one
does not (a real reading would leak into a latency, or a real deadline would pass).
"""

from __future__ import annotations

import time
from pathlib import Path

from sessionlab.clock import FakeClock
from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.testkit import conversation, fixed_entries, new_id, write_stray
from sessionlab.waiting import wait_until

AHEAD_S = 3600.0  # the fake wall clock is one hour ahead of the files' real timestamps


def test_discovery_pipeline_and_finisher_read_the_injected_clock(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    sid = new_id()
    clock = FakeClock(start=100.0, epoch=time.time() + AHEAD_S)
    linger = 0.3  # real seconds would remove the stray; frozen fake ones never do
    with SessionMonitor(
        project,
        sid,
        clock=clock,
        quiet_period=0.05,
        empty_grace=0.05,
        rescan_interval=0.2,
        use_leases=False,
        linger=linger,
    ) as monitor:
        assert monitor.wait_idle(5)  # the start-up scan is over: only the event finds the stray
        stray = write_stray(project, conversation(new_id(), 2))
        assert wait_until(lambda: len(fixed_entries(project, sid)[0]) == 2, 5)
        time.sleep(4 * linger)  # the finisher waits on the fake clock, which has not moved
        assert stray.exists(), "the stray finisher measured the linger on the real clock"
        clock.advance(10 * linger)
        monitor.request_rescan()
        assert wait_until(lambda: not stray.exists(), 5)
        stats = monitor.get_stats()
    # discovery: detection latency = fake wall reading - the file's real mtime (about 1 hour)
    detection = list(stats["detection_latencies_ms"])
    assert detection, "the stray was found by its creation event"
    assert all(abs(ms - AHEAD_S * 1000) < 60_000 for ms in detection), detection
    # merge pipeline: batch start and landing read the same frozen monotonic clock
    merge = list(stats["merge_latencies_ms"])
    assert merge and all(ms == 0.0 for ms in merge), merge
    assert stats["lines_merged"] == 2  # (re-link counts depend on batching, not on the clock)
