"""`make lab` really serves JupyterLab on the student's work folder with the course kernel."""

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

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_with_the_course_kernel(tmp_path):
    port, token = free_port(), "course-test-token"
    log = (tmp_path / "lab.log").open("w+")  # a file, not a pipe: JupyterLab logs a lot
    work = tmp_path / "work"
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab",
         f"LAB_ARGS=--no-browser --port {port} --token {token} --work-dir {work}"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "SESSIONLAB_EXCHANGE": str(tmp_path / "exchange")},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                status = get_json(f"{base}/api/status?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        log.seek(0)
        assert status is not None, f"JupyterLab did not answer within 120 s:\n{log.read()[-3000:]}"
        specs = get_json(f"{base}/api/kernelspecs?token={token}")
        assert "sessionlab" in specs["kernelspecs"]
        contents = get_json(f"{base}/api/contents?token={token}")
        assert contents["type"] == "directory"
        names = {item["name"] for item in contents["content"]}
        assert {"README.md", "01-fragmentation", "10-agent-sdk"} <= names
        assert (work / "01-fragmentation" / "01-fragmentation.ipynb").is_file()
        # The Assignment List sees the lessons through the course-local exchange.
        listed = get_json(f"{base}/assignments?course_id=session-engineering-lab&token={token}")
        assert listed["success"], listed
        assert "01-fragmentation" in {item["assignment_id"] for item in listed["value"]}
        # Students do not get the Formgrader.
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=10)
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
    finally:
        stop_group(lab)
    log.seek(0)
    assert "course model: http://127.0.0.1:" in log.read()


def stop_group(process: subprocess.Popen) -> None:
    """Ctrl-C the whole `make lab` process group, then make sure it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_make_instructor_opens_the_formgrader_on_the_course(tmp_path):
    """`make instructor`: the Formgrader lists the course's lessons (it was empty before)."""
    port, token = free_port(), "instructor-test-token"
    log = (tmp_path / "instructor.log").open("w+")
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "instructor",
         f"LAB_ARGS=--no-browser --port {port} --token {token}"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "SESSIONLAB_EXCHANGE": str(tmp_path / "exchange")},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        page = b""
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                url = f"{base}/formgrader/api/assignments?token={token}"
                with urllib.request.urlopen(url, timeout=10) as response:
                    page = response.read()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        log.seek(0)
        assert page, f"the Formgrader did not answer within 120 s:\n{log.read()[-3000:]}"
        names = {item["name"] for item in json.loads(page)}
        assert {"01-fragmentation", "10-agent-sdk"} <= names, names
    finally:
        stop_group(lab)
