"""What the course model saw: one immutable record per request, kept in a thread-safe log.

Records are the evidence the course's tests and notebooks point at: "on the resumed turn the
model received all 5 earlier messages" is a statement about ``history_len`` and
``user_messages``, not about what the CLI printed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the model answered (or refused).

    ``history_len`` counts every message in the request body; ``user_messages`` counts only
    real user text messages (not tool results, injected reminders or "Warmup"), the current
    one included. ``first_user_text`` and ``last_user_text`` are those messages' texts;
    ``user_texts`` is every one of them in order, so a test can prove a resumed conversation
    reached the model complete *and in order*, not just its two ends. ``run`` is the sandbox
    run that sent the request (the ``/_run/<id>`` prefix of its base URL), ``None`` without one.
    """

    timestamp: float
    method: str
    path: str
    model: str | None
    stream: bool
    kind: str
    history_len: int
    user_messages: int
    first_user_text: str | None
    last_user_text: str | None
    input_tokens: int
    output_tokens: int
    status: int = 200
    reply_text: str = ""
    user_texts: tuple[str, ...] = ()
    run: str | None = None

    def __post_init__(self) -> None:
        # JSON (``GET /_course/records``, ``RemoteCourseModel``) brings a list back: keep the
        # record immutable and comparable.
        object.__setattr__(self, "user_texts", tuple(self.user_texts))

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``GET /_course/records``."""
        return asdict(self)

    def log_line(self) -> str:
        """One human-readable line for ``sessionlab model serve``."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.timestamp))
        parts = [clock, str(self.status), self.method, self.path, self.kind]
        if self.model:
            parts.append(self.model + (" stream" if self.stream else ""))
        if self.kind in ("turn", "title", "quota", "count_tokens"):
            parts.append(f"history={self.history_len} user={self.user_messages}")
            parts.append(f"in={self.input_tokens} out={self.output_tokens}")
        if self.reply_text:
            reply = " ".join(self.reply_text.split())
            parts.append(f"→ {reply[:70]}{'…' if len(reply) > 70 else ''}")
        return " ".join(parts)


class RecordLog:
    """An append-only list of records that many handler threads may write at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy: callers can iterate while the server keeps recording."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
