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


# -- the SDK reader agrees ------------------------------------------------------------------
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def real_transcripts() -> list[Path]:
    """Every real CLI transcript in the fixtures (generated ones and the research samples)."""
    found = sorted((FIXTURES / "transcripts").glob("*/*.jsonl"))
    found += sorted(
        p
        for p in (FIXTURES / "samples").glob("cc-*/*.jsonl")
        if p.stat().st_size and not p.name.startswith("agent-")
    )
    return found


def _uid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def _shape(kind: str, i: int, parent: int | None, **extra: object) -> dict:
    entry = {
        "parentUuid": None if parent is None else _uid(parent),
        "type": kind,
        "uuid": _uid(i),
        "timestamp": f"2026-01-01T00:00:{i:02d}.000Z",
        "message": {"role": kind, "content": f"m{i}"},
    }
    entry.update(extra)
    return entry


SHAPES: dict[str, list[dict]] = {
    "meta leaf": [
        _shape("user", 1, None),
        _shape("assistant", 2, 1),
        _shape("user", 3, 2, isMeta=True),
    ],
    "system terminal": [_shape("user", 1, None), _shape("assistant", 2, 1), _shape("system", 3, 2)],
    "compaction": [
        _shape("user", 1, None),
        _shape("assistant", 2, 1),
        {**_shape("system", 3, None), "subtype": "compact_boundary", "logicalParentUuid": _uid(2)},
        _shape("user", 4, 3, isCompactSummary=True),
        _shape("assistant", 5, 4),
    ],
    "two roots": [_shape("user", 1, None), _shape("assistant", 2, 1), _shape("user", 3, None)],
    "sidechain last": [
        _shape("user", 1, None),
        _shape("assistant", 2, 1),
        _shape("user", 3, None, isSidechain=True),
        _shape("assistant", 4, 3, isSidechain=True),
    ],
    "branch (rewind)": [
        _shape("user", 1, None),
        _shape("assistant", 2, 1),
        _shape("user", 3, 2),
        _shape("user", 4, 2),
        _shape("assistant", 5, 4),
    ],
    "attachment before its parent": [
        _shape("attachment", 2, 1),
        _shape("user", 1, None),
        _shape("assistant", 3, 2),
    ],
    "parallel tools": [
        _shape("user", 1, None),
        {
            **_shape("assistant", 2, 1),
            "message": {"id": "m", "content": [{"type": "tool_use", "id": "a"}]},
        },
        {
            **_shape("assistant", 3, 2),
            "message": {"id": "m", "content": [{"type": "tool_use", "id": "b"}]},
        },
        {
            **_shape("user", 4, 2),
            "message": {"content": [{"type": "tool_result", "tool_use_id": "a"}]},
        },
        {
            **_shape("user", 5, 3),
            "message": {"content": [{"type": "tool_result", "tool_use_id": "b"}]},
        },
        _shape("assistant", 6, 5),
    ],
    "repeated uuid": [
        _shape("user", 1, None),
        _shape("assistant", 2, 1),
        _shape("user", 1, None, slug="x"),
    ],
}


def _sdk_reader_uuids(content: str) -> list[str]:
    sessions = pytest.importorskip("claude_agent_sdk._internal.sessions")
    entries = sessions._parse_transcript_entries(content)
    return [m.uuid for m in sessions._entries_to_session_messages(entries, None, 0)]


def _tolerant_entries(content: str) -> list[dict]:
    out = []
    for line in content.split("\n"):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@pytest.mark.parametrize("path", real_transcripts(), ids=lambda p: f"{p.parent.name}/{p.name[:12]}")
def test_conversation_chain_agrees_with_the_sdk_reader_on_real_transcripts(path: Path) -> None:
    content = path.read_text(encoding="utf-8")
    expected = _sdk_reader_uuids(content)
    assert [e["uuid"] for e in conversation_chain(_tolerant_entries(content))] == expected


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_conversation_chain_agrees_with_the_sdk_reader_on_every_shape(shape: str) -> None:
    content = "".join(json.dumps(e) + "\n" for e in SHAPES[shape])
    got = [e["uuid"] for e in conversation_chain(SHAPES[shape])]
    assert got == _sdk_reader_uuids(content)
