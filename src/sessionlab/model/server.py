"""The HTTP side of the course model: routes, validation, SSE, and the background thread.

Every request is answered (never a crash of the handler thread) and recorded. Bad input gets
the same ``{"type": "error", ...}`` body the real API sends, so the CLI shows a sensible
message instead of hanging: malformed JSON (nested too deep, a lone surrogate) is a 400, a body
over 32 MB a 413. A client that hangs up mid-request is dropped silently (no traceback).

Only requests naming an expected ``Host`` are served (DNS rebinding), and ``/_course/records``,
which holds every user's text, needs ``Authorization: Bearer <operator token>``
(:attr:`CourseModel.operator_token`; in-process code reads :attr:`CourseModel.records`
directly).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sessionlab.errors import SessionLabError
from sessionlab.model import replies, usage, wire
from sessionlab.model.conversation import read_conversation
from sessionlab.model.records import MAX_RECORD_BYTES, MAX_RECORDS, RecordLog, RequestRecord
from sessionlab.net import listen_error
from sessionlab.operator_token import new_token
from sessionlab.request_checks import (
    BadRequestBody,
    allowed_hosts,
    bearer_token,
    host_allowed,
    load_json,
    tokens_match,
)

MAX_BODY_BYTES = 32 * 1024 * 1024
# Claude Code's requests nest about 20 levels (tool input schemas); the stdlib decoder fails
# near 1,000, and the JSON encoder used for token counts sooner.
MAX_JSON_DEPTH = 100
MAX_CHUNK_LINE = 1024
COURSE_PREFIX = "/_course/"
RECORDS_DROPPED_HEADER = "x-course-records-dropped"

# ``<model url>/_run/<id>`` is one sandbox run's base URL: the CLI sends ``/_run/<id>/v1/messages``
# and the record is tagged with ``<id>``, so concurrent runs of a lesson keep separate evidence.
_RUN_PREFIX = re.compile(r"^/_run/(?P<run>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})(?P<rest>/.*)?$")


def split_run(path: str) -> tuple[str | None, str]:
    """``(id, "/v1/messages?beta=true")`` for a ``/_run/<id>/...`` path, else ``(None, path)``."""
    match = _RUN_PREFIX.match(path)
    if not match:
        return None, path
    return match.group("run"), match.group("rest") or "/"


class BadRequest(SessionLabError):
    """A request the real API would refuse with ``invalid_request_error`` (HTTP 400)."""


class TooLarge(BadRequest):
    """A body over :data:`MAX_BODY_BYTES` (HTTP 413 ``request_too_large``, like the API)."""


def _validate(body: Any, *, needs_max_tokens: bool) -> dict[str, Any]:
    """The body as a dict, or :class:`BadRequest` naming the first problem (like the API)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("model: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: Field required (a non-empty list)")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), str | list):
            raise BadRequest(f"messages.{index}.content: Field required")
    if needs_max_tokens:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise BadRequest("max_tokens: Field required (an integer >= 1)")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("stream: Input should be a valid boolean")
    return body


class _Handler(BaseHTTPRequestHandler):
    """One connection from a CLI (keep-alive), answered by the owning :class:`CourseModel`."""

    protocol_version = "HTTP/1.1"
    server_version = "sessionlab-course-model"
    timeout = 120  # drop idle keep-alive connections eventually
    # Small JSON replies on keep-alive connections otherwise wait ~40 ms for the client's
    # delayed ACK (Nagle); the multi-session bot measured 44 ms -> 1 ms per call.
    disable_nagle_algorithm = True
    server: _Server
    run: str | None = None
    api_path: str = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log: records are the log."""

    # --- plumbing -------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        """The raw body (``content-length`` or chunked); unreadable framing is a 400."""
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                return self._read_chunked()
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True  # the framing is unknown: do not reuse the socket
            raise BadRequest("malformed content-length or chunked body") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise TooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            size = int(self.rfile.readline(MAX_CHUNK_LINE).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline(MAX_CHUNK_LINE)
                return bytes(data)
            if len(data) + size > MAX_BODY_BYTES:
                self.close_connection = True
                raise TooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
            data += self.rfile.read(size)
            self.rfile.readline(MAX_CHUNK_LINE)

    def _send_json(
        self,
        status: int,
        payload: Any,
        request_id: str,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_stream(self, message: dict[str, Any], request_id: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", request_id)
        self.end_headers()
        for event in wire.stream_events(message):
            frame = wire.sse_frame(event)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _record(self, started: float, status: int, **fields: Any) -> None:
        defaults: dict[str, Any] = {
            "model": None,
            "stream": False,
            "kind": "other",
            "history_len": 0,
            "user_messages": 0,
            "first_user_text": None,
            "last_user_text": None,
            "input_tokens": 0,
            "output_tokens": 0,
        }
        record = RequestRecord(
            timestamp=started,
            method=self.command,
            path=self.api_path,
            status=status,
            run=self.run,
            **{**defaults, **fields},
        )
        self.server.course_model._add(record)

    # --- routes ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        started = time.time()
        request_id = wire.new_id("req")
        self.run, self.api_path = split_run(self.path)
        route = urlsplit(self.api_path).path.rstrip("/") or "/"
        try:
            if not host_allowed(self.headers.get("host"), self.server.allowed_hosts):
                self.close_connection = True
                raise BadRequest("this server does not answer for that Host header")
            body_bytes = self._read_body()
            if route.startswith(COURSE_PREFIX) and self.command in ("GET", "HEAD"):
                self._course_route(route, urlsplit(self.api_path).query, request_id)
                return
            if route == "/" and self.command in ("GET", "HEAD"):
                # CLI 2.1.x probes the base URL with ``HEAD /`` before its first call.
                self._record(started, 200)
                self._send_json(200, {"service": "sessionlab course model"}, request_id)
                return
            if self.command == "POST" and route in ("/v1/messages", "/v1/messages/count_tokens"):
                self._messages_route(route, body_bytes, started, request_id)
                return
            message = f"{self.command} {route} is not part of the course model"
            self._record(started, 404)
            self._send_json(
                404, wire.error_body("not_found_error", message, request_id), request_id
            )
        except BadRequest as problem:
            status, kind = (
                (413, "request_too_large")
                if isinstance(problem, TooLarge)
                else (400, "invalid_request_error")
            )
            self._record(started, status)
            with contextlib.suppress(OSError):  # the client may be gone already
                self._send_json(status, wire.error_body(kind, str(problem), request_id), request_id)
        except OSError:  # reset, broken pipe, timeout: the client went away mid-request
            self.close_connection = True
        except Exception as error:  # the server must outlive any single bad request
            self.close_connection = True
            try:
                body = wire.error_body("api_error", f"course model bug: {error!r}", request_id)
                self._record(started, 500)
                self._send_json(500, body, request_id)
            except OSError:
                pass

    def _course_route(self, route: str, query: str, request_id: str) -> None:
        model = self.server.course_model
        if route == "/_course/health":
            self._send_json(200, {"status": "ok", "url": model.url}, request_id)
        elif route == "/_course/records":
            if not self._operator(request_id):
                return
            dropped, records = model._log.window()
            runs = parse_qs(query).get("run")
            if runs:
                records = [record for record in records if record.run == runs[0]]
            header = [(RECORDS_DROPPED_HEADER, str(dropped))]
            self._send_json(200, [r.to_json() for r in records], request_id, header)
        else:
            error = wire.error_body("not_found_error", f"no course route {route}", request_id)
            self._send_json(404, error, request_id)

    def _operator(self, request_id: str) -> bool:
        """True for the operator's token; otherwise answers 401 (none) or 403 (wrong)."""
        token = bearer_token(self.headers.get("authorization"))
        if tokens_match(token, self.server.course_model.operator_token):
            return True
        status, kind = (401, "authentication_error") if token is None else (403, "permission_error")
        message = "records need Authorization: Bearer <the model's operator token>"
        body = wire.error_body(kind, message, request_id)
        self._send_json(status, body, request_id, [("www-authenticate", "Bearer")])
        return False

    def _messages_route(
        self, route: str, body_bytes: bytes, started: float, request_id: str
    ) -> None:
        try:
            raw = load_json(body_bytes or b"null", max_depth=MAX_JSON_DEPTH)
        except BadRequestBody as problem:
            raise BadRequest(str(problem)) from None
        counting = route.endswith("/count_tokens")
        body = _validate(raw, needs_max_tokens=not counting)
        conversation = read_conversation(body["messages"])
        seen: dict[str, Any] = {
            "model": body["model"],
            "history_len": len(body["messages"]),
            "user_messages": len(conversation.spoken),
            "first_user_text": conversation.spoken[0] if conversation.spoken else None,
            "last_user_text": conversation.spoken[-1] if conversation.spoken else None,
            "user_texts": tuple(conversation.spoken),
            "input_tokens": usage.input_tokens(body),
        }
        if counting:
            self._record(started, 200, kind="count_tokens", **seen)
            self._send_json(200, {"input_tokens": seen["input_tokens"]}, request_id)
            return
        kind = replies.classify(body)
        reply = replies.answer(body, kind)
        output_count = usage.output_tokens(reply.content)
        message = wire.message_object(
            wire.new_id("msg"),
            body["model"],
            reply.content,
            reply.stop_reason,
            seen["input_tokens"],
            output_count,
        )
        stream = bool(body.get("stream"))
        # Record first: once the reply is sent, a caller may read the records at once.
        self._record(
            started,
            200,
            kind=kind,
            stream=stream,
            output_tokens=output_count,
            reply_text=reply.summary,
            **seen,
        )
        if stream:
            self._send_stream(message, request_id)
        else:
            self._send_json(200, message, request_id)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 resets connections under a burst (the bot's 100-user load test).
    request_queue_size = 128
    course_model: CourseModel
    allowed_hosts: frozenset[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished is not an error; anything else is one line, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        print(f"course model: request from {client_address[0]} failed: {error!r}", file=sys.stderr)


class CourseModel:
    """A deterministic Anthropic Messages API on loopback, serving from a background thread.

    >>> with CourseModel() as model:           # port 0: any free port
    ...     url = model.url                     # e.g. http://127.0.0.1:43121
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Callable[[RequestRecord], None] | None = None,
        operator_token: str | None = None,
        allowed_hosts: Iterable[str] = (),
        max_records: int = MAX_RECORDS,
        max_record_bytes: int = MAX_RECORD_BYTES,
        tcp_nodelay: bool = False,
    ) -> None:
        """``tcp_nodelay``: turn Nagle off for accepted connections (they inherit it on Linux),
        so a body written after its headers does not wait for the client's delayed ACK."""
        self.host = host
        self.requested_port = port
        self.log = log
        #: ``Authorization: Bearer <this>`` opens ``GET /_course/records`` (random by default).
        self.operator_token = operator_token or new_token()
        self._allowed_hosts = allowed_hosts
        self.tcp_nodelay = tcp_nodelay
        self._log = RecordLog(max_records, max_record_bytes)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> CourseModel:
        """Bind and serve in a daemon thread; a busy port becomes a one-line CourseError."""
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self.requested_port), _Handler)
        except OSError as error:
            raise listen_error(self.host, self.requested_port, error) from None
        server.course_model = self
        server.allowed_hosts = allowed_hosts(self.host, self._allowed_hosts)
        if self.tcp_nodelay:
            with contextlib.suppress(OSError):
                server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"course-model-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CourseModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests and notebooks read ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the free one picked for ``port=0``), or the requested one."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``ANTHROPIC_BASE_URL``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def records(self) -> list[RequestRecord]:
        """The requests so far, oldest first (a snapshot copy).

        Bounded: at most ``max_records`` records and about ``max_record_bytes`` of text; past
        that the oldest go (:attr:`records_dropped` counts them).
        """
        return self._log.snapshot()

    @property
    def records_dropped(self) -> int:
        return self._log.dropped

    def records_for(self, run: str) -> list[RequestRecord]:
        """The requests one sandbox run sent (through its ``/_run/<run>`` base URL)."""
        return [record for record in self._log.snapshot() if record.run == run]

    def clear_records(self) -> None:
        self._log.clear()

    def _add(self, record: RequestRecord) -> None:
        self._log.add(record)
        if self.log is not None:
            with contextlib.suppress(Exception):  # a broken logger must not break the model
                self.log(record)
