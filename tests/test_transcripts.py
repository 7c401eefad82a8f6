"""The transcript reader agrees with how Claude Code reads a session (newest leaf -> root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessionlab.transcripts import (
    TranscriptError,
    conversation_chain,
    duplicate_uuids,
    read_entries,
    session_files,
    session_ids,
    user_texts,
)

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "samples"  # real CLI captures


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_read_entries_skips_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", ['{"a":1}', "", "   ", '{"b":2}'])
    assert read_entries(path) == [{"a": 1}, {"b": 2}]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", ['{"a":1}', "{oops", '{"b":2}'])
    with pytest.raises(TranscriptError, match=r"a\.jsonl:2"):
        read_entries(path)
    entries, bad = read_entries(path, tolerant=True)
    assert entries == [{"a": 1}, {"b": 2}] and bad[0].line_number == 2 and bad[0].raw == b"{oops"


def test_non_object_lines_are_bad(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", ["[1]", "3"])
    assert len(read_entries(path, tolerant=True)[1]) == 2


def _e(uid: str, parent: str | None, kind: str = "user", text: str = "") -> dict:
    return {"uuid": uid, "parentUuid": parent, "type": kind, "message": {"content": text}}


def test_chain_walks_back_from_the_newest_leaf() -> None:
    entries = [
        _e("a", None, text="first"),
        _e("b", "a", "assistant"),
        _e("c", None, text="second fragment"),  # an un-linked fragment hides a and b
        _e("d", "c", "assistant"),
        {"type": "summary", "summary": "t", "leafUuid": "d"},
    ]
    assert [e["uuid"] for e in conversation_chain(entries)] == ["c", "d"]
    entries[2]["parentUuid"] = "b"
    assert [e["uuid"] for e in conversation_chain(entries)] == ["a", "b", "c", "d"]


def test_chain_survives_cycles_and_missing_parents() -> None:
    assert [e["uuid"] for e in conversation_chain([_e("a", "b"), _e("b", "a")])] == []
    assert [e["uuid"] for e in conversation_chain([_e("x", "gone")])] == ["x"]
    assert conversation_chain([]) == []


def test_session_files_are_top_level_non_agent_regular_files(tmp_path: Path) -> None:
    for name in ("a.jsonl", "agent-123.jsonl", "notes.txt", ".hidden.jsonl"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text("")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "a.jsonl")
    assert [p.name for p in session_files(tmp_path)] == ["a.jsonl"]


def test_samples_read_like_the_cli() -> None:
    if not SAMPLES.exists():
        pytest.skip("samples not available")
    b = next(SAMPLES.glob("cc-1.0.120/B-after-resume-A.*.jsonl"))
    entries = read_entries(b)
    chain = conversation_chain(entries)
    assert user_texts(chain)[0] == "hello" and len(chain) == 6
    assert duplicate_uuids(entries) == []
    assert len(session_ids(entries)) == 1
    assert json.dumps(chain)
