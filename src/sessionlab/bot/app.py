"""The multi-session bot as a FastAPI app.

Routes:

``POST /api/conversations``
    start a conversation: ``201 {"conversationId": ..., "token": ...}``. The id goes into
    every activity's ``conversation.id``; the token into ``Authorization: Bearer <token>``
    (the Direct Line shape: the channel issues both, see :mod:`~.tokens`).
``POST /api/messages``
    a Bot Framework-style activity, with the token of its conversation. The reply activity
    comes back in the response (the "expectReplies" style, so a test or a notebook can read it
    directly). Each conversation has its own history; a turn is stored only after the model
    answered. No token: 401. A token that was not issued for this ``conversation.id``: 403,
    the same bytes whether that conversation exists or not, decided before the store is read.
``GET /sessions``
    for operators (``Authorization: Bearer <operator token>``): metadata only (counts, uptime,
    last activity; conversation ids shortened), never text. With a :class:`SessionsView`
    (lesson 8's exercise) the check and the page are the view's; the bot keeps the plumbing.
``POST /api/sessions``
    an isolated temporary session for the caller's IP (lesson 7's manager; 429 past the
    per-IP limit), when the app was given a :class:`~sessionlab.isolation.TemporarySessionManager`.
``GET /health``
    liveness, for process supervisors and the tests that start the server.

Every request must name an expected ``Host`` (:class:`~.guards.HostGuard`). Bodies over
``max_body`` bytes get 413 from the ``Content-Length`` header alone, or as soon as a chunked
body passes the limit: the app never buffers more than the limit. Malformed JSON (too deep, a
lone surrogate, wrong types) is a 400 with a one-line reason. ``/docs``, ``/redoc`` and
``/openapi.json`` exist only with ``docs=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sessionlab.bot.activity import BadActivity, parse_activity
from sessionlab.bot.guards import HostGuard
from sessionlab.bot.history import HistoryStore, Message
from sessionlab.bot.model_client import ModelClient, ModelError
from sessionlab.bot.tokens import ConversationTokens
from sessionlab.clock import SYSTEM_CLOCK, Clock
from sessionlab.errors import SessionLabError, SessionLimitError
from sessionlab.isolation import TemporarySessionManager
from sessionlab.request_checks import (
    LOOPBACK_NAMES,
    BadRequestBody,
    bearer_token,
    load_json,
    tokens_match,
)
from sessionlab.sweeper import Sweeper

MAX_BODY_BYTES = 256 * 1024
# Real activities nest a few levels (attachments, adaptive cards: about 15 at most).
MAX_JSON_DEPTH = 32
BOT_ID = "sessionlab-bot"
SHOWN_ID_CHARS = 12
NO_TOKEN = "this route needs Authorization: Bearer <token>"
NOT_YOURS = "this token was not issued for this conversation"
NOT_OPERATOR = "this route needs the operator token"
log = logging.getLogger("sessionlab.bot")
T = TypeVar("T")


class PayloadTooLarge(SessionLabError):
    """The body passed the limit while it was being read."""


class ClientGone(SessionLabError):
    """The client disconnected before its body arrived: there is nobody left to answer."""


def _error(status: int, message: str) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or :class:`PayloadTooLarge` once more than ``limit`` bytes arrived
    (:class:`ClientGone` if the client hung up first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge
    except ClientDisconnect:
        raise ClientGone from None
    return bytes(body)


class StoreDown(SessionLabError):
    """The history store failed (HTTP 503; the request changed nothing it could not undo)."""


def _store_errors() -> tuple[type[Exception], ...]:
    """SQLite's errors, and Redis's once a Redis store loaded the client.

    ``redis`` is imported only by the Redis store (the ``bot`` extra's optional backend): a bot
    on SQLite never loads it, and without it loaded no Redis error can be raised.
    """
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    client = sys.modules.get("redis")
    if client is not None:
        errors += (client.RedisError,)
    return errors


async def _stored(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store call in the threadpool; a store failure is logged as one line."""
    try:
        return await run_in_threadpool(call, *args, **kwargs)
    except _store_errors() as problem:
        log.error("history store failed: %s", problem)
        raise StoreDown from None


def _shown(conversation_id: str) -> str:
    """Enough of an id to tell conversations apart on a dashboard, not to post into one."""
    if len(conversation_id) <= SHOWN_ID_CHARS:
        return conversation_id[:2] + "…"
    return conversation_id[:SHOWN_ID_CHARS] + "…"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SessionsView:
    """The two halves of ``GET /sessions`` when they are written elsewhere (lesson 8).

    ``refusal(authorization, operator_token)`` runs first, before the store is read: ``None``
    lets the request through, ``(401 or 403, one-line message)`` refuses it.
    ``summary(conversations, now)`` gets what the store holds for every live conversation
    (``{"id", "created_at", "last_activity", "messages": [{"role", "text", "at"}]}``, as the
    seed's in-memory manager held it) and returns the page, a JSON object. Whatever either
    half returns or raises, the bot answers one line, never a traceback.
    """

    refusal: Callable[[str | None, str], Any]
    summary: Callable[[list[dict[str, Any]], float], Any]


def _message_data(message: Message) -> dict[str, Any]:
    return {"role": message.role, "text": message.text, "at": message.at}


def _held_conversations(store: HistoryStore, now: float) -> list[dict[str, Any]]:
    """Every live conversation with its messages: what a :class:`SessionsView` summarises.

    In id order, which is random (ids are): ordering the page is the view's job.
    """
    return [
        {
            "id": s.conversation_id,
            "created_at": s.created_at,
            "last_activity": s.last_activity,
            "messages": [_message_data(m) for m in store.history(s.conversation_id, now=now)],
        }
        for s in sorted(store.stats(now=now), key=lambda s: s.conversation_id)
    ]


def _view_refusal(refusal: Any) -> JSONResponse:
    """The view's refusal as a response; a malformed one is the view's bug (500, one line)."""
    if (
        isinstance(refusal, tuple | list)
        and len(refusal) == 2
        and refusal[0] in (401, 403)
        and type(refusal[0]) is int
        and isinstance(refusal[1], str)
        and refusal[1].strip()
        and "\n" not in refusal[1]
    ):
        return _error(refusal[0], refusal[1])
    return _error(500, "the sessions view refused with something that is not (401|403, one line)")


async def _view_page(view: SessionsView, store: HistoryStore, now: float) -> JSONResponse:
    conversations = await _stored(_held_conversations, store, now)
    try:
        page = await run_in_threadpool(view.summary, conversations, now)
        if not isinstance(page, dict):
            return _error(500, "the sessions view's summary is not a JSON object")
        return JSONResponse(page)
    except Exception as problem:  # the view's bug: one line, no traceback
        return _error(500, f"the sessions view's summary failed ({type(problem).__name__})")


def create_app(
    store: HistoryStore,
    model_url: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    isolation: TemporarySessionManager | None = None,
    max_body: int = MAX_BODY_BYTES,
    purge_every: float = 60.0,
    operator_token: str | None = None,
    allowed_hosts: frozenset[str] = LOOPBACK_NAMES,
    docs: bool = False,
    sessions_view: SessionsView | None = None,
) -> FastAPI:
    """Build the app around a history store and a Messages API base URL.

    ``operator_token`` guards ``/sessions`` (a random one when not given: read it from
    ``app.state.operator_token``). Conversation tokens are signed with the store's key, so
    every app on the same store accepts them. ``sessions_view`` replaces the ``/sessions``
    check and page with the view's (:class:`SessionsView`).
    """
    started = clock.wall()
    locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
    tokens = ConversationTokens(store.conversation_key())
    operator = operator_token or secrets.token_urlsafe(32)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = ModelClient(model_url)

        def purge() -> Awaitable[list[str]]:
            return run_in_threadpool(store.purge_expired, now=clock.wall())

        # A failed sweep is logged and counted, and must not kill the app (sessionlab.sweeper).
        sweeper = Sweeper(purge, purge_every, name="bot-history-expiry")
        sweeper.start()
        try:
            yield
        finally:
            await sweeper.stop(timeout=0)
            await app.state.model.aclose()

    app = FastAPI(
        title="Session Lab multi-session bot",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(HostGuard, allowed=allowed_hosts)
    app.state.store = store
    app.state.started = started
    app.state.operator_token = operator
    app.state.tokens = tokens

    @app.exception_handler(StoreDown)
    async def store_down(request: Request, problem: StoreDown) -> JSONResponse:
        return _error(503, "the history store is unavailable; try again")

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, problem: ClientGone) -> Response:
        return Response(status_code=400)  # never delivered: the client has gone

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/conversations", status_code=201)
    async def start_conversation() -> JSONResponse:
        issued = tokens.start()
        return JSONResponse(
            {"conversationId": issued.conversation_id, "token": issued.token}, status_code=201
        )

    @app.post("/api/messages")
    async def messages(request: Request) -> JSONResponse:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return _error(401, NO_TOKEN)
        try:
            raw = await read_limited(request, max_body)
        except PayloadTooLarge:
            return _error(413, f"the activity is larger than {max_body} bytes")
        try:
            activity = parse_activity(load_json(raw, max_depth=MAX_JSON_DEPTH))
        except (BadRequestBody, BadActivity) as problem:
            return _error(400, str(problem))
        # Before any lock or store read: a refusal must not depend on the conversation.
        if not tokens.owns(token, activity.conversation_id):
            return _error(403, NOT_YOURS)
        if activity.type != "message":
            return JSONResponse({"ignored": activity.type}, status_code=202)
        lock = locks.get(activity.conversation_id)
        if lock is None:
            lock = locks[activity.conversation_id] = asyncio.Lock()
        async with lock:  # one turn at a time per conversation: history, reply, store
            history = await _stored(store.history, activity.conversation_id, now=clock.wall())
            try:
                reply = await request.app.state.model.reply(history, activity.text)
            except ModelError as problem:
                return _error(502, str(problem))
            await _stored(
                store.append,
                activity.conversation_id,
                [("user", activity.text), ("assistant", reply)],
                now=clock.wall(),
            )
        answer: dict[str, Any] = {
            "type": "message",
            "conversation": {"id": activity.conversation_id},
            "from": {"id": BOT_ID},
            "recipient": {"id": activity.user_id},
            "text": reply,
        }
        if activity.activity_id:
            answer["replyToId"] = activity.activity_id
        return JSONResponse(answer)

    @app.get("/sessions", response_model=None)
    async def sessions(request: Request) -> dict[str, Any] | JSONResponse:
        if sessions_view is not None:
            header = request.headers.get("authorization")
            try:
                refusal = await run_in_threadpool(sessions_view.refusal, header, operator)
            except Exception as problem:  # the view's bug: one line, no traceback
                return _error(500, f"the sessions view's check failed ({type(problem).__name__})")
            if refusal is not None:
                return _view_refusal(refusal)
            return await _view_page(sessions_view, store, clock.wall())
        presented = bearer_token(request.headers.get("authorization"))
        if presented is None:
            return _error(401, NOT_OPERATOR)
        if not tokens_match(presented, operator):
            return _error(403, NOT_OPERATOR)
        now = clock.wall()
        stats = await _stored(store.stats, now=now)
        payload: dict[str, Any] = {
            "total_sessions": len(stats),
            "timeout_minutes": store.limits.ttl_seconds / 60,
            "history_limit": store.limits.max_messages,
            "uptime_seconds": round(now - started, 1),
            "sessions": [
                {
                    "conversation": _shown(s.conversation_id),
                    "messages": s.messages,
                    "uptime_min": round((now - s.created_at) / 60, 1),
                    "last_activity": _iso(s.last_activity),
                }
                for s in stats
            ],
        }
        if isolation is not None:
            payload["isolated_sessions"] = (await run_in_threadpool(isolation.stats))[
                "live_sessions"
            ]
        return payload

    @app.post("/api/sessions", status_code=201)
    async def new_session(request: Request) -> JSONResponse:
        if isolation is None:
            return _error(404, "isolated sessions are not enabled on this server")
        client_ip = request.client.host if request.client else "unknown"
        try:
            state = await run_in_threadpool(isolation.create, client_ip)
        except SessionLimitError as problem:
            return _error(429, str(problem))
        return JSONResponse(
            {"session_id": state.session_id, "expires_at": _iso(state.expires_at)},
            status_code=201,
        )

    return app
