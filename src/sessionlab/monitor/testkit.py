"""Small helpers the monitor tests (and course exercises) share: lines, writers, waiting.

Kept in the package rather than in a conftest so notebooks and the autograder can build the
same fixtures: realistic transcript lines, a writer that keeps its fd open like the CLI may,
and a generic "run this monitor until the strays are gone" that works for any monitor with
the course interface (``start``/``stop``/``get_stats``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sessionlab.transcripts import read_entries
from sessionlab.waiting import wait_until

#: Options that make the reference monitor react fast enough for unit tests.
FAST_REFERENCE = {"quiet_period": 0.1, "empty_grace": 0.1, "rescan_interval": 0.5}
FAST_NAIVE = {"interval": 0.05}


def new_id() -> str:
    return str(uuid.uuid4())


_last_stamp = [0]


def timestamp() -> str:
    """Now, as the CLI writes it (ISO-8601 UTC, milliseconds, ``Z``), strictly increasing.

    Strays are ordered by their entries' timestamps (rule 10), as real ones are: every test
    entry gets a later stamp than the one before, like lines the CLI writes one by one.
    """
    now = max(int(time.time() * 1000), _last_stamp[0] + 1)
    _last_stamp[0] = now
    moment = datetime.fromtimestamp(now / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now % 1000:03d}Z"


def entry(
    session_id: str,
    parent: str | None,
    kind: str = "user",
    text: str = "hi",
    *,
    uid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A transcript entry with the CLI's envelope and key order."""
    role = "assistant" if kind == "assistant" else "user"
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/tmp/w",
        "sessionId": session_id,
        "version": "1.0.120",
        "gitBranch": "",
        "type": kind,
        "message": {"role": role, "content": text},
        "uuid": uid or new_id(),
        "timestamp": timestamp(),
        **extra,
    }


def dumps(value: dict[str, Any]) -> str:
    """``JSON.stringify`` style: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def conversation(
    session_id: str, count: int, *, text: str = "m", parent: str | None = None
) -> list[dict[str, Any]]:
    """``count`` alternating user/assistant entries chained by parentUuid."""
    out = []
    for i in range(count):
        item = entry(session_id, parent, "user" if i % 2 == 0 else "assistant", f"{text}{i}")
        parent = item["uuid"]
        out.append(item)
    return out


def write_stray(
    directory: Path,
    entries: Iterable[dict[str, Any]],
    name: str | None = None,
    *,
    atomic: bool = True,
) -> Path:
    """Write a finished stray; ``atomic`` writes a hidden temp file and renames it into place.

    Atomic appearance keeps tests deterministic: a monitor never sees the file half written
    (the tests about half-written files write them explicitly).
    """
    path = directory / (name or f"{new_id()}.jsonl")
    target = directory / f".tmp-{path.name}.part" if atomic else path
    with open(target, "w", encoding="utf-8") as handle:
        for item in entries:
            handle.write(dumps(item) + "\n")
    if atomic:
        os.rename(target, path)
    return path


def strays(directory: Path, session_id: str, keep: Iterable[str] = ()) -> list[str]:
    """Top-level ``*.jsonl`` (and tombstones) other than the fixed file and ``keep``."""
    skip = {f"{session_id}.jsonl", *keep}
    return sorted(
        n
        for n in os.listdir(directory)
        if (n.endswith(".jsonl") or n.startswith(".sessionlab-merging-")) and n not in skip
    )


def fixed_entries(directory: Path, session_id: str) -> tuple[list[dict[str, Any]], int]:
    """Entries of the fixed file and how many of its lines are malformed."""
    path = directory / f"{session_id}.jsonl"
    if not path.exists():
        return [], 0
    entries, bad = read_entries(path, tolerant=True)
    return entries, len(bad)


def make_monitor(kind: str, directory: Path, session_id: str, **options: Any) -> Any:
    """``"reference"`` -> SessionMonitor, ``"naive"`` -> NaivePollingMonitor, fast settings."""
    if kind == "naive":
        from sessionlab.monitor.naive import NaivePollingMonitor

        return NaivePollingMonitor(directory, session_id, **{**FAST_NAIVE, **options})
    from sessionlab.monitor.engine import SessionMonitor

    return SessionMonitor(directory, session_id, **{**FAST_REFERENCE, **options})


def settle(
    monitor: Any, directory: Path, session_id: str, keep: Iterable[str] = (), timeout: float = 5.0
) -> None:
    """Wait until no stray is left (any monitor), then a little longer for the last merge."""
    keep = list(keep)
    if hasattr(monitor, "wait_idle"):
        monitor.wait_idle(timeout)
    wait_until(lambda: not strays(directory, session_id, keep), timeout)
    time.sleep(0.15)
