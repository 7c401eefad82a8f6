"""The unit of grading work: its input and result survive JSON, stale keys are refused, and
each worker process gets a jail uid of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionlab.grading.fingerprint import lesson_key
from sessionlab.grading.unit import (
    CellGrade,
    GradingResult,
    GradingTask,
    StaleWorkerError,
    SubmissionLimits,
    WorkerLoad,
    check_keys,
)

ROOT = Path(__file__).resolve().parents[2]


def _task(**changes: object) -> GradingTask:
    fields: dict[str, object] = dict(
        assignment="03-monitor", student_id="carla", name="Carla", notebook=b'{"cells": []}\xff',
        sha256="ab" * 32, timestamp="2030-01-01 12:00:00.000000 UTC", lesson_key="1" * 64,
        grader_key="2" * 64, limits=SubmissionLimits(cell_timeout=60, memory_mb=1024),
    )  # fmt: skip
    fields.update(changes)
    return GradingTask(**fields)  # type: ignore[arg-type]


def test_task_and_result_survive_json() -> None:
    task = _task()
    assert GradingTask.from_json(task.to_json()) == task
    result = GradingResult(
        "03-monitor", "carla", task.sha256, task.lesson_key, task.grader_key, score=18.0,
        max_score=19.0, cells=[CellGrade("test_rules", 6.0, 7.0), CellGrade("essay", None, 1.0,
        True)], notes=["essay needs a manual grade"], autograded=b"\x00notebook",
        feedback_html="<html/>", monitor={"label": "carla", "checks": []}, seconds=9.5,
        phases={"autograde": 8.0}, load=WorkerLoad("host:1", 2, 0.5, 1.25, 2.0, 9),
    )  # fmt: skip
    again = GradingResult.from_json(result.to_json())
    assert again == result
    assert again.key == task.key == "03-monitor:carla:" + "ab" * 32


def test_a_worker_with_another_lesson_or_grader_refuses() -> None:
    task = _task()
    check_keys(task, task.lesson_key, task.grader_key, "w1")  # same checkout: no error
    with pytest.raises(StaleWorkerError, match=r"w2 refuses carla: .*lesson 03-monitor 333333"):
        check_keys(task, "3" * 64, task.grader_key, "w2")
    with pytest.raises(StaleWorkerError, match=r"grader 444444444444 here, 222222222222 on the"):
        check_keys(task, task.lesson_key, "4" * 64, "w3")


def test_lesson_key_follows_the_source_and_the_config(tmp_path: Path) -> None:
    source, config = tmp_path / "a.ipynb", tmp_path / "nbgrader_config.py"
    source.write_text("{}")
    config.write_text("c = 1")
    first = lesson_key(source, config)
    assert lesson_key(source, config) == first
    source.write_text("{ }")
    assert lesson_key(source, config) != first


def test_a_dead_workers_workspace_is_swept_a_live_ones_is_not(tmp_path: Path) -> None:
    from sessionlab.grading.workspace import OWNER_FILE, WORK_PREFIX, sweep_dead_workspaces

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {}
    for label, pid in (("dead", dead.pid), ("alive", os.getpid()), ("foreign", None)):
        folder = tmp_path / f"{WORK_PREFIX}{label}"
        folder.mkdir()
        if pid is not None:
            (folder / OWNER_FILE).write_text(str(pid))
        folders[label] = folder
    assert sweep_dead_workspaces(tmp_path) == [folders["dead"]]
    assert not folders["dead"].exists()
    assert folders["alive"].exists() and folders["foreign"].exists()


def test_grading_logs_nothing_critical_without_an_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Grading never uses nbgrader's exchange; a course home without one (every fresh clone)
    must not make nbgrader log CRITICAL "Unwritable directory" to the instructor."""
    import logging

    from sessionlab.grading.class_gradebook import ClassGradebook
    from sessionlab.grading.workspace import Lesson

    monkeypatch.setenv("SESSIONLAB_EXCHANGE", str(tmp_path / "no-exchange-here"))
    lesson = Lesson.load(ROOT / "autograder", "01-fragmentation")
    with caplog.at_level(logging.INFO):
        book = ClassGradebook(lesson, tmp_path / "out")
    assert book.max_score > 0
    critical = [r.getMessage() for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert critical == []
