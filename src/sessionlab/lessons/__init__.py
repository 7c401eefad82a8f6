"""Small helpers the lesson notebooks import, so a notebook cell shows the idea, not plumbing.

* :mod:`~.drive`: run turns through the real ``claude-code-sdk`` and collect what came back;
* :mod:`~.show`: print transcripts, parentUuid chains and what the course model saw.

Everything here is deliberately thin: a student should be able to read each function in a
minute and redo it by hand.
"""

from __future__ import annotations

from sessionlab.lessons.drive import Turn, ask_once, chat, open_lab
from sessionlab.lessons.show import (
    chain_rows,
    check_line,
    clip,
    file_label,
    print_attempts,
    print_chain,
    print_files,
    print_model_turns,
    print_turns,
    short,
    uuids_in,
    wrapped,
)

__all__ = [
    "Turn",
    "ask_once",
    "chain_rows",
    "chat",
    "check_line",
    "clip",
    "file_label",
    "open_lab",
    "print_attempts",
    "print_chain",
    "print_files",
    "print_model_turns",
    "print_turns",
    "short",
    "uuids_in",
    "wrapped",
]
