"""What an attempted fix did to the transcript folder, seen from outside the student's code.

Lesson 02's exercise asks the student's ``measure_attempt(lab, attempt)`` to report what one
attempted fix did (files before and after, the new ones, which file the turn went to, whether
the model remembered). A grade cannot take that report on trust, so the lesson's hidden checks
look at the folder themselves around the same call, with :func:`observe_attempt`, and compare.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from sessionlab.transcripts import message_text, read_entries


def transcript_sizes(project: Path) -> dict[str, int]:
    """Each ``*.jsonl`` of the folder and its size: a file that grew took the turn."""
    return {path.name: path.stat().st_size for path in project.glob("*.jsonl")}


async def observe_attempt(
    measure: Callable[[Any, Mapping[str, Any]], Awaitable[object]],
    lab: Any,
    attempt: Mapping[str, Any],
    name: str = "Ana",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``measure(lab, attempt)`` and return (what it reported, what the folder shows).

    The second dict has the report's keys: ``files_before``, ``files_after``, ``new_files``,
    ``turn_file`` (the file that changed last, or None) and ``remembered`` (the last assistant
    line of that file says ``name``). A report that is not a dict counts as empty.
    """
    project = Path(lab.project_dir)
    before = transcript_sizes(project)
    got = await measure(lab, attempt)
    after = transcript_sizes(project)
    changed = sorted(n for n in after if after[n] != before.get(n))
    turn = max(changed, key=lambda n: (project / n).stat().st_mtime_ns) if changed else None
    said = [
        message_text(entry)
        for entry in (read_entries(project / turn) if turn else [])
        if entry.get("type") == "assistant"
    ]
    seen = {
        "files_before": len(before),
        "files_after": len(after),
        "new_files": sorted(set(after) - set(before)),
        "turn_file": turn,
        "remembered": bool(said) and name in said[-1],
    }
    return (got if isinstance(got, dict) else {}), seen
