"""The baseline behaves exactly as the lesson's DirectoryMonitor, flaws included."""

from __future__ import annotations

import inspect
import json
import re

import sessionlab.monitor as monitor_pkg
from sessionlab.monitor import NaivePollingMonitor
from sessionlab.monitor import naive as naive_module


def test_moves_lines_rewrites_session_id_and_unlinks(project, make_entry, waiter):
    project.fixed.write_text(json.dumps(make_entry("f1", project.session_id)) + "\n")
    mon = NaivePollingMonitor(project.dir, project.session_id, interval=0.01)
    mon.start()
    try:
        stray = project.stray(
            [make_entry("s1", "other-session"), make_entry("s2", "other-session", "s1")],
            atomic=True,
        )
        assert waiter(lambda: not stray.exists())
    finally:
        mon.stop()
    entries = project.fixed_entries()
    assert [e["uuid"] for e in entries] == ["f1", "s1", "s2"]
    assert {e["sessionId"] for e in entries} == {project.session_id}
    assert entries[1]["parentUuid"] is None  # FLAW 6: the fragment root is not relinked
    assert mon.get_stats() == {"corrections": 1, "intercepted_files": 1, "unique_files": 1}


def test_creates_the_fixed_file_by_appending(project, make_entry):
    stray = project.stray([make_entry("s1", "x")])
    mon = NaivePollingMonitor(project.dir, project.session_id)
    mon.correct_file(stray)  # one synchronous pass, as the loop would do
    assert not stray.exists()
    assert [e["uuid"] for e in project.fixed_entries()] == ["s1"]


def test_old_sessions_count_as_strays_unless_baseline(project, make_entry, waiter):
    old = project.stray([make_entry("old", "old-session")])
    mon = NaivePollingMonitor(project.dir, project.session_id, interval=0.01)
    mon.start()
    try:
        assert waiter(lambda: not old.exists())  # FLAW 1: an old conversation is swallowed
    finally:
        mon.stop()

    old = project.stray([make_entry("old2", "old-session")])
    mon = NaivePollingMonitor(project.dir, project.session_id, interval=0.01, baseline=True)
    mon.start()
    try:
        new = project.stray([make_entry("new", "new-session")])
        assert waiter(lambda: not new.exists())
        assert old.exists()
    finally:
        mon.stop()


def test_no_dedup_and_torn_line_is_glued(project, make_entry):
    mon = NaivePollingMonitor(project.dir, project.session_id)
    mon.correct_file(project.stray([make_entry("a", "s")]))
    mon.correct_file(project.stray([make_entry("a", "s")]))  # FLAW 5: same uuid again
    torn = project.dir / "torn.jsonl"
    torn.write_text('{"uuid": "half", "type": "us')  # FLAW 4: a fragment, no newline
    mon.correct_file(torn)
    mon.correct_file(project.stray([make_entry("b", "s")]))
    lines = project.fixed.read_text().splitlines()
    assert [json.loads(x)["uuid"] for x in lines[:2]] == ["a", "a"]
    assert lines[2].startswith('{"uuid": "half", "type": "us{')  # glued: "b" is lost too
    assert len(lines) == 3


def test_stop_joins_and_is_idempotent(project):
    mon = NaivePollingMonitor(project.dir, project.session_id, interval=0.01)
    mon.stop()  # before start: harmless
    mon.start()
    mon.stop()
    assert mon.thread is not None and not mon.thread.is_alive()
    mon.stop()


def test_every_flaw_is_marked_where_it_lives():
    source = inspect.getsource(naive_module)
    numbers = {int(n) for n in re.findall(r"# FLAW (\d+):", source)}
    assert numbers == set(range(1, 12))


def test_session_monitor_is_lazy():
    assert "SessionMonitor" in monitor_pkg.__all__
    assert "__getattr__" in vars(monitor_pkg)
