"""The data-only format between a grader and the student's process: JSON, never pickle.

Everything that crosses is plain data (``None``, ``bool``, ``int``, ``float``, ``str``, lists)
or a JSON object with one tag: ``{"$dict": [[k, v], ...]}``, ``{"$tuple": [...]}``,
``{"$set": [...]}``, ``{"$bytes": base64}``, ``{"$path": str}`` and ``{"$handle": n}``, a
reference to an object that stays in the process that owns it (``{"$awaitable": n}`` when that
object can be awaited: the grader's proxy of it can then be, and only then). Three more tags
only ever travel from the grader to the student's process, and only that side decodes them
(:data:`GRADER_TAGS`):
``{"$import": [module, qualname]}`` (a class or function of the course or a library, found by
name: the lesson's reference monitor passed to the student's tests), ``{"$partial": [f, args,
kwargs]}`` (``functools.partial`` of such a name) and ``{"$callback": n}`` (a function of the
test that the student's code may call and await). Decoding never runs code and
never builds anything but those types (plus :class:`Handle`), and it is bounded: the frame's
size, the nesting depth and the number of items are capped, so a student's huge or recursive
result is an error, not a grader that runs out of memory.

Kept free of heavy imports: the student's side imports it in every jailed process.
"""

from __future__ import annotations

import base64
import builtins as _builtins
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from sessionlab.errors import SessionLabError

# Bound at import (the grader loads this module before any student code runs): a student's
# later ``builtins.float = ...`` or ``builtins.isinstance = ...`` does not reach this module.
#: The builtins both sides of the channel pin (student_side.py binds the same names).
PINNED_BUILTINS = (
    "bool", "int", "float", "str", "bytes", "bytearray", "list", "tuple", "set",
    "frozenset", "dict", "isinstance", "type", "id", "len", "repr", "hash", "getattr",
    "setattr", "iter", "sorted", "object", "ValueError", "TypeError", "KeyError",
    "LookupError", "OverflowError", "BaseException", "Exception", "RecursionError",
    "MemoryError",
)  # fmt: skip
globals().update({name: getattr(_builtins, name) for name in PINNED_BUILTINS})

MAX_FRAME = 32 << 20  # bytes of one JSON frame
MAX_DEPTH = 64
MAX_ITEMS = 200_000

Value = object  # what a decoded frame may hold: plain data, Path, Handle


class WireError(SessionLabError, ValueError):
    """A frame that is not valid data (too big, too deep, an unknown tag, not JSON)."""


@dataclass(frozen=True)
class Handle:
    """A reference to an object that stays in the other process (only its number crosses)."""

    number: int


class _Budget:
    def __init__(self) -> None:
        self.items = 0

    def spend(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise WireError(f"more than {MAX_ITEMS} items")


#: Tags the grader may send and only the student's side decodes (with ``tags=``).
GRADER_TAGS = ("$import", "$callback", "$partial")

HandleOf = Callable[[object], "int | dict[str, object]"]


def encode(value: object, handle_of: HandleOf | None = None) -> object:
    """``value`` as JSON-ready data; anything else becomes a handle (or raises without
    ``handle_of``; ``handle_of`` may also answer a whole tag, such as ``$import``). Subclasses
    of plain types are stored as the plain type's value, so an ``int`` subclass with a lying
    ``__eq__`` arrives as the number it holds."""
    return _encode(value, handle_of, 0, _Budget(), set())


def _encode(
    value: object,
    handle_of: HandleOf | None,
    depth: int,
    budget: _Budget,
    seen: set[int],
) -> object:
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH}")
    if value is None or type(value) is bool:
        return value
    if isinstance(value, bool):
        return bool.__bool__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, PurePath):
        return {"$path": str(value)}
    if isinstance(value, list | tuple | set | frozenset | dict):
        if id(value) in seen:
            raise WireError("a container that contains itself")
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                pairs = [
                    [_encode(k, handle_of, depth + 1, budget, seen),
                     _encode(v, handle_of, depth + 1, budget, seen)]
                    for k, v in dict.items(value)
                ]  # fmt: skip
                return {"$dict": pairs}
            items = [_encode(v, handle_of, depth + 1, budget, seen) for v in value]
        finally:
            seen.discard(id(value))
        if isinstance(value, list):
            return items
        return {"$tuple": items} if isinstance(value, tuple) else {"$set": items}
    if isinstance(value, Handle):
        return {"$handle": value.number}
    if handle_of is None:
        raise WireError(f"not plain data: {type(value).__name__}")
    handle = handle_of(value)
    return handle if isinstance(handle, dict) else {"$handle": handle}


Tags = Callable[[str, object], object]


def decode(
    data: object,
    resolve: Callable[[int], object] | None = None,
    tags: Tags | None = None,
    awaitable: Callable[[int], object] | None = None,
) -> Value:
    """Plain data back from :func:`encode`'s output; handles become :class:`Handle` (or
    ``resolve(n)`` when given: the owner's side turns its own numbers back into objects;
    ``awaitable(n)`` for a handle of an awaitable object, when given).
    :data:`GRADER_TAGS` are refused unless ``tags`` (the student's side only) builds them: the
    grader never decodes a name to import or a function to call from the student."""
    return _decode(data, _Decoder(resolve, tags, awaitable), 0, _Budget())


@dataclass(frozen=True)
class _Decoder:
    """How one :func:`decode` turns handles and grader tags into objects."""

    resolve: Callable[[int], object] | None
    tags: Tags | None
    awaitable: Callable[[int], object] | None


def _decode(data: object, how: _Decoder, depth: int, budget: _Budget) -> Value:
    resolve, tags, awaitable = how.resolve, how.tags, how.awaitable
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH}")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [_decode(v, how, depth + 1, budget) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError("an object that is not one tag")
    ((tag, body),) = data.items()
    if tag in ("$tuple", "$set", "$dict") and not isinstance(body, list):
        raise WireError(f"{tag} needs a list")
    if tag == "$tuple":
        return tuple(_decode(v, how, depth + 1, budget) for v in body)
    if tag == "$set":
        return {_hashable(_decode(v, how, depth + 1, budget)) for v in body}
    if tag == "$dict":
        out: dict[object, Value] = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("$dict needs [key, value] pairs")
            key = _hashable(_decode(pair[0], how, depth + 1, budget))
            out[key] = _decode(pair[1], how, depth + 1, budget)
        return out
    if tag == "$bytes" and isinstance(body, str):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as error:
            raise WireError("$bytes is not base64") from error
    if tag == "$path" and isinstance(body, str):
        return Path(body)
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$handle" and type(body) is int:
        return resolve(body) if resolve is not None else Handle(body)
    if tag == "$awaitable" and type(body) is int:
        if awaitable is not None:
            return awaitable(body)
        return resolve(body) if resolve is not None else Handle(body)
    if tag in GRADER_TAGS and tags is not None:
        if tag == "$partial" and isinstance(body, list):
            body = [_decode(v, how, depth + 1, budget) for v in body]
        return tags(tag, body)
    raise WireError(f"unknown tag {str(tag)[:20]!r}")


def _hashable(value: Value) -> object:
    try:
        hash(value)
    except TypeError as error:
        raise WireError("a set item or dict key that is not hashable") from error
    return value


def dumps(frame: dict[str, object]) -> bytes:
    """One frame as a line of JSON (no raw newline can occur inside)."""
    return json.dumps(frame, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def loads(line: bytes | str) -> dict[str, object]:
    """One frame, bounded: too big, not JSON, too deep or not an object is a WireError."""
    if len(line) > MAX_FRAME:
        raise WireError(f"a frame over {MAX_FRAME >> 20} MiB")
    try:
        frame = json.loads(line, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise WireError(f"not a JSON frame: {type(error).__name__}") from None
    if not isinstance(frame, dict):
        raise WireError("a frame must be a JSON object")
    return frame


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
