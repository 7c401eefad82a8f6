"""The checks every course server applies before trusting a request, and operator tokens."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sessionlab.errors import CourseError
from sessionlab.operator_token import new_token, token_from_env, write_secret
from sessionlab.request_checks import (
    BadRequestBody,
    allowed_hosts,
    bearer_token,
    host_allowed,
    host_name,
    load_json,
    tokens_match,
)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("LocalHost.", "localhost"),
        ("[::1]:3978", "::1"),
        ("[::1]", "::1"),
        ("evil.example:80", "evil.example"),
        ("[::1", None),
        ("[not-v6]:1", None),
        ("[::1]x", None),
        ("a:b", None),
        ("a:80:90", None),
        ("", None),
        (None, None),
        ("x" * 301, None),
    ],
)
def test_host_header_parsing(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


def test_allowed_hosts_are_loopback_the_bound_address_and_extras() -> None:
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("0.0.0.0") == {"127.0.0.1", "localhost", "::1"}
    assert "10.1.2.3" in allowed_hosts("10.1.2.3")
    assert host_allowed("Bot.Internal:443", allowed_hosts("::", ["bot.internal."]))
    assert not host_allowed("bot.internal.evil:443", allowed_hosts("::", ["bot.internal"]))


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Bearer", None),
        ("Bearer a b", None),
        ("Basic abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_tokens_match_only_the_exact_token() -> None:
    assert tokens_match("s3cret", "s3cret")
    assert not tokens_match("s3cre", "s3cret")
    assert not tokens_match(None, "s3cret")
    assert not tokens_match("s3cret\udcff", "s3cret")  # undecodable bytes never crash


def test_depth_limit_is_exact_and_iterative() -> None:
    assert load_json(b"[" * 5 + b"]" * 5, max_depth=5) == [[[[[]]]]]
    with pytest.raises(BadRequestBody, match="nested deeper than 5"):
        load_json(b"[" * 6 + b"]" * 6, max_depth=5)
    with pytest.raises(BadRequestBody, match="nested deeper than 64"):
        load_json(b"[" * 100_000 + b"]" * 100_000)


def test_surrogates_constants_and_garbage_are_refused_with_one_line() -> None:
    for raw, needle in [
        (b'{"a": ["ok", "\\ud800"]}', "$.a[] contains a lone surrogate"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ]:
        with pytest.raises(BadRequestBody, match=needle.replace("[", r"\[").replace("$", r"\$")):
            load_json(raw)
    assert load_json(b'{"pair": "\\ud83d\\ude00"}') == {"pair": "😀"}  # a real pair is fine


def test_operator_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert new_token() != new_token() and len(new_token()) == 43
    monkeypatch.delenv("SOME_TOKEN", raising=False)
    assert len(token_from_env("SOME_TOKEN")) == 43
    monkeypatch.setenv("SOME_TOKEN", "x" * 24)
    assert token_from_env("SOME_TOKEN") == "x" * 24
    for bad in ("short", "x" * 30 + " y", "é" * 30):
        monkeypatch.setenv("SOME_TOKEN", bad)
        with pytest.raises(CourseError, match=r"\$SOME_TOKEN must be at least 24"):
            token_from_env("SOME_TOKEN")
    target = tmp_path / "deep" / "token"
    write_secret(target, "first")
    write_secret(target, "second")
    assert target.read_text() == "second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["token"]  # no temporary left
