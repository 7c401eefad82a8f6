"""The client side of the bot's API, as a channel or a test uses it.

``start_conversation`` asks the bot for a conversation (its id and token); ``message`` builds
the activity; ``BotConversation.headers`` carries the token; ``connect`` opens a client to a bot
at ``http://host:port`` or at ``unix:<socket path>`` (a bot a grader serves on a UNIX socket,
:mod:`~.socket_server`). Nothing here is trusted by the bot: it checks the token on every
activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class BotConversation:
    """A conversation the bot issued: put ``id`` in activities and send ``headers`` with them."""

    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


UNIX_PREFIX = "unix:"
# The bot answers only for its own names (guards.HostGuard): over a UNIX socket the client still
# says which one it means.
UNIX_BASE_URL = "http://127.0.0.1"


def connect(address: str, *, timeout: float = 30) -> httpx.Client:
    """A client whose ``base_url`` is the bot at ``address`` (``http://...`` or ``unix:<path>``).

    Use it as ``with connect(address) as bot: bot.post("/api/conversations")``.
    """
    if address.startswith(UNIX_PREFIX):
        transport = httpx.HTTPTransport(uds=address.removeprefix(UNIX_PREFIX))
        return httpx.Client(transport=transport, base_url=UNIX_BASE_URL, timeout=timeout)
    return httpx.Client(base_url=address.rstrip("/"), timeout=timeout)


def _conversation(response: httpx.Response) -> BotConversation:
    response.raise_for_status()
    body = response.json()
    return BotConversation(str(body["conversationId"]), str(body["token"]))


def start_conversation(url: str, *, timeout: float = 30) -> BotConversation:
    """``POST <url>/api/conversations``: a new conversation owned by whoever holds its token."""
    return _conversation(httpx.post(f"{url.rstrip('/')}/api/conversations", timeout=timeout))


async def astart_conversation(client: httpx.AsyncClient) -> BotConversation:
    """The same with an async client whose ``base_url`` is the bot."""
    return _conversation(await client.post("/api/conversations"))


def message(
    conversation_id: str, text: str, user: str = "student", activity_id: str | None = None
) -> dict[str, Any]:
    """A Bot Framework ``message`` activity."""
    body: dict[str, Any] = {
        "type": "message",
        "conversation": {"id": conversation_id},
        "from": {"id": user},
        "text": text,
    }
    if activity_id is not None:
        body["id"] = activity_id
    return body
