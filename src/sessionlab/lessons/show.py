"""Print what the CLI wrote and what the course model saw, compactly enough for a notebook.

Why the care with width: a notebook wraps a long output line wherever it runs out of room,
in the middle of a uuid if need be, and a reply cut silently reads as what the model said.
So ids are shortened to their first 8 characters followed by ``…`` (enough to tell entries
apart, and plainly not the whole id), text is cut at a word boundary and ends in ``…`` too,
and functions that return data keep everything whole.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sessionlab.ids import short_id
from sessionlab.transcripts import conversation_chain, message_text, read_entries

PathLike = str | os.PathLike[str]
#: Longest line the helpers print: JupyterLab breaks longer output lines anywhere, mid-word.
LINE_WIDTH = 100


def short(value: object, width: int = 8) -> str:
    """First ``width`` characters of an id and ``…`` (``-`` for ``None``), never a cut id
    that looks whole: enough to tell entries apart (:func:`sessionlab.ids.short_id`)."""
    return short_id(value, width)


def clip(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters; a longer text is cut at the last
    space that keeps most of it (else mid-word) and ends in ``…``, so a cut never passes for
    the whole reply."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    if width <= 1:
        return "…"[:width]
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space >= (width * 2) // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


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
    print(f"{'type':<10} {'uuid':<9}  {'parent':<9}  text")
    for kind, uid, parent, text in chain_rows(source):
        print(f"{kind:<10} {uid:<9}  {parent:<9}  {clip(text, width)}")


def print_files(folder: PathLike, *, label: str = "") -> list[Path]:
    """List the ``*.jsonl`` files of a project directory with their size in lines; return them."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    heading = f"{label}: " if label else ""
    # The folder's name is the sanitized cwd, often 100 characters: shortened, it never wraps.
    print(f"{heading}{len(files)} transcript file(s) in projects/{short(folder.name, 32)}/")
    for path in files:
        lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
        print(f"  {path.name}  {lines:>3} lines")
    return files


def file_label(name: object) -> str:
    """A transcript's name for a table: ``5b1d2c3a….jsonl`` (``-`` for none)."""
    if not name:
        return "-"
    path = Path(str(name))
    return f"{short(path.stem)}{path.suffix}" if path.suffix else short(path.name)


def print_attempts(measured: Mapping[str, Any], verdicts: Mapping[str, str] | None = None) -> None:
    """One row per attempted fix (lesson 02's experiment): files before and after, the file
    the turn went to (marked when it is one of the new ones), whether the model knew the name,
    and the verdict when given. A measurement that is not the expected dict prints as such;
    rows stay under 100 characters, so a notebook never wraps them."""
    head = f"{'fix':<27} {'files':>8}  {'the turn went to':<22} {'knew name':<9}"
    print(head + ("  verdict" if verdicts else ""))
    for fix, row in measured.items():
        name = clip(str(fix), 27)
        if not isinstance(row, Mapping):
            print(f"{name:<27} {clip(f'not a dict: {row!r}', 60)}")
            continue
        files = f"{row.get('files_before', '?')} -> {row.get('files_after', '?')}"
        turn = row.get("turn_file")
        new = isinstance(row.get("new_files"), list | tuple) and turn in row["new_files"]
        where = f"{file_label(turn)}{' (new)' if new else ''}"
        remembered = row.get("remembered")
        knew = "yes" if remembered is True else "no" if remembered is False else "?"
        line = f"{name:<27} {files:>8}  {where:<22} {knew:<9}"
        if verdicts:
            line += f"  {clip(str(verdicts.get(fix, '-')), 24)}"
        print(line.rstrip())


def wrapped(text: str, width: int = LINE_WIDTH, indent: int = 2) -> str:
    """``text`` folded at spaces into lines of at most ``width`` characters, continuation
    lines indented: a notebook then never has to break a long line (mid-word) itself."""
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def check_line(result: Any, width: int = LINE_WIDTH) -> str:
    """One harness check as it finishes: name, PASS or FAIL, and its detail, once; a long
    detail continues on indented lines under itself."""
    verdict = "PASS" if result.passed else "FAIL"
    head = f"  {result.name:<28} {verdict}  "
    detail = " ".join(str(result.detail or "").split())
    if not detail:
        return head.rstrip()
    lines = textwrap.wrap(
        detail, width=width - len(head), break_long_words=False, break_on_hyphens=False
    )
    return "\n".join([head + lines[0], *(" " * len(head) + line for line in lines[1:])])


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
