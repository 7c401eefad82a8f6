"""Measure the seed's pool claim ("70 % less connection overhead") with the real CLI.

Three ways to serve ``requests`` turns, all through the real ``claude-code-sdk`` and CLI:

* ``per_request``: a new ``ClaudeSDKClient`` per request (connect, ask, disconnect); after the
  first turn each request resumes the same session, as an app without a pool must;
* ``pooled``: the same turns through :class:`~.pool.ConnectionPool` on one session key;
* ``pooled_new_sessions``: ``requests`` *different* sessions through a pool with warm
  connections: what a pool does for users who each send one message.

*Overhead* is the time spent opening and closing CLI connections; *turn* is query to
``ResultMessage``. The pooled modes count their one-off opening and their final shutdown too.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from claude_code_sdk import ClaudeSDKClient, ResultMessage

from sessionlab.lifecycle.config import PoolSettings, TimeoutSettings
from sessionlab.lifecycle.pool import ConnectionPool


@dataclass
class ModeResult:
    name: str
    turn_seconds: list[float] = field(default_factory=list)
    request_seconds: list[float] = field(default_factory=list)
    connect_seconds: float = 0.0
    close_seconds: float = 0.0
    processes: int = 0
    transcript_ids: set[str] = field(default_factory=set)

    @property
    def overhead(self) -> float:
        return self.connect_seconds + self.close_seconds

    @property
    def total(self) -> float:
        return sum(self.request_seconds) + self.close_seconds * (self.name != "per_request")

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.name,
            "requests": len(self.request_seconds),
            "processes": self.processes,
            "overhead_s": round(self.overhead, 3),
            "turns_s": round(sum(self.turn_seconds), 3),
            "wall_s": round(self.total, 3),
            "mean_request_s": round(sum(self.request_seconds) / len(self.request_seconds), 3),
            "transcripts": len(self.transcript_ids),
        }


@dataclass
class PoolBench:
    cli: str
    requests: int
    modes: dict[str, ModeResult]

    def reduction(self, mode: str = "pooled") -> float:
        """Fraction of ``per_request``'s connection overhead that ``mode`` saved."""
        base = self.modes["per_request"].overhead
        return 1 - self.modes[mode].overhead / base if base else 0.0

    def table(self) -> str:
        lines = [
            f"{'mode':<22}{'requests':>9}{'CLI procs':>10}{'overhead s':>11}{'turns s':>9}"
            f"{'wall s':>8}{'per request s':>15}{'files':>6}"
        ]
        for result in self.modes.values():
            s = result.summary()
            lines.append(
                f"{s['mode']:<22}{s['requests']:>9}{s['processes']:>10}{s['overhead_s']:>11.2f}"
                f"{s['turns_s']:>9.2f}{s['wall_s']:>8.2f}{s['mean_request_s']:>15.3f}"
                f"{s['transcripts']:>6}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cli": self.cli,
            "requests": self.requests,
            "modes": [m.summary() for m in self.modes.values()],
            "overhead_reduction_pooled": round(self.reduction("pooled"), 4),
            "overhead_reduction_new_sessions": round(self.reduction("pooled_new_sessions"), 4),
        }


async def _result_of(client: Any) -> ResultMessage:
    result = None
    async for message in client.receive_response():
        if isinstance(message, ResultMessage):
            result = message
    if result is None:
        raise RuntimeError("the CLI ended a turn without a result")
    return result


async def per_request(options: Any, requests: int) -> ModeResult:
    mode = ModeResult("per_request")
    session: str | None = None
    for n in range(requests):
        started = time.perf_counter()
        opts = dataclasses.replace(options, resume=session) if session else options
        client = ClaudeSDKClient(opts)
        await client.connect()
        connected = time.perf_counter()
        await client.query(f"request {n}")
        result = await _result_of(client)
        answered = time.perf_counter()
        await client.disconnect()
        closed = time.perf_counter()
        session = session or result.session_id
        mode.processes += 1
        mode.transcript_ids.add(result.session_id)
        mode.connect_seconds += connected - started
        mode.turn_seconds.append(answered - connected)
        mode.close_seconds += closed - answered
        mode.request_seconds.append(closed - started)
    return mode


async def pooled(options: Any, requests: int, *, new_sessions: bool = False) -> ModeResult:
    mode = ModeResult("pooled_new_sessions" if new_sessions else "pooled")
    settings = PoolSettings(max_size=4, min_size=2 if new_sessions else 0, max_uses=0)
    pool = ConnectionPool(options, settings, TimeoutSettings(create=60, destroy=15, message=60))
    await pool.start()  # warm connections open before any request arrives
    try:
        for n in range(requests):
            key = f"user{n}" if new_sessions else "user"
            started = time.perf_counter()
            async with pool.lease(key) as conn:
                leased = time.perf_counter()
                await conn.client.query(f"request {n}")
                result = await _result_of(conn.client)
                answered = time.perf_counter()
            mode.turn_seconds.append(answered - leased)
            mode.request_seconds.append(time.perf_counter() - started)
            mode.transcript_ids.add(result.session_id)
    finally:
        started = time.perf_counter()
        await pool.shutdown()
        mode.close_seconds = time.perf_counter() - started
        # every open counts, also the warm ones made off the request path: same CPU work
        mode.connect_seconds = pool.stats.connect_seconds
        mode.processes = pool.stats.created
    return mode


async def run_pool_bench(options: Any, requests: int = 10, *, cli: str = "") -> PoolBench:
    """All three modes, one after the other, on the same options (one course sandbox)."""
    if requests < 1:
        raise ValueError("requests must be >= 1")
    modes = {
        "per_request": await per_request(options, requests),
        "pooled": await pooled(options, requests),
        "pooled_new_sessions": await pooled(options, requests, new_sessions=True),
    }
    return PoolBench(cli, requests, modes)
