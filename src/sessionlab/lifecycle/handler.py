"""The seed's ``ClaudeHandler``, rebuilt: sessions go through the registry, turns through the pool.

``create_session`` registers first and connects second, so concurrent creations cannot
overshoot the limit; ``send`` resumes a session whose connection was retired; every
``ResultMessage`` feeds the metrics; ``maintenance`` is what the scheduler runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionlab.errors import CourseError
from sessionlab.lifecycle.clock import Clock, monotonic
from sessionlab.lifecycle.config import SystemConfig
from sessionlab.lifecycle.connection import ClientFactory, PoolConnectionError
from sessionlab.lifecycle.metrics import MetricsBook, TurnUsage
from sessionlab.lifecycle.orphans import Orphans
from sessionlab.lifecycle.pool import ConnectionPool, sdk_client
from sessionlab.lifecycle.registry import ForcedCleanupReport, SessionLimitError, SessionRegistry
from sessionlab.lifecycle.scheduler import MaintenanceScheduler, Sleep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnReply:
    key: str
    prompt: str
    text: str
    transcript_id: str
    connection_id: str
    usage: TurnUsage
    seconds: float


@dataclass(frozen=True)
class MaintenanceReport:
    expired: list[str]
    pool: dict[str, int]
    orphans: Orphans | None


def _reply_parts(messages: list[Any]) -> tuple[str, Any]:
    """The assistant text and the ``ResultMessage`` (``None`` if the CLI sent none)."""
    from claude_code_sdk import AssistantMessage, ResultMessage, TextBlock

    texts: list[str] = []
    result = None
    for message in messages:
        if isinstance(message, AssistantMessage):
            texts += [b.text for b in message.content if isinstance(b, TextBlock)]
        elif isinstance(message, ResultMessage):
            result = message
    return "".join(texts), result


class SessionHandler:
    """Sessions on top of a connection pool, with limits, timeouts, metrics and maintenance."""

    def __init__(
        self,
        options: Any,
        config: SystemConfig | None = None,
        *,
        project_dir: Path | None = None,
        clock: Clock = monotonic,
        client_factory: ClientFactory = sdk_client,
        scheduler_sleep: Sleep | None = None,
    ) -> None:
        self.config = config or SystemConfig()
        self.registry = SessionRegistry(self.config.registry, project_dir=project_dir, clock=clock)
        self.pool = ConnectionPool(
            options,
            self.config.pool,
            self.config.timeouts,
            clock=clock,
            client_factory=client_factory,
        )
        self.metrics = MetricsBook(clock)
        self.scheduler = MaintenanceScheduler(
            self.maintenance,
            self.config.registry.cleanup_interval_minutes * 60,
            sleep=scheduler_sleep,
        )

    async def __aenter__(self) -> SessionHandler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def start(self) -> None:
        await self.pool.start()
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stop maintenance, then close the pool gracefully (busy turns finish first)."""
        await self.scheduler.stop(self.config.timeouts.destroy)
        await self.pool.shutdown()

    # -- sessions -----------------------------------------------------------------------
    async def create_session(self, key: str, *, connect: bool = True) -> None:
        """Register ``key`` (atomically against the limit), then open its connection."""
        if not self.registry.register(key):
            raise SessionLimitError(
                f"session limit reached ({self.config.registry.max_sessions}, SM_MAX_SESSIONS): "
                f"{key} was not created"
            )
        if not connect:
            return
        try:
            conn = await self.pool.acquire(key)
        except BaseException:
            self.registry.unregister(key)  # a failed connection must not hold a slot
            raise
        await self.pool.release(conn, used=False)

    async def destroy_session(self, key: str) -> bool:
        """Unregister ``key`` and close its connection; its transcript stays on disk."""
        known = self.registry.unregister(key)
        await self.pool.discard(key)
        return known

    async def send(self, key: str, prompt: str) -> TurnReply:
        """One turn of ``key``'s conversation; raises :class:`CourseError` when it fails."""
        record = self.registry.get(key)
        if record is None:
            raise CourseError(f"unknown session {key!r}: create_session() it first")
        self.registry.touch(key)
        started = time.monotonic()
        try:
            async with self.pool.lease(key, resume=record.transcript_id) as conn:
                text, result = _reply_parts(await conn.ask(prompt, self.config.timeouts.message))
                if result is None:
                    raise PoolConnectionError("the CLI ended the turn without a result")
        except CourseError:
            self.metrics.record_error(key)
            raise
        except Exception as error:  # the SDK's errors (a dead CLI, a broken pipe)
            self.metrics.record_error(key)
            raise PoolConnectionError(
                f"the turn failed: {type(error).__name__}: {error}"
            ) from error
        usage = self.metrics.record_result(key, conn.id, result)
        self.registry.bind(key, result.session_id)
        self.registry.touch(key)
        if result.is_error:
            raise CourseError(f"the model could not answer: {result.result or text!r}")
        return TurnReply(
            key, prompt, text, result.session_id, conn.id, usage, time.monotonic() - started
        )

    # -- maintenance --------------------------------------------------------------------
    async def maintenance(self) -> MaintenanceReport:
        """Expire idle sessions, close their connections, service the pool, find orphans."""
        expired = self.registry.cleanup_inactive()
        for key in expired:
            await self.pool.discard(key)
        pool = await self.pool.maintain()
        orphans = self.registry.orphans() if self.registry.project_dir is not None else None
        if orphans is not None and orphans.count:
            log.warning("orphans: %s", orphans)
        return MaintenanceReport(expired, pool, orphans)

    async def force_cleanup(
        self, backup_root: Path, *, delete_transcripts: bool = False
    ) -> ForcedCleanupReport:
        """Back up every transcript, then end every session and close its connection."""
        report = self.registry.force_cleanup(backup_root, delete_transcripts=delete_transcripts)
        for key in report.removed:
            await self.pool.discard(key)
        await self.pool.settle()
        return report

    def health_report(self) -> dict[str, Any]:
        report = self.registry.health_report()
        status = self.pool.status()
        report["pool"] = {k: v for k, v in status.items() if k != "connections"}
        report["totals"] = self.metrics.totals()
        report["scheduler"] = {
            "enabled": self.scheduler.enabled,
            "running": self.scheduler.running,
            "runs": self.scheduler.runs,
            "failures": self.scheduler.failures,
        }
        return report
