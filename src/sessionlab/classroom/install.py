"""The course installed once for every account on a hub server.

Students' servers run as their own uids, so the interpreter, the course's packages and the
pinned CLIs must be readable by everyone. A checkout's ``.venv`` usually is (a system Python
under ``/usr``); when its interpreter lives somewhere private (``pyenv`` under a 700 ``/root``,
as on the reference machine), the hub builds one shared virtual environment from a system
Python instead, once per checkout (``.course/hub-venv``, rebuilt when ``pyproject.toml``
changes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from sessionlab.errors import CourseError

EXTRAS = "course,agent,bot,hub"
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")


def readable_by_all(path: Path) -> bool:
    """Can any user reach and run ``path`` (every folder on the way is world-searchable)?"""
    resolved = path.resolve()
    for folder in [*reversed(resolved.parents)]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(resolved).st_mode & stat.S_IROTH)


def _system_python() -> Path:
    for candidate in SYSTEM_PYTHONS:
        path = Path(candidate)
        if not path.exists() or not readable_by_all(path):
            continue
        check = "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"
        if subprocess.run([str(path), "-c", check], capture_output=True).returncode == 0:
            return path
    raise CourseError(
        "no Python 3.11+ that every account can run: install one (`apt-get install "
        "python3 python3-venv`) or put the course's .venv on a system Python"
    )


def shared_venv_bin(repo: Path, log: object = None) -> Path:
    """The ``bin/`` of a course install every account can run (built once if needed)."""
    own = Path(sys.executable).parent
    if readable_by_all(Path(sys.executable)) and readable_by_all(repo / "src"):
        return own
    venv = repo / ".course" / "hub-venv"
    stamp = venv / ".sessionlab-stamp"
    wanted = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv / "bin"
    python = _system_python()
    print(f"building the shared course install in {venv} from {python} (once)", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    done = subprocess.run([*pip, "-e", f"{repo}[{EXTRAS}]"], capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"pip could not install the course for the hub: {done.stderr[-500:]}")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "ipykernel", "install", "--sys-prefix",
         "--name", "sessionlab", "--display-name", "Session Lab (Python 3)"],
        check=True, capture_output=True,
    )  # fmt: skip
    stamp.write_text(wanted)
    return venv / "bin"
