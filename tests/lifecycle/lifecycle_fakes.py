"""Fakes for the lifecycle tests: a ClaudeSDKClient stand-in and a way to run a test body.

The fake client answers like the real CLI in the ways the pool and the metrics depend on
(measured on 1.0.120 and 2.1.112): ``usage`` per turn, ``total_cost_usd`` cumulative per
process, one session id per process (or the resumed one), and a client must be disconnected by
the task that connected it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from claude_code_sdk import AssistantMessage, ClaudeCodeOptions, ResultMessage, TextBlock

COST_PER_TURN = 0.01


class FakeClient:
    """One fake CLI process."""

    def __init__(self, options: ClaudeCodeOptions, registry: FakeClients) -> None:
        self.options = options
        self.registry = registry
        self.session_id = options.resume or str(uuid.uuid4())
        self.prompts: list[str] = []
        self.total_cost = 0.0
        self.alive = False
        self.connected_in: asyncio.Task[Any] | None = None
        self.disconnects = 0

    async def connect(self) -> None:
        self.connected_in = asyncio.current_task()
        self.registry.connecting += 1
        try:
            if self.registry.gate is not None:
                await self.registry.gate.wait()
            await asyncio.sleep(0)
            if self.registry.fail_connect:
                raise RuntimeError("the CLI could not start")
        finally:
            self.registry.connecting -= 1
        self.alive = True

    async def disconnect(self) -> None:
        if asyncio.current_task() is not self.connected_in:
            raise RuntimeError("Attempted to exit cancel scope in a different task")
        self.alive = False
        self.disconnects += 1

    def is_alive(self) -> bool:
        return self.alive

    async def query(self, prompt: str) -> None:
        self.prompts.append(prompt)

    async def receive_response(self) -> AsyncIterator[Any]:
        if self.registry.turn_gate is not None:
            await self.registry.turn_gate.wait()
        prompt = self.prompts[-1]
        self.total_cost += COST_PER_TURN
        history = len(self.registry.history.get(self.session_id, [])) + 1
        yield AssistantMessage([TextBlock(f"{prompt} (history {history})")], model="fake")
        yield ResultMessage(
            subtype="success",
            duration_ms=1,
            duration_api_ms=1,
            is_error=False,
            num_turns=1,
            session_id=self.session_id,
            total_cost_usd=round(self.total_cost, 6),
            usage={"input_tokens": 100 * history, "output_tokens": 10},
        )
        self.registry.history.setdefault(self.session_id, []).append(prompt)


class FakeClients:
    """The factory the pool calls, plus every client it made and a few switches."""

    def __init__(self) -> None:
        self.made: list[FakeClient] = []
        self.gate: asyncio.Event | None = None
        self.turn_gate: asyncio.Event | None = None
        self.fail_connect = False
        self.connecting = 0
        self.history: dict[str, list[str]] = {}

    def __call__(self, options: ClaudeCodeOptions) -> FakeClient:
        client = FakeClient(options, self)
        self.made.append(client)
        return client

    @property
    def alive(self) -> list[FakeClient]:
        return [c for c in self.made if c.alive]


def run(coroutine_function: Callable[..., Any], *args: Any) -> Any:
    """``asyncio.run`` for a test body (no pytest-asyncio in this project)."""
    return asyncio.run(coroutine_function(*args))
