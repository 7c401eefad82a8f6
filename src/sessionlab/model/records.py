"""What the course model saw: one immutable record per request, kept in a thread-safe log.

Records are the evidence the course's tests and notebooks point at: "on the resumed turn the
model received all 5 earlier messages" is a statement about ``history_len`` and
``user_messages``, not about what the CLI printed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

# Bounds of the log: a long-running model (``make lab``, the bot's load test) must not grow
# without end. Measured before the bound: 88 -> 176 MB after 2,000 long messages, because every
# record keeps all the user texts of its request. A lesson reads its last few records.
MAX_RECORDS = 10_000
MAX_RECORD_BYTES = 16 * 1024 * 1024
RECORD_OVERHEAD_BYTES = 512  # the fixed fields and the objects around them, roughly


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

    def size(self) -> int:
        """Roughly how many bytes this record keeps alive (its texts dominate).

        ``first_user_text``, ``last_user_text`` and ``user_texts`` share their string objects,
        so each distinct string counts once.
        """
        texts = (self.path, self.first_user_text, self.last_user_text, self.reply_text)
        unique = {id(text): text for text in (*texts, *self.user_texts) if text}
        return RECORD_OVERHEAD_BYTES + sum(len(text) + 64 for text in unique.values())


class RecordLog:
    """The newest records, bounded in count and bytes, that many threads may write at once.

    Past either bound the oldest records go first (the newest one is always kept).
    :attr:`dropped` counts every record ever removed (by the bounds or :meth:`clear`), so
    ``dropped + i`` is a stable number for the ``i``-th record kept: a client that reads the
    log over HTTP can tell "mine" from "before I attached" even after old ones went.
    """

    def __init__(self, max_records: int = MAX_RECORDS, max_bytes: int = MAX_RECORD_BYTES) -> None:
        if max_records < 0 or max_bytes < 0:
            raise ValueError("record bounds must be >= 0 (0 keeps none)")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: deque[tuple[RequestRecord, int]] = deque()
        self._bytes = 0
        self.dropped = 0

    def add(self, record: RequestRecord) -> None:
        size = record.size()
        with self._lock:
            self._items.append((record, size))
            self._bytes += size
            while self._items and (
                len(self._items) > self.max_records
                or (self._bytes > self.max_bytes and len(self._items) > 1)
            ):
                _, gone = self._items.popleft()
                self._bytes -= gone
                self.dropped += 1

    def snapshot(self) -> list[RequestRecord]:
        """A copy: callers can iterate while the server keeps recording."""
        return self.window()[1]

    def window(self) -> tuple[int, list[RequestRecord]]:
        """``(dropped, records kept)`` read together."""
        with self._lock:
            return self.dropped, [record for record, _ in self._items]

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self.dropped += len(self._items)
            self._items.clear()
            self._bytes = 0
