"""The core facts of lesson 1 and 2, measured with the real SDK driving each pinned CLI.

Each test opens its own sandbox with its own course model, so the model's request records
belong to that test alone.
"""

from __future__ import annotations

import json
from functools import partial
from itertools import pairwise
from pathlib import Path

import anyio
import pytest
from sdk_helpers import ask_once, one_connection

from sessionlab.transcripts import read_entries

pytestmark = pytest.mark.cli

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "samples"


def uuids(path: Path) -> list[str]:
    return [e["uuid"] for e in read_entries(path) if "uuid" in e]


@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_each_connection_writes_its_own_session_file(make_lab, cli):
    lab = make_lab(cli)
    connections = 3
    session_ids = set()
    for n in range(connections):
        results = anyio.run(one_connection, lab, [f"message {n}"])
        session_ids.add(results[-1].session_id)
    files = lab.transcripts()
    assert len(session_ids) == connections
    assert {p.stem for p in files} == session_ids


@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_one_connection_keeps_every_turn_in_one_file(make_lab, cli):
    lab = make_lab(cli)
    results = anyio.run(one_connection, lab, ["first", "second", "what do you remember?"])
    assert len({r.session_id for r in results}) == 1
    assert [p.stem for p in lab.transcripts()] == [results[0].session_id]
    last_turn = [r for r in lab.model.records if r.kind == "turn"][-1]
    assert last_turn.user_messages == 3, "the model saw both earlier messages and this one"


def test_query_calls_fragment_and_the_model_forgets(make_lab):
    lab = make_lab("legacy")
    anyio.run(ask_once, lab, "my name is Ana")
    reply, _ = anyio.run(ask_once, lab, "what is my name?")
    assert len(lab.transcripts()) == 2
    assert "Ana" not in reply


def test_legacy_resume_forks_into_a_new_file_with_copied_uuids(make_lab):
    lab = make_lab("legacy")
    first = anyio.run(one_connection, lab, ["my name is Ana"])[-1].session_id
    original = lab.project_dir / f"{first}.jsonl"
    before = original.read_bytes()
    reply, result = anyio.run(partial(ask_once, lab, "what is my name?", resume=first))
    assert result.session_id != first, "legacy --resume must start a new session id"
    fork = lab.project_dir / f"{result.session_id}.jsonl"
    assert original.read_bytes() == before, "the original file is left untouched"
    assert uuids(fork)[: len(uuids(original))] == uuids(original), "history copied, same uuids"
    assert {e["sessionId"] for e in read_entries(fork) if "sessionId" in e} == {result.session_id}
    assert "Ana" in reply, "the resumed turn carried the history to the model"


def test_current_resume_appends_to_the_original_file(make_lab):
    lab = make_lab("current")
    first = anyio.run(one_connection, lab, ["my name is Ana"])[-1].session_id
    original = lab.project_dir / f"{first}.jsonl"
    earlier = uuids(original)
    results = anyio.run(partial(one_connection, lab, ["what is my name?"], resume=first))
    assert results[-1].session_id == first
    assert uuids(original)[: len(earlier)] == earlier
    assert len(uuids(original)) > len(earlier)
    assert {e.get("sessionId") for e in read_entries(original) if "uuid" in e} == {first}


@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_model_sees_the_whole_history_on_a_resumed_turn(make_lab, cli):
    lab = make_lab(cli)
    first = anyio.run(one_connection, lab, ["one", "two", "three"])[-1].session_id
    reply, _ = anyio.run(partial(ask_once, lab, "what do you remember?", resume=first))
    resumed_turn = [r for r in lab.model.records if r.kind == "turn"][-1]
    assert resumed_turn.user_messages == 4, "three earlier messages plus the question"
    assert resumed_turn.first_user_text == "one"
    assert "3" in reply


def _core_shape(entry: dict) -> tuple[str, frozenset[str]]:
    message_keys = frozenset(entry.get("message", {}) or {})
    return entry["type"], frozenset(entry) | {f"message.{k}" for k in message_keys}


@pytest.mark.parametrize(
    ("cli", "sample"),
    [("legacy", "cc-1.0.120/A-original.21926f61-263e-4765-ac60-e66eba4b5f77.jsonl")],
)
def test_transcripts_have_the_shape_of_real_captures(make_lab, cli, sample):
    lab = make_lab(cli)
    anyio.run(ask_once, lab, "hello")
    [written] = lab.transcripts()
    ours = {_core_shape(e) for e in read_entries(written) if e.get("type") in {"user", "assistant"}}
    real = {
        _core_shape(json.loads(line))
        for line in (SAMPLES / sample).read_text().splitlines()
        if json.loads(line).get("type") in {"user", "assistant"}
    }
    assert ours == real


def test_current_transcripts_keep_the_fields_the_course_relies_on(make_lab):
    lab = make_lab("current")
    anyio.run(ask_once, lab, "hello")
    [written] = lab.transcripts()
    entries = [e for e in read_entries(written) if e.get("type") in {"user", "assistant"}]
    required = {
        "parentUuid",
        "isSidechain",
        "userType",
        "cwd",
        "sessionId",
        "version",
        "uuid",
        "timestamp",
        "message",
        "type",
    }
    assert entries and all(required <= set(e) for e in entries)
    assert entries[0]["parentUuid"] is None
    # 2.1.x chains through extra entry types too (an `attachment` sits between user and
    # assistant), so follow every entry that has a uuid.
    chained = [e for e in read_entries(written) if "uuid" in e]
    assert all(b["parentUuid"] == a["uuid"] for a, b in pairwise(chained))
    assert {e["version"] for e in entries} == {"2.1.112"}
