"""The harness finds the baseline's failures, and survives monitors that misbehave."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sessionlab.monitor import NaivePollingMonitor
from sessionlab.monitor.harness import (
    FactorySpec,
    HarnessConfig,
    HarnessReport,
    run_harness,
)
from sessionlab.monitor.harness.chain import private_chain
from sessionlab.monitor.harness.factory import as_factory
from sessionlab.monitor.harness.fragments import hello_fragment, legacy_fork, tool_fragment
from sessionlab.monitor.harness.lines import make_line
from sessionlab.monitor.harness.tally import tally_fixed
from sessionlab.monitor.harness.writers import write_torn

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"  # real CLI captures

# Small and impatient: misbehaving monitors are detected in seconds.
FAST = replace(
    HarnessConfig.for_mode(True),
    start_timeout_s=1.0,
    stop_timeout_s=1.0,
    check_time_limit_s=15.0,
    detection_files=5,
    detection_timeout_s=0.5,
    settle_max_s=2.0,
    settle_quiet_s=0.5,
    writer_duration_s=0.3,
    chain_fragment_wait_s=0.5,
    merge_timeout_s=1.0,
)


class HangingStop:
    """Merges nothing and never returns from stop()."""

    def __init__(self, project_dir, session_id):
        self._never = threading.Event()

    def start(self):
        pass

    def stop(self):
        self._never.wait()


class RaisingStart:
    def __init__(self, project_dir, session_id):
        pass

    def start(self):
        raise RuntimeError("cannot watch")

    def stop(self):
        pass


class NeverMerges:
    """Starts and stops cleanly; does nothing in between. No get_stats() either."""

    def __init__(self, project_dir, session_id):
        pass

    def start(self):
        pass

    def stop(self):
        pass


@pytest.fixture(scope="module")
def naive_report() -> HarnessReport:
    return run_harness(
        NaivePollingMonitor,
        checks=["detection_latency", "preservation_persistent_fd", "chain_continuity"],
        quick=True,
    )


def test_naive_detects_within_the_lessons_kpi(naive_report):
    check = naive_report["detection_latency"]
    assert check.passed, check.detail
    assert check.numbers["missed"] == 0
    assert len(check.samples["detection"]) == check.numbers["strays"]


def test_naive_loses_lines_from_a_writer_holding_its_fd(naive_report):
    check = naive_report["preservation_persistent_fd"]
    assert not check.passed
    assert check.numbers["lost_pct"] > 50  # research: 95-99 % for a 2 s writer


def test_naive_breaks_the_conversation_chain(naive_report):
    check = naive_report["chain_continuity"]
    assert not check.passed
    assert check.numbers["on_chain"] < check.numbers["entries"]
    # Each merged fragment keeps its own root; the naive monitor may also lose a whole fragment.
    assert check.numbers["roots_in_fixed"] >= 2


def test_report_renders(naive_report, tmp_path):
    text = naive_report.table()
    assert "preservation_persistent_fd  FAIL" in text
    json.dumps(naive_report.to_dict())  # serialisable as is
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    naive_report.plot_latencies(ax)
    fig.savefig(tmp_path / "cdf.png")
    plt.close(fig)
    assert (tmp_path / "cdf.png").stat().st_size > 0


def test_hanging_stop_fails_the_check_and_the_harness_returns():
    started = time.monotonic()
    report = run_harness(HangingStop, checks=["detection_latency"], config=FAST)
    check = report["detection_latency"]
    assert not check.passed
    assert "did not stop within 1 s" in check.detail
    assert time.monotonic() - started < 30


def test_start_that_raises_is_a_failure():
    report = run_harness(
        RaisingStart, checks=["detection_latency", "dedup_resume_copy"], config=FAST
    )
    for check in report.checks:
        assert not check.passed
        assert "start() raised RuntimeError: cannot watch" in check.detail


def test_monitor_that_never_merges_fails_everything_it_should():
    report = run_harness(
        NeverMerges,
        checks=["detection_latency", "preservation_reopen", "chain_continuity"],
        config=FAST,
    )
    detection, preservation, chain = report.checks
    assert detection.numbers["missed"] == 5
    assert preservation.numbers["lost_pct"] == 100.0
    assert chain.numbers["lost"] == chain.numbers["entries"]
    assert not report.passed


def test_check_time_limit_is_enforced():
    class SlowStart(NeverMerges):
        def start(self):
            time.sleep(60)

    report = run_harness(SlowStart, checks=["merge_latency"], config=FAST)
    assert "start() did not return within 1 s" in report["merge_latency"].detail


@pytest.mark.slow
def test_kill_restart_runs_the_monitor_in_a_child_process():
    report = run_harness(
        "sessionlab.monitor.naive:NaivePollingMonitor", checks=["kill_restart"], quick=True
    )
    check = report["kill_restart"]
    assert check.numbers["kills"] == 5
    assert not check.passed  # the persistent-fd writer's lines are lost


def test_factory_forms():
    assert as_factory(NaivePollingMonitor).spec == FactorySpec(
        target="sessionlab.monitor.naive:NaivePollingMonitor"
    )
    assert as_factory("pkg.mod:Name").spec == FactorySpec(target="pkg.mod:Name")
    assert as_factory(lambda d, s: None).spec is None  # falls back to fork
    source = "class Mine:\n    def __init__(self, d, s, flag=0):\n        self.flag = flag\n"
    built = FactorySpec(source=source, name="Mine", options={"flag": 3})(Path("."), "sid")
    assert built.flag == 3


def test_tally_counts_lost_duplicated_malformed(tmp_path):
    fixed = tmp_path / "f.jsonl"
    a, b = make_line("t", 0, "sid"), make_line("t", 1, "sid")
    fixed.write_bytes(a + a + b[:20] + b"\n" + b"not json\n")
    uuids = [json.loads(a)["uuid"], json.loads(b)["uuid"]]
    tally = tally_fixed(fixed, uuids, "sid")
    assert (tally.lost, tally.duplicated, tally.malformed) == (1, 1, 2)


def test_private_chain_sees_only_the_last_fragment_unless_relinked():
    first = hello_fragment("s1", "one")
    second = tool_fragment("s2", "/x")
    assert [e["uuid"] for e in private_chain(first + second)] == [e["uuid"] for e in second]
    second[0]["parentUuid"] = first[-1]["uuid"]
    assert len(private_chain(first + second)) == len(first) + len(second)


def test_legacy_fork_copies_uuids_like_cli_1_0_120():
    original = hello_fragment("A", "hello")
    fork = legacy_fork(original, "B", "READ:x")
    assert fork[0]["type"] == "summary"
    assert [e["uuid"] for e in fork[1:3]] == [e["uuid"] for e in original]
    assert all(e["sessionId"] == "B" for e in fork[1:])
    assert "requestId" not in fork[2]
    assert fork[3]["parentUuid"] == original[-1]["uuid"]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="research samples not present")
def test_generated_entries_have_the_cli_envelope():
    real = [
        json.loads(line)
        for line in next((SAMPLES / "cc-1.0.120").glob("A-original.*")).read_text().splitlines()
    ]
    generated = hello_fragment("sid", "hello")
    for mine, theirs in zip(generated, real, strict=True):
        assert list(mine) == list(theirs)


def test_torn_writer_writes_whole_lines_in_pieces(tmp_path):
    plan = {
        "dir": str(tmp_path),
        "name": "t.jsonl",
        "run": "torn",
        "session_id": "sid",
        "duration_s": 5,
        "max_lines": 6,
        "interval_s": 0,
    }
    uuids = write_torn(plan)
    lines = (tmp_path / "t.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["uuid"] for line in lines] == uuids
    assert len(uuids) == 6


def test_bench_table_and_figure_from_results(tmp_path):
    from sessionlab.monitor import benchmark

    lat = {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0, "missed": 0}
    detection = {"paced": lat, "burst": lat, "samples": {"paced": [1.0, 2.0], "burst": [3.0]}}
    idle = {"cpu_pct_of_core": 0.1}
    merge = {
        "stray_mb": 20.0,
        "seconds": 1.0,
        "mb_per_s": 20.0,
        "slower_than_copy_x": 10.0,
        "peak_rss_mb": 50.0,
    }
    monitor = {
        "detection_empty": detection,
        "detection_10_old_files": detection,
        "idle_cpu_empty": idle,
        "idle_cpu_10_old_files": idle,
        "merge_big_stray": merge,
    }
    results = {
        "machine": {"cpus": 2, "python": "3.11", "watchdog": "7.1.0"},
        "sizes": {"old_files": 10},
        "monitors": {
            "naive": monitor,
            "reference": {**monitor, "merge_big_stray_no_backup": {**merge, "mb_per_cpu_s": 9.5}},
        },
        "copyfileobj": {"mb_per_s": 1000.0},
        "naive_baseline_trap": {"old_files": 10, "swallowed": 10, "seconds": 0.1},
    }
    text = benchmark.table(results)
    assert "1.0 / 2.0 / 3.0 / 4.0" in text and "swallowed 10 of 10" in text
    lean = next(line for line in text.splitlines() if "MB per CPU second" in line and "9.5" in line)
    assert "n/a" in lean, "the naive monitor has no no-backup run"
    benchmark.plot(results, tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_bench_command_is_registered():
    from sessionlab.cli import build_parser

    args = build_parser().parse_args(["bench", "monitor", "--quick", "--out", "x"])
    assert args.quick and str(args.out) == "x"
