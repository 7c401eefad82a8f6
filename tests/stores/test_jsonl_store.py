"""JsonlSessionStore: Claude Code's layout, private files, whole lines, damage tolerated.

Plus the two server-less details of the other stores that are about files too: the SQLite
database is private and in WAL mode.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk.types import SessionKey

from sessionlab.monitor.safety import UnsafeFile
from sessionlab.stores import JsonlSessionStore, SQLiteSessionStore

pytestmark = pytest.mark.anyio

KEY: SessionKey = {"project_key": "-work-proj", "session_id": "sess-1"}
SUB: SessionKey = {**KEY, "subpath": "subagents/agent-a1"}


def entry(uid: str | None, n: int, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "user", "n": n, **extra}
    if uid is not None:
        out["uuid"] = uid
    return out


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0: whatever the files get, the store chose it, not the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


async def test_layout_is_claude_codes_own(tmp_path: Path):
    root = tmp_path / "projects"
    store = JsonlSessionStore(root)
    await store.append(KEY, [entry("u1", 1), entry(None, 2)])
    await store.append(SUB, [entry("s1", 1)])
    main = root / "-work-proj" / "sess-1.jsonl"
    sub = root / "-work-proj" / "sess-1" / "subagents" / "agent-a1.jsonl"
    assert store.path_of(KEY) == main and store.path_of(SUB) == sub
    assert main.read_bytes() == line(entry("u1", 1)) + line(entry(None, 2))
    assert sub.read_bytes() == line(entry("s1", 1))
    assert await store.list_subkeys(KEY) == ["subagents/agent-a1"]
    summary = root / "-work-proj" / ".summaries" / "sess-1.json"
    assert json.loads(summary.read_text())["mtime"] == main.stat().st_mtime_ns // 1_000_000


async def test_files_are_0600_and_folders_0700(tmp_path: Path, permissive_umask: None):
    root = tmp_path / "projects"
    store = JsonlSessionStore(root)
    await store.append(KEY, [entry("u1", 1)])
    await store.append(SUB, [entry("s1", 1)])
    project = root / "-work-proj"
    for folder in (root, project, project / "sess-1", project / "sess-1/subagents"):
        assert mode(folder) == 0o700, folder
    assert mode(project / ".summaries") == 0o700
    for file in (project / "sess-1.jsonl", project / "sess-1/subagents/agent-a1.jsonl"):
        assert mode(file) == 0o600, file
    assert mode(project / ".summaries/sess-1.json") == 0o600


async def test_torn_and_malformed_lines_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    store = JsonlSessionStore(tmp_path)
    await store.append(KEY, [entry("u1", 1), entry("u2", 2)])
    path = store.path_of(KEY)
    with path.open("ab") as handle:  # someone else: a junk line, then a crash mid-line
        handle.write(b"this is not json\n" + line(entry("u3", 3)) + b'{"type":"user","uuid":"u4')
    with caplog.at_level(logging.WARNING, logger="sessionlab.stores.jsonl_store"):
        loaded = await store.load(KEY)
    assert loaded == [entry("u1", 1), entry("u2", 2), entry("u3", 3)]
    assert "skipped 2 malformed line(s)" in caplog.text

    # The next append starts on a fresh line: its own lines are whole, the torn one stays out.
    await store.append(KEY, [entry("u3", 3), entry("u4", 4), entry("u5", 5)])
    assert await store.load(KEY) == [entry(f"u{n}", n) for n in range(1, 6)]
    assert path.read_bytes().endswith(b'"uuid":"u4\n' + line(entry("u4", 4)) + line(entry("u5", 5)))


async def test_a_complete_last_line_without_newline_is_kept(tmp_path: Path):
    """The SDK's own reader accepts it, so the store does too, and never duplicates it."""
    store = JsonlSessionStore(tmp_path)
    path = store.path_of(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(line(entry("u1", 1)) + line(entry("u2", 2))[:-1])
    assert await store.load(KEY) == [entry("u1", 1), entry("u2", 2)]
    await store.append(KEY, [entry("u2", 2), entry("u3", 3)])
    assert await store.load(KEY) == [entry("u1", 1), entry("u2", 2), entry("u3", 3)]


async def test_lines_written_by_someone_else_count_for_idempotency(tmp_path: Path):
    """E.g. the CLI resumed on the mirrored file: its uuids are not appended a second time."""
    store = JsonlSessionStore(tmp_path)
    await store.append(KEY, [entry("u1", 1)])  # now the store has cached the file's uuids
    with store.path_of(KEY).open("ab") as handle:
        handle.write(line(entry("u2", 2)))
    await store.append(KEY, [entry("u1", 1), entry("u2", 2), entry("u3", 3)])
    assert await store.load(KEY) == [entry("u1", 1), entry("u2", 2), entry("u3", 3)]


async def test_summary_of_a_file_written_by_the_cli_is_rebuilt_not_guessed(tmp_path: Path):
    """No sidecar for an existing transcript: the first append folds the whole file."""
    store = JsonlSessionStore(tmp_path)
    path = store.path_of(KEY)
    path.parent.mkdir(parents=True)
    first = {"type": "user", "uuid": "u1", "message": {"role": "user", "content": "hello there"}}
    path.write_bytes(line(first))
    await store.append(KEY, [entry("u2", 2, customTitle="titled")])
    (summary,) = await store.list_session_summaries(KEY["project_key"])
    assert summary["data"]["first_prompt"] == "hello there"
    assert summary["data"]["custom_title"] == "titled"
    (listed,) = await store.list_sessions(KEY["project_key"])
    assert summary["mtime"] == listed["mtime"]

    # someone appends behind the store's back: the sidecar is now older than the file...
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000))
    (listed,) = await store.list_sessions(KEY["project_key"])
    (summary,) = await store.list_session_summaries(KEY["project_key"])
    assert summary["mtime"] < listed["mtime"], "readers can tell the sidecar is stale"


async def test_a_symlink_inside_root_is_never_followed(tmp_path: Path):
    root, outside = tmp_path / "projects", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "-work-proj").symlink_to(outside)
    store = JsonlSessionStore(root)
    with pytest.raises(UnsafeFile, match="not a plain directory"):
        await store.append(KEY, [entry("u1", 1)])
    with pytest.raises(UnsafeFile):
        await store.load(KEY)
    with pytest.raises(UnsafeFile):
        await store.list_sessions("-work-proj")
    assert list(outside.iterdir()) == []


async def test_deleting_a_subpath_prunes_its_empty_folders(tmp_path: Path):
    store = JsonlSessionStore(tmp_path)
    await store.append(KEY, [entry("u1", 1)])
    await store.append(SUB, [entry("s1", 1)])
    await store.delete(SUB)
    assert not (tmp_path / "-work-proj" / "sess-1").exists()
    assert await store.load(KEY) == [entry("u1", 1)]


async def test_sqlite_database_is_private_and_in_wal_mode(tmp_path: Path, permissive_umask: None):
    store = SQLiteSessionStore(tmp_path / "db" / "sessions.sqlite3")
    await store.append(KEY, [entry("u1", 1)])
    assert mode(store.path) == 0o600
    assert store._database().connection().execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await store.close()
