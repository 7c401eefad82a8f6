"""Per-session folders: ``<root>/<session id>/{uploads,temp,cache}`` and ``session.db``.

A session id is validated before it becomes a folder name, and the result is checked to sit
directly under the root: a crafted id can never reach another session's files or leave the
root. Upload names get the same treatment (one plain file name, no separators, no dots-only
names). The size cap is checked *before* a write, so a session never goes over it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

from sessionlab.ids import SESSION_ID, validate_session_id
from sessionlab.isolation.errors import SessionTooLarge

SUBFOLDERS = ("uploads", "temp", "cache")
DB_NAME = "session.db"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_file_name(name: object) -> str:
    """One plain file name (letters, digits, ``._-``; not starting with a dot)."""
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"invalid file name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


class SessionFolders:
    """Creates, measures and removes the folders of isolated sessions under ``root``."""

    def __init__(self, root: str | Path, *, max_bytes: int) -> None:
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, session_id: str) -> Path:
        """The session's folder (not created). The id is validated, never joined raw."""
        path = (self.root / validate_session_id(session_id)).resolve()
        if path.parent != self.root:  # belt and braces: a valid id cannot get here
            raise ValueError(f"{session_id!r} escapes the sessions root")
        return path

    def create(self, session_id: str) -> Path:
        """Make the folder tree and the session's own SQLite database."""
        folder = self.folder(session_id)
        for name in SUBFOLDERS:
            (folder / name).mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(folder / DB_NAME) as db:
            db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.close()
        return folder

    def db_path(self, session_id: str) -> Path:
        return self.folder(session_id) / DB_NAME

    def size(self, session_id: str) -> int:
        """Bytes used by the session's files (0 when the folder does not exist)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.folder(session_id)):
            for name in files:
                try:
                    total += (Path(dirpath) / name).lstat().st_size
                except FileNotFoundError:
                    continue
        return total

    def save_upload(self, session_id: str, name: str, data: bytes) -> Path:
        """Write ``uploads/<name>``, refusing it if the session would exceed its cap."""
        target = self.folder(session_id) / "uploads" / validate_file_name(name)
        replaced = target.stat().st_size if target.is_file() else 0
        after = self.size(session_id) - replaced + len(data)
        if after > self.max_bytes:
            raise SessionTooLarge(
                f"session {session_id} would hold {after} bytes (cap {self.max_bytes})"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)  # readers never see half a file
        return target

    def remove(self, session_id: str) -> bool:
        folder = self.folder(session_id)
        existed = folder.exists()
        shutil.rmtree(folder, ignore_errors=True)
        return existed

    def existing_ids(self) -> list[str]:
        """Session folders on disk (anything else under the root is not ours to judge)."""
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and SESSION_ID.fullmatch(p.name)
        )
