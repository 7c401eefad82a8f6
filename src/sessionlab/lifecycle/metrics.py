"""Per-session usage from the SDK's ``ResultMessage``s: messages, tokens, cost, errors.

Two facts measured on the pinned CLIs (1.0.120 and 2.1.112, one turn = one model call):

* ``usage`` is **per turn**: it equals what the model reported for that request;
* ``total_cost_usd`` is **cumulative per CLI process**: on one connection it reads 0.044,
  0.088, 0.132 for three equal turns. Adding it up turn by turn counts the first turn three
  times. A turn's cost is the *difference* from the previous total of the same connection,
  and a new connection (a new process) starts again from zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sessionlab.clock import SYSTEM_CLOCK, Clock

TOKEN_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class ResultLike(Protocol):
    """The fields of ``claude_code_sdk.ResultMessage`` the metrics read."""

    session_id: str
    is_error: bool
    usage: dict[str, Any] | None
    total_cost_usd: float | None


@dataclass
class SessionMetrics:
    """What one session used so far (all counters start at zero)."""

    created_at: float
    last_activity: float
    message_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_cost_usd: float = 0.0
    errors: int = 0
    transcript_ids: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class TurnUsage:
    """One turn's share: tokens from ``usage``, cost as the delta of the running total."""

    input_tokens: int
    output_tokens: int
    cost_usd: float


def usage_tokens(usage: Mapping[str, Any] | None) -> tuple[int, int]:
    """Input tokens (cache reads and writes included) and output tokens of one ``usage``."""
    if not usage:
        return 0, 0
    return sum(int(usage.get(k) or 0) for k in TOKEN_KEYS), int(usage.get("output_tokens") or 0)


class CostTracker:
    """Turns each connection's running ``total_cost_usd`` into per-turn costs."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def turn_cost(self, connection_id: str, total_cost_usd: float | None) -> float:
        """The cost of this turn: the increase of ``connection_id``'s running total.

        A total lower than the last one means the process was replaced under the same id:
        the new total is then all new.
        """
        if total_cost_usd is None:
            return 0.0
        last = self._last.get(connection_id, 0.0)
        self._last[connection_id] = total_cost_usd
        return total_cost_usd - last if total_cost_usd >= last else total_cost_usd

    def forget(self, connection_id: str) -> None:
        """Call when a connection closes: its id may never be reused for another process."""
        self._last.pop(connection_id, None)


class MetricsBook:
    """Metrics for every session, keyed by the application's session key."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.costs = CostTracker()
        self._sessions: dict[str, SessionMetrics] = {}

    def session(self, key: str) -> SessionMetrics:
        """The metrics of ``key`` (created empty on first use)."""
        if key not in self._sessions:
            now = self.clock.monotonic()
            self._sessions[key] = SessionMetrics(created_at=now, last_activity=now)
        return self._sessions[key]

    def record_result(self, key: str, connection_id: str, result: ResultLike) -> TurnUsage:
        """Add one ``ResultMessage`` to ``key``'s metrics; an error result counts as an error."""
        metrics = self.session(key)
        tokens_in, tokens_out = usage_tokens(result.usage)
        turn = TurnUsage(
            tokens_in, tokens_out, self.costs.turn_cost(connection_id, result.total_cost_usd)
        )
        metrics.message_count += 1
        metrics.input_tokens += turn.input_tokens
        metrics.output_tokens += turn.output_tokens
        metrics.total_cost_usd += turn.cost_usd
        metrics.errors += int(bool(result.is_error))
        metrics.last_activity = self.clock.monotonic()
        if result.session_id and result.session_id not in metrics.transcript_ids:
            metrics.transcript_ids.append(result.session_id)
        return turn

    def record_error(self, key: str) -> None:
        """A turn that produced no result (connection failure, timeout)."""
        metrics = self.session(key)
        metrics.errors += 1
        metrics.last_activity = self.clock.monotonic()

    def forget(self, key: str) -> SessionMetrics | None:
        return self._sessions.pop(key, None)

    def all(self) -> dict[str, SessionMetrics]:
        return dict(self._sessions)

    def totals(self) -> dict[str, float | int]:
        """Sums over every session: what a dashboard's header shows."""
        items = self._sessions.values()
        return {
            "sessions": len(self._sessions),
            "messages": sum(m.message_count for m in items),
            "input_tokens": sum(m.input_tokens for m in items),
            "output_tokens": sum(m.output_tokens for m in items),
            "tokens": sum(m.total_tokens for m in items),
            "cost_usd": sum(m.total_cost_usd for m in items),
            "errors": sum(m.errors for m in items),
        }
