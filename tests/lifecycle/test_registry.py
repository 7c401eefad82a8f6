"""The session registry: limits, activity, idle timeouts, orphans, health and forced cleanup."""

from __future__ import annotations

import pytest

from sessionlab.errors import CourseError
from sessionlab.lifecycle import RegistrySettings, SessionRegistry, find_orphans


def registry(clock, tmp_path=None, **settings) -> SessionRegistry:
    return SessionRegistry(RegistrySettings(**settings), project_dir=tmp_path, clock=clock)


def test_register_stops_at_the_limit_and_a_slot_frees_on_unregister(clock):
    m = registry(clock, max_sessions=2)
    assert m.register("a") and m.register("b")
    assert not m.register("c")
    assert m.rejected == 1
    assert m.register("a"), "registering a known key again is not a new session"
    assert len(m) == 2
    assert m.unregister("a") and not m.unregister("a")
    assert m.register("c")
    assert m.keys() == ["b", "c"]


def test_timeout_expires_exactly_the_sessions_idle_for_at_least_the_timeout(clock):
    m = registry(clock, timeout_minutes=30)
    for key in ("old", "edge", "fresh"):
        m.register(key)
    clock.advance(minutes=10)
    m.touch("edge")
    clock.advance(minutes=10)
    m.touch("fresh")
    clock.advance(minutes=10)  # old: 30 min idle, edge: 20, fresh: 10
    assert m.expired() == ["old"]
    clock.advance(minutes=10)  # edge reaches exactly 30
    assert m.expired() == ["old", "edge"]
    assert m.cleanup_inactive() == ["old", "edge"]
    assert m.keys() == ["fresh"]
    assert m.cleanup_inactive() == []


def test_activity_on_an_unknown_key_is_ignored(clock):
    m = registry(clock)
    m.touch("ghost")
    m.bind("ghost", "x")
    assert "ghost" not in m


def test_timeout_zero_never_expires_anything(clock):
    m = registry(clock, max_sessions=500, timeout_minutes=0, cleanup_interval_minutes=0)
    for n in range(500):
        m.register(f"s{n}")
    clock.advance(minutes=60 * 24 * 365 * 10)  # ten years idle
    assert m.permanent
    assert m.expired() == [] and m.cleanup_inactive() == []
    assert len(m) == 500
    assert m.health_report()["config"] == {
        "timeout_minutes": 0,
        "cleanup_interval": 0,
        "permanent": True,
    }


def write(folder, stem, text="{}\n"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.jsonl"
    path.write_text(text)
    return path


def test_orphans_both_ways_and_pending_sessions_are_not_orphans(clock, tmp_path):
    project = tmp_path / "project"
    write(project, "t-kept")
    write(project, "t-stray")
    write(project, "agent-123")  # a sub-agent sidechain: not a session
    (project / "t-folder.jsonl").mkdir()
    m = registry(clock, project)
    m.register("kept", "t-kept")
    m.register("lost")
    m.bind("lost", "t-deleted")
    m.register("pending")  # no turn yet: no transcript expected
    clock.advance(m.transcript_grace)  # "lost" reported its id long enough ago
    orphans = m.orphans()
    assert orphans.missing_transcripts == ["t-deleted"]
    assert orphans.unregistered_transcripts == ["t-stray"]
    assert orphans.count == 2


def test_a_transcript_the_cli_has_not_written_yet_is_not_missing_during_the_grace(clock, tmp_path):
    """The CLI reports a session id before it first writes ``<id>.jsonl`` (measured)."""
    m = registry(clock, tmp_path)
    m.register("fresh")
    m.bind("fresh", "t-fresh")
    assert m.orphans().count == 0, "the first write is still pending"
    clock.advance(m.transcript_grace - 1)
    m.bind("fresh", "t-fresh")  # a later turn of the same file does not restart the grace
    assert m.orphans().count == 0
    write(tmp_path, "t-fresh")
    assert m.orphans().count == 0, "the file appeared: neither missing nor unregistered"
    (tmp_path / "t-fresh.jsonl").unlink()
    clock.advance(1)
    assert m.orphans().missing_transcripts == ["t-fresh"], "after the grace it is missing"
    m.register("adopted", "t-adopted")  # an id given at registration names an existing file
    assert m.orphans().missing_transcripts == ["t-adopted", "t-fresh"]


def test_orphans_in_a_folder_the_cli_has_not_created_yet(clock, tmp_path):
    assert find_orphans(["a"], tmp_path / "missing").missing_transcripts == ["a"]
    with pytest.raises(CourseError, match="project_dir"):
        registry(clock).orphans()


def test_health_report_counts_recent_idle_and_expiring(clock, tmp_path):
    m = registry(clock, tmp_path, max_sessions=5, timeout_minutes=30)
    m.register("a")
    clock.advance(minutes=31)
    m.register("b")
    m.register("c")
    report = m.health_report()
    assert report["sessions"] == {
        "active": 3,
        "recent": 2,
        "idle": 1,
        "max": 5,
        "rejected": 0,
        "expiring": 1,
    }
    assert report["orphans"] == {"missing_transcripts": [], "unregistered_transcripts": []}


def test_force_cleanup_backs_up_verified_copies_before_unregistering(clock, tmp_path):
    project = tmp_path / "project"
    one = write(project, "t1", '{"a": 1}\n')
    two = write(project, "t2", '{"b": 2}\n' * 100)
    m = registry(clock, project)
    m.register("k1", "t1")
    m.register("k2", "t2")
    report = m.force_cleanup(tmp_path / "backups")
    assert sorted(report.removed) == ["k1", "k2"] and len(m) == 0
    assert report.backup is not None and report.backup.ok
    assert {p.name for p in report.backup.copied} == {"t1.jsonl", "t2.jsonl"}
    assert (report.backup.folder / "t2.jsonl").read_bytes() == two.read_bytes()
    assert one.exists() and two.exists(), "transcripts stay unless deletion is asked for"
    assert report.deleted_files == []


def test_force_cleanup_can_delete_only_what_it_backed_up(clock, tmp_path):
    project = tmp_path / "project"
    write(project, "t1")
    m = registry(clock, project)
    m.register("k1", "t1")
    report = m.force_cleanup(tmp_path / "backups", delete_transcripts=True)
    assert [p.name for p in report.deleted_files] == ["t1.jsonl"]
    assert not (project / "t1.jsonl").exists()
    assert (report.backup.folder / "t1.jsonl").exists()
    second = m.force_cleanup(tmp_path / "backups")  # nothing left: no empty backup folder
    assert second.backup is None


def test_force_cleanup_refuses_when_a_backup_fails(clock, tmp_path, monkeypatch):
    project = tmp_path / "project"
    write(project, "t1")
    m = registry(clock, project)
    m.register("k1", "t1")

    def broken_copy(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("sessionlab.lifecycle.backup.shutil.copy2", broken_copy)
    with pytest.raises(CourseError, match=r"backup of 1 transcript.*disk full.*nothing was"):
        m.force_cleanup(tmp_path / "backups", delete_transcripts=True)
    assert "k1" in m and (project / "t1.jsonl").exists()


def test_backups_never_overwrite_each_other(tmp_path):
    from sessionlab.lifecycle.backup import backup_folder

    first = backup_folder(tmp_path, stamp=0)
    second = backup_folder(tmp_path, stamp=0)
    assert first != second and first.name == "backup-19700101T000000Z"


def test_files_of_ended_expired_or_forked_sessions_are_history_not_orphans(clock, tmp_path):
    project = tmp_path / "project"
    for stem in ("t-ended", "t-expired", "t-fork-1", "t-fork-2", "t-stray"):
        write(project, stem)
    m = registry(clock, project, timeout_minutes=30)
    for key, transcript in [("ended", "t-ended"), ("expired", "t-expired"), ("fork", "t-fork-1")]:
        m.register(key, transcript)
    m.unregister("ended")
    m.bind("fork", "t-fork-2")  # a legacy --resume wrote a new file and moved the session on
    clock.advance(minutes=30)
    m.touch("fork")
    assert m.cleanup_inactive() == ["expired"]
    (project / "t-expired.jsonl").unlink()  # an expired session's file may go: not missing
    assert m.known_transcripts() == {"t-ended", "t-expired", "t-fork-1", "t-fork-2"}
    orphans = m.orphans()
    assert (orphans.missing_transcripts, orphans.unregistered_transcripts) == ([], ["t-stray"])
