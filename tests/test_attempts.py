"""Lesson 02's grader-side observation: what a call did to the folder, whatever it reported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sessionlab.lessons.attempts import observe_attempt


def _line(kind: str, text: str) -> str:
    content = [{"type": "text", "text": text}]
    return json.dumps({"type": kind, "uuid": text, "message": {"role": kind, "content": content}})


def test_the_folder_says_what_happened_whatever_the_report(tmp_path: Path) -> None:
    (tmp_path / "old.jsonl").write_text(_line("user", "hi") + "\n")
    (tmp_path / "other.jsonl").write_text(_line("user", "x") + "\n")
    lab = SimpleNamespace(project_dir=tmp_path)

    async def fork(_lab: Any, attempt: dict[str, Any]) -> object:
        new = tmp_path / "new.jsonl"
        new.write_text(_line("user", "my name?") + "\n" + _line("assistant", "You are Ana.") + "\n")
        return "a lie, not a dict"

    got, seen = asyncio.run(observe_attempt(fork, lab, {"resume": "old"}))
    assert got == {}
    assert seen == {"files_before": 2, "files_after": 3, "new_files": ["new.jsonl"],
                    "turn_file": "new.jsonl", "remembered": True}  # fmt: skip

    async def append_forgetting(_lab: Any, attempt: dict[str, Any]) -> object:
        with (tmp_path / "old.jsonl").open("a") as file:
            file.write(_line("assistant", "I do not know your name.") + "\n")
        return {"files_before": 3}

    got, seen = asyncio.run(observe_attempt(append_forgetting, lab, {}))
    assert got == {"files_before": 3}
    assert seen["new_files"] == [] and seen["turn_file"] == "old.jsonl"
    assert seen["remembered"] is False


def test_nothing_written_means_no_turn_file(tmp_path: Path) -> None:
    async def idle(_lab: Any, attempt: dict[str, Any]) -> object:
        return {}

    _, seen = asyncio.run(observe_attempt(idle, SimpleNamespace(project_dir=tmp_path), {}))
    assert seen["turn_file"] is None and seen["remembered"] is False and seen["files_after"] == 0
