"""Each case issue 13 found on real transcripts, before and after: meaning kept, nothing lost.

Before (the tree at 0989869): compaction undone; a fragment's root parented on the last
user/assistant entry instead of the last entry the CLI wrote; a null root left when the fixed
file held only uuid-less/progress lines; a non-root entry re-linked; every later root of a
stray joined; repeated uuid-less lines dropped; a complete unterminated last line of the fixed
file quarantined silently (and a long one deleted); a hard-linked fixed file's other name
truncated; a quarantined middle line skipped by re-linking its child; strays merged in
mtime/name order. Each test below fails on that tree.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from sessionlab.cli import main
from sessionlab.durable import appends
from sessionlab.durable.appends import UnsafeFixedFile
from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.testkit import FAST_REFERENCE, dumps, entry, new_id, settle, strays
from sessionlab.transcripts import conversation_chain, read_entries

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"


def fixture(name: str) -> Path:
    return next((FIXTURES / name).glob("*.jsonl"))


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes()[:-1].split(b"\n")


def write(path: Path, items: list[dict[str, Any]] | list[bytes], end: bytes = b"\n") -> Path:
    raw = [x if isinstance(x, bytes) else dumps(x).encode() for x in items]
    path.write_bytes(b"\n".join(raw) + end)
    return path


def merge_all(project: Path, sid: str) -> dict[str, Any]:
    with SessionMonitor(project, sid, adopt_existing=True, **FAST_REFERENCE) as monitor:
        settle(monitor, project, sid)
        assert monitor.error is None
        return monitor.get_stats()


def test_compaction_stays_a_root(project_dir: Path) -> None:
    """Before: the boundary was re-linked, the reader saw the whole pre-compaction history."""
    source = fixture("current-compact")
    sid = new_id()
    shutil.copy(source, project_dir / f"{new_id()}.jsonl")  # the unfragmented file, a stray
    stats = merge_all(project_dir, sid)
    assert stats["relinked_fragments"] == 0
    merged = read_entries(project_dir / f"{sid}.jsonl")
    boundary = next(e for e in merged if e.get("subtype") == "compact_boundary")
    assert boundary["parentUuid"] is None and boundary["logicalParentUuid"]
    original = conversation_chain(read_entries(source))
    assert [e["uuid"] for e in conversation_chain(merged)] == [e["uuid"] for e in original]
    assert len(original) == 7, "summary, /compact command and output, two turns after it"


def test_root_is_parented_on_the_last_entry_written_whatever_its_type(project_dir: Path) -> None:
    """Before: linked to the last user/assistant entry; the stop-hook lines became a branch."""
    lines = lines_of(fixture("current-hooks"))
    entries = [json.loads(x) for x in lines]
    cut = next(i for i, e in enumerate(entries) if e.get("subtype") == "stop_hook_summary") - 2
    sid = entries[0]["sessionId"]
    write(project_dir / f"{sid}.jsonl", lines[:cut])
    stray = [x.replace(sid.encode(), b"0" * 8 + sid[8:].encode()) for x in lines[cut:]]
    hook = next(i for i, x in enumerate(stray) if b"stop_hook_summary" in x)
    parent = json.loads(stray[hook])["parentUuid"]
    stray[hook] = stray[hook].replace(f'"parentUuid":"{parent}"'.encode(), b'"parentUuid":null')
    write(project_dir / f"{new_id()}.jsonl", stray)
    assert merge_all(project_dir, sid)["relinked_fragments"] == 1
    assert (project_dir / f"{sid}.jsonl").read_bytes() == fixture("current-hooks").read_bytes()


def test_root_after_a_fixed_file_of_uuid_less_and_progress_lines(project_dir: Path) -> None:
    """Before: a fixed file without user/assistant entries left the root null: two roots."""
    sid, progress = new_id(), new_id()
    queue = {"type": "queue-operation", "operation": "dequeue", "sessionId": sid}
    tick = {**entry(sid, None, "progress"), "uuid": progress}
    write(project_dir / f"{sid}.jsonl", [queue, tick])
    root = entry(new_id(), None, "user", "hello")
    write(project_dir / f"{new_id()}.jsonl", [root, entry(root["sessionId"], root["uuid"])])
    merge_all(project_dir, sid)
    merged = read_entries(project_dir / f"{sid}.jsonl")
    assert merged[2]["parentUuid"] == progress


def test_only_the_first_root_of_a_stray_changes(project_dir: Path) -> None:
    """Before: every later root of a stray was joined (5 -> 10 messages); and an entry whose
    parent comes on a later line (a 2.1.x attachment) was re-linked too."""
    sid = new_id()
    fixed = [entry(sid, None, "user", "before")]
    write(project_dir / f"{sid}.jsonl", fixed)
    other = new_id()
    first = entry(other, None, "user", "one")
    attachment = {**entry(other, None, "attachment"), "parentUuid": None}
    later_user = entry(other, None, "user", "two")
    attachment["parentUuid"] = later_user["uuid"]  # its parent is written on a later line
    items = [first, entry(other, first["uuid"], "assistant"), attachment, later_user]
    write(project_dir / f"{new_id()}.jsonl", items)
    assert merge_all(project_dir, sid)["relinked_fragments"] == 1
    merged = {e["uuid"]: e for e in read_entries(project_dir / f"{sid}.jsonl")}
    assert merged[first["uuid"]]["parentUuid"] == fixed[0]["uuid"]
    assert merged[later_user["uuid"]]["parentUuid"] is None, "the CLI's own second root"
    assert merged[attachment["uuid"]]["parentUuid"] == later_user["uuid"]


def test_repeated_uuid_less_lines_are_kept(project_dir: Path) -> None:
    """Before: identical permission-mode/last-prompt lines were deduplicated by content, and a
    toggled mode came back as the wrong one.

    The pinned 2.1.112 records the mode on user lines; later 2.1.x CLIs also write
    ``{"type":"permission-mode",...}`` lines (issue 13's real files), so those are inserted
    into the real 2.1.112 transcript between its turns, toggled as a user would.
    """
    sid = new_id()
    source = fixture("current-modes")
    lines = lines_of(source)
    original = json.loads(lines[0])["sessionId"]
    turns = [i for i, x in enumerate(lines) if b'"operation":"enqueue"' in x]

    def mode(name: str) -> bytes:
        value = {"type": "permission-mode", "permissionMode": name, "sessionId": original}
        return json.dumps(value, separators=(",", ":")).encode()

    for at, name in reversed(
        list(zip(turns, ["acceptEdits", "default", "acceptEdits"], strict=False))
    ):
        lines.insert(at, mode(name))
    write(project_dir / f"{new_id()}.jsonl", lines)
    merge_all(project_dir, sid)
    expected = b"\n".join(lines).replace(original.encode(), sid.encode()) + b"\n"
    assert (project_dir / f"{sid}.jsonl").read_bytes() == expected
    merged = read_entries(project_dir / f"{sid}.jsonl")
    modes = [e["permissionMode"] for e in merged if e.get("type") == "permission-mode"]
    assert modes == ["acceptEdits", "default", "acceptEdits"]
    assert sum(e.get("type") == "last-prompt" for e in merged) == 2


def test_complete_last_line_without_newline_is_kept(project_dir: Path) -> None:
    """Before: cut into quarantine while the output said "0 quarantined"."""
    sid = new_id()
    first = entry(sid, None, "user", "kept")
    fixed = write(project_dir / f"{sid}.jsonl", [first], end=b"")
    other = new_id()
    write(project_dir / f"{new_id()}.jsonl", [entry(other, None, "user", "next")])
    stats = merge_all(project_dir, sid)
    assert stats["quarantined_lines"] == 0
    merged = read_entries(fixed)
    assert merged[0]["uuid"] == first["uuid"]
    assert merged[1]["parentUuid"] == first["uuid"]


def test_torn_or_overlong_last_line_is_quarantined_whole(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a 70 MB unterminated last line was deleted, in neither quarantine nor backups."""
    monkeypatch.setattr(appends, "TAIL_PARSE_LIMIT", 1000)  # stands for the 64 MiB cap
    sid = new_id()
    first = dumps(entry(sid, None, "user", "ok")).encode()
    long_tail = dumps(entry(sid, None, "user", "x" * 5000)).encode()  # valid, but over the cap
    fixed = project_dir / f"{sid}.jsonl"
    fixed.write_bytes(first + b"\n" + long_tail)
    with SessionMonitor(project_dir, sid, **FAST_REFERENCE) as monitor:
        stats = monitor.get_stats()
    assert stats["quarantined_lines"] == 1
    assert fixed.read_bytes() == first + b"\n"
    bad = list(Path(stats["quarantine_dir"]).glob("*.bad"))
    assert [p.read_bytes() for p in bad] == [long_tail]


@pytest.mark.parametrize("kind", ["hardlink", "symlink", "fifo", "directory"])
def test_linked_or_special_fixed_file_is_refused_before_any_write(
    project_dir: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the outside file behind a hard link was truncated, then a traceback."""
    sid = new_id()
    fixed = project_dir / f"{sid}.jsonl"
    outside = tmp_path / "outside.jsonl"
    content = dumps(entry(sid, None)).encode() + b"\n" + b'{"torn'
    outside.write_bytes(content)
    if kind == "hardlink":
        os.link(outside, fixed)
    elif kind == "symlink":
        fixed.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(fixed)
    else:
        fixed.mkdir()
    write(project_dir / f"{new_id()}.jsonl", [entry(new_id(), None)])
    with pytest.raises(UnsafeFixedFile):
        SessionMonitor(project_dir, sid, **FAST_REFERENCE).start()
    for apply in ([], ["--apply"]):
        code = main(["consolidate", str(project_dir), "--into", sid, *apply])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "refusing" in err or "hard links" in err
    assert outside.read_bytes() == content, "the file behind the link is untouched"
    assert not (project_dir / ".sessionlab" / "quarantine").exists()


def test_quarantine_is_reported_and_keeps_the_chain(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the child of a quarantined middle line was re-linked past it; the dry run said
    "0 bad" where --apply quarantined."""
    sid = new_id()
    write(project_dir / f"{sid}.jsonl", [entry(sid, None, "user", "start")])
    other = new_id()
    a = entry(other, None, "user", "a")
    b = entry(other, a["uuid"], "assistant", "b")
    c = entry(other, b["uuid"], "user", "c")
    bad = b"\xef\xbb\xbf" + dumps(b).encode()  # a BOM: not a line the CLI can read back
    write(project_dir / f"{new_id()}.jsonl", [dumps(a).encode(), bad, dumps(c).encode()])
    assert main(["consolidate", str(project_dir), "--into", sid]) == 0
    dry = capsys.readouterr().out
    quarantine = project_dir / ".sessionlab" / "quarantine"
    assert f"1 quarantined (would go to {quarantine})" in dry
    assert main(["consolidate", str(project_dir), "--into", sid, "--apply"]) == 0
    out = capsys.readouterr().out
    assert f"1 quarantined in {quarantine}" in out
    assert [p.read_bytes() for p in quarantine.glob("*.bad")] == [bad]
    merged = {e["uuid"]: e for e in read_entries(project_dir / f"{sid}.jsonl")}
    assert merged[c["uuid"]]["parentUuid"] == b["uuid"], "written as the CLI wrote it"


def test_order_comes_from_the_conversation_not_mtimes_or_names(project_dir: Path) -> None:
    """Before: same mtime (a copied folder) -> name order, so these two were swapped."""
    sid = new_id()
    one, two = new_id(), new_id()
    first = [entry(one, None, "user", "first"), entry(one, None, "assistant")]
    first[1]["parentUuid"] = first[0]["uuid"]
    second = [entry(two, None, "user", "second")]
    a = write(project_dir / f"ffffffff{new_id()[8:]}.jsonl", first)
    b = write(project_dir / f"00000000{new_id()[8:]}.jsonl", second)
    for path in (a, b):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    merge_all(project_dir, sid)
    chain = conversation_chain(read_entries(project_dir / f"{sid}.jsonl"))
    assert [e["message"]["content"] for e in chain][::2] == ["first", "second"]
    assert not strays(project_dir, sid)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    path = tmp_path / "projects" / "-w"
    path.mkdir(parents=True)
    return path
