"""Real transcripts cut into fragments come back whole: consolidate and the live monitor.

The property (issue 13): take any real transcript (``tests/fixtures/transcripts``, written by the
pinned CLIs, and the research samples), cut it into fragments at turn boundaries the way the
legacy CLI fragments a conversation (each new connection: a new file, a new ``sessionId``, its
first entry ``parentUuid: null``), make some of them legacy ``--resume`` forks (a copy of the
history before them, re-stamped, then their own turn), add whole-file strays (the transcript
under another id) and a garbage line. Then ``consolidate`` (plan and ``--apply``) and the live
monitor must give:

- exactly the original's messages, in order, by the official reader
  (``claude_agent_sdk``'s ``get_session_messages``);
- the original file itself, byte for byte (with its ``sessionId``): the only values the
  merge changed are the ones the cut changed;
- every input line in the session (uuid lines by uuid, others byte for byte after the
  ``sessionId`` rewrite) or in quarantine byte for byte; nothing left behind;
- the dry run reporting what ``--apply`` does.

Strays get one mtime and random names, so only their content can order them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionlab.monitor import consolidation as consolidate
from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.testkit import FAST_REFERENCE, strays, wait_until
from sessionlab.transcripts import conversation_chain, is_fragment_root, parents_next

sessions = pytest.importorskip(
    "claude_agent_sdk._internal.sessions", reason="needs the 'agent' extra (claude-agent-sdk)"
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GARBAGE = b'\xff\xfe{"a torn line, invalid UTF-8'


def _transcripts() -> list[Path]:
    found = sorted((FIXTURES / "transcripts").glob("*/*.jsonl"))
    found += sorted(
        p
        for p in (FIXTURES / "samples").glob("cc-*/*.jsonl")
        if p.stat().st_size and not p.name.startswith("agent-") and "summary-only" not in p.name
    )
    return found


TRANSCRIPTS = _transcripts()


def reader(content: bytes) -> list[tuple[str, str, str]]:
    """The official reader's answer: (type, uuid, message) per message, in order."""
    entries = sessions._parse_transcript_entries(content.decode("utf-8"))
    return [
        (m.type, m.uuid, json.dumps(m.message, sort_keys=True))
        for m in sessions._entries_to_session_messages(entries, None, 0)
    ]


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def _parsed(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def _session_id(entries: list[dict[str, Any]]) -> str:
    return next(e["sessionId"] for e in entries if isinstance(e.get("sessionId"), str))


def _with_sid(line: bytes, old: str, new: str) -> bytes:
    return line.replace(f'"sessionId":"{old}"'.encode(), f'"sessionId":"{new}"'.encode())


def turn_boundaries(lines: list[bytes]) -> list[int]:
    """Where a new connection could have started: before a prompt the user typed.

    The cut moves back over the ``queue-operation`` lines the CLI writes just before the
    prompt (and the previous turn's ``stop_hook_summary``, which 2.1.x writes after them);
    a CLI that writes them (2.x) starts every connection's prompt with them. A new
    connection starts after the previous one ended, so its first line is stamped later than
    everything before it (the 2.1.x CLI stamps some lines of one connection out of order,
    e.g. a local command's output, so not every prompt qualifies). A cut that would separate
    two lines with the same uuid (the 2.1.x CLI re-writes some entries within one
    connection) is no boundary.
    """
    entries = _parsed(lines)
    queued = any(e.get("type") == "queue-operation" for e in entries)
    stamps = [e.get("timestamp") if isinstance(e.get("timestamp"), str) else None for e in entries]
    cuts: list[int] = []
    first_linked = next(i for i, e in enumerate(entries) if parents_next(e))
    for i, entry in enumerate(entries):
        content = (entry.get("message") or {}).get("content")
        typed = isinstance(content, str) or (
            isinstance(content, list)
            and all(isinstance(b, dict) and b.get("type") == "text" for b in content)
        )
        if (
            i <= first_linked
            or entry.get("type") != "user"
            or entry.get("isMeta")
            or entry.get("isSidechain")
            or entry.get("isCompactSummary")
            or not typed
            or entry.get("parentUuid") is None
        ):
            continue
        cut = i
        while cut > first_linked + 1 and (
            entries[cut - 1].get("type") == "queue-operation"
            or entries[cut - 1].get("subtype") == "stop_hook_summary"  # the last turn's hook
        ):
            cut -= 1
        if queued and cut == i:
            continue
        earlier = [t for t in stamps[:cut] if t]
        later = [t for t in stamps[cut:] if t]
        if earlier and later and max(earlier) >= later[0]:
            continue
        before = {e.get("uuid") for e in entries[:cut]} - {None}
        after = {e.get("uuid") for e in entries[cut:]} - {None}
        if not before & after:
            cuts.append(cut)
    return cuts


@dataclass
class Case:
    """One way of fragmenting a transcript, and what must come back."""

    original: list[bytes]
    session_id: str  # the fixed session's id
    fixed: list[bytes]  # the fixed file's lines before the merge ([] = no fixed file)
    strays: list[list[bytes]] = field(default_factory=list)
    garbage: int = 0  # garbage lines put into strays

    @property
    def expected(self) -> bytes:
        old = _session_id(_parsed(self.original))
        return b"".join(_with_sid(line, old, self.session_id) + b"\n" for line in self.original)


def build_case(
    path: Path, cuts: list[int], forks: set[int], whole: bool, no_fixed: bool, garbage: int | None
) -> Case:
    lines = _lines(path)
    entries = _parsed(lines)
    old = _session_id(entries)
    bounds = [0, *sorted(cuts), len(lines)]
    pieces = [lines[a:b] for a, b in itertools.pairwise(bounds)]
    fixed_id = str(uuid.uuid4()) if no_fixed else old
    case = Case(original=lines, session_id=fixed_id, fixed=[] if no_fixed else pieces[0])
    if no_fixed:
        case.strays.append(pieces[0])
    for index, piece in enumerate(pieces[1:], start=1):
        sid = str(uuid.uuid4())
        out = [_with_sid(line, old, sid) for line in piece]
        parsed = _parsed(piece)
        root = next(i for i, e in enumerate(parsed) if parents_next(e))
        if index in forks:  # a legacy fork: a re-stamped copy of the history, then the turn
            stamp = next(e["timestamp"] for e in parsed if isinstance(e.get("timestamp"), str))
            history = [
                re.sub(rb'"timestamp":"[^"]*"', f'"timestamp":"{stamp}"'.encode(), line, count=1)
                for line in lines[: bounds[index]]
                if isinstance(json.loads(line).get("uuid"), str)
            ]
            out = [_with_sid(line, old, sid) for line in history] + out
        else:  # a new connection: its first entry has no parent
            entry = parsed[root]
            before = f'"parentUuid":"{entry["parentUuid"]}"'.encode()
            assert before in out[root]
            out[root] = out[root].replace(before, b'"parentUuid":null', 1)
            assert is_fragment_root(json.loads(out[root]))
        case.strays.append(out)
    if whole:
        sid = str(uuid.uuid4())
        case.strays.append([_with_sid(line, old, sid) for line in lines])
    if garbage is not None and case.strays:
        target = case.strays[garbage % len(case.strays)]
        target.insert(garbage % (len(target) + 1), GARBAGE)
        case.garbage = 1
    return case


def write_case(case: Case, project: Path) -> list[Path]:
    project.mkdir(parents=True, exist_ok=True)
    if case.fixed:
        (project / f"{case.session_id}.jsonl").write_bytes(b"".join(x + b"\n" for x in case.fixed))
    paths = []
    for lines in case.strays:
        path = project / f"{uuid.uuid4()}.jsonl"
        path.write_bytes(b"".join(x + b"\n" for x in lines))
        paths.append(path)
    for path in project.glob("*.jsonl"):  # a copied folder: one mtime for every file
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return paths


def check_result(case: Case, project: Path) -> None:
    fixed = project / f"{case.session_id}.jsonl"
    merged = fixed.read_bytes()
    assert not strays(project, case.session_id), "every stray was merged and removed"
    assert reader(merged) == reader(case.expected), "the official reader: the same messages"
    assert [e["uuid"] for e in conversation_chain(_parsed(merged[:-1].split(b"\n")))] == [
        m[1] for m in reader(merged)
    ], "sessionlab.transcripts reads it like the SDK"
    assert merged == case.expected, "byte for byte the original (only the cut's changes undone)"
    quarantined = sorted((project / ".sessionlab" / "quarantine").glob("*.bad"))
    assert [p.read_bytes() for p in quarantined] == [GARBAGE] * case.garbage
    # every input line: in the session (uuid lines by uuid, others byte for byte) or quarantined
    session_lines = set(merged.split(b"\n"))
    session_uuids = {json.loads(x).get("uuid") for x in merged[:-1].split(b"\n")}
    for lines in [case.fixed, *case.strays]:
        for line in lines:
            if line == GARBAGE:
                continue
            entry = json.loads(line)
            if isinstance(entry.get("uuid"), str):
                assert entry["uuid"] in session_uuids
            else:
                sid = entry.get("sessionId")
                normal = _with_sid(line, sid, case.session_id) if isinstance(sid, str) else line
                assert normal in session_lines, line[:120]


@st.composite
def cases(draw: st.DrawFn, path: Path) -> tuple[list[int], set[int], bool, bool, int | None]:
    bounds = turn_boundaries(_lines(path))
    cuts = sorted(draw(st.sets(st.sampled_from(bounds), max_size=4)) if bounds else set())
    forks = draw(st.sets(st.integers(1, len(cuts)), max_size=2)) if cuts else set()
    whole = draw(st.booleans())
    no_fixed = draw(st.booleans())
    garbage = draw(st.none() | st.integers(0, 1000))
    return cuts, forks, whole, no_fixed, garbage


RUNS = {"consolidate": 0, "monitor": 0, "cuts": 0}


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name[:8]}")
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_consolidate_gives_back_the_original(
    path: Path, tmp_path: Path, data: st.DataObject
) -> None:
    cuts, forks, whole, no_fixed, garbage = data.draw(cases(path))
    case = build_case(path, cuts, forks, whole, no_fixed, garbage)
    project = tmp_path / f"p-{uuid.uuid4().hex[:8]}"
    write_case(case, project)
    try:
        the_plan = consolidate.plan(project, case.session_id)
        stats = consolidate.apply(project, case.session_id, timeout=30)
        totals = the_plan.totals()
        assert totals["new_lines"] == stats["lines_merged"], "the dry run says what --apply does"
        assert totals["duplicates"] == stats["duplicates_skipped"]
        assert totals["bad_lines"] == stats["quarantined_lines"] == case.garbage
        check_result(case, project)
        again = consolidate.plan(project, case.session_id)
        assert again.totals()["new_lines"] == 0, "a second run changes nothing"
    finally:
        shutil.rmtree(project, ignore_errors=True)
    RUNS["consolidate"] += 1
    RUNS["cuts"] += len(cuts)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name[:8]}")
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_live_monitor_gives_back_the_original(
    path: Path, tmp_path: Path, data: st.DataObject
) -> None:
    """The monitor running while each connection's file appears, one after another."""
    cuts, forks, whole, no_fixed, garbage = data.draw(cases(path))
    case = build_case(path, cuts, forks, whole, no_fixed, garbage)
    project = tmp_path / f"p-{uuid.uuid4().hex[:8]}"
    project.mkdir()
    if case.fixed:
        (project / f"{case.session_id}.jsonl").write_bytes(b"".join(x + b"\n" for x in case.fixed))
    order = list(case.strays)
    if whole and len(order) > 1:  # the whole-file copy turns up first: the rest are copies
        order.insert(0, order.pop())
    try:
        with SessionMonitor(project, case.session_id, **FAST_REFERENCE) as monitor:
            for lines in order:
                staging = project / f".staging-{uuid.uuid4()}"
                staging.write_bytes(b"".join(x + b"\n" for x in lines))
                staging.rename(project / f"{uuid.uuid4()}.jsonl")  # the CLI's file appears
                assert wait_until(lambda: not strays(project, case.session_id), 15)
            assert monitor.error is None
            stats = monitor.get_stats()
        assert stats["quarantined_lines"] == case.garbage
        check_result(case, project)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    RUNS["monitor"] += 1


def test_every_transcript_has_turn_boundaries_to_cut() -> None:
    """The property is not vacuous: most fixtures can be cut, and the shapes are there."""
    cuttable = [p for p in TRANSCRIPTS if turn_boundaries(_lines(p))]
    assert len(cuttable) >= len(TRANSCRIPTS) - 3, [p.name for p in TRANSCRIPTS]
    kinds = {json.loads(x).get("subtype") for p in TRANSCRIPTS for x in _lines(p)}
    assert {"compact_boundary", "stop_hook_summary"} <= kinds
