"""The course model over plain HTTP: API shapes, errors, the replies grammar, and records.

No CLI here: these tests talk to the model exactly as the CLI's HTTP client would, so a
regression shows up as a wrong byte on the wire rather than as a confusing CLI failure.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sessionlab.errors import CourseError
from sessionlab.model import CourseModel, RequestRecord
from sessionlab.model.conversation import read_conversation
from sessionlab.model.replies import answer, classify

MODEL = "claude-sonnet-4-20250514"
REMINDER = "<system-reminder>\nAs you answer the user's questions...\n</system-reminder>"


@pytest.fixture
def model() -> Iterator[CourseModel]:
    with CourseModel() as running:
        yield running


def request(
    model: CourseModel,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    connection: http.client.HTTPConnection | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP exchange; returns status, lower-cased headers and the raw body."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"content-type": "application/json", **(headers or {})}
    conn.request(method, path, body=data, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    received = {k.lower(): v for k, v in response.getheaders()}
    if connection is None:
        conn.close()
    return response.status, received, payload


def operator(model: CourseModel) -> dict[str, str]:
    """The header that opens ``/_course/records``."""
    return {"authorization": f"Bearer {model.operator_token}"}


def messages_body(*texts: str, stream: bool = False, **extra: Any) -> dict[str, Any]:
    """A request whose messages alternate user/assistant, starting and ending with the user."""
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(texts)
    ]
    return {"model": MODEL, "max_tokens": 1024, "messages": messages, "stream": stream, **extra}


def reply_text(model: CourseModel, *texts: str) -> str:
    status, _, payload = request(model, "POST", "/v1/messages", messages_body(*texts))
    assert status == 200, payload
    return "".join(b["text"] for b in json.loads(payload)["content"] if b["type"] == "text")


def sse_events(payload: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event name, data) pairs."""
    events = []
    for frame in payload.decode().split("\n\n"):
        if not frame.strip():
            continue
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


# --- wire shapes ---------------------------------------------------------------------------------


def test_non_streaming_reply_has_the_messages_api_shape(model: CourseModel) -> None:
    status, headers, payload = request(
        model, "POST", "/v1/messages?beta=true", messages_body("hello")
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["request-id"].startswith("req_")
    message = json.loads(payload)
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    assert message["content"][0]["type"] == "text"
    usage = message["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


def test_streaming_follows_the_real_event_sequence(model: CourseModel) -> None:
    body = messages_body("hello", stream=True)
    status, headers, payload = request(model, "POST", "/v1/messages", body)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["request-id"].startswith("req_")
    events = sse_events(payload)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == MODEL
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == reply_text(model, "hello")
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] > 0


def test_streaming_tool_use_uses_input_json_deltas(model: CourseModel) -> None:
    body = messages_body("READ:/tmp/notes.txt", stream=True)
    _, _, payload = request(model, "POST", "/v1/messages", body)
    events = sse_events(payload)
    block = events[1][1]["content_block"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "Read", {})
    assert block["id"].startswith("toolu_")
    partial = "".join(
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == {"file_path": "/tmp/notes.txt"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_keep_alive_connection_serves_several_requests(model: CourseModel) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
    try:
        for stream in (True, False, True):
            status, _, _ = request(
                model, "POST", "/v1/messages", messages_body("hi", stream=stream), connection=conn
            )
            assert status == 200
    finally:
        conn.close()


def test_count_tokens_matches_turn_usage_and_grows_with_history(model: CourseModel) -> None:
    short = messages_body("hello")
    longer = messages_body("hello", "You said hello.", "and now something longer than before")
    counts = []
    for body in (short, longer):
        counting = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
        status, _, payload = request(model, "POST", "/v1/messages/count_tokens", counting)
        assert status == 200
        counts.append(json.loads(payload)["input_tokens"])
    _, _, payload = request(model, "POST", "/v1/messages", short)
    assert json.loads(payload)["usage"]["input_tokens"] == counts[0]
    assert counts[1] > counts[0]


def test_system_and_tools_count_as_input(model: CourseModel) -> None:
    plain = messages_body("hello")
    heavy = messages_body(
        "hello",
        system=[{"type": "text", "text": "x" * 4000}],
        tools=[{"name": "Read", "description": "y" * 400, "input_schema": {"type": "object"}}],
    )
    tokens = [
        json.loads(request(model, "POST", "/v1/messages", body)[2])["usage"]["input_tokens"]
        for body in (plain, heavy)
    ]
    assert tokens[1] - tokens[0] >= 1100


def test_head_root_is_the_connectivity_probe(model: CourseModel) -> None:
    status, _, payload = request(model, "HEAD", "/")
    assert status == 200 and payload == b""


# --- errors --------------------------------------------------------------------------------------


def assert_error(status: int, payload: bytes, expected_status: int, error_type: str) -> str:
    assert status == expected_status
    body = json.loads(payload)
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    return str(body["error"]["message"])


def test_unknown_path_is_a_logged_json_404(model: CourseModel) -> None:
    status, headers, payload = request(model, "GET", "/api/oauth/profile")
    assert headers["content-type"] == "application/json"
    assert "/api/oauth/profile" in assert_error(status, payload, 404, "not_found_error")
    (record,) = model.records
    assert (record.method, record.path, record.kind, record.status) == (
        "GET",
        "/api/oauth/profile",
        "other",
        404,
    )


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "m", "max_tokens": 5}', "messages"),
        (b'{"model": "m", "max_tokens": 5, "messages": []}', "messages"),
        (b'{"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}', "role"),
        (b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user"}]}', "content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
        (b"", "JSON object"),
    ],
)
def test_bad_input_gets_a_400_and_the_server_survives(
    model: CourseModel, raw: bytes, needle: str
) -> None:
    status, _, payload = request(model, "POST", "/v1/messages", raw=raw)
    assert needle in assert_error(status, payload, 400, "invalid_request_error")
    assert model.records[-1].status == 400
    assert request(model, "GET", "/_course/health")[0] == 200


def test_malformed_framing_is_a_400_not_a_crash(model: CourseModel) -> None:
    with socket.create_connection(("127.0.0.1", model.port), timeout=10) as raw:
        raw.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: abc\r\n\r\n")
        reply = raw.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"invalid_request_error" in reply
    assert request(model, "GET", "/_course/health")[0] == 200


def test_odd_content_blocks_are_tolerated(model: CourseModel) -> None:
    odd = [1, "x", {"type": "image"}, {"type": "text", "text": "hi there"}]
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": odd}]}
    status, _, payload = request(model, "POST", "/v1/messages", body)
    assert status == 200
    assert json.loads(payload)["content"][0]["text"].startswith('You said: "hi there".')


def test_busy_port_is_a_one_line_course_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CourseError) as caught:
            CourseModel(port=port).start()
    assert str(caught.value) == (
        f"port {port} on 127.0.0.1 is busy: pick another with --port (or --port 0)"
    )


def test_stop_frees_the_port_and_is_idempotent() -> None:
    model = CourseModel().start()
    port = model.port
    model.stop()
    model.stop()
    with CourseModel(port=port) as again:
        assert again.url == f"http://127.0.0.1:{port}"


# --- the replies grammar -------------------------------------------------------------------------


def test_a_stated_fact_is_remembered_within_the_conversation(model: CourseModel) -> None:
    said = "my contract number is 12345"
    assert reply_text(model, said) == "Got it: your contract number is 12345."
    recalled = reply_text(model, said, "Got it.", "What is my contract number?")
    assert recalled == "Your contract number is 12345."


def test_a_new_conversation_does_not_know_the_fact(model: CourseModel) -> None:
    assert reply_text(model, "what is my contract number?") == (
        "I don't know your contract number: nothing in this conversation mentions it."
    )


def test_remember_that_form_and_latest_value_wins(model: CourseModel) -> None:
    history = ("remember that the door code is 41", "ok", "my door code is 42!", "ok")
    assert reply_text(model, history[0]) == "Got it: your door code is 41."
    assert reply_text(model, *history, "what's the door code?") == "Your door code is 42."


def test_memory_counter_counts_earlier_user_messages(model: CourseModel) -> None:
    assert reply_text(model, "what do you remember?") == (
        "This is the start of our conversation: I don't see any earlier messages."
    )
    assert reply_text(model, "first thing", "ok", "second", "ok", "How many messages?") == (
        'I can see 2 earlier messages from you in this conversation. The first one was: "first '
        'thing".'
    )


def test_anything_else_is_echoed_with_the_counter(model: CourseModel) -> None:
    assert reply_text(model, "a", "ok", "tell me a joke") == (
        'You said: "tell me a joke". I can see 1 earlier message from you in this '
        'conversation. The first one was: "a".'
    )


def tool_turn(result_content: Any, *, is_error: bool = False) -> list[dict[str, Any]]:
    """A READ request, the model's tool_use, and the CLI's tool_result."""
    use = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/n.txt"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": result_content}
    if is_error:
        result["is_error"] = True
    return [
        {"role": "user", "content": "READ:/n.txt"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]


@pytest.mark.parametrize(
    "content",
    [
        f"     1→hello from notes\n     2→line two\n     3→\n\n{REMINDER}\n",  # CLI 1.0.x
        [{"type": "text", "text": "1\thello from notes\n2\tline two\n3\t"}],  # CLI 2.1.x
    ],
)
def test_tool_result_is_summarised(content: Any) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": tool_turn(content)}
    reply = answer(body, classify(body))
    assert reply.text == 'I read /n.txt: 2 lines; the first line is "hello from notes".'
    assert read_conversation(body["messages"]).spoken == ["READ:/n.txt"]


def test_failed_tool_is_reported() -> None:
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": tool_turn("File does not exist.", is_error=True),
    }
    assert answer(body, "turn").text == "The Read tool failed for /n.txt: File does not exist."


def test_read2_puts_text_and_tool_use_in_one_message() -> None:
    body = messages_body("READ2:/n.txt")
    reply = answer(body, classify(body))
    assert [b["type"] for b in reply.content] == ["text", "tool_use"]
    assert reply.stop_reason == "tool_use"


def test_cli_wrappers_are_not_counted_as_user_messages(model: CourseModel) -> None:
    first = {
        "role": "user",
        "content": [{"type": "text", "text": REMINDER}, {"type": "text", "text": "my name is Ada"}],
    }
    command = {
        "role": "user",
        "content": "<command-name>/cost</command-name>\n<command-message>cost</command-message>",
    }
    caveat = {"role": "user", "content": "Caveat: The messages below were generated by the user"}
    messages = [
        first,
        {"role": "assistant", "content": "Got it."},
        command,
        caveat,
        {"role": "user", "content": f"{REMINDER}\nwhat do you remember?"},
    ]
    body = {"model": MODEL, "max_tokens": 100, "messages": messages}
    status, _, payload = request(model, "POST", "/v1/messages", body)
    assert status == 200
    assert json.loads(payload)["content"][0]["text"] == (
        'I can see 1 earlier message from you in this conversation. The first one was: "my '
        'name is Ada".'
    )
    record = model.records[-1]
    assert (record.history_len, record.user_messages) == (5, 2)
    assert (record.first_user_text, record.last_user_text) == (
        "my name is Ada",
        "what do you remember?",
    )


def test_replies_are_deterministic(model: CourseModel) -> None:
    history = ("my pet is a cat", "ok", "what is my pet?")
    assert reply_text(model, *history) == reply_text(model, *history) == "Your pet is a cat."


# --- side requests -------------------------------------------------------------------------------


def test_quota_probe(model: CourseModel) -> None:
    body = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]}
    status, _, payload = request(model, "POST", "/v1/messages", body)
    assert status == 200
    assert json.loads(payload)["usage"]["output_tokens"] == 1
    assert model.records[-1].kind == "quota"


def test_title_request_of_cli_2_gets_json_title(model: CourseModel) -> None:
    body = messages_body(
        "my contract number is 12345",
        system=[{"type": "text", "text": "Generate a concise, sentence-case title (3-7 words)"}],
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
    )
    text = json.loads(request(model, "POST", "/v1/messages", body)[2])["content"][0]["text"]
    assert json.loads(text) == {"title": "My contract number is 12345"}
    assert model.records[-1].kind == "title"


def test_topic_request_of_cli_1_gets_is_new_topic_json() -> None:
    body = messages_body("fix the login bug please", system="... 'isNewTopic' (boolean) ...")
    assert json.loads(answer(body, classify(body)).text) == {
        "isNewTopic": True,
        "title": "Fix the login",
    }


# --- records -------------------------------------------------------------------------------------


def test_records_describe_what_the_model_saw(model: CourseModel) -> None:
    request(
        model, "POST", "/v1/messages?beta=true", messages_body("hi", "Hello!", "again", stream=True)
    )
    (record,) = model.records
    assert isinstance(record, RequestRecord)
    assert (record.method, record.path, record.model, record.stream, record.kind) == (
        "POST",
        "/v1/messages?beta=true",
        MODEL,
        True,
        "turn",
    )
    assert (record.history_len, record.user_messages) == (3, 2)
    assert (record.first_user_text, record.last_user_text) == ("hi", "again")
    assert record.input_tokens > 0 and record.output_tokens > 0
    with pytest.raises(AttributeError):
        record.kind = "other"  # type: ignore[misc]


def test_records_over_http_and_clear(model: CourseModel) -> None:
    reply_text(model, "hi")
    status, headers, payload = request(model, "GET", "/_course/records", headers=operator(model))
    assert status == 200 and headers["x-course-records-dropped"] == "0"
    (data,) = json.loads(payload)
    assert data["last_user_text"] == "hi" and data["kind"] == "turn"
    health = json.loads(request(model, "GET", "/_course/health")[2])
    assert health == {"status": "ok", "url": model.url}
    model.clear_records()
    assert model.records == []


def test_records_keep_every_user_text_in_order(model: CourseModel) -> None:
    """``user_texts`` is the evidence that a merged, resumed session reached the model in order."""
    reminder = {"role": "user", "content": f"{REMINDER}\nthird"}
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": "ok"},
        reminder,
    ]
    request(model, "POST", "/v1/messages", {"model": MODEL, "max_tokens": 50, "messages": messages})
    record = model.records[-1]
    assert record.user_texts == ("first", "second", "third")
    assert (record.first_user_text, record.last_user_text) == ("first", "third")
    (data,) = json.loads(request(model, "GET", "/_course/records", headers=operator(model))[2])
    assert data["user_texts"] == ["first", "second", "third"]
    assert RequestRecord(**data) == record, "a record read back over HTTP compares equal"


# --- sessionlab model serve --------------------------------------------------------------------


def test_serve_prints_exports_logs_requests_and_stops_on_sigterm() -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "sessionlab", "model", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        assert first.startswith("course model listening on http://127.0.0.1:")
        url = first.split()[-1]
        assert f"  export ANTHROPIC_BASE_URL={url}\n" in [serve.stdout.readline() for _ in range(3)]
        with urllib.request.urlopen(f"{url}/v1/nothing", timeout=5) as response:
            pytest.fail(f"expected a 404, got {response.status}")
    except urllib.error.HTTPError as error:
        assert error.code == 404
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=10)
    assert serve.returncode == 0
    assert "course model stopped after 1 request\n" in out
    assert "404 GET /v1/nothing other" in err


def test_serve_on_a_busy_port_is_exit_2_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sessionlab", "model", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr == (
        f"sessionlab model: port {port} on 127.0.0.1 is busy: pick another with --port "
        "(or --port 0)\n"
    )
