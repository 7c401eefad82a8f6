"""``sessionlab monitor`` and ``sessionlab consolidate`` from the command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionlab.cli import main
from sessionlab.monitor.testkit import conversation, fixed_entries, new_id, write_stray
from sessionlab.transcripts import conversation_chain

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"  # real CLI captures


def test_bad_session_id_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["monitor", str(tmp_path), "--session-id", "nope"]) == 2
    assert main(["consolidate", str(tmp_path), "--into", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("not a session id" in line for line in err)


def test_refuses_the_real_claude_home(tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "projects" / "-x").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(home / ".claude" / "projects" / "-x")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SESSIONLAB_HOME", str(tmp_path / "course"))
    assert main(["consolidate", str(link), "--into", new_id()]) == 2
    assert "--real-home" in capsys.readouterr().err
    assert main(["consolidate", str(link), "--into", new_id(), "--real-home"]) == 0


def test_help_for_both_commands(capsys) -> None:
    for command in ("monitor", "consolidate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    assert "--apply" in capsys.readouterr().out


def test_consolidate_dry_run_then_apply_on_real_samples(tmp_path: Path, capsys) -> None:
    if not SAMPLES.exists():
        pytest.skip("samples not available")
    project = tmp_path / "p"
    project.mkdir()
    copies = {
        "cc-1.0.120/A-original": "21926f61-263e-4765-ac60-e66eba4b5f77",
        "cc-1.0.120/B-after-resume-A": "275e5541-ab61-40a4-9a4e-e433b3b5bafa",
        "cc-1.0.128/stray-summary-only": "59f62cb3-ef92-45d5-9e25-fa8d01910685",
        "cc-2.0.77/stray-empty-0-bytes": "499deadd-2e2b-4bf0-973e-88a3566d8d60",
    }
    for stem, uid in copies.items():
        source = next(SAMPLES.glob(f"{stem}.*.jsonl"))
        shutil.copyfile(source, project / f"{uid}.jsonl")
    shutil.copyfile(next(SAMPLES.glob("cc-2.0.77/agent-*.jsonl")), project / "agent-ac86109.jsonl")
    os.utime(project / "21926f61-263e-4765-ac60-e66eba4b5f77.jsonl", (1, 1))
    into = "21926f61-263e-4765-ac60-e66eba4b5f77"
    before = sorted(os.listdir(project))
    assert main(["consolidate", str(project), "--into", into]) == 0
    out = capsys.readouterr().out
    assert "2 duplicates" in out and "dry run" in out and "agent-ac86109.jsonl" in out
    assert sorted(os.listdir(project)) == before
    assert main(["consolidate", str(project), "--into", into, "--apply"]) == 0
    assert sorted(p for p in os.listdir(project) if p.endswith(".jsonl")) == [
        f"{into}.jsonl",
        "agent-ac86109.jsonl",
    ]
    entries, bad = fixed_entries(project, into)
    assert bad == 0 and len(conversation_chain(entries)) == 6


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_monitor_command_prints_status_and_a_final_report(tmp_path: Path, how: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    sid = new_id()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionlab", "monitor", str(project), "--session-id", sid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        write_stray(project, conversation(new_id(), 2))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not fixed_entries(project, sid)[0]:
            time.sleep(0.05)
        time.sleep(1.5)
        proc.send_signal(getattr(signal, how))
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "corrections 1" in out and "monitor stopped" in out
    assert len(fixed_entries(project, sid)[0]) == 2
