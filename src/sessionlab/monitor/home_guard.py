"""Refuse to touch a real ``~/.claude`` by accident.

The course runs everything under its own home; a monitor pointed at a student's real config
dir would rewrite real conversations. Paths are compared after resolving symlinks, so a link
into ``~/.claude`` is caught too.
"""

from __future__ import annotations

import os
from pathlib import Path

from sessionlab.errors import CourseError
from sessionlab.paths import course_home
from sessionlab.transcripts import is_session_id


def real_config_dirs() -> list[Path]:
    """``~/.claude`` and ``$CLAUDE_CONFIG_DIR`` (unless the latter is inside the course home)."""
    dirs = [(Path.home() / ".claude").resolve()]
    override = os.environ.get("CLAUDE_CONFIG_DIR")
    if override:
        candidate = Path(override).expanduser().resolve()
        if not candidate.is_relative_to(course_home().resolve()):
            dirs.append(candidate)
    return dirs


def check_project_dir(path: str | os.PathLike[str], *, real_home: bool) -> Path:
    """The resolved project dir, or a :class:`CourseError` with the one-line remedy."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise CourseError(f"project directory not found: {path}")
    if not real_home:
        home = course_home().resolve()
        for real in real_config_dirs():
            if resolved.is_relative_to(real) and not resolved.is_relative_to(home):
                raise CourseError(
                    f"{resolved} is inside your real Claude config ({real}); "
                    "pass --real-home if you really mean it"
                )
    return resolved


def check_session_id(value: str) -> str:
    if not is_session_id(value):
        raise CourseError(f"not a session id (expected a UUID like 1b4e28ba-2fa1-…): {value!r}")
    return value.lower()
