"""Rule 4: killed at any step of the merge protocol, a restart ends with every line once.

The merger runs in a child process with ``SESSIONLAB_FAILPOINT=<point>``; at that point it
calls ``os._exit(137)`` (no cleanup, like SIGKILL). The parent then restarts the monitor and
checks the invariants: every written uuid exactly once, no malformed line, no stray left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionlab.durable import failpoints
from sessionlab.monitor.engine import TOMBSTONE_PREFIX
from sessionlab.monitor.testkit import (
    conversation,
    fixed_entries,
    make_monitor,
    new_id,
    settle,
    strays,
    timestamp,
    write_stray,
)
from sessionlab.transcripts import conversation_chain

CHILD = """
import sys
from sessionlab.monitor.engine import SessionMonitor
m = SessionMonitor(sys.argv[1], sys.argv[2], quiet_period=0.05, empty_grace=0.05,
                   rescan_interval=0.2)
m.start()
m.wait_idle(float(sys.argv[3]))
m.stop()
"""


def _run_child(project: Path, sid: str, failpoint: str | None, wait: float = 10.0):
    env = {**os.environ}
    env.pop(failpoints.ENV, None)
    if failpoint:
        env[failpoints.ENV] = failpoint
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(project), sid, str(wait)],
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )


def _check(project: Path, sid: str, expected: list[str]) -> None:
    entries, bad = fixed_entries(project, sid)
    assert bad == 0
    got = [e["uuid"] for e in entries if "uuid" in e]
    assert sorted(got) == sorted(expected), "every line exactly once"
    assert not strays(project, sid)
    assert len(conversation_chain(entries)) == len(expected)


def _setup(project: Path, sid: str) -> list[str]:
    expected: list[str] = []
    history = conversation(sid, 2)
    write_stray(project, history, name=f"{sid}.jsonl")
    expected += [e["uuid"] for e in history]
    # two finished strays, one with a copied prefix (legacy --resume)
    a = conversation(new_id(), 4)
    # a legacy fork stamps its copies with the time of the copy, and its new turn continues
    # from the last copied entry
    copies = [{**e, "sessionId": "x", "timestamp": timestamp()} for e in a]
    b = [*copies, *conversation(new_id(), 3, parent=a[-1]["uuid"])]
    write_stray(project, a)
    time.sleep(0.01)
    write_stray(project, b)
    expected += [e["uuid"] for e in a] + [e["uuid"] for e in b[4:]]
    return expected


@pytest.mark.parametrize(
    "point",
    [
        "after_write",
        "after_fsync",
        "after_rename",
        "after_unlink",
        "after_write:2",
        "after_fsync:2",
        "after_rename:2",
        "after_unlink:2",
    ],
)
def test_killed_at_failpoint_then_restarted(tmp_path: Path, point: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    sid = new_id()
    # take the baseline before the strays exist, as a running monitor would have
    first = make_monitor("reference", project, sid)
    first.start()
    first.stop()
    expected = _setup(project, sid)
    result = _run_child(project, sid, point)
    assert result.returncode == failpoints.EXIT_STATUS, result.stderr
    # restart without failpoint: the state file makes the strays strays, not history
    result = _run_child(project, sid, None)
    assert result.returncode == 0, result.stderr
    _check(project, sid, expected)


def test_tombstone_left_by_a_crash_is_adopted(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    sid = new_id()
    items = conversation(new_id(), 3)
    write_stray(project, items, name=f"{TOMBSTONE_PREFIX}1-2")
    monitor = make_monitor("reference", project, sid)
    with monitor:
        settle(monitor, project, sid)
    _check(project, sid, [e["uuid"] for e in items])


@pytest.mark.slow
def test_random_sigkills_while_a_writer_appends(tmp_path: Path) -> None:
    """A persistent-fd writer appends while the merger is SIGKILLed at random moments.

    The conversation is fed to the writer in chunks, one kill per chunk, so every run kills
    the merger the same number of times however slow the machine is; where a kill lands in
    the merge is what the random sleep varies.
    """
    rng = random.Random(1234)
    project = tmp_path / "p"
    project.mkdir()
    sid = new_id()
    make_monitor("reference", project, sid).start().stop()  # baseline
    items = conversation(new_id(), 400, text="x" * 200)
    path = project / f"{new_id()}.jsonl"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\n"
            "f=open(sys.argv[1],'a')\n"
            "for line in sys.stdin:\n"
            "    f.write(line); f.flush(); time.sleep(0.005)\n"
            "f.close()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    from sessionlab.monitor.testkit import dumps

    assert writer.stdin is not None
    chunks = 8
    size = len(items) // chunks
    for start in range(0, len(items), size):
        writer.stdin.write("".join(dumps(i) + "\n" for i in items[start : start + size]))
        writer.stdin.flush()
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(project), sid, "60"])
        time.sleep(rng.uniform(0.1, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
    writer.stdin.close()
    assert writer.wait(timeout=60) == 0
    assert _run_child(project, sid, None).returncode == 0
    _check(project, sid, [e["uuid"] for e in items])
