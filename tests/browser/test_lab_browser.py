"""`make lab` in a real browser: a student opens lesson 01, solves an exercise, presses Validate.

Before per-run sandboxes, Validate (a second run of the lesson in a new kernel) emptied the
live lesson's sandbox: the student's next cell failed with ``FileNotFoundError`` and the model
records showed 15 turns instead of 6. This drives the same clicks in Debian's chromium.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from browser.conftest import REPO, screenshot
from browser.servers import free_port, start_make_lab, stop_group, wait_for_json
from sessionlab import claude_clis as clis

pytestmark = [pytest.mark.slow, pytest.mark.cli, pytest.mark.browser, pytest.mark.timeout(900)]
expect.set_options(timeout=60_000)

SOLUTION = """def count_session_files(project_dir):
    folder = Path(project_dir)
    return sum(1 for p in folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("agent-"))
"""
LESSON = "01-fragmentation/01-fragmentation.ipynb"
# Code cells of the released lesson 01, found by how their code starts.
EXERCISE = "def count_session_files"
TEST = "# On copies of the lesson's transcripts in a temporary folder"
TURNS = re.compile(r"^print_model_turns\(lab\.model\.records\)$")
FIRST = "import json"


def cell(page: Page, code: str | re.Pattern[str]) -> Locator:
    """The code cell whose source matches ``code`` (a prefix, or a whole-text pattern)."""
    text = code if isinstance(code, re.Pattern) else re.compile("^" + re.escape(code))
    inputs = page.locator(".jp-InputArea-editor", has_text=text)
    return page.locator(".jp-NotebookPanel .jp-CodeCell").filter(has=inputs).first


def run_menu(page: Page, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def wait_idle(page: Page, limit_ms: int = 240_000) -> None:
    """The kernel finished everything queued (no cell shows ``[*]``, the status says Idle)."""
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.jp-InputPrompt'))"
        ".some(p => p.textContent.includes('*'))",
        timeout=limit_ms,
    )
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=limit_ms)


def output_of(page: Page, code: str | re.Pattern[str]) -> str:
    return cell(page, code).locator(".jp-OutputArea").text_content() or ""


def select(page: Page, code: str | re.Pattern[str]) -> None:
    cell(page, code).locator(".jp-InputPrompt").click()


def test_validate_does_not_break_the_live_lesson(
    open_browser: Callable[[str], Page], tmp_path: Path
) -> None:
    if not clis.is_installed("legacy"):
        pytest.skip("the legacy CLI is not installed (sessionlab cli install legacy)")
    port, token, work = free_port(), "browser-test-token", tmp_path / "work"
    log = (tmp_path / "lab.log").open("w+")
    env = {  # a private exchange, and no JupyterLab workspace left over from another run
        "SESSIONLAB_EXCHANGE": str(tmp_path / "exchange"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    started = time.monotonic()
    lab = start_make_lab(REPO, port, token, work, env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_json(f"{base}/api/status?token={token}", lab, log, 180)
        notebook = work / LESSON
        released = notebook.read_bytes()
        page = open_browser("student")
        page.goto(f"{base}/lab/tree/{LESSON}?token={token}")
        expect(cell(page, FIRST)).to_be_visible()
        expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)
        ready = time.monotonic() - started
        print(f"make lab -> lesson 01 open with an idle kernel: {ready:.1f} s")

        # Opening a lesson changes nothing: no unsaved-changes mark, the file is untouched.
        time.sleep(3)
        assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0
        assert notebook.read_bytes() == released

        # Solve exercise 1 the way a student types it, then run everything up to its test.
        editor = cell(page, EXERCISE).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(SOLUTION)
        select(page, TEST)
        run_menu(page, "Run All Above Selected Cell")
        wait_idle(page)
        select(page, TEST)
        page.keyboard.press("Shift+Enter")
        wait_idle(page)
        assert "visible tests passed" in output_of(page, TEST), output_of(page, TEST)
        screenshot(page, "lab-exercise-solved")

        # Validate: nbgrader runs the whole lesson again in a new kernel.
        page.get_by_role("toolbar", name="main area toolbar").get_by_text(
            "Validate", exact=True
        ).click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_be_visible(timeout=300_000)
        expect(dialog.locator(".jp-Dialog-header")).not_to_contain_text("Error", timeout=1_000)
        screenshot(page, "lab-validate-result")
        dialog.locator(".jp-Dialog-footer button").last.click()
        expect(dialog).to_be_hidden()

        # The next cells still work: the transcripts are there, the records are this run's.
        select(page, TEST)
        page.keyboard.press("Shift+Enter")
        wait_idle(page)
        assert "visible tests passed" in output_of(page, TEST), output_of(page, TEST)
        select(page, TURNS)
        page.keyboard.press("Shift+Enter")
        wait_idle(page)
        rows = [line for line in output_of(page, TURNS).splitlines()
                if re.match(r"^\s*\d+\s+\d+\s", line)]  # fmt: skip
        assert len(rows) == 6, output_of(page, TURNS)
        screenshot(page, "lab-after-validate")
        saved = hashlib.sha256(notebook.read_bytes()).hexdigest()
        assert saved != hashlib.sha256(released).hexdigest(), "Validate saved the student's edit"
    finally:
        stop_group(lab)
        log.close()
