"""One-shot merge of already fragmented history into one session, with a dry-run plan.

The plan runs the *same* :class:`~sessionlab.monitor.merge.LineRewriter` as the live engine
over the files in memory, so what it reports (lines, duplicates, re-links, the resulting
chain) is what ``--apply`` will do; ``--apply`` then runs the engine itself with
``adopt_existing=True`` and waits until every stray is provably finished.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionlab.monitor.engine import SessionMonitor
from sessionlab.monitor.fixedfile import FixedFile
from sessionlab.monitor.merge import LineParseError, LineRewriter
from sessionlab.transcripts import conversation_chain, is_sidechain_file, iter_lines


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

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "lines": sum(f.lines for f in self.files),
            "new_lines": sum(f.new_lines for f in self.files),
            "duplicates": sum(f.duplicates for f in self.files),
            "bad_lines": sum(f.bad_lines for f in self.files),
        }


def candidates(project_dir: Path, session_id: str) -> tuple[list[Path], dict[str, str]]:
    """Strays to merge, oldest first (mtime, as the engine does), and what is left alone."""
    fixed = f"{session_id}.jsonl"
    chosen: list[Path] = []
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
                chosen.append(Path(entry.path))
    chosen.sort(key=lambda p: (p.stat().st_mtime, p.name))  # the engine's order too
    return chosen, skipped


def plan(project_dir: str | os.PathLike[str], session_id: str) -> Plan:
    """What ``consolidate --apply`` would do, computed without writing anything."""
    directory = Path(project_dir)
    result = Plan(directory, session_id)
    rewriter = LineRewriter(session_id)
    merged: list[dict[str, Any]] = []
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fixed = FixedFile(directory / f"{session_id}.jsonl", dir_fd)
        for _, raw in fixed.iter_lines():
            rewriter.observe_existing(raw)
            with contextlib.suppress(ValueError):
                merged.append(json.loads(raw))
    finally:
        os.close(dir_fd)
    result.chain_before = len(conversation_chain(merged))
    files, result.skipped = candidates(directory, session_id)
    for path in files:
        info = FilePlan(path.name)
        types: set[str] = set()
        for _, raw in iter_lines(path):
            try:
                outcome = rewriter.rewrite(raw)
            except (LineParseError, UnicodeDecodeError):
                info.bad_lines += 1
                continue
            info.lines += 1
            if outcome.duplicate:
                info.duplicates += 1
                continue
            assert outcome.line is not None
            entry = json.loads(outcome.line)
            types.add(str(entry.get("type")))
            merged.append(entry)
            info.new_lines += 1
            info.relinked += outcome.relinked
        rewriter.commit()
        info.summary_only = types == {"summary"}
        result.files.append(info)
    chain = conversation_chain(merged)
    result.chain_after = len(chain)
    result.entries_after = len(merged)
    return result


def apply(
    project_dir: str | os.PathLike[str], session_id: str, *, timeout: float = 30.0, **options: Any
) -> dict[str, Any]:
    """Merge every existing stray with the live engine; returns its stats.

    Strays a writer still holds open stay in place (the lease proves it) and are listed under
    ``pending_files``; run again once that CLI has exited, or run ``sessionlab monitor``.
    """
    settings = {"quiet_period": 0.0, "empty_grace": 0.0, **options, "adopt_existing": True}
    monitor = SessionMonitor(project_dir, session_id, **settings)
    monitor.start(watch=False)
    try:
        monitor.wait_idle(timeout)
        return monitor.get_stats()
    finally:
        monitor.stop()
