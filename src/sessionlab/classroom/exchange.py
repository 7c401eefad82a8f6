"""nbgrader's exchange and screens for the course, without a system-wide nbgrader install.

nbgrader's defaults assume an administrator: an exchange in ``/usr/local/share/nbgrader``
(unwritable for a student, hence "Error fetching courses!") and every panel for everyone. The
course keeps its exchange under the course home (``$SESSIONLAB_EXCHANGE`` on a shared server)
and gives JupyterLab one of two configuration folders through ``JUPYTER_CONFIG_PATH``:

* **student**: the Assignment List and Validate (fetch, work, validate, submit, fetch
  feedback); the Formgrader, Course List and Create Assignment panels are turned off, in the
  browser and on the server.
* **instructor**: everything, with the Formgrader on the course in ``autograder/``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sessionlab.paths import course_home

EXCHANGE_ENV = "SESSIONLAB_EXCHANGE"
COURSE_ID = "session-engineering-lab"
STUDENT_HIDDEN_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)
# JupyterLab's "get notified about Jupyter news?" prompt would ask every student on first start.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)
STUDENT_OFF_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)


def exchange_root() -> Path:
    """``$SESSIONLAB_EXCHANGE``, else ``<course home>/exchange``."""
    override = os.environ.get(EXCHANGE_ENV)
    return Path(override).expanduser().resolve() if override else course_home() / "exchange"


def nbgrader_exchange_config(exchange: Path, course_id: str = COURSE_ID) -> str:
    """The lines of an ``nbgrader_config.py`` that point nbgrader at the course's exchange."""
    return (
        '"""Written by sessionlab: the course-local nbgrader exchange."""\n'
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
    )


@dataclass(frozen=True)
class ScreenConfig:
    """A folder for ``JUPYTER_CONFIG_PATH`` that sets up one role's JupyterLab."""

    folder: Path
    role: str


def write_screen_config(folder: Path, role: str, exchange: Path) -> ScreenConfig:
    """Write the student's or the instructor's Jupyter configuration into ``folder``."""
    if role not in ("student", "instructor"):
        raise ValueError(f"unknown role {role!r}: student or instructor")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(nbgrader_exchange_config(exchange))
    hidden = STUDENT_HIDDEN_PLUGINS if role == "student" else ()
    off = STUDENT_OFF_SERVER_EXTENSIONS if role == "student" else ()
    labconfig = folder / "labconfig"
    labconfig.mkdir(exist_ok=True)
    page = {"disabledExtensions": {plugin: True for plugin in (*hidden, *QUIET_PLUGINS)}}
    (labconfig / "page_config.json").write_text(json.dumps(page, indent=1) + "\n")
    server = {"ServerApp": {"jpserver_extensions": {name: False for name in off}}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1) + "\n")
    return ScreenConfig(folder, role)


def release_lessons(course: Path, lessons: list[str], exchange: Path) -> list[str]:
    """Put each released lesson into the exchange's outbound folder; return what changed.

    Runs nbgrader's own exchange code (the same the formgrader's "Release" button runs) and
    skips a lesson whose outbound copy already matches ``notebooks/``, so ``make lab`` stays
    quick when nothing changed.
    """
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeReleaseAssignment
    from traitlets.config import Config

    from sessionlab.classroom.workfolder import content_digest, released_files

    released = []
    for lesson in lessons:
        source = course / ".." / "notebooks" / lesson
        outbound = exchange / COURSE_ID / "outbound" / lesson
        files = released_files(source)
        if (
            outbound.is_dir()
            and files == released_files(outbound)
            and all(content_digest(source / f) == content_digest(outbound / f) for f in files)
        ):
            continue
        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.release_directory = "../notebooks"
        config.CourseDirectory.course_id = COURSE_ID
        config.CourseDirectory.assignment_id = lesson
        config.Exchange.root = str(exchange)
        coursedir = CourseDirectory(config=config)
        release = ExchangeReleaseAssignment(
            coursedir=coursedir, authenticator=Authenticator(config=config), config=config
        )
        release.force = True
        release.start()
        released.append(lesson)
    return released


def carry_submission_secrets(course: Path, assignment: str) -> int:
    """Copy each collected ``submission_secret.txt`` next to its autograded notebook and feedback.

    nbgrader's ``release_feedback`` reads the secret from ``feedback/<student>/<assignment>/``
    (``generate_feedback`` copies it from ``autograded/``) to name the feedback a student may
    fetch. ``sessionlab grade`` grades a private copy that keeps only the notebook and its
    timestamp, so the Formgrader's "Release Feedback" failed after it; this puts the secrets
    back. Returns how many were copied.
    """
    copied = 0
    for secret in sorted((course / "submitted").glob(f"*/{assignment}/submission_secret.txt")):
        student = secret.parent.parent.name
        for kind in ("autograded", "feedback"):
            folder = course / kind / student / assignment
            if folder.is_dir() and not (folder / secret.name).exists():
                shutil.copy2(secret, folder / secret.name)
                copied += 1
    return copied
