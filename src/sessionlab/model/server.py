"""The HTTP side of the course model: routes, validation, SSE, and the background thread.

Every request is answered (never a crash of the handler thread) and recorded. Bad input gets
the same ``{"type": "error", ...}`` body the real API sends, so the CLI shows a sensible
message instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sessionlab.model import replies, usage, wire
from sessionlab.model.conversation import read_conversation
from sessionlab.model.records import RecordLog, RequestRecord
from sessionlab.net import listen_error

MAX_BODY_BYTES = 32 * 1024 * 1024
COURSE_PREFIX = "/_course/"
# ``<model url>/_run/<id>`` is one sandbox run's base URL: the CLI sends ``/_run/<id>/v1/messages``
# and the record is tagged with ``<id>``, so concurrent runs of a lesson keep separate evidence.
_RUN_PREFIX = re.compile(r"^/_run/(?P<run>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})(?P<rest>/.*)?$")


def split_run(path: str) -> tuple[str | None, str]:
    """``(id, "/v1/messages?beta=true")`` for a ``/_run/<id>/...`` path, else ``(None, path)``."""
    match = _RUN_PREFIX.match(path)
    if not match:
        return None, path
    return match.group("run"), match.group("rest") or "/"


class BadRequest(Exception):
    """A request the real API would refuse with ``invalid_request_error`` (HTTP 400)."""


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
            raise BadRequest("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(data)
            if len(data) + size > MAX_BODY_BYTES:
                self.close_connection = True
                raise BadRequest("request body too large")
            data += self.rfile.read(size)
            self.rfile.readline()

    def _send_json(self, status: int, payload: Any, request_id: str) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id)
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
            error = wire.error_body("invalid_request_error", str(problem), request_id)
            self._record(started, 400)
            self._send_json(400, error, request_id)
        except (BrokenPipeError, ConnectionResetError):
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
            payload: Any = {"status": "ok", "url": model.url, "records": len(model.records)}
            self._send_json(200, payload, request_id)
        elif route == "/_course/records":
            runs = parse_qs(query).get("run")
            records = model.records if not runs else model.records_for(runs[0])
            self._send_json(200, [r.to_json() for r in records], request_id)
        else:
            error = wire.error_body("not_found_error", f"no course route {route}", request_id)
            self._send_json(404, error, request_id)

    def _messages_route(
        self, route: str, body_bytes: bytes, started: float, request_id: str
    ) -> None:
        try:
            raw = json.loads(body_bytes or b"null")
        except (ValueError, UnicodeDecodeError) as problem:
            raise BadRequest(f"request body is not valid JSON: {problem}") from None
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
    ) -> None:
        self.host = host
        self.requested_port = port
        self.log = log
        self._log = RecordLog()
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
        """Every request so far, oldest first (a snapshot copy)."""
        return self._log.snapshot()

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
