"""Rule 9 with a real full filesystem: a 2 MiB tmpfs (needs root; skipped otherwise).

The fault-injection seam (``FixedFile.write``) covers torn writes in ``test_rules.py``; this
test makes the kernel itself answer ENOSPC.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionlab.monitor.testkit import (
    conversation,
    fixed_entries,
    make_monitor,
    new_id,
    strays,
    write_stray,
)
from sessionlab.waiting import wait_until


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_enospc_truncates_keeps_the_stray_and_retries(small_tmpfs: Path, tmp_path: Path):
    project = small_tmpfs
    sid = new_id()
    items = conversation(new_id(), 150, text="y" * 4000)  # ~620 KB
    ballast = project / ".ballast"
    monitor = make_monitor(
        "reference", project, sid, state_dir=tmp_path / "state", backup=False, retry_interval=0.1
    )
    with monitor:
        free = os.statvfs(project).f_bavail * os.statvfs(project).f_frsize
        ballast.write_bytes(b"\0" * max(0, free - 800_000))  # room for the stray, not a copy
        hidden = write_stray(project, items, name=".incoming")  # not a candidate yet
        stray = project / f"{new_id()}.jsonl"
        hidden.rename(stray)
        assert wait_until(lambda: monitor.get_stats()["write_errors"] >= 1, 5)
        assert stray.exists()
        entries, bad = fixed_entries(project, sid)
        assert bad == 0, "the failed batch was truncated away: no torn line"
        assert [e["uuid"] for e in entries] == [i["uuid"] for i in items[: len(entries)]]
        assert len(entries) < len(items)
        ballast.unlink()
        assert wait_until(lambda: not strays(project, sid), 5)
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    assert [e["uuid"] for e in entries] == [i["uuid"] for i in items]
