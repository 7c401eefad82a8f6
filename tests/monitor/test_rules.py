"""One test per design rule (docs/monitor-baseline.md §4), run against both monitors.

Each rule test is parametrized over the reference ``SessionMonitor`` and the lesson's
``NaivePollingMonitor``. The naive parameter is ``xfail(strict=True)``: the test documents a
flaw only if it really fails there, and it must pass on the reference design.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from sessionlab.monitor.testkit import (
    conversation,
    dumps,
    entry,
    fixed_entries,
    make_monitor,
    new_id,
    settle,
    strays,
    write_stray,
)
from sessionlab.transcripts import conversation_chain, duplicate_uuids
from sessionlab.waiting import wait_until


def _naive_available() -> bool:
    try:
        from sessionlab.monitor.naive import NaivePollingMonitor  # noqa: F401
    except ImportError:
        return False
    return True


def monitors(flaw: str) -> list:
    """``reference`` always; ``naive`` as a strict xfail naming the flaw (skipped if absent)."""
    naive_marks = [pytest.mark.xfail(strict=True, reason=f"naive monitor: {flaw}")]
    if not _naive_available():
        naive_marks = [pytest.mark.skip(reason="NaivePollingMonitor not available yet")]
    return [
        pytest.param("reference", id="reference"),
        pytest.param("naive", id="naive", marks=naive_marks),
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "-tmp-w"
    directory.mkdir()
    return directory


@pytest.fixture
def sid() -> str:
    return new_id()


class _Writer(threading.Thread):
    """Writes lines through ONE fd kept open (the CLI may do this), with pauses."""

    def __init__(self, path: Path, lines: list[str], pause: float, split: int | None = None):
        super().__init__(daemon=True)
        self.path, self.lines, self.pause, self.split = path, lines, pause, split

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for line in self.lines:
                data = (line + "\n").encode()
                if self.split is not None:
                    os.write(fd, data[: self.split])
                    time.sleep(self.pause)
                    os.write(fd, data[self.split :])
                else:
                    os.write(fd, data)
                time.sleep(self.pause)
        finally:
            os.close(fd)


def _uuids(entries: list[dict]) -> list[str]:
    return [e["uuid"] for e in entries if "uuid" in e]


# -- rule 10: baseline -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", monitors("no baseline: old sessions are swallowed as strays"))
def test_files_present_at_start_are_history(kind: str, project: Path, sid: str) -> None:
    old = write_stray(project, conversation(new_id(), 2), name=f"{new_id()}.jsonl")
    old_bytes = old.read_bytes()
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        write_stray(project, conversation(new_id(), 2))
        settle(monitor, project, sid, keep=[old.name])
    finally:
        monitor.stop()
    assert old.exists() and old.read_bytes() == old_bytes
    entries, _ = fixed_entries(project, sid)
    assert len(entries) == 2


# -- rules 1 + 5: follow by inode, remove only a dead inode ------------------------------------
@pytest.mark.parametrize("kind", monitors("unlinks a file whose writer keeps its fd open"))
def test_persistent_fd_writer_loses_nothing(kind: str, project: Path, sid: str) -> None:
    items = conversation(new_id(), 30)
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        writer = _Writer(project / f"{new_id()}.jsonl", [dumps(i) for i in items], pause=0.02)
        writer.start()
        writer.join()
        settle(monitor, project, sid)
    finally:
        monitor.stop()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    assert sorted(_uuids(entries)) == sorted(i["uuid"] for i in items)


# -- rule 2: only complete lines ---------------------------------------------------------------
@pytest.mark.parametrize("kind", monitors("merges the half line a poll happened to see"))
def test_torn_lines_are_never_merged_half(kind: str, project: Path, sid: str) -> None:
    items = conversation(new_id(), 4, text="línea ")
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        writer = _Writer(project / f"{new_id()}.jsonl", [dumps(i) for i in items], 0.3, split=40)
        writer.start()
        writer.join()
        settle(monitor, project, sid)
    finally:
        monitor.stop()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    assert sorted(_uuids(entries)) == sorted(i["uuid"] for i in items)


def test_split_inside_a_utf8_character_is_reassembled(project: Path, sid: str) -> None:
    item = entry(new_id(), None, text="ação ✓ 🙂")
    data = dumps(item)
    cut = data.encode().index("🙂".encode()) + 2  # inside the 4-byte emoji
    monitor = make_monitor("reference", project, sid)
    with monitor:
        writer = _Writer(project / f"{new_id()}.jsonl", [data], 0.2, split=cut)
        writer.start()
        writer.join()
        settle(monitor, project, sid)
    entries, bad = fixed_entries(project, sid)
    assert bad == 0 and entries[0]["message"]["content"] == "ação ✓ 🙂"


# -- rule 3: idempotent merge ------------------------------------------------------------------
@pytest.mark.parametrize("kind", monitors("appends legacy --resume copies again (same uuids)"))
def test_resume_copies_are_deduplicated(kind: str, project: Path, sid: str) -> None:
    first = conversation(new_id(), 4)
    fork = new_id()
    copied = [{**e, "sessionId": fork} for e in first]  # legacy fork: same uuids
    new_turn = conversation(fork, 2, parent=first[-1]["uuid"])
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        write_stray(project, first)
        settle(monitor, project, sid)
        write_stray(project, copied + new_turn)
        settle(monitor, project, sid)
    finally:
        monitor.stop()
    entries, _ = fixed_entries(project, sid)
    assert duplicate_uuids(entries) == []
    assert len(entries) == 6


# -- chain continuity (docs/transcript-format.md §4) -----------------------------------------------
@pytest.mark.parametrize("kind", monitors("fragments keep parentUuid null: resume sees one"))
def test_fragments_form_one_conversation_chain(kind: str, project: Path, sid: str) -> None:
    monitor = make_monitor(kind, project, sid)
    written = []
    monitor.start()
    try:
        for _ in range(3):
            fragment = conversation(new_id(), 2)
            written += [e["uuid"] for e in fragment]
            write_stray(project, fragment)
            settle(monitor, project, sid)
    finally:
        monitor.stop()
    entries, _ = fixed_entries(project, sid)
    chain = conversation_chain(entries)
    assert [e["uuid"] for e in chain] == written
    assert {e["sessionId"] for e in entries} == {sid}


# -- rule 6: never links or special files ------------------------------------------------------
def _plant(kind: str, project: Path, outside: Path) -> Path:
    planted = project / f"{new_id()}.jsonl"
    secret = outside / "secret.jsonl"
    secret.write_text(dumps(entry(new_id(), None, text="SECRET")) + "\n")
    if kind == "symlink":
        planted.symlink_to(secret)
    elif kind == "symlink-passwd":
        planted.symlink_to("/etc/passwd")
    elif kind == "hardlink":
        os.link(secret, planted)
    elif kind == "fifo":
        os.mkfifo(planted)
    elif kind == "directory":
        planted.mkdir()
        (planted / "inner.jsonl").write_text(dumps(entry(new_id(), None)) + "\n")
    return planted


SPECIAL = [
    pytest.param("reference", "symlink", id="reference-symlink"),
    pytest.param("reference", "symlink-passwd", id="reference-symlink-passwd"),
    pytest.param("reference", "hardlink", id="reference-hardlink"),
    pytest.param("reference", "fifo", id="reference-fifo"),
    pytest.param("reference", "directory", id="reference-directory"),
    *[
        pytest.param("naive", k, id=f"naive-{k}", marks=monitors(f"follows a {k}")[1].marks)
        for k in ("symlink", "hardlink")
    ],
]


@pytest.mark.parametrize(("kind", "planted_as"), SPECIAL)
def test_links_and_special_files_are_left_alone(
    kind: str, planted_as: str, project: Path, sid: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        planted = _plant(planted_as, project, outside)
        before = os.lstat(planted)
        write_stray(project, conversation(new_id(), 2))  # a real stray as a sync point
        settle(monitor, project, sid, keep=[planted.name])
        time.sleep(0.3)
    finally:
        monitor.stop()
    after = os.lstat(planted)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    text = (project / f"{sid}.jsonl").read_text()
    assert "SECRET" not in text and "root:" not in text
    assert len(fixed_entries(project, sid)[0]) == 2
    if kind == "reference":
        assert planted.name in monitor.get_stats()["rejected_files"]


def test_path_swapped_for_symlink_is_judged_by_what_was_opened(project: Path, tmp_path: Path):
    from sessionlab.durable.safety import UnsafeFile, open_stray

    secret = tmp_path / "secret"
    secret.write_text("x\n")
    (project / "a.jsonl").symlink_to(secret)
    dir_fd = os.open(project, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(UnsafeFile):
            open_stray(dir_fd, "a.jsonl", os.fstat(dir_fd).st_dev)
    finally:
        os.close(dir_fd)


# -- rule 7: mode 0600 -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "umask"),
    [
        pytest.param("reference", 0o000, id="reference-umask000"),
        pytest.param("reference", 0o077, id="reference-umask077"),
        pytest.param(
            "naive",
            0o000,
            id="naive-umask000",
            marks=monitors("creates the fixed file with the umask (0666)")[1].marks,
        ),
    ],
)
def test_created_files_are_private(kind: str, umask: int, project: Path, sid: str) -> None:
    old = os.umask(umask)
    try:
        monitor = make_monitor(kind, project, sid)
        monitor.start()
        try:
            write_stray(project, [*conversation(new_id(), 2), {"bad": 1}])
            stray = write_stray(project, [])
            stray.write_bytes(b"not json\n")
            settle(monitor, project, sid)
        finally:
            monitor.stop()
    finally:
        os.umask(old)
    created = [project / f"{sid}.jsonl"]
    state = project / ".sessionlab"
    if state.exists():
        created += [p for p in state.rglob("*") if p.is_file()]
    assert len(created) > 1 or kind == "naive"
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# -- rules 2 + 8: quarantine, never drop -------------------------------------------------------
@pytest.mark.parametrize("kind", monitors("writes garbage raw into the session file"))
def test_garbage_is_quarantined_not_merged(kind: str, project: Path, sid: str) -> None:
    good = conversation(new_id(), 2)
    monitor = make_monitor(kind, project, sid)
    monitor.start()
    try:
        path = project / f"{new_id()}.jsonl"
        path.write_text(dumps(good[0]) + "\n{not json at all\n[1,2]\n" + dumps(good[1]) + "\n")
        settle(monitor, project, sid)
    finally:
        monitor.stop()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0 and len(entries) == 2
    kept = b"".join(p.read_bytes() for p in (project / ".sessionlab" / "quarantine").glob("*.bad"))
    assert b"{not json at all" in kept and b"[1,2]" in kept
    assert monitor.get_stats()["quarantined_lines"] == 2


# -- rule 11: single instance ------------------------------------------------------------------
@pytest.mark.parametrize("kind", monitors("two instances race on the same directory"))
def test_second_instance_is_refused(kind: str, project: Path, sid: str) -> None:
    from sessionlab.errors import CourseError

    first = make_monitor(kind, project, sid)
    first.start()
    try:
        second = make_monitor(kind, project, sid)
        with pytest.raises(CourseError, match="already running"):
            second.start()
            second.stop()
    finally:
        first.stop()


# -- rule 9: write errors (fault-injection seam; real ENOSPC in test_engine_errors) ------------
def test_enospc_keeps_the_stray_and_retries(project: Path, sid: str) -> None:
    import errno

    items = conversation(new_id(), 20)
    monitor = make_monitor("reference", project, sid, retry_interval=0.1)
    failures = {"left": 3}

    def torn_write(fd: int, data) -> int:
        if failures["left"]:
            failures["left"] -= 1
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    with monitor:
        assert wait_until(lambda: monitor._fixed is not None)
        monitor._fixed.write = torn_write
        write_stray(project, items)
        settle(monitor, project, sid)
        stats = monitor.get_stats()
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    assert sorted(_uuids(entries)) == sorted(i["uuid"] for i in items)
    assert stats["write_errors"] == 3 and not strays(project, sid)
