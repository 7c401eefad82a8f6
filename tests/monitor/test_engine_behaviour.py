"""Reference-monitor decisions that have no naive counterpart: what is a stray, what is kept."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.multi import MultiProjectMonitor
from sessionlab.monitor.testkit import (
    conversation,
    dumps,
    entry,
    fixed_entries,
    make_monitor,
    new_id,
    settle,
    strays,
    wait_until,
    write_stray,
)
from sessionlab.transcripts import conversation_chain

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"  # real CLI captures


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "proj"
    directory.mkdir()
    return directory


@pytest.fixture
def sid() -> str:
    return new_id()


def test_empty_stray_waits_then_is_removed(project: Path, sid: str) -> None:
    monitor = make_monitor("reference", project, sid, empty_grace=0.5)
    with monitor:
        path = project / f"{new_id()}.jsonl"
        path.touch()
        time.sleep(0.25)
        assert path.exists(), "an empty stray gets a grace period (created != written)"
        assert wait_until(lambda: not path.exists(), 5)
        stats = monitor.get_stats()
    assert stats["empty_removed"] == 1
    assert not (project / f"{sid}.jsonl").exists(), "nothing to merge: no fixed file created"


def test_empty_stray_that_gets_written_later_is_merged(project: Path, sid: str) -> None:
    items = conversation(new_id(), 2)
    with make_monitor("reference", project, sid, empty_grace=0.3) as monitor:
        path = project / f"{new_id()}.jsonl"
        with open(path, "w") as handle:  # held open: the lease keeps it alive
            handle.flush()
            time.sleep(0.5)
            handle.write("".join(dumps(i) + "\n" for i in items))
        settle(monitor, project, sid)
    assert [e["uuid"] for e in fixed_entries(project, sid)[0]] == [i["uuid"] for i in items]


def test_summary_only_stray_is_merged_and_removed(project: Path, sid: str) -> None:
    sample = next((SAMPLES / "cc-1.0.128").glob("stray-summary-only.*.jsonl"), None)
    if sample is None:
        pytest.skip("samples not available")
    with make_monitor("reference", project, sid) as monitor:
        shutil.copyfile(sample, project / f"{new_id()}.jsonl")
        settle(monitor, project, sid)
    entries, _ = fixed_entries(project, sid)
    assert [e["type"] for e in entries] == ["summary"]
    assert entries[0].keys() == {"type", "summary", "leafUuid"}, "summary lines stay as written"


def test_agent_sidechain_files_and_subfolders_are_left_alone(project: Path, sid: str) -> None:
    agent = project / "agent-ac86109.jsonl"
    sub = project / new_id()
    with make_monitor("reference", project, sid) as monitor:
        agent.write_text(dumps(entry(sid, None, isSidechain=True, agentId="ac86109")) + "\n")
        sub.mkdir()
        (sub / f"{new_id()}.jsonl").write_text(dumps(entry(new_id(), None)) + "\n")
        write_stray(project, conversation(new_id(), 2))
        settle(monitor, project, sid, keep=[agent.name])
    assert agent.exists() and len(list(sub.iterdir())) == 1
    assert len(fixed_entries(project, sid)[0]) == 2


def test_restart_keeps_the_first_baseline(project: Path, sid: str) -> None:
    old = write_stray(project, conversation(new_id(), 2))
    make_monitor("reference", project, sid).start().stop()
    late = conversation(new_id(), 2)  # appeared while no monitor ran: still a stray
    write_stray(project, late)
    with make_monitor("reference", project, sid) as monitor:
        settle(monitor, project, sid, keep=[old.name])
    assert old.exists()
    assert [e["uuid"] for e in fixed_entries(project, sid)[0]] == [e["uuid"] for e in late]
    assert not [p for p in os.listdir(project) if p.endswith(".jsonl") and p.startswith(".")]


def test_adopt_existing_merges_files_already_present(project: Path, sid: str) -> None:
    old = write_stray(project, conversation(new_id(), 2))
    with make_monitor("reference", project, sid, adopt_existing=True) as monitor:
        settle(monitor, project, sid)
    assert not old.exists() and len(fixed_entries(project, sid)[0]) == 2


def test_only_session_id_and_root_parent_change(project: Path, sid: str) -> None:
    base = conversation(sid, 1)
    write_stray(project, base, name=f"{sid}.jsonl")
    raw = (
        '{"parentUuid":null,"isSidechain":false,"sessionId":"old-id","zeta":1e-07,'
        '"esc":"caf\\u00e9 \\"q\\" ✓","type":"user","message":{"content":"x","sessionId":"in"},'
        '"uuid":"11111111-2222-3333-4444-555555555555","alpha":[1, 2 ,3]}'
    )
    with make_monitor("reference", project, sid) as monitor:
        (project / f"{new_id()}.jsonl").write_text(raw + "\n")
        settle(monitor, project, sid)
    last = (project / f"{sid}.jsonl").read_text().splitlines()[-1]
    expected = raw.replace('"parentUuid":null', f'"parentUuid":"{base[0]["uuid"]}"').replace(
        '"sessionId":"old-id"', f'"sessionId":"{sid}"'
    )
    assert last == expected


def test_resumed_legacy_sample_merges_into_one_chain(project: Path) -> None:
    a = next((SAMPLES / "cc-1.0.120").glob("A-original.*.jsonl"), None)
    b = next((SAMPLES / "cc-1.0.120").glob("B-after-resume-A.*.jsonl"), None)
    if a is None or b is None:
        pytest.skip("samples not available")
    sid = a.name.split(".")[1]
    shutil.copyfile(a, project / f"{sid}.jsonl")
    with make_monitor("reference", project, sid) as monitor:
        shutil.copyfile(b, project / f"{b.name.split('.')[1]}.jsonl")
        settle(monitor, project, sid)
        stats = monitor.get_stats()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0 and stats["duplicates_skipped"] == 2
    assert len(conversation_chain(entries)) == 6


def test_overlong_line_is_quarantined_with_bounded_buffer(project: Path, sid: str) -> None:
    items = conversation(new_id(), 2)
    huge = dumps(entry(new_id(), None, text="z" * (3 << 20)))
    with make_monitor("reference", project, sid, max_line_bytes=1 << 20) as monitor:
        write_stray(project, [items[0]]).open("a").write(huge + "\n" + dumps(items[1]) + "\n")
        settle(monitor, project, sid)
        stats = monitor.get_stats()
    assert [e["uuid"] for e in fixed_entries(project, sid)[0]] == [i["uuid"] for i in items]
    assert stats["quarantined_lines"] == 1
    kept = list((project / ".sessionlab" / "quarantine").glob("*.bad"))
    assert [p.stat().st_size for p in kept] == [len(huge)]


def test_unterminated_last_line_is_merged_once_the_writer_is_gone(project: Path, sid: str):
    items = conversation(new_id(), 2)
    with make_monitor("reference", project, sid) as monitor:
        path = project / f"{new_id()}.jsonl"
        path.write_text(dumps(items[0]) + "\n" + dumps(items[1]))  # no final newline
        settle(monitor, project, sid)
    assert len(fixed_entries(project, sid)[0]) == 2


def test_torn_tail_of_the_fixed_file_is_repaired_at_start(project: Path, sid: str) -> None:
    good = conversation(sid, 1)
    (project / f"{sid}.jsonl").write_text(dumps(good[0]) + '\n{"parentUuid":"tor')
    with make_monitor("reference", project, sid) as monitor:
        write_stray(project, conversation(new_id(), 1))
        settle(monitor, project, sid)
    entries, bad = fixed_entries(project, sid)
    assert bad == 0 and len(entries) == 2
    assert list((project / ".sessionlab" / "quarantine").glob("*.bad"))


def test_writer_holding_the_fd_blocks_removal_until_it_closes(project: Path, sid: str) -> None:
    with make_monitor("reference", project, sid) as monitor:
        path = project / f"{new_id()}.jsonl"
        handle = open(path, "a")  # noqa: SIM115 - held open across the test on purpose
        handle.write(dumps(entry(new_id(), None)) + "\n")
        handle.flush()
        time.sleep(0.6)  # several quiet periods: the lease is refused every time
        assert path.exists() and monitor.get_stats()["lease_busy"] > 0
        handle.write(dumps(entry(new_id(), None)) + "\n")
        handle.close()
        assert wait_until(lambda: not path.exists(), 3)
        stats = monitor.get_stats()
    assert stats["lines_merged"] == 2
    assert stats["removal_latencies_ms"] and max(stats["removal_latencies_ms"]) < 1000


def test_open_append_close_writer_recreating_the_file_loses_nothing(project: Path, sid: str):
    items = conversation(new_id(), 60)
    path = project / f"{new_id()}.jsonl"
    with make_monitor("reference", project, sid) as monitor:
        for item in items:  # appendFileSync style: reopen by path for every line
            with open(path, "a") as handle:
                handle.write(dumps(item) + "\n")
            time.sleep(0.003)
        settle(monitor, project, sid)
        stats = monitor.get_stats()
    got = [e["uuid"] for e in fixed_entries(project, sid)[0]]
    assert got == [i["uuid"] for i in items]
    assert stats["corrections"] >= 1


def test_inotify_overflow_triggers_a_rescan(project: Path, sid: str) -> None:
    monitor = SessionMonitor(project, sid, rescan_interval=3600, quiet_period=0.05)
    monitor.start(watch=False)  # no events at all: only a rescan can find the stray
    try:
        time.sleep(0.1)
        write_stray(project, conversation(new_id(), 2))
        time.sleep(0.3)
        assert strays(project, sid)
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert wait_until(lambda: not strays(project, sid), 3)
        assert monitor.get_stats()["overflow_rescans"] >= 1
    finally:
        monitor.stop()


def test_dry_run_changes_nothing(project: Path, sid: str) -> None:
    with make_monitor("reference", project, sid, dry_run=True) as monitor:
        path = write_stray(project, conversation(new_id(), 3))
        assert wait_until(lambda: monitor.get_stats()["lines_merged"] == 3, 3)
        time.sleep(0.3)
    assert path.exists() and sorted(os.listdir(project)) == [path.name]


def test_stop_is_idempotent_and_joins(project: Path, sid: str) -> None:
    monitor = make_monitor("reference", project, sid)
    monitor.start()
    monitor.stop()
    monitor.stop()
    assert monitor._thread is not None and not monitor._thread.is_alive()


def test_bad_session_id_is_refused(project: Path) -> None:
    with pytest.raises(ValueError, match="session id"):
        SessionMonitor(project, "not-a-uuid")


def test_backups_are_incremental_and_never_jsonl(project: Path, sid: str) -> None:
    with make_monitor("reference", project, sid) as monitor:
        write_stray(project, conversation(new_id(), 2))
        settle(monitor, project, sid)
        write_stray(project, conversation(new_id(), 2))
        settle(monitor, project, sid)
    backups = list((project / ".sessionlab" / "backups").iterdir())
    assert [p.suffix for p in backups] == [".backup"]
    assert backups[0].read_bytes() == (project / f"{sid}.jsonl").read_bytes()
    assert not [p for p in project.rglob("*.jsonl") if p.parent != project]


def test_multi_project_monitor_shares_one_observer(tmp_path: Path) -> None:
    projects = {tmp_path / f"p{i}": new_id() for i in range(3)}
    for directory in projects:
        directory.mkdir()
    with MultiProjectMonitor(projects, quiet_period=0.1, empty_grace=0.1) as multi:
        for directory in projects:
            write_stray(directory, conversation(new_id(), 2))
        assert multi.wait_idle(5)
        stats = multi.get_stats()
    for directory, session in projects.items():
        assert len(fixed_entries(directory, session)[0]) == 2
        assert stats[str(directory)]["corrections"] == 1


def test_randomized_action_sequences_lose_and_duplicate_nothing(project: Path, sid: str):
    """Vector-style model test (fixed seed, no Hypothesis): random writes, partial writes,
    pauses, renames, new strays, reopen-by-path writers and merger restarts."""
    rng = random.Random(20261122)
    expected: list[str] = []
    open_writers: list = []
    monitor = make_monitor("reference", project, sid)
    monitor.start()
    try:
        for _ in range(150):
            action = rng.choice(["write", "write", "partial", "new", "close", "pause", "restart"])
            if action == "new" or not open_writers:
                handle = open(project / f"{new_id()}.jsonl", "a")  # noqa: SIM115
                open_writers.append([handle, None, b""])
            writer = rng.choice(open_writers)
            if action in ("write", "partial"):
                writer[0].buffer.write(writer[2])  # finish a pending partial line first
                item = entry(new_id(), writer[1], text="é" * rng.randint(1, 300))
                writer[1] = item["uuid"]
                expected.append(item["uuid"])
                data = (dumps(item) + "\n").encode()
                cut = rng.randint(1, len(data) - 1) if action == "partial" else len(data)
                writer[0].buffer.write(data[:cut])
                writer[0].flush()
                writer[2] = data[cut:]
                if action == "write" or rng.random() < 0.5:
                    writer[0].buffer.write(writer[2])
                    writer[0].flush()
                    writer[2] = b""
            elif action == "close":
                writer[0].buffer.write(writer[2])
                writer[0].close()
                open_writers.remove(writer)
            elif action == "pause":
                time.sleep(rng.uniform(0, 0.15))
            elif action == "restart":
                monitor.stop()
                monitor = make_monitor("reference", project, sid)
                monitor.start()
        for writer in open_writers:
            writer[0].buffer.write(writer[2])
            writer[0].close()
        settle(monitor, project, sid, timeout=10)
    finally:
        monitor.stop()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    got = [e["uuid"] for e in entries]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    assert not strays(project, sid)


def test_get_stats_has_the_naive_keys_and_more(project: Path, sid: str) -> None:
    with make_monitor("reference", project, sid) as monitor:
        stats = monitor.get_stats()
    for key in (
        "corrections",
        "intercepted_files",
        "unique_files",
        "lines_merged",
        "duplicates_skipped",
        "quarantined_lines",
        "detection_latencies_ms",
        "merge_latencies_ms",
    ):
        assert key in stats
    json.dumps(stats)


def test_lease_probe_does_not_block_a_concurrent_writer(project: Path, sid: str) -> None:
    """The lease is held only for microseconds; a writer's open never waits long."""
    with make_monitor("reference", project, sid, quiet_period=0.0) as monitor:
        path = project / f"{new_id()}.jsonl"
        waits: list[float] = []

        def write() -> None:
            parent = None
            for _ in range(100):
                item = entry(new_id(), parent)
                parent = item["uuid"]
                started = time.monotonic()
                with open(path, "a") as handle:
                    waits.append(time.monotonic() - started)
                    handle.write(dumps(item) + "\n")
                time.sleep(0.002)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(30)
        settle(monitor, project, sid)
    assert len(fixed_entries(project, sid)[0]) == 100
    assert max(waits) < 1.0


def test_without_leases_the_follower_lingers_before_removal(project: Path, sid: str) -> None:
    """Fallback for filesystems without leases: quiet for ``linger`` seconds, then remove."""
    with make_monitor("reference", project, sid, use_leases=False, linger=0.6) as monitor:
        path = write_stray(project, conversation(new_id(), 2))
        assert wait_until(lambda: monitor.get_stats()["lines_merged"] == 2, 3)
        time.sleep(0.3)
        assert path.exists(), "still lingering"
        assert wait_until(lambda: not path.exists(), 3)
    assert len(fixed_entries(project, sid)[0]) == 2


# The child's own peak RSS is VmHWM. Not ru_maxrss: Linux carries the pre-exec high-water
# mark across execve (and subprocess vforks the pytest process), so in a full run ru_maxrss
# reported the *pytest* process's peak (373.9 MB) although the monitor peaked at ~90 MB.
RSS_CHILD = """
import json, os, re, resource, sys, uuid
inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from sessionlab.monitor.engine import SessionMonitor
d, sid = sys.argv[1], sys.argv[2]
m = SessionMonitor(d, sid, quiet_period=0.05, adopt_existing=True)
m.start(watch=False)
m.wait_idle(120)
stats = m.get_stats()
m.stop()
try:
    with open("/proc/self/status") as status:
        rss_mb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024
except (OSError, AttributeError):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rss_mb": rss_mb, "ru_maxrss_at_start_mb": inherited,
                  "quarantined": stats["quarantined_lines"], "merged": stats["lines_merged"]}))
"""


@pytest.mark.slow
def test_a_300_mb_line_is_quarantined_in_bounded_memory(project: Path, sid: str) -> None:
    import subprocess
    import sys

    good = conversation(new_id(), 2)
    path = project / f"{new_id()}.jsonl"
    with open(path, "w") as handle:
        handle.write(dumps(good[0]) + "\n")
        handle.write('{"type":"user","message":{"content":"')
        block = "a" * (1 << 20)
        for _ in range(300):
            handle.write(block)
        handle.write('"}}\n' + dumps(good[1]) + "\n")
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(project), sid],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["quarantined"] == 1 and result["merged"] == 2
    # 64 MiB line cap + interpreter + imports (~130 MB measured); reading the line whole would
    # need more than 300 MB, so this bound still catches the regression it guards.
    assert result["rss_mb"] < 200, result


def test_a_line_longer_than_a_batch_is_merged_whole(project: Path, sid: str) -> None:
    """Regression: an empty batch is not EOF; a 5 MiB line spans several 1 MiB batches."""
    item = entry(new_id(), None, text="q" * (5 << 20))
    with make_monitor("reference", project, sid, batch_bytes=1 << 20) as monitor:
        write_stray(project, [item])
        settle(monitor, project, sid)
        stats = monitor.get_stats()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0 and stats["quarantined_lines"] == 0
    assert entries[0]["message"]["content"] == item["message"]["content"]


def test_package_exports_both_engines_lazily() -> None:
    """``from sessionlab.monitor import MultiProjectMonitor`` works; the import stays cheap."""
    code = (
        "import sys, sessionlab.monitor as m\n"
        "assert 'sessionlab.monitor.engine' not in sys.modules\n"
        "from sessionlab.monitor import MultiProjectMonitor, SessionMonitor\n"
        "from sessionlab.monitor.multi import MultiProjectMonitor as M\n"
        "assert MultiProjectMonitor is M and 'MultiProjectMonitor' in m.__all__\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_pipelined_batches_roll_back_together_when_an_append_fails(tmp_path: Path) -> None:
    """Batch N+1 is rewritten while batch N is fsynced: N failing must undo both, lose none.

    Every other append fails (ENOSPC after half the bytes) on a stray of many 1 MiB batches;
    the retries must give every uuid exactly once, in the stray's order, as one chain.
    """
    project = tmp_path / "-tmp-w"
    project.mkdir()
    sid = new_id()
    items = conversation(new_id(), 2_400, text="x" * 2_000)  # ~5 MB: 5 batches
    calls = {"n": 0}

    def flaky_write(fd: int, data) -> int:
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    monitor = SessionMonitor(
        project, sid, batch_bytes=1 << 20, retry_interval=0.05, quiet_period=0.1, empty_grace=0.1
    )
    with monitor:
        assert wait_until(lambda: monitor._fixed is not None)
        monitor._fixed.write = flaky_write
        write_stray(project, items)
        assert monitor.wait_idle(30)
        stats = monitor.get_stats()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    assert [e["uuid"] for e in entries] == [i["uuid"] for i in items]
    assert len(conversation_chain(entries)) == len(items)
    assert stats["write_errors"] >= 3 and stats["lines_merged"] == len(items)


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "pread-pwrite"])
def test_backup_copies_exactly_the_new_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    from sessionlab.monitor.incremental_backup import IncrementalBackup

    if not kernel_copy:

        def refuse(*args: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")

        monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(b"x" * 3_000_001)
    backup = IncrementalBackup(tmp_path / "backups", "sid")
    assert backup.sync(fixed) == 3_000_001
    with fixed.open("ab") as f:
        f.write(b"tail\n")
    assert backup.sync(fixed) == 5
    assert (tmp_path / "backups" / "sid.1.backup").read_bytes() == fixed.read_bytes()
