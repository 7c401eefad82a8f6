"""Print what the CLI wrote and what the course model saw, compactly enough for a notebook.

uuids are shortened to 8 characters for reading; functions that return data keep them whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sessionlab.transcripts import conversation_chain, message_text, read_entries

PathLike = str | os.PathLike[str]


def short(value: object, width: int = 8) -> str:
    """First ``width`` characters of a uuid (``-`` for ``None``): enough to tell entries apart."""
    if value is None:
        return "-"
    return str(value)[:width]


def clip(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis when it was longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _entries(source: PathLike | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, str | os.PathLike):
        return read_entries(source)
    return list(source)


def uuids_in(source: PathLike | Iterable[dict[str, Any]]) -> list[str]:
    """Every ``uuid`` in file order (entries without one, e.g. summaries, are skipped)."""
    return [e["uuid"] for e in _entries(source) if isinstance(e.get("uuid"), str)]


def chain_rows(source: PathLike | Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """``(type, uuid, parentUuid, text)`` for the conversation chain, root first."""
    rows = []
    for entry in conversation_chain(_entries(source)):
        text = " ".join(message_text(entry).split())
        rows.append((entry["type"], short(entry["uuid"]), short(entry.get("parentUuid")), text))
    return rows


def print_chain(source: PathLike | Iterable[dict[str, Any]], width: int = 60) -> None:
    """A small table of the chain the CLI would resume: type, uuid, parentUuid, text."""
    print(f"{'type':<10} {'uuid':<8}  {'parent':<8}  text")
    for kind, uid, parent, text in chain_rows(source):
        print(f"{kind:<10} {uid:<8}  {parent:<8}  {clip(text, width)}")


def print_files(folder: PathLike, *, label: str = "") -> list[Path]:
    """List the ``*.jsonl`` files of a project directory with their size in lines; return them."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    heading = f"{label}: " if label else ""
    print(f"{heading}{len(files)} transcript file(s) in projects/{folder.name}/")
    for path in files:
        lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
        print(f"  {path.name}  {lines:>3} lines")
    return files


def print_turns(turns: Sequence[Any]) -> None:
    """One line per :class:`~sessionlab.lessons.drive.Turn`: session id, prompt, reply."""
    for turn in turns:
        print(f"  session {short(turn.session_id)}  {turn.prompt!r} -> {turn.reply!r}")


def print_model_turns(records: Iterable[Any]) -> None:
    """What the course model received per conversation turn (side requests skipped).

    ``user_messages`` counts the user messages in the request, the current one included, so
    ``1`` means the model saw no history at all.
    """
    print(f"{'#':>2}  {'user msgs':>9}  {'first message the model saw':<32}  reply")
    turns = [r for r in records if r.kind == "turn"]
    for number, record in enumerate(turns, start=1):
        first = clip(record.first_user_text or "", 32)
        reply = clip(record.reply_text, 60)
        print(f"{number:>2}  {record.user_messages:>9}  {first:<32}  {reply}")
