"""One line gives a notebook, a test or the demo a ready course environment.

>>> with course_env("legacy", name="01-fragmentation") as lab:   # doctest: +SKIP
...     async with ClaudeSDKClient(lab.options()) as client: ...

Inside the block the course model answers on 127.0.0.1, the chosen pinned ``claude`` is first
on ``PATH`` (how ``claude-code-sdk`` 0.0.25 finds its CLI), ``CLAUDE_CONFIG_DIR`` points into the
course home, telemetry and auto-update are off, and :attr:`CourseLab.project_dir` is where the
CLI will write this working directory's transcripts. Nothing reads or writes the real
``~/.claude`` unless ``allow_real_home=True`` is passed explicitly.

The environment is applied to ``os.environ`` (the SDK copies ``os.environ`` into the CLI's
environment and looks ``claude`` up on ``os.environ["PATH"]``) and restored on exit, so use one
``course_env`` at a time per process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessionlab import claude_clis
from sessionlab.errors import CourseError
from sessionlab.paths import course_home, project_dir
from sessionlab.remote_model import MODEL_URL_ENV

if TYPE_CHECKING:
    from claude_code_sdk import ClaudeCodeOptions

    from sessionlab.model import CourseModel
    from sessionlab.remote_model import RemoteCourseModel

LIVE_ENV = "SESSIONLAB_LIVE"
DUMMY_API_KEY = "sk-ant-course-model-offline"
QUIET_CLI_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


@dataclass
class CourseLab:
    """What a lesson needs to know about its sandbox."""

    cli: claude_clis.PinnedCLI
    config_dir: Path
    workdir: Path
    model: CourseModel | RemoteCourseModel | None
    live: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        """Where the CLI writes transcripts for :attr:`workdir` (sanitized as Claude Code does)."""
        return self.project_dir_for(self.workdir)

    def project_dir_for(self, cwd: str | os.PathLike[str]) -> Path:
        return project_dir(
            self.config_dir, cwd, truncate_long=self.cli.truncates_long_project_names
        )

    def options(self, **kwargs: Any) -> ClaudeCodeOptions:
        """``ClaudeCodeOptions`` with ``cwd`` set to the sandbox's working directory."""
        from claude_code_sdk import ClaudeCodeOptions

        kwargs.setdefault("cwd", self.workdir)
        return ClaudeCodeOptions(**kwargs)

    def transcripts(self) -> list[Path]:
        """Session files in the project directory, oldest first (sidechain ``agent-*`` excluded)."""
        folder = self.project_dir
        if not folder.is_dir():
            return []
        files = [
            p for p in folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("agent-")
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def sandbox_root(name: str, home: Path | None = None) -> Path:
    """``<course home>/sandbox/<name>``; the name is checked so it cannot escape that folder."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise CourseError(f"invalid sandbox name {name!r}: use letters, digits, '-' or '_'")
    return (home or course_home()) / "sandbox" / name


def is_real_claude_home(path: Path) -> bool:
    """True when ``path`` is, or lies inside, the user's real ``~/.claude``."""
    real = (Path.home() / ".claude").resolve()
    resolved = Path(path).expanduser().resolve()
    return resolved == real or real in resolved.parents


def live_requested(live: bool | None) -> bool:
    if live is not None:
        return live
    return os.environ.get(LIVE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def patched_environ(updates: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None``, remove) variables in ``os.environ``; restore them on exit."""
    saved = {key: os.environ.get(key) for key in updates}
    try:
        for key, value in updates.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cli_environment(
    cli: claude_clis.PinnedCLI,
    config_dir: Path,
    base_url: str | None,
    api_key: str | None,
    sandbox: Path,
) -> dict[str, str | None]:
    """The variables a sandboxed CLI run needs (``None`` removes a variable).

    ``GIT_CEILING_DIRECTORIES`` stops git at the sandbox: the sandbox lives inside the course
    checkout, and the legacy CLI otherwise reads that repository's history and sends a
    "files modified by user" request to the model on every resume.
    """
    path = f"{claude_clis.bin_dir(cli.name)}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        "PATH": path,
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "GIT_CEILING_DIRECTORIES": str(sandbox),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        # A real OAuth token in the user's environment must never reach the course model.
        "CLAUDE_CODE_OAUTH_TOKEN": None if base_url else os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"),
        # Against the course model a failed call is a bug, not a network blip: fail in about a
        # second instead of ten retries with growing waits. Live mode keeps the CLI's retries.
        "CLAUDE_CODE_MAX_RETRIES": "0" if base_url else os.environ.get("CLAUDE_CODE_MAX_RETRIES"),
        **QUIET_CLI_ENV,
    }


@contextmanager
def course_env(
    cli: str = "legacy",
    *,
    name: str = "default",
    reset: bool = True,
    live: bool | None = None,
    model: CourseModel | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    allow_real_home: bool = False,
) -> Iterator[CourseLab]:
    """A ready course environment: model running, ``cli`` on PATH, sandboxed config dir.

    ``reset`` empties this sandbox first so a lesson re-runs the same way every time.
    ``live`` (or ``SESSIONLAB_LIVE=1``) talks to the real Anthropic API with your
    ``ANTHROPIC_API_KEY`` instead of the course model. ``model`` reuses a running model; so
    does ``$SESSIONLAB_MODEL_URL`` (set by ``make lab``).
    """
    pinned = claude_clis.pinned(cli)
    if not claude_clis.is_installed(cli):
        raise CourseError(
            f"the {cli} CLI ({pinned.version}) is not installed: run `sessionlab cli install {cli}`"
        )
    root = sandbox_root(name)
    if reset and root.exists():
        shutil.rmtree(root)
    config = Path(config_dir).expanduser() if config_dir else root / "claude-config"
    if is_real_claude_home(config) and not allow_real_home:
        raise CourseError(
            f"{config} is your real Claude Code home: pass allow_real_home=True "
            "if you really want the course to use it"
        )
    workdir = root / "work"
    for folder in (config, workdir):
        folder.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    use_live = live_requested(live)
    if use_live and not os.environ.get("ANTHROPIC_API_KEY"):
        raise CourseError("live mode needs ANTHROPIC_API_KEY in the environment")

    own_model = None
    if not use_live and model is None and os.environ.get(MODEL_URL_ENV):
        from sessionlab.remote_model import RemoteCourseModel

        model = RemoteCourseModel(os.environ[MODEL_URL_ENV])
    elif not use_live and model is None:
        from sessionlab.model import CourseModel

        own_model = model = CourseModel()
        model.start()
    try:
        base_url = None if use_live else model.url  # type: ignore[union-attr]
        api_key = os.environ["ANTHROPIC_API_KEY"] if use_live else DUMMY_API_KEY
        updates = cli_environment(pinned, config.resolve(), base_url, api_key, root.resolve())
        with patched_environ(updates):
            yield CourseLab(
                cli=pinned,
                config_dir=config.resolve(),
                workdir=workdir,
                model=None if use_live else model,
                live=use_live,
                env={k: v for k, v in updates.items() if v is not None},
            )
    finally:
        if own_model is not None:
            own_model.stop()
