"""The parent's side: start the grader process, pass its calls on to the student's process.

The parent (``sessionlab grade``'s process, or the monitor grader's) holds both ends and is the
only one that can reach both: the tester (:mod:`sessionlab.grading.tester`) and the student's
process (a Jupyter kernel, or :mod:`sessionlab.grading.student_side` run stand-alone) never see
each other. Every reply is checked as a :mod:`sessionlab.grading.plain_data` frame on the way; a
call that does not return in time is answered ``GraderTimeout`` (and the student's process
interrupted), a test cell that overruns is ended by killing the tester.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sessionlab.grading import plain_data as wire
from sessionlab.grading.jail import JailLimits, mount_tmpfs, unmount

StudentCall = Callable[[dict[str, object], float], dict[str, object]]
CALL_TIMEOUT_S = 60.0
#: The keys of a student's reply that reach the grader (``pending``/``calls``: an ``await``).
REPLY_KEYS = ("ok", "error", "pending", "calls")


def jailed_command(limits: JailLimits | None, module: str) -> list[str]:
    """``python -m module``, through the jail when ``limits`` are given."""
    inner = [sys.executable, "-m", module]
    if limits is None:
        return inner
    return [sys.executable, "-m", "sessionlab.grading.jail", "--config", limits.to_json(), "--",
            *inner]  # fmt: skip


def bounded_lines(stream: object) -> Iterator[bytes]:
    """Lines of at most ``wire.MAX_FRAME`` bytes; a longer one is skipped as it arrives (never
    held whole: a child that writes gigabytes without a newline costs no memory here) and
    given as ``b"!"`` so that the reader can fail the call it answered."""
    read = stream.readline  # type: ignore[attr-defined]
    while True:
        line = read(wire.MAX_FRAME + 1)
        if not line:
            return
        if len(line) <= wire.MAX_FRAME or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = read(1 << 20)
        yield b"!"


class _Lines:
    """A child's stdout as frames, read by a thread so that waiting can time out."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.frames: queue.Queue[dict[str, object] | None] = queue.Queue()
        self.stderr_tail = b""
        assert process.stdout is not None and process.stderr is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(process.stderr,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in bounded_lines(stream):
            try:
                self.frames.put(wire.loads(line))
            except wire.WireError:
                self.frames.put({"op": "garbage", "error": {"type": "WireError"}})
        self.frames.put(None)

    def _drain(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.stderr_tail = (self.stderr_tail + line)[-4000:]

    def get(self, timeout: float) -> dict[str, object] | None:
        """The next frame; None when the child ended; raises queue.Empty on timeout."""
        return self.frames.get(timeout=max(timeout, 0.0))


@dataclass
class CellResult:
    """What the grader decided for one test cell."""

    passed: bool
    score: float | None = None
    output: str = ""
    error: dict[str, object] = field(default_factory=dict)
    value: object = None

    @classmethod
    def failure(cls, kind: str, message: str) -> CellResult:
        return cls(False, error={"type": kind, "message": message, "hidden": False, "line": ""})


class GraderProcess:
    """One grader process for one submission: its namespace lasts across the test cells."""

    def __init__(
        self,
        limits: JailLimits | None,
        definitions: str,
        answers: list[str],
        exchange: Path,
        student: StudentCall,
        *,
        submitted: list[str] | None = None,
    ) -> None:
        self._command = jailed_command(limits, "sessionlab.grading.tester")
        self._setup: dict[str, object] = {
            "op": "setup", "definitions": definitions, "answers": answers,
            "exchange": str(exchange), "submitted": submitted or [],
        }  # fmt: skip
        self._student = student
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: _Lines | None = None
        self.setup_error = ""
        self.start()

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._lines = _Lines(self._process)
        self._send(self._setup)
        self._ready = False

    def _send(self, frame: dict[str, object]) -> None:
        assert self._process is not None and self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self._process.stdin.write(wire.dumps(frame))
            self._process.stdin.flush()

    def _wait_ready(self, deadline: float) -> CellResult | None:
        if self._ready:
            return None
        assert self._lines is not None
        try:
            frame = self._lines.get(deadline - time.monotonic())
        except queue.Empty:
            return CellResult.failure("GraderError", "the grader did not start in time")
        if frame is None or frame.get("op") != "ready":
            tail = self._lines.stderr_tail.decode(errors="replace").strip().splitlines()
            return CellResult.failure("GraderError", f"the grader did not start: {tail[-1:]}")
        if frame.get("error"):
            self.setup_error = str(frame["error"])
            raise RuntimeError(f"the lesson's definitions fail in the grader: {self.setup_error}")
        self._ready = True
        return None

    def run_cell(self, source: str, hidden_line: int | None, timeout: float) -> CellResult:
        """Run one test cell; relay its calls; a cell past ``timeout`` fails and the grader
        restarts for the next one (its namespace is lost: later cells start afresh)."""
        deadline = time.monotonic() + timeout
        if self._process is None or self._process.poll() is not None:
            self.start()
        failed = self._wait_ready(deadline)
        if failed:
            return failed
        assert self._lines is not None
        self._send({"op": "cell", "source": source, "hidden_line": hidden_line})
        try:
            return self._relay(deadline, timeout)
        finally:
            # What the cell left running in the student's process is cancelled, and the
            # functions it passed stop working there.
            self._student({"op": "end_cell"}, 5.0)

    def _relay(self, deadline: float, timeout: float) -> CellResult:
        assert self._lines is not None
        while True:
            try:
                frame = self._lines.get(deadline - time.monotonic())
            except queue.Empty:
                self.close()
                return CellResult.failure("TimeoutError", f"the test took over {timeout:g} s")
            if frame is None:
                self.close()
                return CellResult.failure("GraderError", "the grader process ended")
            if frame.get("op") == "request":
                request = frame.get("req")
                left = min(CALL_TIMEOUT_S, deadline - time.monotonic())
                reply = (
                    self._student(request, max(left, 0.1))
                    if isinstance(request, dict)
                    else {"error": {"type": "GraderError"}}
                )
                self._send({"op": "reply", "rep": reply})
            elif frame.get("op") == "done":
                error = frame.get("error")
                score = frame.get("score")
                return CellResult(
                    bool(frame.get("passed")),
                    float(score) if isinstance(score, int | float) else None,
                    str(frame.get("output", "")),
                    error if isinstance(error, dict) else {},
                    frame.get("value"),
                )

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._ready = False


class StandaloneStudent:
    """The student's definitions in a jailed child of their own (no kernel): the monitor
    grader's student side. Calls are answered concurrently, so one hang blocks nothing else."""

    def __init__(self, limits: JailLimits | None, source: str, start_timeout: float = 30.0) -> None:
        self._process = subprocess.Popen(
            jailed_command(limits, "sessionlab.grading.student_side"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._lines = _Lines(self._process)
        self._pending: dict[int, queue.Queue[dict[str, object]]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._send({"source": source})
        try:
            first = self._lines.get(start_timeout)
        except queue.Empty:
            first = None
        if first is None or first.get("ready") is not True:
            kind = ""
            error = first.get("error") if first else None
            if isinstance(error, dict):
                kind = str(error.get("type", ""))[:60]
            self.close()
            raise RuntimeError(f"loading your definitions failed{': ' + kind if kind else ''}")
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _send(self, frame: dict[str, object]) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError), self._lock:
            self._process.stdin.write(wire.dumps(frame))
            self._process.stdin.flush()

    def _dispatch(self) -> None:
        while True:
            frame = self._lines.get(3600)
            if frame is None:
                for waiting in list(self._pending.values()):
                    waiting.put({"error": {"type": "ProcessDied"}})
                return
            number = frame.get("id")
            if frame.get("op") == "garbage" and len(self._pending) == 1:
                number = next(iter(self._pending))  # the only call waiting: its answer was bad
            box = self._pending.get(number) if isinstance(number, int) else None
            if box is not None:
                box.put(frame)

    def __call__(self, request: dict[str, object], timeout: float) -> dict[str, object]:
        with self._lock:
            self._next += 1
            number = self._next
        box: queue.Queue[dict[str, object]] = queue.Queue()
        self._pending[number] = box
        self._send({**request, "id": number})
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            reply = {"error": {"type": "GraderTimeout"}}
        finally:
            self._pending.pop(number, None)
        return {k: v for k, v in reply.items() if k in REPLY_KEYS}

    @property
    def pid(self) -> int:
        """The jail wrapper's pid (its ``ns/pid_for_children`` is the student's namespace)."""
        return self._process.pid

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


EXCHANGE_MB = 256  # the exchange folder's tmpfs under ``sessionlab grade`` (root, Linux)


def fresh_exchange(path: Path, uid: int | None, size_mb: int = 0) -> Path:
    """An empty folder both the tester and the student's process may use (0700, their uid).

    With ``size_mb`` (as root on Linux) it is a tmpfs of that size mounted afresh: what a
    student writes there (the lesson's course folder, a test's temporary files) is bounded as a
    whole, lands in memory rather than on the grading machine's disk, and is gone, however
    full, when the next submission's exchange is mounted."""
    release_exchange(path)
    path.mkdir(parents=True)
    os.chmod(path, 0o700)
    if size_mb > 0 and os.geteuid() == 0 and sys.platform == "linux":
        mount_tmpfs(str(path), size_mb, uid)
    elif uid is not None and os.geteuid() == 0:
        os.chown(path, uid, uid)
    return path


def release_exchange(path: Path) -> None:
    """Unmount the exchange's tmpfs (if any) and remove the folder."""
    if os.geteuid() == 0 and sys.platform == "linux" and os.path.ismount(path):
        unmount(str(path))
    shutil.rmtree(path, ignore_errors=True)
