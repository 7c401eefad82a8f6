"""Where the course keeps its files, and how Claude Code names a project directory.

Everything the course writes lives under one *course home* so that a student's real
``~/.claude`` is never touched by accident.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "SESSIONLAB_HOME"
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]")
# Claude Code >= 2.1 caps a sanitized directory name at 200 characters and appends a hash.
MAX_SANITIZED_LENGTH = 200


def repo_root() -> Path | None:
    """The checkout this package was installed from in editable mode, if any."""
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "sessionlab").is_dir():
        return candidate
    return None


def course_home() -> Path:
    """Root of every course-local file: ``$SESSIONLAB_HOME``, else ``<repo>/.course``.

    Outside a checkout (a wheel install) it falls back to ``~/.local/share/sessionlab``,
    which is still not ``~/.claude``.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    root = repo_root()
    if root is not None:
        return root / ".course"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "sessionlab"


def _js_string_hash(text: str) -> int:
    """Claude Code's ``N16``: ``h = (h << 5) - h + charCode | 0`` over UTF-16 code units."""
    units = text.encode("utf-16-le")
    h = 0
    for i in range(0, len(units), 2):
        h = (h * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rem = divmod(number, 36)
        out.append(digits[rem])
    return "".join(reversed(out))


def sanitize_cwd(cwd: str | os.PathLike[str], *, truncate_long: bool = True) -> str:
    """The directory name Claude Code uses under ``projects/`` for a working directory.

    Every character outside ``[a-zA-Z0-9]`` becomes ``-``. CLI 2.1.x (``truncate_long``)
    cuts names longer than 200 characters and appends ``-<base36 hash>``; CLI 1.0.x never
    truncates.
    """
    raw = os.fspath(cwd)
    sanitized = _NON_ALNUM.sub("-", raw)
    if not truncate_long or len(sanitized) <= MAX_SANITIZED_LENGTH:
        return sanitized
    return f"{sanitized[:MAX_SANITIZED_LENGTH]}-{_base36(abs(_js_string_hash(raw)))}"


def project_dir(
    config_dir: Path, cwd: str | os.PathLike[str], *, truncate_long: bool = True
) -> Path:
    """``<config dir>/projects/<sanitized cwd>``: where the CLI writes a cwd's transcripts."""
    return Path(config_dir) / "projects" / sanitize_cwd(cwd, truncate_long=truncate_long)
