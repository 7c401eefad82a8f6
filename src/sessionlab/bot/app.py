"""The multi-session bot as a FastAPI app.

Routes:

``POST /api/messages``
    a Bot Framework-style ``message`` activity; the reply activity comes back in the response
    (the "expectReplies" style, so a test or a notebook can read it directly). Each
    ``conversation.id`` has its own history; a turn is stored only after the model answered.
``GET /sessions``
    metadata only (counts, uptime, last activity; conversation ids shortened), never text.
``POST /api/sessions``
    an isolated temporary session for the caller's IP (lesson 7's manager; 429 past the
    per-IP limit), when the app was given a :class:`~sessionlab.isolation.TemporarySessionManager`.
``GET /health``
    liveness, for process supervisors and the tests that start the server.

Bodies over ``max_body`` bytes get 413 from the ``Content-Length`` header alone, or as soon as
a chunked body passes the limit: the app never buffers more than the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sessionlab.bot.activity import BadActivity, parse_activity
from sessionlab.bot.history import HistoryStore
from sessionlab.bot.model_client import ModelClient, ModelError
from sessionlab.isolation import Clock, SystemClock, TemporarySessionManager
from sessionlab.isolation.errors import SessionLimitExceeded

MAX_BODY_BYTES = 256 * 1024
BOT_ID = "sessionlab-bot"
SHOWN_ID_CHARS = 8


class PayloadTooLarge(Exception):
    """The body passed the limit while it was being read."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or :class:`PayloadTooLarge` once more than ``limit`` bytes arrived."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge
    return bytes(body)


def _shown(conversation_id: str) -> str:
    """Enough of an id to tell conversations apart on a dashboard, not to post into one."""
    if len(conversation_id) <= SHOWN_ID_CHARS:
        return conversation_id[:2] + "…"
    return conversation_id[:SHOWN_ID_CHARS] + "…"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def create_app(
    store: HistoryStore,
    model_url: str,
    *,
    clock: Clock | None = None,
    isolation: TemporarySessionManager | None = None,
    max_body: int = MAX_BODY_BYTES,
    purge_every: float = 60.0,
) -> FastAPI:
    """Build the app around a history store and a Messages API base URL."""
    clock = clock or SystemClock()
    started = clock.now()
    locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = ModelClient(model_url)

        async def purge_forever() -> None:
            while True:
                await asyncio.sleep(purge_every)
                with contextlib.suppress(Exception):  # a failed sweep must not kill the app
                    await run_in_threadpool(store.purge_expired, now=clock.now())

        sweeper = asyncio.create_task(purge_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.model.aclose()

    app = FastAPI(title="Session Lab multi-session bot", lifespan=lifespan)
    app.state.store = store
    app.state.started = started

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/messages")
    async def messages(request: Request) -> JSONResponse:
        try:
            raw = await read_limited(request, max_body)
        except PayloadTooLarge:
            return _error(413, f"the activity is larger than {max_body} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not valid JSON")
        try:
            activity = parse_activity(body)
        except BadActivity as problem:
            return _error(400, str(problem))
        if activity.type != "message":
            return JSONResponse({"ignored": activity.type}, status_code=202)
        lock = locks.get(activity.conversation_id)
        if lock is None:
            lock = locks[activity.conversation_id] = asyncio.Lock()
        async with lock:  # one turn at a time per conversation: history, reply, store
            history = await run_in_threadpool(
                store.history, activity.conversation_id, now=clock.now()
            )
            try:
                reply = await request.app.state.model.reply(history, activity.text)
            except ModelError as problem:
                return _error(502, str(problem))
            length = await run_in_threadpool(
                store.append,
                activity.conversation_id,
                [("user", activity.text), ("assistant", reply)],
                now=clock.now(),
            )
        answer: dict[str, Any] = {
            "type": "message",
            "conversation": {"id": activity.conversation_id},
            "from": {"id": BOT_ID},
            "recipient": {"id": activity.user_id},
            "text": reply,
            "historyLength": length,
        }
        if activity.activity_id:
            answer["replyToId"] = activity.activity_id
        return JSONResponse(answer)

    @app.get("/sessions")
    async def sessions() -> dict[str, Any]:
        now = clock.now()
        stats = await run_in_threadpool(store.stats, now=now)
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
        except SessionLimitExceeded as problem:
            return _error(429, str(problem))
        return JSONResponse(
            {"session_id": state.session_id, "expires_at": _iso(state.expires_at)},
            status_code=201,
        )

    return app
