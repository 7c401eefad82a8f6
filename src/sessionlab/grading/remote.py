"""The grader's view of the student's objects: :class:`Remote` proxies over a data-only channel.

A test cell that runs in the grader process calls ``is_stray(path, ...)`` as usual; the name is
a :class:`Remote`, and the call crosses to the student's jailed process as a request frame.
What comes back is plain data (decoded by :mod:`sessionlab.grading.plain_data`, never unpickled or
evaluated) or another :class:`Remote`. A proxy has no behaviour the student can choose:

* ``==`` and ``hash`` are identity (an object whose ``__eq__`` always says True compares
  unequal to everything but itself), there is no ``__float__``/``__int__``/``__index__``, and
  truthiness is an object's (always true): the grader's checks run on data;
* dunder attributes are never fetched (``copy``, ``pickle``, ``inspect`` probing them get
  ``AttributeError`` here, not an answer from the student);
* an exception raised by the student's code arrives as its type only: a built-in type is
  raised again as that type with the grader's own message, any other as
  :class:`StudentCodeError`. The student's message (and their class's name) could carry text
  they saw during a hidden test, so it is not kept.

Every string the student's process returns is remembered (:attr:`Channel.tainted`), so the
tester can scrub it out of what the feedback shows.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

from sessionlab.errors import SessionLabError
from sessionlab.grading import plain_data as wire

Transport = Callable[[dict[str, object]], dict[str, object]]
TAINT_MIN = 4  # shorter returned strings carry too little to be worth scrubbing


class StudentCodeError(SessionLabError):
    """The student's code raised an exception of a class of its own."""


class Channel:
    """Requests to the student's process, one at a time (the harness calls from threads)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self.tainted: set[str] = set()

    def request(self, request: dict[str, object], *, taint_keys: bool = True) -> object:
        with self._lock:
            reply = self._transport(request)
        if "error" in reply:
            raise _error(reply["error"])
        if "ok" not in reply:
            raise StudentCodeError("the answer from your code's process was not understood")
        try:
            value = wire.decode(reply["ok"], lambda n: Remote(self, n))
        except wire.WireError as error:
            raise StudentCodeError(
                f"your code returned something that is not data ({error})"
            ) from None
        if not taint_keys and isinstance(value, dict):
            for item in value.values():
                self._taint(item, 1)
        else:
            self._taint(value, 0)
        return value

    def _taint(self, value: object, depth: int) -> None:
        if depth > wire.MAX_DEPTH:
            return
        if isinstance(value, str):
            if len(value) >= TAINT_MIN:
                self.tainted.add(value)
                self.tainted.add(repr(value)[1:-1])
        elif isinstance(value, bytes):
            if len(value) >= TAINT_MIN:
                self.tainted.add(value.decode("utf-8", "replace"))
                self.tainted.add(repr(value)[2:-1])
        elif isinstance(value, dict):
            for key, item in value.items():
                self._taint(key, depth + 1)
                self._taint(item, depth + 1)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self._taint(item, depth + 1)
        elif not isinstance(value, Remote | int | float | type(None)):
            self._taint(str(value), depth + 1)  # a Path

    def scrub(self, text: str) -> str:
        """``text`` with every string the student's code returned replaced by a marker."""
        for value in sorted(self.tainted, key=len, reverse=True):
            if value and value in text:
                text = text.replace(value, "<from your code>")
        return text

    def encode(self, value: object) -> object:
        def handle_of(obj: object) -> int:
            if isinstance(obj, Remote) and obj._channel is self:
                return obj._number
            raise TypeError(
                f"a test cannot pass a {type(obj).__name__} to your code (only data and "
                "objects your code returned)"
            )

        try:
            return wire.encode(value, handle_of)
        except wire.WireError as error:
            raise TypeError(f"a test cannot pass this value to your code: {error}") from None

    def get(self, names: list[str]) -> dict[str, object]:
        found = self.request({"op": "get", "names": names}, taint_keys=False)
        return found if isinstance(found, dict) else {}


def _error(error: object) -> Exception:
    if not isinstance(error, dict):
        return StudentCodeError("your code's process did not answer properly")
    kind = str(error.get("type", ""))
    if kind == "KeyboardInterrupt":
        return TimeoutError("your code did not return in time (interrupted)")
    if kind == "GraderTimeout":
        return TimeoutError("your code did not return in time")
    if kind == "WireError":
        return StudentCodeError("your code returned something that is not data (too big or deep)")
    if kind == "BrokenChannel":
        return StudentCodeError("your kernel did not answer the grader's call (was it changed?)")
    if kind == "ProcessDied":
        return StudentCodeError("your code's process is gone (crash, memory or time limit)")
    found = getattr(builtins, kind, None)
    if (
        error.get("builtin") is True
        and isinstance(found, type)
        and issubclass(found, Exception)  # never SystemExit or KeyboardInterrupt
    ):
        try:
            return found(f"raised by your code ({kind})")
        except TypeError:  # an exception class with required arguments (UnicodeDecodeError)
            return StudentCodeError(f"your code raised {kind}")
    return StudentCodeError("your code raised an exception of a class of its own")


class Remote:
    """An object that lives in the student's process; see the module docstring."""

    __slots__ = ("_channel", "_number")

    def __init__(self, channel: Channel, number: int) -> None:
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_number", number)

    def _method(self, name: str, *args: object, **kwargs: object) -> object:
        return self._channel.request(
            {"op": "method", "h": self._number, "name": name,
             "args": self._channel.encode(list(args)), "kwargs": self._channel.encode(kwargs)}
        )  # fmt: skip

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return self._channel.request(
            {"op": "call", "h": self._number,
             "args": self._channel.encode(list(args)), "kwargs": self._channel.encode(kwargs)}
        )  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._channel.request({"op": "getattr", "h": self._number, "name": name})

    def __setattr__(self, name: str, value: object) -> None:
        self._channel.request(
            {"op": "setattr", "h": self._number, "name": name,
             "value": self._channel.encode(value)}
        )  # fmt: skip

    def __iter__(self) -> Iterator[Any]:
        items = self._channel.request({"op": "iter", "h": self._number})
        if not isinstance(items, list):
            raise TypeError("iterating your object gave no list")
        return iter(items)

    def __len__(self) -> int:
        size = self._method("__len__")
        if type(size) is not int or size < 0:
            raise TypeError("len() of your object is not a count")
        return size

    def __getitem__(self, key: object) -> Any:
        return self._method("__getitem__", key)

    def __contains__(self, item: object) -> bool:
        return self._method("__contains__", item) is True

    def __await__(self) -> Generator[Any, None, Any]:
        """``await`` a coroutine of the student's (an ``async def`` answer called here): it runs
        to its end in the student's process, in an event loop of its own there, and only what it
        returns crosses back, as data. The grader's own loop simply waits for that answer."""
        yield from ()
        return self._channel.request({"op": "await", "h": self._number})

    def __enter__(self) -> Any:
        return self._method("__enter__")

    def __exit__(self, *exc: object) -> None:
        self._method("__exit__", None, None, None)  # never allowed to swallow a test's error

    def __repr__(self) -> str:
        return f"<object #{self._number} of your code>"
