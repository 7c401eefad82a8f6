"""One-shot merge of already fragmented history into one session, with a dry-run plan.

The plan runs the *same* :class:`~sessionlab.monitor.merge.LineRewriter` as the live engine
over the same lines in the same order (the follower's split, the size cap, the conversation
order of :mod:`~sessionlab.monitor.ordering`), so what it reports (lines, duplicates,
re-links, quarantined lines and where they go, the resulting chain) is what ``--apply`` will
do; ``--apply`` then runs the engine itself with
``adopt_existing=True`` and waits until every stray is provably finished.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Unpack

from sessionlab.durable.appends import FixedFile
from sessionlab.jsonl import is_object_line
from sessionlab.monitor.engine import STATE_DIR_NAME, SessionMonitor
from sessionlab.monitor.merge import LineRewriter, new_fragment
from sessionlab.monitor.options import MonitorOptions, MonitorOverrides, resolve_options
from sessionlab.monitor.ordering import order_by_conversation
from sessionlab.transcripts import conversation_chain, is_sidechain_file


@dataclass
class FilePlan:
    name: str
    lines: int = 0
    new_lines: int = 0
    duplicates: int = 0
    bad_lines: int = 0
    relinked: int = 0
    summary_only: bool = False

    @property
    def empty(self) -> bool:
        return self.lines == 0 and self.bad_lines == 0


@dataclass
class Plan:
    project_dir: Path
    session_id: str
    files: list[FilePlan] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    chain_before: int = 0
    chain_after: int = 0
    entries_after: int = 0
    fixed_tail_quarantined: int = 0  # the fixed file's torn last line (0 or 1)
    quarantine_dir: Path | None = None

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "lines": sum(f.lines for f in self.files),
            "new_lines": sum(f.new_lines for f in self.files),
            "duplicates": sum(f.duplicates for f in self.files),
            "bad_lines": sum(f.bad_lines for f in self.files) + self.fixed_tail_quarantined,
        }


def candidates(project_dir: Path, session_id: str) -> tuple[list[Path], dict[str, str]]:
    """Strays to merge in conversation order (as the engine orders them), and what is left."""
    fixed = f"{session_id}.jsonl"
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    with os.scandir(project_dir) as listing:
        for entry in listing:
            name = entry.name
            if not name.endswith(".jsonl") or name == fixed:
                continue
            if name.startswith("."):
                skipped[name] = "hidden"
            elif is_sidechain_file(name):
                skipped[name] = "sidechain (the CLI finds it by agentId)"
            elif entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                skipped[name] = "not a regular file"
            elif entry.stat(follow_symlinks=False).st_nlink != 1:
                skipped[name] = "has hard links"
            else:
                chosen.append(name)
    dir_fd = os.open(project_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ordered = order_by_conversation(chosen, dir_fd)
    finally:
        os.close(dir_fd)
    return [project_dir / name for name in ordered], skipped


def _stray_lines(path: Path, max_line: int) -> Iterator[bytes | None]:
    """The lines the engine's follower would hand over, None for one it would quarantine.

    Split on ``\\n`` only (as the follower does); a line over ``max_line`` is quarantined;
    the unterminated last line is handed over too (the engine merges it when it parses
    and quarantines it otherwise, once the writer is gone).
    """
    with open(path, "rb") as handle:
        rest = b""
        while chunk := handle.read(1 << 20):
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                yield None if len(line) > max_line else line
        if rest.strip():
            yield None if len(rest) > max_line else rest


def plan(project_dir: str | os.PathLike[str], session_id: str) -> Plan:
    """What ``consolidate --apply`` would do, computed without writing anything.

    The same rule as the engine, on the same lines in the same order: the fixed file's
    unterminated last line (kept when it is complete JSON, else quarantined), the strays in
    conversation order, each through :meth:`LineRewriter.rewrite_batch` as one fragment.
    """
    directory = Path(project_dir)
    result = Plan(directory, session_id)
    result.quarantine_dir = directory / STATE_DIR_NAME / "quarantine"
    rewriter = LineRewriter(session_id)
    merged: list[dict[str, Any]] = []
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fixed = FixedFile(directory / f"{session_id}.jsonl", dir_fd)
        fixed.check()
        repair = fixed.repair_tail(None, is_complete_line=is_object_line, dry_run=True)
        result.fixed_tail_quarantined = 1 if repair.quarantined else 0
        for _, raw in fixed.iter_lines():
            rewriter.observe_existing(raw)
            with contextlib.suppress(ValueError):
                merged.append(json.loads(raw))
        if repair.kept:  # its newline will be added: it is part of the session
            tail = _unterminated_tail(directory / f"{session_id}.jsonl")
            rewriter.observe_existing(tail)
            merged.append(json.loads(tail))
    finally:
        os.close(dir_fd)
    result.chain_before = len(conversation_chain(merged))
    files, result.skipped = candidates(directory, session_id)
    for path in files:
        info = FilePlan(path.name)
        fragment = new_fragment()
        types: set[str] = set()
        lines: list[bytes] = []
        for line in _stray_lines(path, MonitorOptions.max_line_bytes):
            if line is None:
                info.bad_lines += 1
            elif line.strip():
                lines.append(line)
        batch = rewriter.rewrite_batch(lines, fragment)
        rewriter.commit()
        info.bad_lines += len(batch.bad)
        info.duplicates = batch.duplicates
        info.relinked = batch.relinked
        info.new_lines = len(batch.lines)
        info.lines = info.new_lines + info.duplicates
        for line in batch.lines:
            entry = json.loads(line)
            types.add(str(entry.get("type")))
            merged.append(entry)
        info.summary_only = types == {"summary"}
        result.files.append(info)
    chain = conversation_chain(merged)
    result.chain_after = len(chain)
    result.entries_after = len(merged)
    return result


def _unterminated_tail(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    return data[data.rfind(b"\n") + 1 :]


def apply(
    project_dir: str | os.PathLike[str],
    session_id: str,
    *,
    timeout: float = 30.0,
    **overrides: Unpack[MonitorOverrides],
) -> dict[str, Any]:
    """Merge every existing stray with the live engine; returns its stats.

    Strays a writer still holds open stay in place (the lease proves it) and are listed under
    ``pending_files``; run again once that CLI has exited, or run ``sessionlab monitor``.
    """
    options = replace(
        resolve_options(MonitorOptions(quiet_period=0.0, empty_grace=0.0), overrides),
        adopt_existing=True,
    )
    monitor = SessionMonitor(project_dir, session_id, options=options)
    monitor.start(watch=False)
    try:
        monitor.wait_idle(timeout)
        return monitor.get_stats()
    finally:
        monitor.stop()
