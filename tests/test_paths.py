"""Project-directory naming, checked against Claude Code's own rule and the real CLIs."""

from __future__ import annotations

import subprocess

import pytest

from sessionlab import claude_clis
from sessionlab.paths import sanitize_cwd


@pytest.mark.parametrize(
    ("cwd", "expected"),
    [
        ("/home/student/enc/my_proj.v2 x", "-home-student-enc-my-proj-v2-x"),
        ("/Users/2a/.claude/cc-sdk-chat/api", "-Users-2a--claude-cc-sdk-chat-api"),
        ("/tmp/é", "-tmp--"),
    ],
)
def test_every_non_alphanumeric_character_becomes_a_dash(cwd, expected):
    assert sanitize_cwd(cwd) == expected


def test_long_names_are_cut_at_200_with_a_base36_hash():
    # Reference values computed with the function copied from cli.js 2.1.112 under Node.
    assert sanitize_cwd("/tmp/" + "a" * 300) == "-tmp-" + "a" * 195 + "-w6az8n"
    assert sanitize_cwd("/tmp/é" + "a" * 300) == "-tmp--" + "a" * 194 + "-91dn1e"


def test_legacy_naming_never_truncates():
    long = "/tmp/" + "b" * 230
    assert sanitize_cwd(long, truncate_long=False) == "-tmp-" + "b" * 230


@pytest.mark.cli
@pytest.mark.parametrize("cli", ["legacy", "current"])
def test_the_real_cli_writes_where_sanitize_cwd_says(make_lab, cli, tmp_path):
    lab = make_lab(cli)
    # Deep enough that the sanitized name passes 200 characters, short enough for legacy's
    # untruncated name to stay under the 255-byte limit of one path component.
    deep = lab.workdir
    while len(str(deep)) < 230:
        deep = deep / "nested_dir.v2"
    deep.mkdir(parents=True)
    subprocess.run(
        ["claude", "-p", "hello", "--output-format", "json"],
        cwd=deep,
        check=True,
        capture_output=True,
        timeout=120,
    )
    written = [p for p in (lab.config_dir / "projects").iterdir() if any(p.glob("*.jsonl"))]
    assert [p.name for p in written] == [lab.project_dir_for(deep).name]
    untruncated = sanitize_cwd(deep, truncate_long=False)
    assert len(untruncated) > 200
    if claude_clis.pinned(cli).truncates_long_project_names:
        assert written[0].name.startswith(untruncated[:200] + "-")
        assert len(written[0].name) < len(untruncated)
    else:
        assert written[0].name == untruncated
