"""The classroom on one server, in a real browser: JupyterHub, nbgrader's exchange, feedback.

A student logs in, fetches lesson 01 from the Assignment List, solves an exercise, runs the
lesson and submits; the instructor logs in, collects in the Formgrader, autogrades with
``sessionlab grade`` and releases feedback; the student fetches and reads the feedback. Real
JupyterHub, real PAM accounts, real proxy from npm, real per-user cgroups, Debian's chromium.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from browser.conftest import REPO, screenshot
from browser.servers import free_port, stop_group, wait_for_json
from sessionlab import claude_clis as clis

# The first hub on a checkout whose Python is private builds the shared course install once
# (about 2-4 minutes on two busy cores); later runs start in about half a minute.
pytestmark = [pytest.mark.slow, pytest.mark.cli, pytest.mark.browser, pytest.mark.timeout(1500)]
expect.set_options(timeout=120_000)
SESSIONLAB = Path(sys.executable).parent / "sessionlab"
LESSON = "01-fragmentation"
SOLUTION = """def count_session_files(project_dir):
    folder = Path(project_dir)
    return sum(1 for p in folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("agent-"))
"""


@dataclass
class Hub:
    url: str
    data: Path
    student: tuple[str, str]
    instructor: tuple[str, str]
    started_s: float
    process: subprocess.Popen[bytes]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("the hub test creates Unix accounts: it needs root on Linux")
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("no browser at /usr/bin/chromium: `apt-get install chromium`")
    if not clis.is_installed("legacy"):
        pytest.skip("the legacy CLI is not installed (sessionlab cli install legacy)")
    tag = secrets.token_hex(2)
    data = Path(f"/tmp/sessionlab-hub-{tag}")  # every account must reach it: not pytest's 700
    port = free_port()
    log = (tmp_path / "hub.log").open("w+")
    started = time.monotonic()
    process = subprocess.Popen(
        [str(SESSIONLAB), "hub", "serve", "--students", "1", "--prefix", f"t{tag}s",
         "--instructor", f"t{tag}i", "--data", str(data), "--port", str(port),
         "--memory", "1536M", "--cpu", "1"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_json(f"http://127.0.0.1:{port}/hub/api/", process, log, 600)
        started_s = time.monotonic() - started
        rows = (data / "accounts.csv").read_text().splitlines()[1:]
        accounts = {role: (name, password) for name, role, password in (r.split(",") for r in rows)}
        yield Hub(
            f"http://127.0.0.1:{port}", data, accounts["student"], accounts["instructor"],
            started_s, process,
        )  # fmt: skip
    finally:
        stop_group(process)
        subprocess.run([str(SESSIONLAB), "hub", "remove", "--data", str(data)], check=False)
        shutil.rmtree(data, ignore_errors=True)
        log.seek(0)
        (tmp_path / "hub-log-tail.txt").write_text(log.read()[-20000:])
        log.close()


def log_in(page: Page, hub: Hub, account: tuple[str, str]) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", account[0])
    page.fill("#password_input", account[1])
    page.click("#login_submit")
    page.wait_for_url("**/user/**/lab**", timeout=300_000)
    expect(page.locator(".jp-DirListing")).to_be_visible(timeout=300_000)


def open_assignment_list(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    expect(page.locator("#released_assignments_list")).to_be_visible()


def list_row(page: Page, section: str, name: str) -> Locator:
    return page.locator(f"#{section} .list_item", has_text=name).first


def wait_idle(page: Page) -> None:
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.jp-InputPrompt'))"
        ".some(p => p.textContent.includes('*'))",
        timeout=300_000,
    )
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=300_000)


def code_cell(page: Page, starts: str) -> Locator:
    inputs = page.locator(".jp-InputArea-editor", has_text=re.compile("^" + re.escape(starts)))
    return page.locator(".jp-NotebookPanel .jp-CodeCell").filter(has=inputs).first


def formgrader_action(page: Page, lesson: str, action: str) -> None:
    """Click one of the Formgrader's per-assignment icons and wait for its "Success" box."""
    row = page.locator("tr", has=page.locator("td", has_text=re.compile(f"^{lesson}$")))
    row.locator(f".{action} a").click()
    modal = page.locator("#success-modal, #error-modal")
    expect(modal).to_be_visible(timeout=300_000)
    assert modal.get_attribute("id") == "success-modal", modal.inner_text()
    modal.locator("button").first.click()
    expect(modal).to_have_count(0)  # removed: the next box reuses the same id


def test_a_student_round_trip_through_the_hub(
    hub: Hub, open_browser: Callable[[str], Page]
) -> None:
    from sessionlab.classroom.class_hub import HubPlan

    print(f"hub start (set-up included): {hub.started_s:.1f} s")
    for account in (hub.student, hub.instructor):
        mode = Path(pwd.getpwnam(account[0]).pw_dir).stat().st_mode
        assert mode & 0o077 == 0, f"{account[0]}'s home is readable by other accounts"
    round_trip = time.monotonic()
    student = open_browser("student")
    log_in(student, hub, hub.student)
    open_assignment_list(student)
    screenshot(student, "hub-student-assignments")
    list_row(student, "released_assignments_list", LESSON).get_by_role(
        "button", name="Fetch"
    ).click()
    fetched = list_row(student, "fetched_assignments_list", LESSON)
    expect(fetched).to_be_visible()
    fetched.get_by_text(LESSON).first.click()  # unfolds the assignment's notebooks
    fetched.get_by_text(LESSON).last.click()  # the notebook link: opens the lesson
    expect(code_cell(student, "def count_session_files")).to_be_visible()
    expect(student.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=300_000)

    code_cell(student, "def count_session_files").locator(".cm-content").click()
    student.keyboard.press("Control+a")
    student.keyboard.insert_text(SOLUTION)
    student.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    student.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    test_cell = code_cell(student, "# On copies of the lesson's transcripts in a temporary folder")
    try:  # Run All stops at exercise 2's test: the student has not solved it yet
        expect(test_cell.locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"\[\d+\]"), timeout=300_000
        )
        wait_idle(student)
    finally:
        screenshot(student, "hub-student-lesson")
    outputs = student.locator(".jp-NotebookPanel .jp-CodeCell .jp-OutputArea").all_text_contents()
    assert "visible tests passed" in (test_cell.locator(".jp-OutputArea").text_content() or ""), (
        outputs[:12]
    )
    plan = HubPlan.load(hub.data)
    limits = plan.limits_for(hub.student[0])
    memory_mb = limits.memory_usage() / 2**20 if limits.available() else float("nan")
    print(f"student's memory with lesson 01 running (cgroup): {memory_mb:.0f} MiB")
    if limits.available():
        assert limits.written_limits() == (1536 * 2**20, 1.0)
        assert limits.members(), "the student's server runs outside its cgroup"
    student.keyboard.press("Control+s")
    screenshot(student, "hub-student-lesson")

    student.get_by_text("Assignments", exact=True).first.click()
    list_row(student, "fetched_assignments_list", LESSON).get_by_role(
        "button", name="Submit"
    ).click()
    expect(list_row(student, "submitted_assignments_list", LESSON)).to_be_visible()

    # The instructor: collect in the Formgrader, autograde in the jail, release feedback.
    instructor = open_browser("instructor")
    log_in(instructor, hub, hub.instructor)
    name, home = hub.instructor[0], f"/home/{hub.instructor[0]}"
    instructor.goto(f"{hub.url}/user/{name}/formgrader/manage_assignments")
    formgrader_action(instructor, LESSON, "collect")
    # Autograding runs as root so every kernel is jailed under an unprivileged uid.
    graded = subprocess.run(
        [str(SESSIONLAB), "hub", "grade", LESSON, "--data", str(hub.data)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    assert "rlimits and time limits only" not in graded.stdout, "grading ran without the jail"
    owner = (Path(home) / "course" / "autograder" / "gradebook.db").stat().st_uid
    assert owner == pwd.getpwnam(name).pw_uid, "the gradebook went back to the instructor"
    instructor.reload()
    formgrader_action(instructor, LESSON, "generate-feedback")
    formgrader_action(instructor, LESSON, "release-feedback")
    instructor.goto(f"{hub.url}/user/{name}/formgrader/manage_submissions/{LESSON}")
    expect(instructor.locator("body")).to_contain_text(hub.student[0])
    screenshot(instructor, "hub-instructor-formgrader")

    # The student fetches and reads the feedback.
    student.get_by_text("Assignments", exact=True).first.click()
    student.locator(
        "#refresh_assignments_list, .nbgrader-refresh, button[title*=efresh]"
    ).first.click()
    submitted = list_row(student, "submitted_assignments_list", LESSON)
    submitted.get_by_role("button", name="Fetch Feedback").click()
    link = list_row(student, "submitted_assignments_list", LESSON).get_by_text("view feedback")
    link.click()  # the file browser goes to <lesson>/feedback/<timestamp>/
    student.locator(".jp-DirListing-item", has_text=f"{LESSON}.html").dblclick()
    feedback = student.frame_locator(".jp-HTMLViewer iframe").locator("body")
    expect(feedback).to_contain_text("Score")
    expect(feedback).to_contain_text("count_session_files")
    expect(feedback).not_to_contain_text("BEGIN HIDDEN TESTS")
    screenshot(student, "hub-student-feedback")
    print(f"one student round trip (login to feedback read): {time.monotonic() - round_trip:.1f} s")
