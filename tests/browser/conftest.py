"""Playwright for Python drives Debian's chromium: the course as students and instructors see it.

The browser is the system's ``/usr/bin/chromium`` (``apt-get install chromium``, which the
project's set-up does when it runs as root), launched through ``executable_path``: Playwright's
own browser download (``playwright install``) is never used. Without a browser the tests are
skipped with one line saying how to install it. Screenshots go to ``$SESSIONLAB_ARTEFACTS``
(default ``.course/artefacts/browser``) and are kept after the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SESSIONLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot as a test artefact; return its path."""
    path = artefacts_dir() / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def artefacts_dir() -> Path:
    folder = Path(os.environ.get("SESSIONLAB_ARTEFACTS", REPO / ".course" / "artefacts"))
    target = folder / "browser"
    target.mkdir(parents=True, exist_ok=True)
    return target


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser at {CHROMIUM}: `apt-get install chromium` (make browser does it)")


@pytest.fixture
def open_browser(tmp_path: Path) -> Iterator[Callable[[str], Page]]:
    """``open_browser("student")``: a new chromium with a fresh user-data-dir, one page.

    Each person in a test (a student, the instructor) gets a browser of their own, so their
    cookies never mix. Closed at the end of the test.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, ExitStack() as stack:

        def launch(who: str) -> Page:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / f"chromium-{who}"),  # a fresh, empty profile
                executable_path=str(CHROMIUM),
                args=CHROMIUM_FLAGS,
                headless=True,
                viewport={"width": 1280, "height": 860},
            )
            stack.callback(context.close)
            context.set_default_timeout(60_000)
            return context.pages[0] if context.pages else context.new_page()

        yield launch
