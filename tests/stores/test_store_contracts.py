"""What every store promises beyond the SDK's conformance suite, checked on all three."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from claude_agent_sdk import (
    get_session_messages,
    get_session_messages_from_store,
    list_sessions,
    list_sessions_from_store,
    project_key_for_directory,
)
from claude_agent_sdk.types import SessionKey, SessionStore

from sessionlab.stores import InvalidSessionKey
from sessionlab.transcripts import read_entries

pytestmark = pytest.mark.anyio

SAMPLE = (
    Path(__file__).resolve().parents[1] / "fixtures/samples/cc-2.0.77/session-with-resume-and-tool."
    "0e42e794-5b29-4e7a-bc7a-cc0c4b0f7b85.jsonl"
)
SAMPLE_ID = "0e42e794-5b29-4e7a-bc7a-cc0c4b0f7b85"
KEY: SessionKey = {"project_key": "proj", "session_id": "sess"}

BAD_KEYS: list[dict[str, Any]] = [
    {"project_key": "..", "session_id": "s"},
    {"project_key": "", "session_id": "s"},
    {"project_key": "p", "session_id": "../../escaped"},
    {"project_key": "p", "session_id": "/tmp/escaped"},
    {"project_key": "p", "session_id": "a\0b"},
    {"project_key": "p", "session_id": "a/b"},
    {"project_key": "p", "session_id": "a\\b"},
    {"project_key": "p", "session_id": ".hidden"},
    {"project_key": "p", "session_id": "s", "subpath": ""},
    {"project_key": "p", "session_id": "s", "subpath": "../../../escaped"},
    {"project_key": "p", "session_id": "s", "subpath": "/etc/escaped"},
    {"project_key": "p", "session_id": "s", "subpath": "subagents//agent"},
    {"project_key": "p", "session_id": "s", "subpath": "subagents/.."},
    {"project_key": "p", "session_id": "x" * 300},
]


def entry(uid: str | None, n: int, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "user", "n": n, **extra}
    if uid is not None:
        out["uuid"] = uid
    return out


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("bad", BAD_KEYS, ids=lambda k: repr(k)[:60])
async def test_unsafe_keys_are_rejected_and_touch_nothing(
    make_store: Callable[[], SessionStore], tmp_path: Path, bad: dict[str, Any]
):
    before = tree(tmp_path)
    store = make_store()
    with pytest.raises(InvalidSessionKey) as raised:
        await store.append(bad, [entry("u1", 1)])  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)
    for call in (store.load, store.delete):
        with pytest.raises(InvalidSessionKey):
            await call(bad)  # type: ignore[arg-type]
    assert tree(tmp_path) == before, "a rejected key created a file or folder"


async def test_reappending_a_batch_is_idempotent(make_store: Callable[[], SessionStore]):
    store = make_store()
    batch = [entry("u1", 1), entry(None, 2), entry("u2", 3)]
    await store.append(KEY, batch)
    await store.append(KEY, batch)  # the SDK retries a batch whose ack it did not see
    await store.append(KEY, [entry("u3", 4), entry("u3", 4), entry("u1", 1)])
    loaded = await store.load(KEY)
    # uuid-less entries (titles, tags, mode markers) have no identity: appended each time.
    assert loaded == [*batch, entry(None, 2), entry("u3", 4)]
    summaries = await store.list_session_summaries("proj")  # type: ignore[attr-defined]
    assert [s["session_id"] for s in summaries] == ["sess"]


async def test_concurrent_appends_keep_every_uuid_exactly_once(
    make_store: Callable[[], SessionStore],
    reopen_store: Callable[[SessionStore], SessionStore],
):
    """12 overlapping batches race through 3 store objects on one storage (3 "processes")."""
    first = make_store()
    stores = [first, reopen_store(first), reopen_store(first)]
    batches = [[entry(f"u{i}", i) for i in range(start, start + 10)] for start in range(0, 60, 5)]

    async with anyio.create_task_group() as group:
        for n, batch in enumerate(batches):
            group.start_soon(stores[n % 3].append, KEY, batch)
    loaded = await first.load(KEY)
    assert loaded is not None
    assert sorted(e["n"] for e in loaded) == list(range(65))


async def test_entries_round_trip_whatever_json_they_hold(make_store: Callable[[], SessionStore]):
    store = make_store()
    odd = [
        entry("a", 1, text='line one\nline two\u2028\t"quoted" \\ back'),
        entry("b", 2, text="cut emoji \ud83d", big=2**70, neg=-(2**70), pi=3.141592653589793),
        entry("c", 3, nested={"list": [1, None, True, {"ü": "ñ"}], "empty": {}}, e=1e-300),
    ]
    await store.append(KEY, odd)
    assert await store.load(KEY) == odd


async def test_keys_that_differ_only_by_separators_do_not_collide(
    make_store: Callable[[], SessionStore],
):
    store = make_store()
    one: SessionKey = {"project_key": "a:b", "session_id": "c"}
    two: SessionKey = {"project_key": "a", "session_id": "b:c"}
    three: SessionKey = {"project_key": "a", "session_id": "b", "subpath": "c:d"}
    for n, key in enumerate((one, two, three)):
        await store.append(key, [entry(None, n)])
    assert [await store.load(k) for k in (one, two, three)] == [
        [entry(None, 0)],
        [entry(None, 1)],
        [entry(None, 2)],
    ]


async def test_sdk_store_readers_match_the_sdk_disk_readers(
    make_store: Callable[[], SessionStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A real CLI transcript (2.0.77, with a tool turn), read back through the SDK's
    ``*_from_store`` helpers, gives what the SDK's disk readers give for the same file."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = tmp_path / "config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    project_key = project_key_for_directory(workdir)
    disk = config / "projects" / project_key / f"{SAMPLE_ID}.jsonl"
    disk.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE, disk)
    entries = read_entries(SAMPLE)
    assert isinstance(entries, list) and len(entries) > 5

    store = make_store()
    key: SessionKey = {"project_key": project_key, "session_id": SAMPLE_ID}
    for start in range(0, len(entries), 4):  # the SDK mirrors in batches
        await store.append(key, entries[start : start + 4])
    assert await store.load(key) == entries

    from_store = await get_session_messages_from_store(store, SAMPLE_ID, directory=str(workdir))
    from_disk = get_session_messages(SAMPLE_ID, directory=str(workdir))
    assert from_disk, "the SDK found the disk copy"
    assert [(m.type, m.uuid, m.message) for m in from_store] == [
        (m.type, m.uuid, m.message) for m in from_disk
    ]

    (info,) = await list_sessions_from_store(store, directory=str(workdir))
    (disk_info,) = list_sessions(directory=str(workdir))
    for field in ("session_id", "summary", "first_prompt", "custom_title", "git_branch", "tag"):
        assert getattr(info, field) == getattr(disk_info, field), field
    assert info.last_modified > 1e12


async def test_delete_of_a_main_key_leaves_other_sessions(make_store: Callable[[], SessionStore]):
    store = make_store()
    other: SessionKey = {"project_key": "proj", "session_id": "other"}
    await store.append(KEY, [entry("u", 1)])
    await store.append({**KEY, "subpath": "subagents/agent-1"}, [entry("s", 1)])
    await store.append(other, [entry("o", 1)])
    await store.delete(KEY)  # type: ignore[attr-defined]
    await store.delete(KEY)  # type: ignore[attr-defined]  # deleting twice is fine
    assert await store.load(other) == [entry("o", 1)]
    sessions = await store.list_sessions("proj")  # type: ignore[attr-defined]
    assert [s["session_id"] for s in sessions] == ["other"]
    summaries = await store.list_session_summaries("proj")  # type: ignore[attr-defined]
    assert [s["session_id"] for s in summaries] == ["other"]
    # and a session re-created under the old id starts from scratch
    await store.append(KEY, [entry("u", 2)])
    assert await store.load(KEY) == [entry("u", 2)]


def test_entry_files_hold_compact_json_lines(tmp_path: Path):
    """Sanity for the JSON encoding every store shares (no spaces, no trailing newline)."""
    from sessionlab.stores.codec import encode_entry

    assert encode_entry({"type": "x", "a": [1, 2]}) == b'{"type":"x","a":[1,2]}'
    assert json.loads(encode_entry({"s": "\ud83d"})) == {"s": "\ud83d"}
    assert os.linesep.encode() not in encode_entry({"s": "a\nb"})
