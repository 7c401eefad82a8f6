"""``sessionlab lab``: the course model, then JupyterLab on the student's work folder.

Students never open ``notebooks/`` (generated and committed): the lessons are copied into
their own work folder (``work/`` by default, ignored by git) and updated there without
overwriting their edits (:mod:`sessionlab.classroom.workfolder`). The Assignment List shows
the lessons through the course-local nbgrader exchange. ``--instructor`` opens the Formgrader
on the course instead (``make instructor``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from sessionlab.errors import CourseError
from sessionlab.net import ensure_port_free
from sessionlab.operator_token import token_from_env
from sessionlab.paths import course_home, repo_root
from sessionlab.remote_model import MODEL_TOKEN_ENV, MODEL_URL_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="start the course model and JupyterLab on your work folder",
        description="Copy new and updated lessons into your work folder (your edits are never "
        "overwritten), start the course model on 127.0.0.1 and JupyterLab on the work folder, "
        "with nbgrader's Assignment List on the course-local exchange. Notebooks and "
        f"JupyterLab terminals find the model through ${MODEL_URL_ENV} and read its records "
        f"with the operator token in ${MODEL_TOKEN_ENV}. Stop with Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab port (default 8888)")
    parser.add_argument(
        "--model-port", type=int, default=0, help="course model port (default: a free one)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--token", help="JupyterLab token (default: JupyterLab generates one)")
    parser.add_argument(
        "--work-dir", type=Path, help="your work folder (default: work/ in the repository)"
    )
    parser.add_argument(
        "--instructor",
        action="store_true",
        help="the instructor's view: JupyterLab on autograder/ with the Formgrader",
    )
    parser.set_defaults(func=_lab)


def _course_root() -> Path:
    root = repo_root() or Path.cwd()
    if not (root / "notebooks").is_dir() or not (root / "autograder").is_dir():
        raise CourseError(f"{root} is not a course checkout: run `make lab` in the repository")
    return root.resolve()


def _lessons(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "notebooks").iterdir() if p.is_dir())


def prepare(
    root: Path, work: Path | None, instructor: bool
) -> tuple[Path, dict[str, str], list[str]]:
    """Folder to serve, extra environment, and the lines to print before JupyterLab starts."""
    from sessionlab.classroom.exchange import exchange_root, release_lessons, write_screen_config
    from sessionlab.classroom.workfolder import (
        kernel_language_info,
        sync_lessons,
        with_language_info,
    )

    exchange = exchange_root()
    role = "instructor" if instructor else "student"
    screen = write_screen_config(course_home() / "lab" / role, role, exchange)
    released = release_lessons(root / "autograder", _lessons(root), exchange)
    notes = [f"nbgrader exchange: {exchange} ({len(released)} lessons released now)"]
    if instructor:
        folder = root / "autograder"
        notes.append("instructor view: Nbgrader → Formgrader (course in autograder/)")
    else:
        folder = (work or root / "work").expanduser().resolve()
        adapt = with_language_info(kernel_language_info())
        notes.append(sync_lessons(root / "notebooks", folder, adapt).summary())
    existing = os.environ.get("JUPYTER_CONFIG_PATH")
    config_path = os.pathsep.join([str(screen.folder), *([existing] if existing else [])])
    return folder, {"JUPYTER_CONFIG_PATH": config_path}, notes


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the lab like Ctrl-C does: JupyterLab is stopped, never left orphaned."""
    raise KeyboardInterrupt


def _lab(args: argparse.Namespace) -> int:
    from sessionlab.model import CourseModel

    root = _course_root()
    ensure_port_free("127.0.0.1", args.port, flag="--port")
    folder, extra_env, notes = prepare(root, args.work_dir, args.instructor)
    for line in notes:
        print(line, flush=True)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.port={args.port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
    ]
    if args.no_browser:
        command.append("--no-browser")
    if os.geteuid() == 0:  # containers and CI often run as root; JupyterLab refuses by default
        command.append("--allow-root")
    if args.token is not None:
        command.append(f"--IdentityProvider.token={args.token}")
    token = token_from_env(MODEL_TOKEN_ENV)
    with CourseModel(port=args.model_port, operator_token=token) as model:
        print(f"course model: {model.url}", flush=True)
        # Kernels inherit this environment: that is how a notebook gets the records token.
        env = {
            **os.environ,
            **extra_env,
            MODEL_URL_ENV: model.url,
            MODEL_TOKEN_ENV: model.operator_token,
        }
        with subprocess.Popen(command, env=env, cwd=folder) as jupyter:
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                return jupyter.wait()
            except KeyboardInterrupt:
                jupyter.terminate()
                jupyter.wait(timeout=30)
                return 0
