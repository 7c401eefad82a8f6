"""What a live CLI connection costs in memory: resident set size from ``/proc`` (Linux).

A pool's ``max_size`` is a memory budget: each pooled connection is an idle Node.js process
running the whole Claude Code CLI. Measured on 2.1.112 after one turn: about 245 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and all its descendants in MiB (``None`` without /proc)."""
    if not Path(f"/proc/{pid}/status").exists():
        return None
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # the process ended while we looked
    return total_kb / 1024


def client_rss_mb(client: Any) -> float | None:
    """Memory of the CLI process behind a connected ``ClaudeSDKClient`` (``None`` if unknown)."""
    process = getattr(getattr(client, "_transport", None), "_process", None)
    pid = getattr(process, "pid", None)
    return rss_mb(pid) if pid else None
