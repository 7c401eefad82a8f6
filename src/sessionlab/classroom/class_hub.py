"""One JupyterHub for a class: ``sessionlab hub serve --students N`` on a Linux server.

What one command sets up (as root), then runs in the foreground:

* **accounts**: ``student01`` .. ``studentNN`` and ``instructor`` (:mod:`.accounts`), logging
  in through PAM; the instructor is the hub's admin;
* **the course, installed once**: every single-user server runs this checkout's ``.venv``
  and its pinned Claude Code CLIs (a read-only symlink in each user's course home); each user
  has their own ``SESSIONLAB_HOME`` (sandboxes, runs) in their home folder;
* **nbgrader's exchange**, shared: ``<data>/exchange`` (mode 1777, as nbgrader documents); the
  course's lessons are released there, owned by the instructor, who has a private copy of the
  course (``~/course``: ``autograder/``, ``solutions/``, ``notebooks/``, the gradebook);
* **screens**: students get JupyterLab on their home folder with the Assignment List
  (Formgrader and Create Assignment hidden); the instructor gets the Formgrader on
  ``~/course/autograder``;
* **limits**: each user's server and everything it starts share one cgroup with a memory
  ceiling and a CPU quota (:mod:`.limits`);
* **the proxy**: ``configurable-http-proxy`` from npm, run by the course's own Node.

The plan is written to ``<data>/hub.json`` and ``<data>/jupyterhub_config.py`` reads it, so
what runs is what the plan file says (docs/classroom.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode

from sessionlab.classroom.accounts import Account
from sessionlab.classroom.exchange import COURSE_ID, release_lessons, write_screen_config
from sessionlab.classroom.limits import UserLimits, parse_memory
from sessionlab.errors import CourseError

PLAN_FILE = "hub.json"
COURSE_PARTS = ("autograder", "solutions", "notebooks")
GRADING_STATE = ("gradebook.db", "submitted", "autograded", "feedback", "exports", "*.csv")


@dataclass(frozen=True)
class HubPlan:
    """Everything the hub's configuration needs, as plain values (stored as JSON)."""

    data: str
    repo: str
    venv_bin: str
    cli_dir: str
    ip: str
    port: int
    hub_port: int
    proxy_api_port: int
    students: list[str]
    instructor: str
    memory: str
    cpu: float
    proxy_command: list[str]

    @property
    def exchange(self) -> Path:
        return Path(self.data) / "exchange"

    def screens(self, role: str) -> Path:
        return Path(self.data) / "screens" / role

    def save(self) -> Path:
        path = Path(self.data) / PLAN_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, data: Path) -> HubPlan:
        return cls(**json.loads((data / PLAN_FILE).read_text()))

    def limits_for(self, user: str) -> UserLimits:
        return UserLimits(user, parse_memory(self.memory), self.cpu)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a folder and everything in it to one account (symlinks themselves, not targets)."""
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _course_home_for(account: Account, plan: HubPlan) -> None:
    """``~/.sessionlab`` with the shared CLIs linked in (installed once, read-only)."""
    home = account.home / ".sessionlab"
    home.mkdir(exist_ok=True)
    link = home / "cli"
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == plan.cli_dir:
            chown_tree(home, account.uid, account.gid)
            return
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link)
    link.symlink_to(plan.cli_dir, target_is_directory=True)
    chown_tree(home, account.uid, account.gid)


def _instructor_course(account: Account, plan: HubPlan) -> Path:
    """The instructor's private copy of the course (grading state never comes from the repo)."""
    course = account.home / "course"
    for part in COURSE_PARTS:
        target = course / part
        if part == "autograder" and target.exists():
            continue  # the gradebook and grading folders live here: never replaced
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(
            Path(plan.repo) / part,
            target,
            ignore=shutil.ignore_patterns(*GRADING_STATE, "__pycache__", ".ipynb_checkpoints"),
        )
    autograder = course / "autograder"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{autograder / 'gradebook.db'}") as gradebook:
        for lesson in sorted(p.name for p in (course / "notebooks").iterdir() if p.is_dir()):
            gradebook.update_or_create_assignment(lesson)
    chown_tree(course, account.uid, account.gid)
    return autograder


def prepare(plan: HubPlan, accounts: list[Account]) -> None:
    """Everything before JupyterHub starts: homes, exchange, the instructor's course, screens."""
    data = Path(plan.data)
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o755)
    plan.exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(plan.exchange, 0o1777)
    for role in ("student", "instructor"):
        write_screen_config(plan.screens(role), role, plan.exchange)
    instructor = next(a for a in accounts if a.role == "instructor")
    for account in accounts:
        # Students must not read each other's work (or the instructor's gradebook), whatever
        # the distribution's useradd default is.
        os.chmod(account.home, 0o700)
        _course_home_for(account, plan)
    course = _instructor_course(instructor, plan)
    lessons = sorted(p.name for p in (course.parent / "notebooks").iterdir() if p.is_dir())
    release_lessons(course, lessons, plan.exchange)
    chown_tree(plan.exchange / COURSE_ID, instructor.uid, instructor.gid)
    plan.save()


def configure(c: Any, data: Path) -> None:
    """Fill JupyterHub's config object ``c`` from ``<data>/hub.json`` (jupyterhub_config.py)."""
    plan = HubPlan.load(data)
    c.JupyterHub.bind_url = f"http://{plan.ip}:{plan.port}"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = plan.hub_port
    c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    c.JupyterHub.cleanup_servers = True
    c.ConfigurableHTTPProxy.command = plan.proxy_command
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{plan.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(data / "jupyterhub-proxy.pid")
    c.JupyterHub.authenticator_class = "jupyterhub.auth.PAMAuthenticator"
    c.Authenticator.allowed_users = set(plan.students) | {plan.instructor}
    c.Authenticator.admin_users = {plan.instructor}
    c.JupyterHub.spawner_class = CourseSpawner
    c.CourseSpawner.plan_data = str(data)
    c.Spawner.cmd = [str(Path(plan.venv_bin) / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.mem_limit = plan.memory
    c.Spawner.cpu_limit = plan.cpu
    # Two shared cores start a JupyterLab in 10-30 s; be patient before calling it failed.
    c.Spawner.start_timeout = 180
    c.Spawner.http_timeout = 180


class CourseSpawner(LocalProcessSpawner):
    """A local process per user, in the user's cgroup, with the course's environment.

    Students start in their home folder (the Assignment List fetches lessons there); the
    instructor starts in ``~/course/autograder`` with the Formgrader.
    """

    plan_data = Unicode("", config=True, help="folder holding hub.json")

    def _plan(self) -> HubPlan:
        return HubPlan.load(Path(self.plan_data))

    def _role(self) -> str:
        return "instructor" if self.user.name == self._plan().instructor else "student"

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        plan = self._plan()
        import pwd

        home = pwd.getpwnam(self.user.name).pw_dir
        env.update(
            SESSIONLAB_HOME=f"{home}/.sessionlab",
            SESSIONLAB_EXCHANGE=str(plan.exchange),
            JUPYTER_CONFIG_PATH=str(plan.screens(self._role())),
            PATH=f"{plan.venv_bin}:/usr/local/bin:/usr/bin:/bin",
        )
        return env

    async def start(self) -> Any:
        plan = self._plan()
        import pwd

        home = pwd.getpwnam(self.user.name).pw_dir
        self.notebook_dir = f"{home}/course/autograder" if self._role() == "instructor" else home
        limits = plan.limits_for(self.user.name)
        if limits.available():
            limits.create()
            self._limits: UserLimits | None = limits
        else:
            self.log.warning("no writable cgroups here: %s runs without limits", self.user.name)
            self._limits = None
        return await super().start()

    def make_preexec_fn(self, name: str) -> Any:
        drop_privileges = super().make_preexec_fn(name)
        limits = getattr(self, "_limits", None)
        start_in = self.notebook_dir

        def enter_cgroup_then_drop() -> None:
            if limits is not None:
                limits.add(os.getpid())  # still root here; the server's children inherit it
            drop_privileges()  # also moves to the home folder
            # nbgrader's Formgrader reads the course config from the current folder.
            with contextlib.suppress(OSError):
                os.chdir(start_in)

        return enter_cgroup_then_drop


CONFIG_TEMPLATE = '''"""JupyterHub configuration by `sessionlab hub serve`: it reads hub.json."""
from pathlib import Path

from sessionlab.classroom.class_hub import configure

c = get_config()  # noqa: F821
configure(c, Path(__file__).resolve().parent)
'''


def write_config(data: Path) -> Path:
    path = data / "jupyterhub_config.py"
    path.write_text(CONFIG_TEMPLATE)
    return path


def hub_command(data: Path, venv_bin: Path) -> list[str]:
    jupyterhub = venv_bin / "jupyterhub"
    if not jupyterhub.is_file():
        raise CourseError("JupyterHub is not installed: run `make setup` (the hub extra)")
    return [str(jupyterhub), "-f", str(data / "jupyterhub_config.py")]


def python_bin() -> Path:
    return Path(sys.executable).parent
