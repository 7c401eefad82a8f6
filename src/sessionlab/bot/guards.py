"""ASGI middleware the bot puts in front of every route: only expected ``Host`` headers.

A browser on the same machine can be turned against a loopback server by DNS rebinding: a page
on ``evil.example`` re-points that name at 127.0.0.1 and reads ``/sessions`` as same-origin.
Its requests still say ``Host: evil.example``, so answering only for the server's own names
(:func:`sessionlab.request_checks.allowed_hosts`) stops it before any route runs.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from sessionlab.request_checks import host_allowed


class HostGuard:
    """Answer 400 (one line, the refused name not echoed) to any other ``Host``."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        header = hosts[0].decode("latin-1") if len(hosts) == 1 else None
        if host_allowed(header, self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": "this server does not answer for that Host header"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
