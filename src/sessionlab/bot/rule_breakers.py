"""The real bot with one of its rules broken: what a student's isolation test is graded against.

Mutation testing: a test is worth the bugs it catches. Lesson 8 grades the student's isolation
test by running it against the correct bot (it must pass) and against bots that each break one
rule (it must fail on each). A broken bot here is not a re-implementation: it is the real app
(:func:`~.app.create_app`: real store, real tokens, real course model) behind a
:class:`RuleBreaker`, ASGI middleware that may rewrite a message activity on its way in
(:meth:`RuleBreaker.before`) and the bot's answer on its way out (:meth:`RuleBreaker.after`).
The plain :class:`RuleBreaker` changes nothing: the correct bot is served through the same
middleware, so nothing but the broken rule tells the bots apart.

:class:`OneHistoryForEverybody` is the seed's bug (the lesson shows it); the lesson's hidden
checks define the other breakers.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import Message as AsgiMessage
from starlette.types import Receive, Scope, Send

from sessionlab.bot.app import create_app
from sessionlab.bot.history import HistoryLimits, HistoryStore, SQLiteHistory
from sessionlab.bot.socket_server import serve_on_unix_socket
from sessionlab.bot.tokens import ConversationTokens
from sessionlab.clock import SYSTEM_CLOCK, Clock
from sessionlab.request_checks import bearer_token

BROKEN_PATHS = ("/api/messages", "/api/conversations")


@dataclass
class BotRequest:
    """A request as a breaker sees it: header names in lower case, the body decoded if JSON."""

    headers: dict[str, str]
    body: Any  # the decoded JSON (None when the body is not JSON: passed on untouched)
    raw: bytes

    @property
    def conversation_id(self) -> str | None:
        conversation = self.body.get("conversation") if isinstance(self.body, dict) else None
        value = conversation.get("id") if isinstance(conversation, dict) else None
        return value if isinstance(value, str) else None

    @property
    def text(self) -> str | None:
        value = self.body.get("text") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else None

    @property
    def token(self) -> str | None:
        return bearer_token(self.headers.get("authorization"))


def _json_bytes(value: Any) -> bytes:
    """JSON the way Starlette's ``JSONResponse`` writes it (so an untouched answer is equal)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class RuleBreaker:
    """The real bot app behind middleware that breaks nothing; subclasses break one rule."""

    def __init__(self, store: HistoryStore, model_url: str, *, clock: Clock = SYSTEM_CLOCK):
        self.store = store
        self.clock = clock
        self.tokens = ConversationTokens(store.conversation_key())
        self.app = create_app(store, model_url, clock=clock)
        self.issued: set[str] = set()  # tokens this bot handed out

    def grant(self, request: BotRequest, conversation_id: str | None = None) -> None:
        """Put the right token for the conversation into the request, whatever was sent."""
        target = conversation_id or request.conversation_id
        if target is not None:
            request.headers["authorization"] = f"Bearer {self.tokens.token_for(target)}"

    async def before(self, request: BotRequest) -> None:
        """Change a message request (headers, body) before the bot sees it."""

    async def after(self, request: BotRequest, status: int, answer: Any) -> tuple[int, Any] | None:
        """A new ``(status, JSON answer)`` for the client, or ``None`` to leave it as it is."""
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in BROKEN_PATHS:
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = BotRequest(headers, body, raw)
        messages = scope["path"] == "/api/messages"
        if messages and body is not None:
            before = json.dumps(body, sort_keys=True)
            await self.before(request)
            if json.dumps(request.body, sort_keys=True) != before:
                raw = _json_bytes(request.body)
        request.headers.pop("transfer-encoding", None)  # the body is passed on whole
        request.headers["content-length"] = str(len(raw))
        inner_scope = {
            **scope,
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()
            ],
        }
        status, out_headers, content = await _call(self.app, inner_scope, raw)
        if not messages:
            if status == 201:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.issued.add(str(json.loads(content)["token"]))
        else:
            try:
                answer = json.loads(content)
            except ValueError:
                answer = None
            changed = await self.after(request, status, answer) if answer is not None else None
            if changed is not None:
                status, content = changed[0], _json_bytes(changed[1])
        kept = [(k, v) for k, v in out_headers if k.lower() != b"content-length"]
        kept.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": kept})
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


async def _call(app: Any, scope: Scope, body: bytes) -> tuple[int, list[Any], bytes]:
    """Run the inner app on one buffered request; its whole answer, buffered."""
    sent = False

    async def receive() -> AsgiMessage:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 500
    headers: list[Any] = []
    content = bytearray()

    async def collect(message: AsgiMessage) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            content.extend(message.get("body", b""))

    await app(scope, receive, collect)
    return status, headers, bytes(content)


class OneHistoryForEverybody(RuleBreaker):
    """The seed's first bot: every conversation's messages go into one shared history."""

    shared = "conv-everybody"

    async def before(self, request: BotRequest) -> None:
        if isinstance(request.body, dict) and request.conversation_id is not None:
            request.body["conversation"] = {**request.body["conversation"], "id": self.shared}
            self.grant(request, self.shared)

    async def after(self, request: BotRequest, status: int, answer: Any) -> tuple[int, Any] | None:
        sent = json.loads(request.raw)  # what the client sent (the body was JSON to get here)
        original = sent.get("conversation") if isinstance(sent, dict) else None
        if status == 200 and isinstance(answer, dict) and isinstance(original, dict):
            return status, {**answer, "conversation": original}  # the client's own id back
        return None


@contextlib.contextmanager
def served(
    breaker: type[RuleBreaker], model_url: str, *, folder: str | Path | None = None
) -> Iterator[str]:
    """A fresh bot (its own SQLite store) with ``breaker``'s bug, on a UNIX socket: its address."""
    with tempfile.TemporaryDirectory(prefix="bot-store-", dir=folder) as data:
        store = SQLiteHistory(Path(data) / "histories.sqlite3", HistoryLimits())
        try:
            with serve_on_unix_socket(breaker(store, model_url), folder) as address:
                yield address
        finally:
            store.close()
