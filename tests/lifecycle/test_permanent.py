"""What permanent sessions need instead of expiry: growth monitoring and memory accounting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sessionlab.lifecycle import GrowthMonitor
from sessionlab.lifecycle.resources import client_rss_mb, rss_mb


def test_growth_monitor_reports_bytes_per_turn_and_a_projection(clock, tmp_path):
    path = tmp_path / "s.jsonl"
    monitor = GrowthMonitor(path, warn_bytes=1000, clock=clock)
    assert monitor.report() == {"samples": 0}
    assert monitor.sample().bytes == 0, "a file the CLI has not written yet is empty"
    for _ in range(3):
        clock.advance(10)
        with path.open("a") as handle:
            handle.write("x" * 99 + "\n")
        monitor.sample()
    report = monitor.report(turns=3)
    assert report["bytes"] == 300 and report["lines"] == 3 and report["grown_bytes"] == 300
    assert report["bytes_per_second"] == 10.0 and report["bytes_per_turn"] == 100.0
    assert report["turns_until_warning"] == 7 and not report["over_warning"]
    path.write_text("x" * 1000)
    monitor.sample()
    assert monitor.report(turns=4)["turns_until_warning"] == 0
    assert monitor.report(turns=4)["over_warning"]


def test_no_growth_means_no_projection(clock, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("{}\n")
    monitor = GrowthMonitor(path, clock=clock)
    monitor.sample()
    monitor.sample()
    report = monitor.report(turns=2)
    assert report["turns_until_warning"] is None and report["bytes_per_second"] == 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_rss_of_this_process_and_of_unknown_clients():
    before = rss_mb(os.getpid())
    ballast = bytearray(64 * 1024 * 1024)  # 64 MiB, touched so it is resident
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1
    after = rss_mb(os.getpid())
    assert before is not None and after is not None
    assert before > 0 and after - before > 48, (before, after)
    del ballast
    assert rss_mb(2**22 + 12345) is None
    assert client_rss_mb(object()) is None
