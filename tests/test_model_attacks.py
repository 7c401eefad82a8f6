"""Attacks on the course model's HTTP surface, over real sockets.

The model runs on loopback next to a browser and, under ``make lab`` or JupyterHub, next to
other users; ``/_course/records`` holds every user's text. Each test plays one attacker: a
reader without the operator token, a DNS-rebinding web page, a sender of hostile JSON, a
client that hangs up mid-request, a long-running flood that would grow the records forever.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionlab.errors import CourseError
from sessionlab.model import CourseModel
from sessionlab.remote_model import RemoteCourseModel

MODEL = "claude-sonnet-4-5"
SECRET = "my pin is 7731"
LONG = "x" * 4000


@pytest.fixture
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


def exchange(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        conn.close()


def turn(*texts: str) -> bytes:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(texts)
    ]
    return json.dumps({"model": MODEL, "max_tokens": 50, "messages": messages}).encode()


def error_of(status: int, payload: bytes, expected: int) -> tuple[str, str]:
    """``(error type, message)`` of an API error body; the message is one line."""
    assert status == expected, payload[:300]
    body = json.loads(payload)
    message = str(body["error"]["message"])
    assert "\n" not in message and "Traceback" not in message
    return str(body["error"]["type"]), message


# --- /_course/records needs the operator token ----------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status", "kind"),
    [
        (None, 401, "authentication_error"),
        ("Basic b3BlcmF0b3I6eA==", 401, "authentication_error"),
        ("Bearer ", 401, "authentication_error"),
        ("Bearer wrong-token", 403, "permission_error"),
        ("Bearer " + "A" * 43, 403, "permission_error"),  # the right length, not the token
    ],
)
def test_records_without_the_operator_token_are_refused(
    model: CourseModel, authorization: str | None, status: int, kind: str
) -> None:
    exchange(model.port, "POST", "/v1/messages", turn(SECRET))
    headers = {"authorization": authorization} if authorization is not None else {}
    got, received, payload = exchange(model.port, "GET", "/_course/records", headers=headers)
    assert error_of(got, payload, status)[0] == kind
    assert b"7731" not in payload and "x-course-records-dropped" not in received
    allowed = {"authorization": f"Bearer {model.operator_token}"}
    ok, _, records = exchange(model.port, "GET", "/_course/records", headers=allowed)
    assert ok == 200 and json.loads(records)[-1]["last_user_text"] == SECRET


def test_each_model_has_its_own_random_operator_token() -> None:
    with CourseModel() as first, CourseModel() as second:
        assert first.operator_token != second.operator_token
        assert len(first.operator_token) >= 43
        other = {"authorization": f"Bearer {second.operator_token}"}
        assert exchange(first.port, "GET", "/_course/records", headers=other)[0] == 403


def test_health_tells_nothing_about_traffic(model: CourseModel) -> None:
    exchange(model.port, "POST", "/v1/messages", turn(SECRET))
    status, _, payload = exchange(model.port, "GET", "/_course/health")
    assert status == 200 and json.loads(payload) == {"status": "ok", "url": model.url}


def test_remote_model_reads_records_with_the_token_from_the_environment(
    model: CourseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchange(model.port, "POST", "/v1/messages", turn("before attaching"))
    monkeypatch.setenv("SESSIONLAB_MODEL_TOKEN", model.operator_token)
    remote = RemoteCourseModel(model.url)
    exchange(model.port, "POST", "/v1/messages", turn(SECRET))
    assert [r.last_user_text for r in remote.records] == [SECRET]
    monkeypatch.setenv("SESSIONLAB_MODEL_TOKEN", "not-the-token")
    with pytest.raises(CourseError, match="SESSIONLAB_MODEL_TOKEN must hold its operator token"):
        RemoteCourseModel(model.url)
    monkeypatch.delenv("SESSIONLAB_MODEL_TOKEN")
    with pytest.raises(CourseError, match="refused its records"):
        RemoteCourseModel(model.url)


def test_a_notebook_under_make_lab_reads_its_records_with_the_inherited_token(
    model: CourseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make lab`` puts the model's URL and operator token in the environment the kernels
    inherit; ``course_env`` then attaches to that model and ``lab.model.records`` works."""
    from sessionlab.sandbox import course_env

    exchange(model.port, "POST", "/v1/messages", turn("another notebook"))
    monkeypatch.setenv("SESSIONLAB_MODEL_URL", model.url)
    monkeypatch.setenv("SESSIONLAB_MODEL_TOKEN", model.operator_token)
    with course_env("legacy", name="model-token-check") as lab:
        # The run's window on the shared model: its own base URL, its own records.
        assert isinstance(lab.model.shared, RemoteCourseModel)
        assert lab.model.url.startswith(model.url + "/_run/")
        run_path = lab.model.url.removeprefix(model.url)
        exchange(model.port, "POST", f"{run_path}/v1/messages", turn(SECRET))
        exchange(model.port, "POST", "/v1/messages", turn("not this run"))
        assert [r.last_user_text for r in lab.model.records] == [SECRET]


# --- records are bounded ------------------------------------------------------------------------


def test_records_keep_only_the_newest_by_count() -> None:
    with CourseModel(max_records=5) as model:
        for number in range(8):
            exchange(model.port, "POST", "/v1/messages", turn(f"note {number}"))
        assert [r.last_user_text for r in model.records] == [f"note {n}" for n in range(3, 8)]
        assert model.records_dropped == 3
        headers = {"authorization": f"Bearer {model.operator_token}"}
        status, received, _ = exchange(model.port, "GET", "/_course/records", headers=headers)
        assert status == 200 and received["x-course-records-dropped"] == "3"


def test_records_keep_only_the_newest_by_bytes() -> None:
    long_text = "y" * 20_000
    with CourseModel(max_record_bytes=100_000) as model:
        for number in range(20):
            exchange(model.port, "POST", "/v1/messages", turn(f"{number} {long_text}"))
        kept = model.records
        assert 2 <= len(kept) <= 5, len(kept)
        assert kept[-1].last_user_text == f"19 {long_text}"
        assert model._log.bytes <= 100_000
        assert model.records_dropped == 20 - len(kept)


def test_remote_model_still_shows_only_its_own_records_after_old_ones_were_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with CourseModel(max_records=3) as model:
        for number in range(3):
            exchange(model.port, "POST", "/v1/messages", turn(f"old {number}"))
        monkeypatch.setenv("SESSIONLAB_MODEL_TOKEN", model.operator_token)
        remote = RemoteCourseModel(model.url)
        exchange(model.port, "POST", "/v1/messages", turn("mine 1"))
        exchange(model.port, "POST", "/v1/messages", turn("mine 2"))
        assert [r.last_user_text for r in remote.records] == ["mine 1", "mine 2"]
        for number in range(3, 6):
            exchange(model.port, "POST", "/v1/messages", turn(f"mine {number}"))
        assert [r.last_user_text for r in remote.records] == ["mine 3", "mine 4", "mine 5"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_long_running_model_stays_bounded_after_2000_long_messages() -> None:
    """Before the bound: +88 MB for these 2,000 requests (24 -> 112 MB, measured on main)."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "sessionlab", "model", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        port = int(serve.stdout.readline().split()[-1].rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        before = rss_mb(serve.pid)
        for number in range(2000):
            texts = [f"message {number}-{j} {LONG}" if j % 2 == 0 else "ok" for j in range(21)]
            conn.request("POST", "/v1/messages", body=turn(*texts))
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        after = rss_mb(serve.pid)
        conn.close()
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    print(f"\nmodel RSS {before:.0f} -> {after:.0f} MB after 2,000 requests of 43 KB")
    assert after - before < 40, (before, after)


# --- only expected Host headers -------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", ""])
def test_a_rebinding_host_is_refused_before_anything_runs(model: CourseModel, host: str) -> None:
    headers = {"host": host, "authorization": f"Bearer {model.operator_token}"}
    status, _, payload = exchange(model.port, "GET", "/_course/records", headers=headers)
    assert "Host" in error_of(status, payload, 400)[1]
    status, _, payload = exchange(model.port, "POST", "/v1/messages", turn(SECRET), headers)
    assert status == 400 and b"7731" not in payload


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_names_are_served(model: CourseModel, host: str) -> None:
    headers = {"host": f"{host}:{model.port}"}
    assert exchange(model.port, "POST", "/v1/messages", turn("hi"), headers)[0] == 200


# --- malformed bodies are 4xx with one line ------------------------------------------------------


def deep(levels: int) -> bytes:
    return (
        b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": '
        + b"[" * levels
        + b"]" * levels
        + b"}]}"
    )


HOSTILE: dict[str, tuple[bytes, int, str]] = {
    "nested 1000 deep": (deep(1000), 400, "nested deeper than 100"),
    "nested 200 deep": (deep(200), 400, "nested deeper than 100"),
    "lone surrogate in text": (
        b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", '
        b'"content": "my pin is \\ud800"}]}',
        400,
        "lone surrogate",
    ),
    "lone low surrogate in a key": (
        b'{"model": "m", "max_tokens": 5, "\\udc00": 1, '
        b'"messages": [{"role": "user", "content": "x"}]}',
        400,
        "lone surrogate",
    ),
    "invalid utf-8": (b'{"model": "\xff"}', 400, "not valid JSON"),
    "model is a number": (b'{"model": 5, "max_tokens": 5, "messages": []}', 400, "model"),
    "messages is an object": (
        b'{"model": "m", "max_tokens": 5, "messages": {"role": "user"}}',
        400,
        "messages",
    ),
    "message is a string": (b'{"model": "m", "max_tokens": 5, "messages": ["hi"]}', 400, "role"),
    "max_tokens is true": (
        b'{"model": "m", "max_tokens": true, "messages": [{"role": "user", "content": "x"}]}',
        400,
        "max_tokens",
    ),
    "stream is a string": (
        b'{"model": "m", "max_tokens": 5, "stream": "yes", '
        b'"messages": [{"role": "user", "content": "x"}]}',
        400,
        "stream",
    ),
    "NaN": (b'{"model": "m", "max_tokens": NaN}', 400, "not valid JSON"),
    "Infinity": (b'{"model": "m", "max_tokens": -Infinity}', 400, "not valid JSON"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_json_is_a_400_with_one_line(model: CourseModel, case: str) -> None:
    raw, status, needle = HOSTILE[case]
    got, _, payload = exchange(model.port, "POST", "/v1/messages", raw)
    kind, message = error_of(got, payload, status)
    assert kind == "invalid_request_error" and needle in message
    assert exchange(model.port, "POST", "/v1/messages", turn("still here"))[0] == 200


WRONG_TYPES: list[Any] = [
    {"system": 5},
    {"system": [1, None, {"type": "text"}]},
    {"tools": {"a": 1}},
    {"tools": [None, 3, {"name": 4}]},
    {"metadata": [1]},
    {"output_config": "x"},
    {"output_config": {"format": 5}},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
    {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": 5}]}]},
    {"messages": [{"role": "user", "content": [{"type": "tool_use", "input": "x"}]}]},
    {"messages": [{"role": "assistant", "content": [{"type": None}]}]},
    {"messages": [{"role": "user", "content": [[], {}, "x", 1.5]}]},
]


@pytest.mark.parametrize("extra", WRONG_TYPES, ids=[json.dumps(e)[:40] for e in WRONG_TYPES])
@pytest.mark.parametrize("stream", [False, True])
def test_wrong_types_anywhere_never_crash_the_model(
    model: CourseModel, extra: dict[str, Any], stream: bool
) -> None:
    body = {"model": MODEL, "max_tokens": 5, "stream": stream}
    body["messages"] = [{"role": "user", "content": "hello"}]
    body.update(extra)
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        status, _, payload = exchange(model.port, "POST", path, json.dumps(body).encode())
        assert status in (200, 400), payload[:300]
        assert b"course model bug" not in payload and b"Traceback" not in payload


def test_an_oversized_body_is_a_413_read_from_the_header(model: CourseModel) -> None:
    with socket.create_connection(("127.0.0.1", model.port), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 40000000\r\n\r\n{"
        )
        reply = raw.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 413") and b"request_too_large" in reply


def test_an_oversized_chunked_body_is_a_413(model: CourseModel) -> None:
    chunk = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", model.port), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(40):
                raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the model stopped reading and closed: fine
        reply = raw.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 413")


# --- client disconnects leave no traceback -------------------------------------------------------


def reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), the rudest way a client can leave."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hang_ups(port: int) -> None:
    """Every point at which a client can vanish: in the request line, the headers, the body,
    and while a streamed reply is being written."""
    partials = [
        b"POST /v1/mess",
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-le",
        b'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 5000\r\n\r\n{"mo',
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
        b"10\r\nabc",
    ]
    for partial in partials:
        for polite in (True, False):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(partial)
            time.sleep(0.05)
            if polite:
                sock.close()
            else:
                reset(sock)
    long_stream = json.loads(turn("tell me everything " * 500))
    long_stream["stream"] = True
    body = json.dumps(long_stream).encode()
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        sock.recv(10)
        reset(sock)


def test_client_disconnects_log_no_traceback_in_process(
    model: CourseModel, capfd: pytest.CaptureFixture[str]
) -> None:
    hang_ups(model.port)
    time.sleep(0.3)
    assert exchange(model.port, "POST", "/v1/messages", turn("still here"))[0] == 200
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception" not in out + err, err[-2000:]


def test_client_disconnects_log_no_traceback_from_model_serve() -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "sessionlab", "model", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert serve.stdout is not None
        port = int(serve.stdout.readline().split()[-1].rsplit(":", 1)[1])
        hang_ups(port)
        time.sleep(0.3)
        assert exchange(port, "POST", "/v1/messages", turn("still here"))[0] == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=10)
    assert serve.returncode == 0
    assert err.strip() == "", err[-2000:]
