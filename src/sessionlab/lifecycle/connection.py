"""One pooled ``ClaudeSDKClient``: opened and closed by its own task, used by any task.

``claude-code-sdk`` 0.0.25 enters an anyio task group in ``connect()`` and leaves it in
``disconnect()``; leaving it from another task raises *"Attempted to exit cancel scope in a
different task than it was entered in"* (measured). A pool opens connections in one request's
task and closes them in another's, or in a maintenance task, so each connection here gets an
*owner task* that connects, waits until asked to close, and disconnects. Sending a prompt and
reading the reply work from any task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from sessionlab.clock import Clock
from sessionlab.errors import CourseError

log = logging.getLogger(__name__)


class ClientLike(Protocol):
    """The part of ``ClaudeSDKClient`` the pool uses (tests pass a fake)."""

    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def query(self, prompt: str) -> None: ...
    def receive_response(self) -> AsyncIterator[Any]: ...


ClientFactory = Callable[[Any], ClientLike]


class PoolConnectionError(CourseError):
    """A pooled connection could not be opened, or failed while answering."""


def client_alive(client: Any) -> bool:
    """Is the CLI process behind ``client`` still there and accepting input?

    A fake client may answer through ``is_alive()``; a real one is checked through its
    transport (no prompt is sent: a health check must not add a turn to anybody's session).
    """
    probe = getattr(client, "is_alive", None)
    if callable(probe):
        return bool(probe())
    transport = getattr(client, "_transport", None)
    process = getattr(transport, "_process", None)
    return bool(
        transport is not None
        and transport.is_ready()
        and process is not None
        and process.returncode is None
    )


class PooledConnection:
    """A client plus what the pool decides with: age, uses, owner session, busy flag."""

    def __init__(self, number: int, client: ClientLike, clock: Clock, session_key: str | None):
        self.id = f"conn-{number}"
        self.client = client
        self.clock = clock
        self.created_at = clock.monotonic()
        self.last_used = self.created_at
        self.uses = 0
        self.session_key = session_key
        """The conversation this connection carries: a CLI process is one session."""
        self.resumes: str | None = None
        """The transcript id this connection's CLI was started to resume (``None``: new)."""
        self.busy = False
        self.retiring = False
        self.ended = False
        self.connect_seconds = 0.0
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def opened(self) -> bool:
        return self._ready.is_set() and self._error is None

    def age(self) -> float:
        return self.clock.monotonic() - self.created_at

    def healthy(self) -> bool:
        return (
            self.opened
            and not self._closing.is_set()
            and self._task is not None
            and not self._task.done()
            and client_alive(self.client)
        )

    async def open(self, timeout: float) -> None:
        """Start the owner task and wait until the CLI is connected (or failed, or timed out)."""
        started = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._own(), name=f"sessionlab-{self.id}")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            raise PoolConnectionError(
                f"Claude Code did not connect within {timeout:g}s (OPT_CREATE_TIMEOUT)"
            ) from None
        if self._error is not None:
            raise PoolConnectionError(
                f"could not start Claude Code: {self._error}"
            ) from self._error
        self.connect_seconds = asyncio.get_running_loop().time() - started

    async def _own(self) -> None:
        try:
            await self.client.connect()
        except Exception as error:
            self._error = error
            self._ready.set()
            with contextlib.suppress(Exception):
                await self.client.disconnect()
            return
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.client.disconnect()
            raise
        self._ready.set()
        try:
            await self._closing.wait()
        finally:
            # Also runs when the loop cancels us at shutdown: never leave a CLI process behind.
            await self.client.disconnect()

    async def ask(self, prompt: str, timeout: float) -> list[Any]:
        """Send one prompt and collect every message up to and including the result."""

        async def exchange() -> list[Any]:
            await self.client.query(prompt)
            return [message async for message in self.client.receive_response()]

        try:
            return await asyncio.wait_for(exchange(), timeout)
        except TimeoutError:
            raise PoolConnectionError(
                f"no reply within {timeout:g}s (OPT_MESSAGE_TIMEOUT)"
            ) from None

    async def close(self, timeout: float) -> None:
        """Ask the owner task to disconnect; cancel it if it takes longer than ``timeout``."""
        self._closing.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("%s did not close within %gs: cancelled", self.id, timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception as error:  # a CLI that died badly must not stop a shutdown
            log.warning("%s closed with an error: %s", self.id, error)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.session_key,
            "busy": self.busy,
            "uses": self.uses,
            "age_seconds": round(self.age(), 3),
            "healthy": self.healthy(),
        }
