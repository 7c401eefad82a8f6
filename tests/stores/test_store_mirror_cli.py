"""End to end: the pinned current CLI (2.1.112) mirrors a real conversation into each store.

``claude_agent_sdk.query(..., session_store=store)`` starts the CLI with ``--session-mirror``;
the CLI sends every line it writes locally as a ``transcript_mirror`` frame and the SDK calls
``store.append``. Checked here, for each store, against the course's offline model:

* the store holds exactly the CLI's own local transcript (same entries, same uuids);
* the SDK's store readers return what its disk readers return for the local file;
* a turn resumed *from the store* (the local file deleted first) remembers the first turn;
* JsonlSessionStore's files are real transcripts: rooted at a second config dir's
  ``projects/``, the SDK's disk reader and the CLI's own ``--resume`` read them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ResultMessage,
    TextBlock,
    get_session_messages,
    get_session_messages_from_store,
    list_sessions_from_store,
    project_key_for_directory,
    query,
)
from claude_agent_sdk.types import SessionStore

from sessionlab import claude_clis
from sessionlab.sandbox import CourseLab, patched_environ
from sessionlab.stores import JsonlSessionStore
from sessionlab.transcripts import read_entries

pytestmark = [pytest.mark.cli, pytest.mark.anyio]

CLI = "current"


async def ask(lab: CourseLab, prompt: str, **options: Any) -> tuple[str, ResultMessage]:
    """One ``query()`` with the pinned CLI; the reply text and the result (no mirror errors)."""
    opts = ClaudeAgentOptions(
        cwd=str(lab.workdir), cli_path=str(claude_clis.bin_dir(CLI) / "claude"), **options
    )
    texts: list[str] = []
    result: ResultMessage | None = None
    async for message in query(prompt=prompt, options=opts):
        if isinstance(message, AssistantMessage):
            texts += [b.text for b in message.content if isinstance(b, TextBlock)]
        elif isinstance(message, ResultMessage):
            result = message
        assert getattr(message, "subtype", None) != "mirror_error", message
    assert result is not None and not result.is_error, result
    return "".join(texts), result


def chat(entries: list[Any]) -> list[tuple[str, str]]:
    return [(e["type"], e["uuid"]) for e in entries if e.get("type") in ("user", "assistant")]


def visible(messages: list[Any]) -> list[tuple[Any, ...]]:
    return [(m.type, m.uuid, m.message) for m in messages]


async def test_cli_mirror_into_each_store(
    make_lab: Callable[..., CourseLab], make_store: Callable[[], SessionStore], store_kind: str
):
    if not claude_clis.is_installed(CLI):
        pytest.skip(f"the {CLI} CLI is not installed: run `sessionlab cli install {CLI}`")
    lab = make_lab(CLI)
    store = make_store()
    workdir = str(lab.workdir)
    project_key = project_key_for_directory(workdir)
    assert project_key == lab.project_dir.name, "the SDK's key is the CLI's folder name"

    first, result = await ask(lab, "my name is Ana", session_store=store)
    assert "Ana" in first
    session_id = result.session_id
    key = {"project_key": project_key, "session_id": session_id}
    local_file = lab.project_dir / f"{session_id}.jsonl"
    local = read_entries(local_file)
    mirrored = await store.load(key)  # type: ignore[arg-type]
    assert mirrored == local, "the store holds the CLI's own transcript, line for line"
    assert len(chat(local)) == 2 and chat(mirrored) == chat(local)

    from_store = await get_session_messages_from_store(store, session_id, directory=workdir)
    assert visible(from_store) == visible(get_session_messages(session_id, directory=workdir))
    (info,) = await list_sessions_from_store(store, directory=workdir)
    assert (info.session_id, info.first_prompt) == (session_id, "my name is Ana")

    # Resume from the store alone: the SDK materializes store.load() into a temp config dir.
    local_file.unlink()
    second, again = await ask(lab, "what is my name?", session_store=store, resume=session_id)
    assert "Ana" in second, "the resumed turn saw the first turn, which only the store had"
    assert again.session_id == session_id
    both = await store.load(key)  # type: ignore[arg-type]
    assert both is not None and both[: len(local)] == local
    uuids = [e["uuid"] for e in both if "uuid" in e]
    assert len(chat(both)) == 4 and len(uuids) == len(set(uuids))

    if isinstance(store, JsonlSessionStore):
        await check_files_are_real_transcripts(lab, store, session_id)


async def check_files_are_real_transcripts(
    lab: CourseLab, store: JsonlSessionStore, session_id: str
) -> None:
    """The store is rooted at ``<second config dir>/projects``: read it as a config dir."""
    config = store.root.parent
    workdir = str(lab.workdir)
    from_store = await get_session_messages_from_store(store, session_id, directory=workdir)
    with patched_environ({"CLAUDE_CONFIG_DIR": str(config)}):
        from_disk = get_session_messages(session_id, directory=workdir)
    assert len(from_disk) == 4 and visible(from_disk) == visible(from_store)

    # The CLI itself resumes the store's file (no store involved, plain --resume).
    reply, result = await ask(
        lab, "what is my name?", resume=session_id, env={"CLAUDE_CONFIG_DIR": str(config)}
    )
    assert "Ana" in reply and result.session_id == session_id
    grown = read_entries(
        Path(store.path_of({"project_key": lab.project_dir.name, "session_id": session_id}))
    )
    assert len(chat(grown)) == 6, "the CLI appended its turn to the store's file"
