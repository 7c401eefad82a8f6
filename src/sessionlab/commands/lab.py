"""``sessionlab lab``: start the course model, then JupyterLab on ``notebooks/``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from sessionlab.errors import CourseError
from sessionlab.net import ensure_port_free
from sessionlab.operator_token import token_from_env
from sessionlab.paths import repo_root
from sessionlab.remote_model import MODEL_TOKEN_ENV, MODEL_URL_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="start the course model and JupyterLab on notebooks/",
        description="Start the course model on 127.0.0.1 and JupyterLab on the student "
        "notebooks. Notebooks and JupyterLab terminals find the model through "
        f"${MODEL_URL_ENV} and read its records with the operator token in ${MODEL_TOKEN_ENV}. "
        "Stop both with Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab port (default 8888)")
    parser.add_argument(
        "--model-port", type=int, default=0, help="course model port (default: a free one)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--token", help="JupyterLab token (default: JupyterLab generates one)")
    parser.add_argument("--notebook-dir", type=Path, help="folder to serve (default notebooks/)")
    parser.set_defaults(func=_lab)


def _notebook_dir(explicit: Path | None) -> Path:
    folder = explicit or ((repo_root() or Path.cwd()) / "notebooks")
    if not folder.is_dir():
        raise CourseError(f"{folder} does not exist: pass --notebook-dir or run from the repo")
    return folder.resolve()


def _lab(args: argparse.Namespace) -> int:
    from sessionlab.model import CourseModel

    folder = _notebook_dir(args.notebook_dir)
    ensure_port_free("127.0.0.1", args.port, flag="--port")
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
        env = {**os.environ, MODEL_URL_ENV: model.url, MODEL_TOKEN_ENV: model.operator_token}
        with subprocess.Popen(command, env=env) as jupyter:
            try:
                return jupyter.wait()
            except KeyboardInterrupt:
                jupyter.terminate()
                jupyter.wait(timeout=30)
                return 0
