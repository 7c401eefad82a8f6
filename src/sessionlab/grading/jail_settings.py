"""The jail settings for grading on this checkout, and the Jupyter kernel spec that uses them.

What student code may see inside the jail (see :mod:`sessionlab.grading.jail`): the system
directories, the Python installation, the virtualenv, the ``sessionlab`` sources and the
pinned CLIs, read-only, and its own private ``/tmp``. Nothing else exists there: not the rest
of the repository (``solutions/`` with the hidden tests, ``autograder/`` with the gradebook,
``.git``), not the grading course copy, the submissions or the output folder, not any home,
not another checkout of the course.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import sessionlab
from sessionlab.grading import defaults
from sessionlab.grading.jail import DEFAULT_UID, DEFAULT_UIDS, JailLimits
from sessionlab.paths import course_home

KERNEL_NAME = "sessionlab-jail"


def grading_limits(
    *,
    hide: Sequence[Path] = (),
    wall_s: float = defaults.SUBMISSION_TIMEOUT_S,
    memory_mb: int = defaults.MEMORY_MB,
    tmp_mb: int = defaults.TMP_MB,
    nproc: int = defaults.NPROC,
    uid: int = DEFAULT_UID,
    uids: int = DEFAULT_UIDS,
    isolate: bool = True,
) -> JailLimits:
    """Jail limits whose root holds only what a lesson needs to import and run.

    ``hide`` names paths to cover should they lie inside a kept one (the submissions, the
    output folder): defence in depth, the allowlist root has none of them anyway.
    """
    src = Path(sessionlab.__file__).resolve().parents[1]
    cli = course_home() / "cli"
    keep = [Path(sys.prefix), Path(sys.base_prefix).resolve(), src, cli]
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
        uids=uids,
        isolate=isolate,
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


def prepare_runtime_dir(path: Path) -> Path:
    """Where the client side keeps kernels' connection files and socket names: root's, 0700.

    Student code never sees it: each jailed kernel binds its sockets in its own private
    ``/tmp/.ipc`` and the jail links the names here to them (see ``jail._Kernel``). Without
    the jail (``--no-isolation``, not root) the kernel runs as the grader and creates them here.
    """
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
