"""Start and stop the servers the browser tests drive (``make lab``), and wait for them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_json(url: str, process: subprocess.Popen[bytes], log: IO[str], limit: float) -> object:
    """GET ``url`` until it answers JSON; fail with the server's log if it never does."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            time.sleep(0.5)
    log.seek(0)
    raise AssertionError(f"{url} did not answer within {limit:.0f} s:\n{log.read()[-4000:]}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C a whole process group (``make`` and its children), then make sure it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_make_lab(
    repo: Path, port: int, token: str, work: Path, env: dict[str, str], log: IO[str]
) -> subprocess.Popen[bytes]:
    """``make lab`` exactly as a student runs it, on a given port, token and work folder."""
    args = f"--no-browser --port {port} --token {token} --work-dir {work}"
    return subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=repo, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **env},
    )  # fmt: skip
