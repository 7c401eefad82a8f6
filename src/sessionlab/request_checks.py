"""Checks every course HTTP server applies before it trusts a request.

The multi-session bot (FastAPI) and the course model (``http.server``) share them:

* **Host allowlist.** Both listen on loopback, where a browser is also running. With DNS
  rebinding a web page on ``evil.example`` re-points its own name at 127.0.0.1 and reads the
  answers as same-origin. The page cannot choose the ``Host`` header, though: it is
  ``evil.example``. Answering only for the names the server really has closes that.
* **Bearer tokens**, compared in constant time (:func:`hmac.compare_digest`), so how long a
  refusal takes does not say how much of a guessed token was right.
* **JSON that the code after it can survive**: at most ``max_depth`` nested arrays/objects (the
  stdlib decoder raises ``RecursionError`` near 1,000, and recursive code downstream earlier),
  and no lone surrogate in any string (JSON's ``"\\ud800"`` decodes to a Python ``str`` that
  cannot be encoded to UTF-8, so it would fail later, in the store or a reply, as a 500).

Each refusal is a :class:`BadRequestBody` / ``None`` with a one-line reason that never echoes
the refused value.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from sessionlab.errors import SessionLabError

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_MAX_DEPTH = 64


class BadRequestBody(SessionLabError, ValueError):
    """A body the server refuses with a 4xx; the message is one line naming the problem."""


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a server bound to ``bind_host`` answers for.

    Loopback names always; the bound address itself unless it is a wildcard (``0.0.0.0`` or
    ``::`` says nothing about the names clients use: pass them in ``extra``).
    """
    names = set(LOOPBACK_NAMES)
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(_normalise(bind_host))
    names.update(_normalise(name) for name in extra)
    return frozenset(names)


def _normalise(name: str) -> str:
    name = name.strip().lower().removesuffix(".")
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def host_name(header: str | None) -> str | None:
    """The host part of a ``Host`` header (``[::1]:80`` -> ``::1``), or ``None`` if malformed."""
    if not header or len(header) > 300:
        return None
    value = header.strip()
    if value.startswith("["):  # an IPv6 literal: [addr] or [addr]:port
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    else:
        name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return _normalise(name) or None


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """True when the ``Host`` header names one of ``allowed`` (any port)."""
    name = host_name(header)
    return name is not None and name in allowed


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def tokens_match(presented: str | None, expected: str) -> bool:
    """Constant-time comparison (for equal lengths) of a presented token with the real one."""
    if presented is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8")
    )


def load_json(raw: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode ``raw`` and check its shape, or :class:`BadRequestBody` with a one-line reason."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise BadRequestBody(f"the JSON is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequestBody("the body is not valid JSON") from None
    check_json_shape(value, max_depth=max_depth)
    return value


def _no_constants(name: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not JSON")


def check_json_shape(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``max_depth`` and strings with lone surrogates.

    Iterative (an explicit stack), so a hostile document cannot exhaust the recursion limit here.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "$")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise BadRequestBody(f"the JSON is nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where)
                stack.append((child, depth + 1, _path(where, key)))
        else:
            stack.extend((child, depth + 1, f"{where}[]") for child in item)


def _path(where: str, key: str) -> str:
    """A short, printable JSON path for error messages (keys are the sender's text)."""
    shown = key[:40].encode("ascii", "replace").decode()
    shown = "".join(c if c.isprintable() else "?" for c in shown)
    return where if len(where) > 120 else f"{where}.{shown}"


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestBody(
            f"{where} contains a lone surrogate (not valid Unicode text)"
        ) from None
