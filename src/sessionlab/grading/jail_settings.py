"""The jail settings for grading on this checkout, and the Jupyter kernel spec that uses them.

What student code may see inside the jail (see :mod:`sessionlab.grading.jail`): the Python
installation, the virtualenv, the ``sessionlab`` sources and the pinned CLIs, read-only.
What it may not: the rest of the repository (``solutions/`` with the hidden tests,
``autograder/`` with the gradebook, ``.git``), the grading course copy, the submissions folder
and the output folder, the grader's home directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import sessionlab
from sessionlab.grading.jail import DEFAULT_UID, JailLimits
from sessionlab.paths import course_home, repo_root

KERNEL_NAME = "sessionlab-jail"


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def grading_limits(
    *,
    hide: list[Path] = (),  # type: ignore[assignment]
    wall_s: float = 900.0,
    memory_mb: int = 2048,
    tmp_mb: int = 128,
    nproc: int = 256,
    uid: int = DEFAULT_UID,
    isolate: bool = True,
) -> JailLimits:
    """Jail limits that hide everything but what a lesson needs to import and run."""
    src = Path(sessionlab.__file__).resolve().parents[1]
    root = repo_root() or src.parent
    cli = course_home() / "cli"
    keep = [Path(sys.prefix), Path(sys.base_prefix).resolve(), src, cli]
    cover = [root]
    home = Path.home()
    if home != Path("/") and any(_under(k, home) for k in keep):
        cover.append(home)  # e.g. a pyenv Python under /root: hide the rest of the home
    env = {"SESSIONLAB_HOME": "/tmp/home/.course"}
    return JailLimits(
        wall_s=wall_s,
        # The wall-clock limit is the one a student sees explained; the CPU limit only backs it
        # up. Equal values raced (a single busy thread reaches both at once) and the kernel's
        # silent SIGKILL sometimes won, so the CPU limit sits a little higher.
        cpu_s=int(wall_s) + 5,
        memory_mb=memory_mb,
        tmp_mb=tmp_mb,
        nproc=nproc,
        uid=uid,
        isolate=isolate,
        cover=[str(c) for c in cover],
        keep=[str(k) for k in keep if k.exists()],
        hide=[str(Path(h).resolve()) for h in hide],
        env=env,
        links={".course/cli": str(cli)} if cli.is_dir() else {},
    )


def write_kernelspec(jupyter_dir: Path, limits: JailLimits) -> Path:
    """``<jupyter_dir>/kernels/sessionlab-jail/kernel.json``: ipykernel started by the jail.

    Put ``jupyter_dir`` on ``JUPYTER_PATH`` and select it with ``Execute.kernel_name``.
    """
    folder = jupyter_dir / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [
            sys.executable, "-m", "sessionlab.grading.jail", "--config", limits.to_json(), "--",
            sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
            "--HistoryManager.hist_file=:memory:", "-f", "{connection_file}",
        ],
        "display_name": "Session Lab (jailed, grading)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {},
    }  # fmt: skip
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


def prepare_runtime_dir(path: Path, uid: int) -> Path:
    """Where kernels' connection files and IPC sockets go; the jail uid must create sockets."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    return path
