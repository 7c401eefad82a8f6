"""The lesson's ``DirectoryMonitor`` (lesson 3.5), parameterised but otherwise unchanged.

This is the *baseline*: every flaw of the lesson's design is kept on purpose and marked with a
``# FLAW n:`` comment where it lives, so the harness and the benchmark can measure it and a
student can see which line causes which failure. Do not fix it here; the reference design is
:class:`sessionlab.monitor.engine.SessionMonitor`.

Differences from the lesson, none of which change behaviour:

- the directory and session id are constructor arguments instead of module constants;
- ``interval`` (the lesson's hard-coded ``0.1``) and ``verbose`` (the lesson always prints) are
  parameters;
- ``stop()`` joins the thread (the lesson only clears the flag), because the course's monitor
  interface promises that ``stop()`` returns after the monitor has stopped touching files;
- files are read and written as UTF-8 explicitly (the lesson relies on the locale default);
- ``baseline=True`` (off by default, not in the lesson) skips files present at start-up. It
  exists only so the benchmark can measure the poll cost with 10,000 old files present
  without the monitor first swallowing them all (FLAW 1).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class NaivePollingMonitor:
    """Poll ``*.jsonl`` every ``interval`` s; move any other file into the fixed one."""

    def __init__(
        self,
        project_dir: Path | str,
        session_id: str,
        *,
        interval: float = 0.1,
        verbose: bool = False,
        baseline: bool = False,
    ) -> None:
        self.sessions_dir = Path(project_dir)
        self.session_id = session_id
        self.fixed_file = self.sessions_dir / f"{session_id}.jsonl"
        self.interval = interval
        self.verbose = verbose
        self.baseline = baseline
        self.running = True
        self.intercepted: list[str] = []
        self.corrections = 0
        self._ignored: set[str] = set()
        self.thread: threading.Thread | None = None

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message)

    def monitor_loop(self) -> None:
        """Main loop: scan the directory every ``interval`` seconds."""
        self._say("🔍 Monitor ativo - protegendo sessão única...")
        while self.running:
            try:
                # FLAW 11: each poll lists the whole directory; projects keep every old session
                # file, so the cost (and the detection latency) grows with the directory.
                # FLAW 8: Path.glob matches symlinks, FIFOs and directories named *.jsonl;
                # open() below follows a symlink to any file the user can read.
                for file in self.sessions_dir.glob("*.jsonl"):
                    # FLAW 1: no baseline. Any file that is not the fixed one is a "stray",
                    # including old, finished sessions that were there before start().
                    if file.name != self.fixed_file.name and file.name not in self._ignored:
                        self.correct_file(file)
            except Exception as error:
                # FLAW 10: errors are swallowed (printed only when verbose); nothing counts them.
                self._say(f"❌ Erro no monitor: {error}")
            time.sleep(self.interval)

    def correct_file(self, wrong_file: Path) -> None:
        """Copy a stray's lines into the fixed file, rewriting ``sessionId``, then delete it."""
        self._say(f"\n⚠️ DETECTADO: {wrong_file.name}")
        try:
            # FLAW 2: snapshot, not follow. The file is read once by name; a writer that keeps
            # its fd open goes on appending to the inode after unlink() below, and all of it
            # is lost when the writer closes (measured: ~95 % of lines).
            # FLAW 9: readlines() holds the whole file (and then every line twice) in memory.
            with open(wrong_file, encoding="utf-8") as f:
                lines = f.readlines()

            if lines:
                # FLAW 7: no fsync and no ordering: a crash after this append but before
                # unlink() merges the stray again on restart (duplicates); a crash inside it
                # leaves a torn line in the fixed file.
                with open(self.fixed_file, "a", encoding="utf-8") as f:
                    for line in lines:
                        try:
                            data = json.loads(line)
                            # FLAW 6: only sessionId is rewritten. Each fragment's root keeps
                            # parentUuid null, so the merged file holds several chains and
                            # Claude Code's resume (newest leaf -> root) sees only the last.
                            data["sessionId"] = self.session_id
                            # FLAW 5: no dedup. A legacy `--resume` fork copies earlier lines
                            # with the same uuids; they are appended again.
                            f.write(json.dumps(data) + "\n")
                        except Exception:
                            # FLAW 4: a torn last line (the writer was mid-write, readlines()
                            # returned the fragment) is written raw and without a newline, so
                            # the next merged line is glued onto it: one malformed line, two
                            # entries lost. Its rest, appended later, is another bad line.
                            # FLAW 10: the parse error itself is swallowed silently.
                            f.write(line)

                self._say(f"✅ Conteúdo movido: {len(lines)} linhas")

            # FLAW 3: time-of-check/time-of-use gap. Lines appended between readlines() and
            # unlink() go into a file that is about to disappear (measured: 0.2-0.7 % loss
            # with open/append/close writers, 7-11 % with 20 KB lines). A file caught between
            # its creation and its first write is empty, and is unlinked all the same.
            wrong_file.unlink()
            self._say(f"🗑️ Arquivo removido: {wrong_file.name}")

            self.intercepted.append(wrong_file.name)
            self.corrections += 1

        except Exception as error:
            # FLAW 10: e.g. a UnicodeDecodeError from a line torn inside a UTF-8 character is
            # swallowed; the stray stays and is retried on every poll.
            self._say(f"❌ Erro ao corrigir: {error}")

    def start(self) -> None:
        """Start the monitor in a daemon thread."""
        if self.thread is not None and self.thread.is_alive():
            return
        self.running = True
        if self.baseline:
            self._ignored = {p.name for p in self.sessions_dir.glob("*.jsonl")}
        self.thread = threading.Thread(target=self.monitor_loop, name="naive-monitor", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it (idempotent)."""
        self.running = False
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def get_stats(self) -> dict[str, Any]:
        """The lesson's three counters."""
        return {
            "corrections": self.corrections,
            "intercepted_files": len(self.intercepted),
            "unique_files": len(set(self.intercepted)),
        }
