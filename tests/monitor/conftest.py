"""Fixtures for monitor tests: a throw-away project directory, never ``~/.claude``."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessionlab.monitor.testkit import timestamp
from sessionlab.waiting import wait_until

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"  # real CLI captures


class Project:
    """A fake ``<config>/projects/<sanitized cwd>`` with a fixed session id."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "projects" / "-home-student-w"
        self.dir.mkdir(parents=True)
        self.session_id = str(uuid.uuid4())

    @property
    def fixed(self) -> Path:
        return self.dir / f"{self.session_id}.jsonl"

    def stray(
        self, entries: list[dict[str, Any]], name: str | None = None, *, atomic: bool = False
    ) -> Path:
        """Write a stray transcript. ``atomic`` renames it in whole: a running naive monitor
        can otherwise poll between the file's creation and its write and unlink it empty
        (its real flaw, but not what a test of its happy path is about)."""
        path = self.dir / (name or f"{uuid.uuid4()}.jsonl")
        text = "".join(json.dumps(e) + "\n" for e in entries)
        if atomic:
            staging = self.dir.parent / f".staging-{path.name}"
            staging.write_text(text, encoding="utf-8")
            staging.replace(path)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def fixed_entries(self) -> list[dict[str, Any]]:
        if not self.fixed.exists():
            return []
        lines = self.fixed.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def waiter() -> Callable[..., bool]:
    """``wait_until`` with the monitor tests' defaults: 5 s bound, 10 ms polls."""
    return functools.partial(wait_until, timeout=5.0, step=0.01)


def entry(uuid_: str, session_id: str, parent: str | None = None, kind: str = "user") -> dict:
    """A minimal transcript entry."""
    return {
        "parentUuid": parent,
        "sessionId": session_id,
        "type": kind,
        "message": {"role": kind, "content": f"text {uuid_}"},
        "uuid": uuid_,
        "timestamp": timestamp(),
    }


@pytest.fixture
def make_entry() -> Callable[..., dict]:
    return entry
