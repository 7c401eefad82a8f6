"""The course model against the real pinned Claude Code CLIs (``-p`` and stream-json modes).

These prove the model serves everything each CLI needs: a turn completes, the transcript lands
where ``sessionlab.paths`` says, and a ``--resume`` turn sends the whole history (the model's
records show it). One real CLI turn costs about a second, so each test does as few as it can.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sessionlab import claude_clis
from sessionlab.model import CourseModel
from sessionlab.paths import project_dir

pytestmark = pytest.mark.cli

CLI_NAMES = list(claude_clis.PINNED)
FACT = "my contract number is 12345"


@pytest.fixture(scope="module")
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


@pytest.fixture(params=CLI_NAMES)
def cli(request: pytest.FixtureRequest) -> claude_clis.PinnedCLI:
    name = str(request.param)
    if not claude_clis.is_installed(name):
        pytest.skip(f"{name} CLI not installed: sessionlab cli install {name}")
    return claude_clis.pinned(name)


def cli_env(cli: claude_clis.PinnedCLI, home: Path, base_url: str, **extra: str) -> dict[str, str]:
    """A from-scratch environment: temp HOME and config dir, never the real ~/.claude."""
    return {
        "PATH": f"{claude_clis.bin_dir(cli.name)}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / "config"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-course-dummy",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        **extra,
    }


class Sandbox:
    """A temp HOME with a work directory, and a way to run one ``claude -p`` in it."""

    def __init__(self, cli: claude_clis.PinnedCLI, root: Path, base_url: str) -> None:
        self.cli = cli
        self.home = root / "home"
        self.cwd = (root / "work").resolve()
        self.cwd.mkdir(parents=True)
        self.home.mkdir()
        self.base_url = base_url

    @property
    def config(self) -> Path:
        return self.home / "config"

    @property
    def project(self) -> Path:
        truncate = self.cli.truncates_long_project_names
        return project_dir(self.config, self.cwd, truncate_long=truncate)

    def run(
        self, *args: str, timeout: float = 60, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["claude", *args],
            cwd=self.cwd,
            env=cli_env(self.cli, self.home, self.base_url, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # PATH in env is only for the child; resolve the launcher explicitly.
            executable=str(claude_clis.bin_dir(self.cli.name) / "claude"),
        )

    def ask(self, prompt: str, *flags: str) -> dict[str, Any]:
        """``claude -p <prompt> --output-format json``: the result object (exit 0 required)."""
        done = self.run("-p", prompt, "--output-format", "json", *flags)
        assert done.returncode == 0, done.stderr + done.stdout
        result = json.loads(done.stdout)
        assert result["is_error"] is False, result
        return dict(result)


@pytest.fixture
def sandbox(cli: claude_clis.PinnedCLI, tmp_path: Path, model: CourseModel) -> Sandbox:
    model.clear_records()
    return Sandbox(cli, tmp_path, model.url)


def turns(model: CourseModel) -> list[Any]:
    return [record for record in model.records if record.kind == "turn"]


def test_print_turn_writes_transcript_and_resume_sends_history(
    sandbox: Sandbox, model: CourseModel
) -> None:
    done = sandbox.run("-p", FACT, "--output-format", "stream-json", "--verbose")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    result = lines[-1]
    assert result["type"] == "result" and result["is_error"] is False
    assert result["result"] == "Got it: your contract number is 12345."
    first_id = result["session_id"]
    assert (sandbox.project / f"{first_id}.jsonl").is_file()

    resumed = sandbox.ask("what do you remember?", "--resume", first_id)
    assert resumed["result"] == (
        f'I can see 1 earlier message from you in this conversation. The first one was: "{FACT}".'
    )
    # Legacy 1.0.120 forks a new session on --resume; 2.1.112 appends to the original.
    assert (resumed["session_id"] == first_id) is sandbox.cli.resume_appends
    assert (sandbox.project / f"{resumed['session_id']}.jsonl").is_file()
    last = turns(model)[-1]
    assert (last.history_len, last.user_messages) == (3, 2)
    assert (last.first_user_text, last.last_user_text) == (FACT, "what do you remember?")
    assert last.model and last.stream
    # With CLAUDE_CONFIG_DIR set, neither CLI writes anything else under HOME.
    assert [p.name for p in sandbox.home.iterdir()] == ["config"]


def test_a_new_session_forgets_and_a_resumed_one_remembers(
    sandbox: Sandbox, model: CourseModel
) -> None:
    first = sandbox.ask(FACT)
    forgot = sandbox.ask("what is my contract number?")
    assert forgot["result"] == (
        "I don't know your contract number: nothing in this conversation mentions it."
    )
    assert turns(model)[-1].user_messages == 1
    remembered = sandbox.ask("what is my contract number?", "--resume", first["session_id"])
    assert remembered["result"] == "Your contract number is 12345."


def test_tool_turn_round_trip(sandbox: Sandbox, model: CourseModel) -> None:
    notes = sandbox.cwd / "notes.txt"
    notes.write_text("hello from notes\nline two\n")
    result = sandbox.ask(f"READ:{notes}")
    assert result["result"] == f'I read {notes}: 2 lines; the first line is "hello from notes".'
    tool_request, summary_request = turns(model)[-2:]
    assert tool_request.reply_text.startswith("[Read ")
    assert (summary_request.history_len, summary_request.user_messages) == (3, 1)


def test_stream_json_input_mode_via_sdk(
    sandbox: Sandbox, model: CourseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claude_code_sdk import ClaudeCodeOptions, ClaudeSDKClient, ResultMessage

    env = cli_env(sandbox.cli, sandbox.home, sandbox.base_url)
    del env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"]  # let 2.1.x ask for a session title
    monkeypatch.setenv("PATH", env["PATH"])  # claude-code-sdk 0.0.25 finds `claude` on PATH
    options = ClaudeCodeOptions(cwd=str(sandbox.cwd), env=env)

    async def converse() -> list[str]:
        results = []
        async with ClaudeSDKClient(options) as client:
            for prompt in (FACT, "what is my contract number?"):
                await client.query(prompt)
                async for message in client.receive_response():
                    if isinstance(message, ResultMessage):
                        results.append(str(message.result))
        return results

    assert anyio.run(converse) == [
        "Got it: your contract number is 12345.",
        "Your contract number is 12345.",
    ]
    assert [(r.history_len, r.user_messages) for r in turns(model)] == [(1, 1), (3, 2)]
    titles = [record for record in model.records if record.kind == "title"]
    if sandbox.cli.name == "current":
        # 2.1.112 asks claude-haiku for a JSON title and stores it as an `ai-title` line.
        assert titles and titles[0].model and "haiku" in titles[0].model
        (transcript,) = sandbox.project.glob("*.jsonl")
        lines = [json.loads(line) for line in transcript.read_text().splitlines()]
        assert {"type": "ai-title", "aiTitle": "My contract number is 12345"}.items() <= next(
            line for line in lines if line.get("type") == "ai-title"
        ).items()
    else:
        assert titles == []  # 1.0.120 sends no side requests in SDK mode


def test_cli_fails_quickly_when_the_model_is_stopped(
    cli: claude_clis.PinnedCLI, tmp_path: Path
) -> None:
    """With the model down and retries off, the CLI exits 1 with an API error in ~1 s.

    Measured: with default retries both CLIs keep retrying (10 attempts, exponential
    backoff; 2.1.112 prints ``system/api_retry`` lines) for well over a minute, so the
    course sets ``CLAUDE_CODE_MAX_RETRIES=0`` wherever a dead model must fail fast.
    """
    stopped = CourseModel().start()
    url = stopped.url
    stopped.stop()
    sandbox = Sandbox(cli, tmp_path, url)
    started = time.monotonic()
    done = sandbox.run(
        "-p", "hello", "--output-format", "json", timeout=30, CLAUDE_CODE_MAX_RETRIES="0"
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["is_error"] is True
    assert result["result"].startswith("API Error")
    assert elapsed < 15
