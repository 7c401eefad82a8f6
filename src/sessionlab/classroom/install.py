"""The course installed once for every account on a hub server.

Students' servers run as their own uids, so the interpreter, the course's packages and the
pinned CLIs must be readable by everyone. A checkout's ``.venv`` usually is (a system Python
under ``/usr``); when its interpreter lives somewhere private (``pyenv`` under a 700 ``/root``,
as on the reference machine), the hub builds one shared virtual environment from a system
Python instead, once per checkout (``.course/hub-venv``, or ``/var/lib/sessionlab/`` when the
checkout itself is private; rebuilt when ``pyproject.toml`` changes).
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
SYSTEM_VENVS = Path("/var/lib/sessionlab")


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


def shared_cli_dir(installed: Path, venv_bin: Path, data: Path) -> Path:
    """The pinned CLIs where every account can run them (copied into ``data`` if needed).

    The checkout's ``.course/cli`` is used as it is when everyone can read it and its
    launchers' Node; otherwise the CLIs are copied into ``<data>/cli`` and their launchers
    rewritten for the shared install's Node (``sessionlab cli install`` is a no-op for an
    installed CLI apart from that rewrite: nothing is downloaded again).
    """
    launchers = list(installed.glob("*/bin/claude"))
    nodes = [Path(line.split('"')[1]) for launcher in launchers
             for line in launcher.read_text().splitlines() if line.startswith("exec ")]  # fmt: skip
    if launchers and all(readable_by_all(path) for path in [*launchers, *nodes]):
        return installed
    target = data / "cli"
    if not target.is_dir():
        shutil.copytree(installed, target, symlinks=True)
    env = {**os.environ, "SESSIONLAB_HOME": str(data)}
    subprocess.run(
        [str(venv_bin / "sessionlab"), "cli", "install"], env=env, check=True, capture_output=True
    )
    return target


def shared_venv_bin(repo: Path, log: object = None) -> Path:
    """The ``bin/`` of a course install every account can run (built once if needed)."""
    own = Path(sys.executable).parent
    if readable_by_all(Path(sys.executable)) and readable_by_all(repo / "src"):
        return own
    # Inside the checkout when every account can reach it, else in a system folder.
    if readable_by_all(repo / ".course"):
        venv = repo / ".course" / "hub-venv"
    else:
        digest = hashlib.sha256(str(repo).encode()).hexdigest()[:8]
        SYSTEM_VENVS.mkdir(parents=True, exist_ok=True)
        SYSTEM_VENVS.chmod(0o755)
        venv = SYSTEM_VENVS / f"hub-venv-{digest}"
    stamp = venv / ".sessionlab-stamp"
    wanted = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv / "bin"
    python = _system_python()
    print(f"building the shared course install in {venv} from {python} (once)", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    # Editable when every account can read the checkout; otherwise a copy in the venv.
    editable = ["-e"] if readable_by_all(repo / "src") else []
    done = subprocess.run([*pip, *editable, f"{repo}[{EXTRAS}]"], capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"pip could not install the course for the hub: {done.stderr[-500:]}")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "ipykernel", "install", "--sys-prefix",
         "--name", "sessionlab", "--display-name", "Session Lab (Python 3)"],
        check=True, capture_output=True,
    )  # fmt: skip
    stamp.write_text(wanted)
    return venv / "bin"
