"""The capstone's reference: a chat that stays in ONE Claude Code session across reconnects.

:class:`SingleSessionChatSystem` combines everything the course built:

* **one fixed session**: the first connection's session id becomes the fixed id; every later
  connection passes ``resume=<fixed id>``, so the CLI loads the whole conversation;
* **a monitor** (the reference :class:`~sessionlab.monitor.engine.SessionMonitor` by default)
  folds whatever new files the CLI still writes (a legacy ``--resume`` fork, a connection
  that forgot ``resume``) back into the fixed file;
* **metrics** from each ``ResultMessage`` (tokens, cost) plus message and error counters;
  ``total_cost_usd`` is cumulative per CLI process (lesson 05, docs/cli-facts.md), so a
  turn's cost is the increase of its connection's running total, never the total itself;
* **logging** through :mod:`logging` (logger ``sessionlab.capstone``);
* **error handling**: a missing CLI or an unreachable model becomes one :class:`ChatError`
  with a message that says what to do, and the system stays usable afterwards.

>>> async with SingleSessionChatSystem(lab.options()) as chat:   # doctest: +SKIP
...     await chat.send("my name is Ana")
...     await chat.reconnect()
...     (await chat.send("what is my name?")).text
'Your name is Ana.'
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_code_sdk import (
    ClaudeCodeOptions,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLINotFoundError,
)

from sessionlab.errors import CourseError
from sessionlab.lifecycle.metrics import CostTracker
from sessionlab.paths import project_dir as project_dir_for
from sessionlab.sdk_turns import CollectedTurn, collect_turn

log = logging.getLogger(__name__)

MonitorFactory = Callable[[Path, str], Any]


class ChatError(CourseError):
    """A turn failed; the message says why and what to do. The system stays usable."""


@dataclasses.dataclass(frozen=True)
class ChatReply:
    """One answered prompt: the text, the session it went to, and what it cost."""

    prompt: str
    text: str
    session_id: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    seconds: float


@dataclasses.dataclass
class ChatMetrics:
    """Counters a dashboard shows; ``as_dict`` adds the monitor's corrections."""

    messages_sent: int = 0
    messages_received: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    connections: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: str = ""
    session_start: float = dataclasses.field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _default_monitor(project_dir: Path, session_id: str) -> Any:
    from sessionlab.monitor.engine import SessionMonitor

    return SessionMonitor(project_dir, session_id)


def _usage_tokens(usage: dict[str, Any] | None) -> tuple[int, int]:
    """Input tokens (cache reads and writes included) and output tokens of a ``ResultMessage``."""
    if not usage:
        return 0, 0
    tokens_in = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return tokens_in, int(usage.get("output_tokens") or 0)


class SingleSessionChatSystem:
    """A chat whose every connection lands in one fixed Claude Code session.

    ``options`` are the ``ClaudeCodeOptions`` for every connection (``cwd`` is required: it
    decides the project folder). ``session_id`` continues an existing session; without it the
    first turn creates one. ``config_dir`` defaults to ``$CLAUDE_CONFIG_DIR`` (the course
    sandbox sets it). ``monitor_factory(project_dir, session_id)`` builds the monitor; pass
    ``None`` to run without one.
    """

    def __init__(
        self,
        options: ClaudeCodeOptions,
        *,
        session_id: str | None = None,
        config_dir: str | Path | None = None,
        monitor_factory: MonitorFactory | None = _default_monitor,
        truncate_long: bool = True,
    ) -> None:
        import os

        if options.cwd is None:
            raise ValueError("options.cwd is required: it decides where transcripts go")
        config = config_dir or os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude"
        self.options = options
        self.project_dir = project_dir_for(Path(config), options.cwd, truncate_long=truncate_long)
        self.session_id = session_id
        self.metrics = ChatMetrics()
        self.history: list[ChatReply] = []
        self._monitor_factory = monitor_factory
        self.monitor: Any = None
        self._client: ClaudeSDKClient | None = None
        # Each connection is one CLI process with its own running total_cost_usd.
        self._costs = CostTracker()
        self._connection = 0

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> SingleSessionChatSystem:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def connect(self) -> None:
        """Open a connection that resumes the fixed session (if there is one yet)."""
        if self._client is not None:
            return
        options = self.options
        if self.session_id:
            options = dataclasses.replace(options, resume=self.session_id)
        client = ClaudeSDKClient(options)
        try:
            await client.connect()
        except CLINotFoundError as error:
            self._failed(f"Claude Code CLI not found: run `sessionlab cli install` ({error})")
        except ClaudeSDKError as error:
            self._failed(f"could not start Claude Code: {error}")
        self._client = client
        self.metrics.connections += 1
        self._connection += 1
        log.info("connected (resume=%s)", self.session_id)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception as error:  # a dead CLI must not stop us from reconnecting
                log.warning("disconnect failed: %s", error)

    async def reconnect(self) -> None:
        """Drop the connection and open a new one on the same fixed session."""
        await self.disconnect()
        await self.connect()
        self.metrics.reconnects += 1

    async def close(self) -> None:
        """Disconnect, then stop the monitor once it has merged what the CLI wrote."""
        await self.disconnect()
        if self.monitor is not None:
            wait_idle = getattr(self.monitor, "wait_idle", None)
            if wait_idle is not None:
                wait_idle(10.0)
            self.monitor.stop()
            self.monitor = None

    # -- chatting -----------------------------------------------------------------------
    async def send(self, prompt: str) -> ChatReply:
        """Send one prompt on the fixed session; raise :class:`ChatError` when it fails."""
        await self.connect()
        assert self._client is not None
        started = time.monotonic()
        self.metrics.messages_sent += 1
        turn = CollectedTurn()
        try:
            await self._client.query(prompt)
            turn = await collect_turn(self._client.receive_response())
        except ClaudeSDKError as error:
            await self.disconnect()
            self._failed(f"the Claude Code CLI failed: {error}")
        text, result = turn.text, turn.result
        if result is None or result.is_error:
            await self.disconnect()
            detail = (result.result if result else None) or text or "no result"
            self._failed(f"the model could not answer ({detail}); is the model server running?")
        assert result is not None
        if self.session_id is None:
            self.session_id = result.session_id
            log.info("fixed session is %s", self.session_id)
        self._ensure_monitor()
        tokens_in, tokens_out = _usage_tokens(result.usage)
        reply = ChatReply(
            prompt,
            text,
            result.session_id,
            tokens_in,
            tokens_out,
            self._costs.turn_cost(str(self._connection), result.total_cost_usd),
            time.monotonic() - started,
        )
        self.metrics.messages_received += 1
        self.metrics.input_tokens += tokens_in
        self.metrics.output_tokens += tokens_out
        self.metrics.cost_usd += reply.cost_usd
        self.history.append(reply)
        log.info("%r -> %r (%d+%d tokens)", prompt, text, tokens_in, tokens_out)
        return reply

    def _ensure_monitor(self) -> None:
        """Start the monitor once the fixed id is known (its file is then history, not stray)."""
        if self.monitor is None and self._monitor_factory is not None and self.session_id:
            self.project_dir.mkdir(parents=True, exist_ok=True)
            self.monitor = self._monitor_factory(self.project_dir, self.session_id)
            self.monitor.start()
            log.info("monitor started on %s", self.project_dir)

    def _failed(self, message: str) -> None:
        self.metrics.errors += 1
        self.metrics.last_error = message
        log.error("%s", message)
        raise ChatError(message)

    # -- observing ----------------------------------------------------------------------
    def session_files(self) -> list[Path]:
        """Transcripts in the project folder (sidechains excluded)."""
        if not self.project_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.project_dir.glob("*.jsonl")
            if p.is_file() and not p.name.startswith("agent-")
        )

    def status(self) -> dict[str, Any]:
        """Everything a dashboard shows: metrics, the monitor's counters, the files."""
        stats = self.monitor.get_stats() if self.monitor is not None else {}
        return {
            **self.metrics.as_dict(),
            "session_id": self.session_id,
            "connected": self.connected,
            "corrections": stats.get("corrections", 0),
            "session_files": len(self.session_files()),
        }
