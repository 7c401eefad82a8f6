"""Celery grading workers from separate copies of the course, for tests and the benchmark.

A grading machine has its own checkout of the course and shares no folder with the
coordinator. On one machine that is imitated honestly and cheaply:

* :func:`course_copy` copies what a checkout needs to grade (``pyproject.toml``, ``src/``,
  ``solutions/``, ``autograder/nbgrader_config.py``) into a folder of its own; the worker
  imports ``sessionlab`` from that copy (``PYTHONPATH``) and grades with that copy's lessons,
  so its content hashes are the copy's. Only the installed third-party packages (the venv)
  are shared, as two machines installing the same pinned versions would have them;
* :class:`WorkerProcess` starts ``sessionlab grade-worker`` from the copy as its own process
  tree (its own session), inside a mount namespace where the coordinator's lessons, grader
  sources, submissions and output folders are empty: it cannot read them, so whatever it
  grades came in the task.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def course_copy(target: Path, *, root: Path = ROOT) -> Path:
    """A grading machine's checkout: the parts of ``root`` a worker reads. Returns ``target``."""
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    shutil.copy2(root / "pyproject.toml", target / "pyproject.toml")
    shutil.copytree(root / "src", target / "src", ignore=ignore)
    shutil.copytree(root / "solutions", target / "solutions", ignore=ignore)
    (target / "autograder").mkdir()
    shutil.copy2(root / "autograder" / "nbgrader_config.py", target / "autograder")
    return target


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


class WorkerProcess:
    """``sessionlab grade-worker`` started from a course copy, blind to ``hidden`` folders."""

    def __init__(
        self,
        copy: Path,
        broker: str,
        name: str,
        *,
        hidden: list[Path],
        log: Path,
        concurrency: int = 1,
        visibility_timeout_s: float = 20.0,
    ) -> None:
        self.copy = copy
        self.name = name
        command = [
            sys.executable, "-m", "sessionlab", "grade-worker", "--broker", broker,
            "--course", str(copy / "autograder"), "--concurrency", str(concurrency),
            "--name", name, "--visibility-timeout", str(visibility_timeout_s),
        ]  # fmt: skip
        mounts = " && ".join(
            f"mount -t tmpfs -o size=1k,mode=555 none {shlex.quote(str(p))}"
            for p in hidden
            if p.is_dir()
        )
        script = f"{mounts + ' && ' if mounts else ''}exec {' '.join(map(shlex.quote, command))}"
        if os.geteuid() == 0:
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        else:  # no mount namespace without root: the copy is still all the worker imports
            argv = command
        env = {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("SESSIONLAB_HOME", None)
        self.log = log
        self.process = subprocess.Popen(
            argv,
            cwd=copy,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until the worker says it is ready (Celery logs ``ready.``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            if " ready." in self.log.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} not ready in {timeout_s:g} s")

    def kill(self) -> None:
        """``kill -9`` of the whole tree at once, as when a grading machine dies."""
        pids = [self.process.pid, *_descendants(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            pids = _descendants(self.process.pid)
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
            for pid in [self.process.pid, *pids]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
