"""A pool of live ``ClaudeSDKClient`` connections, one conversation per connection.

The seed reuses any healthy connection for any session. Measured with the course model, that
mixes conversations: a CLI process *is* a session, so the second user's prompt continues the
first user's history (lesson 05 shows the reply). This pool therefore reuses a connection only
for the session it is bound to. What it keeps from the seed:

* ``min_size`` *warm* connections (unbound, already started) so a new session does not wait
  for the CLI to boot; ``max_size`` caps every connection, starting, idle or busy;
* ``max_age`` and ``max_uses`` retire a connection when it is released or at maintenance;
* health checks look at the CLI process, never send a prompt;
* when full, the least recently used idle connection is closed; with none idle, callers wait;
* ``shutdown`` waits for busy connections, then closes everything.

Every decision is also kept as a :class:`PoolEvent` (``events``, the latest
:data:`EVENT_LIMIT`), so a run can be drawn as a timeline (lesson 05) or read back in a log.

A session whose connection was retired continues on a new one started with
``resume=<transcript id>`` (the caller passes it), which the 2.x CLI appends to the same file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from sessionlab.clock import SYSTEM_CLOCK, Clock
from sessionlab.errors import CourseError
from sessionlab.lifecycle.config import PoolSettings, TimeoutSettings
from sessionlab.lifecycle.connection import ClientFactory, PooledConnection

log = logging.getLogger(__name__)


def sdk_client(options: Any) -> Any:
    """The default client factory: a real ``ClaudeSDKClient`` (imported on first use)."""
    from claude_code_sdk import ClaudeSDKClient

    return ClaudeSDKClient(options)


EVENT_LIMIT = 10_000
"""Events a pool keeps: enough for a lesson's run, bounded for a server that runs for weeks."""

EVENT_KINDS = ("open", "warm", "reuse", "evict", "retire", "dead", "fail", "close")
"""What a :class:`PoolEvent` says happened: a connection was opened for a session, a warm
one was bound to a session, a session's own connection was reused, the least recently used
idle one was evicted to make room, a worn-out one was retired, a dead one (its CLI process
gone) was found, an opening failed, a connection was closed."""


@dataclasses.dataclass(frozen=True)
class PoolEvent:
    """One decision of the pool, at a clock reading (seconds, ``clock.monotonic()``)."""

    seconds: float
    kind: str
    connection: str
    session: str | None
    why: str = ""


@dataclasses.dataclass
class PoolStats:
    created: int = 0
    reused: int = 0
    warm_hits: int = 0
    retired: int = 0
    failed: int = 0
    evicted: int = 0
    waits: int = 0
    connect_seconds: float = 0.0


class ConnectionPool:
    """Connections for ``options`` (a ``ClaudeCodeOptions``); ``resume`` is set per session."""

    def __init__(
        self,
        options: Any,
        settings: PoolSettings | None = None,
        timeouts: TimeoutSettings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        client_factory: ClientFactory = sdk_client,
    ) -> None:
        self.options = options
        self.settings = settings or PoolSettings()
        self.timeouts = timeouts or TimeoutSettings()
        self.clock = clock
        self.client_factory = client_factory
        self.stats = PoolStats()
        self._connections: list[PooledConnection] = []
        self._numbers = 0
        self._changed = asyncio.Condition()
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.events: collections.deque[PoolEvent] = collections.deque(maxlen=EVENT_LIMIT)

    def _note(self, kind: str, conn: PooledConnection, why: str = "") -> None:
        self.events.append(PoolEvent(self.clock.monotonic(), kind, conn.id, conn.session_key, why))

    # -- sizes --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._connections)

    def connections(self) -> list[PooledConnection]:
        """A snapshot of every connection (starting, idle, busy or closing)."""
        return list(self._connections)

    def _idle(self) -> list[PooledConnection]:
        return [c for c in self._connections if c.opened and not c.busy and not c.retiring]

    def _warm(self) -> list[PooledConnection]:
        return [c for c in self._idle() if c.session_key is None]

    def worn_out(self, conn: PooledConnection) -> str | None:
        """Why ``conn`` must not be used again (``None``: it may)."""
        if conn.ended:
            return "its session ended"
        if self.settings.max_uses and conn.uses >= self.settings.max_uses:
            return f"used {conn.uses} times (CP_MAX_USES={self.settings.max_uses})"
        if self.settings.max_age_minutes and conn.age() >= self.settings.max_age_minutes * 60:
            return f"{conn.age() / 60:.1f} min old (CP_MAX_AGE_MINUTES)"
        if not conn.healthy():
            return "unhealthy (its CLI process is gone)"
        return None

    # -- opening and closing ------------------------------------------------------------
    def _new(self, session_key: str | None, resume: str | None) -> PooledConnection:
        """Reserve a slot (synchronously, so the size check and the add are one step)."""
        options = dataclasses.replace(self.options, resume=resume) if resume else self.options
        self._numbers += 1
        conn = PooledConnection(
            self._numbers, self.client_factory(options), self.clock, session_key
        )
        conn.resumes = resume
        self._connections.append(conn)
        return conn

    async def _open(self, conn: PooledConnection) -> PooledConnection:
        try:
            await conn.open(self.timeouts.create)
        except BaseException as error:
            self.stats.failed += 1
            self._note("fail", conn, type(error).__name__)
            await self._drop(conn)
            raise
        self.stats.created += 1
        self._note("open", conn, "resumes its session" if conn.resumes else "")
        self.stats.connect_seconds += conn.connect_seconds
        return conn

    async def _drop(self, conn: PooledConnection) -> None:
        """Remove ``conn`` from the pool and wake waiters; it is closed by the caller."""
        async with self._changed:
            if conn in self._connections:
                self._connections.remove(conn)
            self._changed.notify_all()

    def _retire(self, conn: PooledConnection, why: str, kind: str = "retire") -> None:
        """Take ``conn`` out of service now and close it in the background."""
        if conn.retiring:
            return
        conn.retiring = True
        self.stats.retired += 1
        self._note(kind, conn, why)
        log.info("retiring %s: %s", conn.id, why)
        self._spawn(self._close_and_drop(conn))

    async def _close_and_drop(self, conn: PooledConnection) -> None:
        await conn.close(self.timeouts.destroy)
        self._note("close", conn)
        await self._drop(conn)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        """Open the ``min_size`` warm connections (concurrently)."""
        await self.top_up()

    async def top_up(self) -> int:
        """Open warm connections until the pool holds ``min_size``; returns how many opened."""
        size = len(self._connections)
        missing = max(0, min(self.settings.min_size, self.settings.max_size) - size)
        if self._closed or not missing:
            return 0
        conns = [self._new(None, None) for _ in range(missing)]
        results = await asyncio.gather(*(self._open(c) for c in conns), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("warm connection failed: %s", result)
        return sum(1 for r in results if not isinstance(r, BaseException))

    # -- leasing ------------------------------------------------------------------------
    async def acquire(self, session_key: str, resume: str | None = None) -> PooledConnection:
        """A connection for ``session_key``: its own if idle, else warm, else a new one.

        ``resume`` is the session's transcript id: a session with history cannot use a warm
        connection (the CLI fixes its session at start-up) and gets a new connection that
        resumes it. One session has at most one turn in flight: a second caller waits.
        """
        async with self._changed:
            while True:
                if self._closed:
                    raise CourseError("the connection pool is shut down")
                own = [
                    c for c in self._connections if c.session_key == session_key and not c.retiring
                ]
                idle_own = [c for c in own if c.opened and not c.busy]
                if idle_own:
                    conn = idle_own[0]
                    why = self.worn_out(conn)
                    if why is None:
                        conn.busy = True
                        self.stats.reused += 1
                        self._note("reuse", conn)
                        return conn
                    self._retire(conn, why, "retire" if conn.healthy() else "dead")
                    continue
                if own:  # its connection is busy or still starting: one turn at a time
                    self.stats.waits += 1
                    await self._changed.wait()
                    continue
                warm = self._warm()
                if resume is None and warm:
                    conn = warm[0]
                    conn.session_key, conn.busy = session_key, True
                    self.stats.warm_hits += 1
                    self._note("warm", conn)
                    if self.settings.min_size:
                        self._spawn(self.top_up())
                    return conn
                if len(self._connections) >= self.settings.max_size:
                    closing = any(c.retiring for c in self._connections)
                    victims = sorted(self._idle(), key=lambda c: c.last_used)
                    if victims and not closing:  # a slot is already on its way: wait for it
                        self.stats.evicted += 1
                        self._retire(victims[0], "evicted to make room (CP_MAX_SIZE)", "evict")
                    self.stats.waits += 1
                    await self._changed.wait()
                    continue
                conn = self._new(session_key, resume)
                conn.busy = True
                break
        return await self._open(conn)

    async def release(
        self, conn: PooledConnection, *, broken: bool = False, used: bool = True
    ) -> None:
        """Give ``conn`` back; retire it if broken or worn out.

        ``used=False`` when no turn ran on it (a session opened ahead of its first message):
        ``max_uses`` counts turns.
        """
        conn.busy = False
        conn.uses += int(used)
        conn.last_used = self.clock.monotonic()
        why = "failed during a turn" if broken else self.worn_out(conn)
        async with self._changed:
            if why is not None:
                self._retire(conn, why, "retire" if conn.healthy() else "dead")
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def lease(
        self, session_key: str, resume: str | None = None
    ) -> AsyncIterator[PooledConnection]:
        """``async with pool.lease(key) as conn``: acquire, and release even on errors."""
        conn = await self.acquire(session_key, resume)
        broken = False
        try:
            yield conn
        except BaseException:
            broken = True
            raise
        finally:
            await self.release(conn, broken=broken)

    async def discard(self, session_key: str) -> int:
        """Close ``session_key``'s connection (the session ended); returns how many closed."""
        closed = 0
        async with self._changed:
            for conn in [c for c in self._connections if c.session_key == session_key]:
                if not conn.busy:  # a busy one is retired by release()
                    self._retire(conn, f"session {session_key} ended")
                    closed += 1
                else:
                    conn.ended = True  # release() retires it after the turn in flight
        return closed

    # -- maintenance --------------------------------------------------------------------
    async def maintain(self) -> dict[str, int]:
        """Retire worn-out idle connections, then top the warm ones up to ``min_size``."""
        retired = 0
        async with self._changed:
            for conn in self._idle():
                why = self.worn_out(conn)
                if why is not None:
                    self._retire(conn, why, "retire" if conn.healthy() else "dead")
                    retired += 1
        await self.settle()
        opened = await self.top_up()
        return {"retired": retired, "opened": opened, "size": len(self._connections)}

    async def settle(self) -> None:
        """Wait for background closes and top-ups (tests and shutdown use it)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def shutdown(self, *, wait_busy: float | None = None) -> None:
        """Stop leasing, wait (up to the destroy timeout) for busy turns, close everything."""
        wait = self.timeouts.destroy if wait_busy is None else wait_busy
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: not any(c.busy for c in self._connections)),
                    wait,
                )
        await self.settle()
        conns = list(self._connections)
        await asyncio.gather(*(c.close(self.timeouts.destroy) for c in conns))
        for conn in conns:
            self._note("close", conn, "pool shut down")
        self._connections.clear()
        log.info("pool shut down: %d connection(s) closed", len(conns))

    def status(self) -> dict[str, Any]:
        return {
            "pool_size": len(self._connections),
            "healthy_connections": sum(1 for c in self._connections if c.healthy()),
            "busy": sum(1 for c in self._connections if c.busy),
            "warm": len(self._warm()),
            "max_size": self.settings.max_size,
            "min_size": self.settings.min_size,
            **dataclasses.asdict(self.stats),
            "connections": [c.describe() for c in self._connections],
        }
