"""The sandbox: course runs never read or write a real ~/.claude."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionlab.errors import CourseError
from sessionlab.sandbox import course_env, runs_of, sandbox_root

DRIVE_BOTH_CLIS = """
import anyio, sys
sys.path.insert(0, {tests!r})
from sdk_helpers import one_connection
from sessionlab.sandbox import course_env
for cli in ("legacy", "current"):
    with course_env(cli, name="home-guard-" + cli) as lab:
        anyio.run(one_connection, lab, ["hello", "what do you remember?"])
        print(cli, len(lab.transcripts()), lab.config_dir)
"""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.cli
def test_a_full_course_run_never_touches_the_real_claude_home(tmp_path):
    home = tmp_path / "student-home"
    real = home / ".claude" / "projects" / "-home-student-work"
    real.mkdir(parents=True)
    (real / "precious.jsonl").write_text('{"type":"user"}\n')
    (home / ".claude.json").write_text("{}\n")
    before = snapshot(home)
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", DRIVE_BOTH_CLIS.format(tests=tests)],
        env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["legacy", "1"], ["current", "1"],
    ]  # fmt: skip
    assert snapshot(home) == before, "something under HOME changed"
    for cli in ("legacy", "current"):
        newest = runs_of(f"home-guard-{cli}")[-1]
        assert list((newest / "claude-config" / "projects").iterdir())


def test_pointing_the_sandbox_at_the_real_home_needs_an_explicit_opt_in(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with (
        pytest.raises(CourseError, match="real Claude Code home"),
        course_env("legacy", name="refuse-real", config_dir=tmp_path / ".claude"),
    ):
        pass


def test_live_mode_needs_an_api_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with (
        pytest.raises(CourseError, match="ANTHROPIC_API_KEY"),
        course_env("legacy", name="live-no-key", live=True),
    ):
        pass


def test_the_environment_is_restored_on_exit(monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "/somewhere/else")
    path_before = os.environ["PATH"]
    with course_env("current", name="restore-env") as lab:
        assert os.environ["CLAUDE_CONFIG_DIR"] == str(lab.config_dir)
        assert os.environ["PATH"].startswith(str(Path(lab.env["PATH"].split(os.pathsep)[0])))
        assert os.environ["ANTHROPIC_BASE_URL"] == lab.model.url
    assert os.environ["CLAUDE_CONFIG_DIR"] == "/somewhere/else"
    assert os.environ["PATH"] == path_before
    assert os.environ.get("ANTHROPIC_BASE_URL") != lab.model.url


@pytest.mark.parametrize("name", ["", "..", "a/b", "../escape"])
def test_sandbox_names_cannot_escape_the_course_home(name):
    with pytest.raises(CourseError, match="invalid sandbox name"):
        sandbox_root(name)


def test_an_unknown_cli_name_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown CLI name 'beta'"), course_env("beta"):
        pass
