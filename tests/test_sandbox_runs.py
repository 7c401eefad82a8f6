"""Two runs of one lesson at once: each has its own sandbox folder and its own model records.

The scenario from the browser: a student's kernel is half-way through lesson 01 when the
toolbar's Validate (or a second tab, ``nbgrader validate``, the grader) runs the same lesson
again. Before per-run sandboxes the second run emptied ``.course/sandbox/01-fragmentation``
under the live kernel and both runs' requests were mixed in one record list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from sessionlab import claude_clis as clis
from sessionlab.model import CourseModel
from sessionlab.model_runs import ModelRun
from sessionlab.remote_model import MODEL_TOKEN_ENV, MODEL_URL_ENV, RemoteCourseModel
from sessionlab.sandbox import (
    OWNER_FILE,
    course_env,
    new_run_dir,
    runs_of,
    sandbox_root,
    sweep_finished_runs,
)

TESTS = Path(__file__).parent


@pytest.fixture
def name() -> Iterator[str]:
    unique = f"pytest-runs-{uuid.uuid4().hex[:8]}"
    yield unique
    import shutil

    shutil.rmtree(sandbox_root(unique), ignore_errors=True)


def post_turn(base_url: str, text: str) -> dict[str, object]:
    body = json.dumps(
        {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": text}]}
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/messages?beta=true",
        data=body,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        reply: dict[str, object] = json.load(response)
    return reply


def test_two_runs_of_one_name_get_separate_empty_folders(name: str) -> None:
    with course_env("legacy", name=name) as first:
        (first.workdir / "student-file.txt").write_text("mine")
        with course_env("legacy", name=name, model=None) as second:
            assert first.root != second.root
            assert first.root is not None and second.root is not None
            assert first.root.parent == second.root.parent == sandbox_root(name).resolve()
            assert list(second.workdir.iterdir()) == []
        assert (first.workdir / "student-file.txt").read_text() == "mine"
    assert len(runs_of(name)) == 2


def test_a_new_run_sweeps_finished_runs_and_never_a_live_one(name: str) -> None:
    # A run made by a process that has ended (the pid is reaped, so it cannot be alive).
    done = subprocess.run(
        [sys.executable, "-c",
         f"from sessionlab.sandbox import new_run_dir; print(new_run_dir({name!r}))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    finished = Path(done.stdout.strip())
    assert finished.is_dir()
    # A run owned by a process that is still running (another student's kernel).
    live = subprocess.Popen(
        [sys.executable, "-c",
         f"import sys, time; from sessionlab.sandbox import new_run_dir; "
         f"print(new_run_dir({name!r}), flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert live.stdout is not None
        live_run = Path(live.stdout.readline().strip())
        mine = new_run_dir(name)
        assert not finished.exists(), "a finished run's folder was kept"
        assert live_run.is_dir(), "a live run's folder was removed"
        assert mine.is_dir() and json.loads((mine / OWNER_FILE).read_text())["pid"] == os.getpid()
    finally:
        live.kill()
        live.wait()
    assert live_run in sweep_finished_runs(name)


def test_a_reused_pid_does_not_keep_a_finished_run_alive(name: str) -> None:
    run = new_run_dir(name)
    owner = json.loads((run / OWNER_FILE).read_text())
    if owner["start"] is None:
        pytest.skip("process start times need Linux /proc")
    owner["start"] = str(int(owner["start"]) - 1)  # same pid, another process's start time
    (run / OWNER_FILE).write_text(json.dumps(owner))
    assert sweep_finished_runs(name) == [run]


def test_reset_false_continues_the_newest_run(name: str) -> None:
    with course_env("legacy", name=name) as first:
        (first.workdir / "kept.txt").write_text("x")
    with course_env("legacy", name=name, reset=False) as again:
        assert again.root == first.root and (again.workdir / "kept.txt").exists()


def test_each_run_sees_only_its_own_model_records() -> None:
    with CourseModel() as model:
        a, b = ModelRun(model, "run-a"), ModelRun(model, "run-b")
        post_turn(a.url, "my name is Ana")
        post_turn(b.url, "my name is Bruno")
        post_turn(b.url, "what do you remember?")
        post_turn(model.url, "no run at all")
        assert [r.last_user_text for r in a.records] == ["my name is Ana"]
        assert [r.last_user_text for r in b.records] == [
            "my name is Bruno",
            "what do you remember?",
        ]
        assert {r.path for r in model.records} == {"/v1/messages?beta=true"}
        assert [r.run for r in model.records] == ["run-a", "run-b", "run-b", None]
        # A remote client (a make-lab kernel) asks the model for one run's records.
        remote = ModelRun(RemoteCourseModel(model.url, model.operator_token), "run-b")
        assert [r.last_user_text for r in remote.records] == [
            "my name is Bruno",
            "what do you remember?",
        ]
        b.clear_records()
        post_turn(b.url, "again")
        assert [r.last_user_text for r in b.records] == ["again"]
        assert len(a.records) == 1


def test_a_run_prefix_that_could_escape_is_not_a_run() -> None:
    with CourseModel() as model:
        for path in ("/_run/../v1/messages", "/_run//v1/messages", "/_run/%2e%2e/v1/messages"):
            request = urllib.request.Request(f"{model.url}{path}", data=b"{}", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 404
        assert all(r.run is None for r in model.records)


VALIDATE_RUN = """
import anyio, sys
sys.path.insert(0, {tests!r})
from sdk_helpers import one_connection
from sessionlab.sandbox import course_env
with course_env("legacy", name={name!r}) as lab:
    anyio.run(one_connection, lab, ["my city is Porto", "my pet is Rex", "what is my city?"])
    print(len(lab.transcripts()), len([r for r in lab.model.records if r.kind == "turn"]))
"""


@pytest.mark.cli
@pytest.mark.slow
def test_validate_while_the_lesson_is_open_disturbs_nothing(name: str) -> None:
    """A live kernel and a Validate run of the same lesson, sharing `make lab`'s model."""
    if not clis.is_installed("legacy"):
        pytest.skip("the legacy CLI is not installed (sessionlab cli install legacy)")
    from sdk_helpers import one_connection

    with CourseModel() as shared:
        os.environ[MODEL_URL_ENV] = shared.url
        os.environ[MODEL_TOKEN_ENV] = shared.operator_token
        try:
            with course_env("legacy", name=name) as live:
                anyio.run(one_connection, live, ["my name is Ana"])
                (transcript,) = live.transcripts()
                validate = subprocess.run(
                    [sys.executable, "-c", VALIDATE_RUN.format(tests=str(TESTS), name=name)],
                    capture_output=True, text=True, timeout=300,
                    env={**os.environ, MODEL_URL_ENV: shared.url,
                         MODEL_TOKEN_ENV: shared.operator_token},
                )  # fmt: skip
                assert validate.returncode == 0, validate.stderr[-2000:]
                assert validate.stdout.split() == ["1", "3"]
                # The live kernel's next cell: its transcript is still there, its records its own.
                assert transcript.is_file()
                anyio.run(one_connection, live, ["what do you remember?"])
                turns = [r for r in live.model.records if r.kind == "turn"] if live.model else []
                assert [r.last_user_text for r in turns] == [
                    "my name is Ana",
                    "what do you remember?",
                ]
                assert len(live.transcripts()) == 2
        finally:
            del os.environ[MODEL_URL_ENV]
            os.environ.pop(MODEL_TOKEN_ENV, None)
        assert len({r.run for r in shared.records if r.kind == "turn"}) == 2
