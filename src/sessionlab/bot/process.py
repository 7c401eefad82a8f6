"""Run the bot as a real server process (``sessionlab bot serve``) from Python.

Lessons and the load test talk to the bot the way a channel would: over TCP, to a separate
process running uvicorn. :class:`BotProcess` starts it on a free loopback port, waits for
``GET /health``, and stops it with SIGTERM (SIGKILL only if it hangs). The operator token
the server wrote to ``<data dir>/operator-token`` is :attr:`BotProcess.operator_token`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from sessionlab.bot.tokens import OPERATOR_TOKEN_FILE
from sessionlab.errors import CourseError

START_TIMEOUT = 30.0


class BotProcess:
    """``with BotProcess(data_dir=...) as bot: bot.url`` -> ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        *,
        data_dir: str | Path,
        store: str = "sqlite",
        model_url: str | None = None,
        redis_url: str | None = None,
        redis_prefix: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.command = [
            sys.executable,
            "-m",
            "sessionlab",
            "bot",
            "serve",
            "--port",
            "0",
            "--store",
            store,
            "--data-dir",
            str(data_dir),
            *(["--model-url", model_url] if model_url else []),
            *(["--redis-url", redis_url] if redis_url else []),
            *(["--redis-prefix", redis_prefix] if redis_prefix else []),
            *extra_args,
        ]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.token_file = Path(data_dir) / OPERATOR_TOKEN_FILE
        self.operator_token = ""

    def start(self) -> BotProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "bot listening on http://..." or EOF
        if not line.startswith("bot listening on "):
            self.process.wait(timeout=10)
            why = self.stderr().splitlines()[-1:] or [line.strip()]
            self.stop()
            raise CourseError(f"the bot did not start: {why[0]}")
        self.url = line.split()[-1]
        self.operator_token = self.token_file.read_text().strip()  # written before listening
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                detail = self.stderr()
                self.stop()
                raise CourseError(f"the bot at {self.url} never became healthy: {detail}")
            time.sleep(0.05)

    @property
    def operator_headers(self) -> dict[str, str]:
        """The header that ``GET /sessions`` asks for."""
        return {"authorization": f"Bearer {self.operator_token}"}

    def stderr(self) -> str:
        if self.process is None or self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read().strip()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        return process.returncode

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
