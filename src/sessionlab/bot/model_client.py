"""The bot's model call: ``POST /v1/messages`` with the conversation's history, over HTTP.

Why HTTP and not claude-code-sdk: the SDK starts a Node.js Claude Code process per
connection (1-2 s and ~100 MB each) and keeps its *own* history in transcript files, which
is what lessons 1-6 wrestle with. A multi-user bot that owns its history (capped, expiring,
in a shared store) only needs the stateless Messages API: send the history, get a reply. The
course model serves that API on loopback; with a real key the same call goes to Anthropic.
"""

from __future__ import annotations

from typing import Any

import httpx

from sessionlab.bot.history import Message
from sessionlab.errors import SessionLabError

MODEL_NAME = "claude-sonnet-4-5"
API_VERSION = "2023-06-01"
DUMMY_KEY = "sk-ant-course-dummy"
# The course model is a ThreadingHTTPServer with the stdlib's listen backlog of 5: a burst of
# new connections overflows it and some get reset. A few kept-alive connections carry any
# load (a reply takes about a millisecond), so the pool stays below the backlog.
MAX_CONNECTIONS = 4
ATTEMPTS = 3


class ModelError(SessionLabError, RuntimeError):
    """The model could not answer (HTTP 502 from the bot; nothing is stored)."""


def request_body(history: list[Message], text: str, *, max_tokens: int = 512) -> dict[str, Any]:
    """The Messages API body: the stored history, then the new user message."""
    messages = [{"role": m.role, "content": m.text} for m in history]
    messages.append({"role": "user", "content": text})
    return {"model": MODEL_NAME, "max_tokens": max_tokens, "messages": messages}


class ModelClient:
    """One pooled HTTP client for every conversation (connections are reused)."""

    def __init__(self, base_url: str, *, api_key: str = DUMMY_KEY, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
        )

    async def reply(self, history: list[Message], text: str) -> str:
        """The model's text. Transport errors are retried: nothing is stored before a reply,
        so asking again cannot duplicate a turn."""
        body = request_body(history, text)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await self._client.post("/v1/messages", json=body)
                break
            except httpx.TransportError as error:
                if attempt == ATTEMPTS:
                    raise ModelError(
                        f"the model at {self.base_url} is unreachable: {error!r}"
                    ) from None
        if response.status_code != 200:
            raise ModelError(f"the model answered HTTP {response.status_code}: {response.text}")
        try:
            content = response.json().get("content") or []
            return "".join(b.get("text", "") for b in content if b.get("type") == "text")
        except (ValueError, AttributeError, TypeError):
            raise ModelError(
                f"the model at {self.base_url} sent a reply that is not a message"
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()
