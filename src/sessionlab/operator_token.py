"""Operator tokens: the secret that opens a course server's monitoring routes.

The course model's ``/_course/records`` holds every user's text and the bot's ``/sessions``
shows who is active; on a shared machine anyone can connect to loopback, so both need a token.
A server takes it from an environment variable (so several processes, or a notebook kernel
started by ``make lab``, can share one) or makes a new random one per run, and may write it
to a file only its user can read (mode 0600), the way JupyterLab hands out its token.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sessionlab.errors import CourseError

MIN_CHARS = 24


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_from_env(variable: str) -> str:
    """``$variable`` when it is set (checked), else a new random token."""
    given = os.environ.get(variable, "").strip()
    if not given:
        return new_token()
    if len(given) < MIN_CHARS or not given.isascii() or not given.isprintable() or " " in given:
        raise CourseError(
            f"${variable} must be at least {MIN_CHARS} printable ASCII characters without spaces"
        )
    return given


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path``, readable by this user only (0600), atomically.

    The file is created 0600 before a byte is written (never chmod-ed afterwards), under a
    temporary name, then renamed over ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
