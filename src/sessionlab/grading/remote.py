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

``await remote`` awaits the object in the student's process, on that process's one loop (the
kernel's own; see :class:`sessionlab.grading.student_side._Awaits`): the grader asks for it with
``{"op": "await"}`` requests, each waiting a little there, and yields to its own loop between
them, so that ``asyncio.gather`` of two of the student's coroutines runs them at once. A test
may pass the student's code a function of its own (a *test function*): on the student's side,
calling it returns a coroutine that the grader runs when its next ``await`` request brings the
call back. The course's own classes and functions (and ``functools.partial`` of them) cross by
name (``$import``) and are imported on the student's side.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

from sessionlab.errors import SessionLabError
from sessionlab.grading import plain_data as wire
from sessionlab.grading.returned_numbers import ReturnedNumbers

Transport = Callable[[dict[str, object]], dict[str, object]]
TAINT_MIN = 4  # shorter returned strings carry too little to be worth scrubbing
AWAIT_FIRST_S = 0.02  # how long the first await request waits in the student's process
AWAIT_MAX_S = 0.5  # the longest (a pending await polls again, waiting twice as long each time)
READABLE_DUNDERS = ("__name__", "__qualname__")  # data only: a test may name what it ran


class StudentCodeError(SessionLabError):
    """The student's code raised an exception of a class of its own."""


class Channel:
    """Requests to the student's process, one at a time (the harness calls from threads)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.RLock()
        self.tainted: set[str] = set()
        self.numbers = ReturnedNumbers()
        self.callbacks: dict[int, Callable[..., object]] = {}  # functions the test passed
        self._running: set[asyncio.Future[None]] = set()

    def request(self, request: dict[str, object], *, taint_keys: bool = True) -> object:
        with self._lock:
            reply = self._transport(request)
        return self._value(reply, taint_keys=taint_keys)

    def _value(self, reply: dict[str, object], *, taint_keys: bool = True) -> object:
        if "error" in reply:
            raise _error(reply["error"])
        if "ok" not in reply:
            raise StudentCodeError("the answer from your code's process was not understood")
        try:
            value = wire.decode(
                reply["ok"], lambda n: Remote(self, n), awaitable=lambda n: AwaitableRemote(self, n)
            )
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

    def awaiting(self, number: int) -> Generator[None, None, object]:
        """``await`` object ``number`` of the student's process (see the module docstring)."""
        wait = AWAIT_FIRST_S
        while True:
            with self._lock:
                reply = self._transport({"op": "await", "h": number, "wait": wait})
            ran = self._run_calls(reply.get("calls"))
            if reply.get("pending") is not True or "ok" in reply or "error" in reply:
                return self._value(reply)
            try:
                yield  # a bare yield: the test's other coroutines (and test functions) run
            except BaseException:  # cancelled (asyncio.wait_for, a timeout): cancel it there too
                with self._lock:
                    self._transport({"op": "cancel", "h": number})
                raise
            wait = AWAIT_FIRST_S if ran else min(wait * 2, AWAIT_MAX_S)

    def _run_calls(self, calls: object) -> bool:
        """Run the calls the student's code made of the test's functions; answer each."""
        if not isinstance(calls, list) or not calls:
            return False
        for call in calls[:1000]:
            if not isinstance(call, dict) or type(call.get("c")) is not int:
                continue
            number = call["c"]
            function = self.callbacks.get(call.get("f"))  # type: ignore[arg-type]
            try:
                if function is None:
                    raise LookupError("no such function of the test")
                args = self._value({"ok": call.get("args", [])})
                kwargs = self._value({"ok": call.get("kwargs", {"$dict": []})})
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise TypeError("bad arguments")
                result = function(*args, **{str(k): v for k, v in kwargs.items()})
            except Exception as error:
                self._answer(number, error=error)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._finish(number, result))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            else:
                self._answer(number, value=result)
        return True

    async def _finish(self, number: int, awaitable: Any) -> None:
        try:
            value = await awaitable
        except Exception as error:
            self._answer(number, error=error)
        else:
            self._answer(number, value=value)

    def _answer(self, number: int, *, value: object = None, error: Exception | None = None) -> None:
        """Send the student's process what a test function returned (data, or the type of its
        exception: never its message, which the test wrote)."""
        if error is None:
            try:
                answer: dict[str, object] = {"ok": self.encode(value)}
            except TypeError as failure:
                error = failure
        if error is not None:
            kind = type(error)
            builtin = getattr(builtins, kind.__name__, None) is kind
            answer = {"error": {"type": kind.__name__[:60] if builtin else "Exception"}}
        with contextlib.suppress(Exception):
            self.request({"op": "answer", "c": number, **answer})

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
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.numbers.add(value)
        elif not isinstance(value, Remote | bool | type(None)):
            self._taint(str(value), depth + 1)  # a Path

    def scrub(
        self, text: str, numbers: set[float] | None = None, strings: set[str] | None = None
    ) -> str:
        """``text`` with every string the student's code returned replaced by a marker, and
        every number it returned, except those that are public (in ``strings`` and
        ``numbers``: literals the release shows; see
        :mod:`sessionlab.grading.returned_numbers`)."""
        public = strings or set()
        for value in sorted(self.tainted - public, key=len, reverse=True):
            if value and value in text:
                text = text.replace(value, "<from your code>")
        return self.numbers.scrub(text, numbers or set())

    def encode(self, value: object) -> object:
        """``value`` for the student's process: data, objects its code returned (by number),
        the course's classes and functions (by name), and the test's own functions (by number,
        as test functions)."""

        def handle_of(obj: object) -> int | dict[str, object]:
            if isinstance(obj, Remote):
                if obj._channel is self:
                    return obj._number
                raise TypeError("an object of another student's process")
            named = importable(obj)
            if named is not None:
                return {"$import": named}
            if isinstance(obj, functools.partial):
                parts = [obj.func, list(obj.args), dict(obj.keywords)]
                return {"$partial": wire.encode(parts, handle_of)}
            if inspect.isfunction(obj) or inspect.ismethod(obj):
                number = len(self.callbacks) + 1
                self.callbacks[number] = obj
                return {"$callback": number}
            raise TypeError(
                f"a test cannot pass a {type(obj).__name__} to your code (only data, objects "
                "your code returned, the course's classes and the test's functions)"
            )

        try:
            return wire.encode(value, handle_of)
        except wire.WireError as error:
            raise TypeError(f"a test cannot pass this value to your code: {error}") from None

    def make(self, factory: object, args: list[object], kwargs: dict[str, object]) -> object:
        """``factory(*args, **kwargs)`` built in the student's process; a proxy of it."""
        return self.request(
            {"op": "make", "f": self.encode(factory), "args": self.encode(args),
             "kwargs": self.encode(kwargs)}
        )  # fmt: skip

    def read(self, obj: object) -> object:
        """The current value of a student-side object, as data (non-data parts as proxies)."""
        if not isinstance(obj, Remote) or obj._channel is not self:
            return obj
        return self.request({"op": "read", "h": obj._number})

    def get(self, names: list[str]) -> dict[str, object]:
        found = self.request({"op": "get", "names": names}, taint_keys=False)
        return found if isinstance(found, dict) else {}


def importable(obj: object) -> list[str] | None:
    """``[module, qualname]`` when ``obj`` is what that name finds in an imported module other
    than the test's own (a class or function of the course, the standard library or the SDK)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__":
        return None
    if module not in sys.modules or "<" in qualname:
        return None
    found: object = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return [module, qualname] if found is obj else None


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
        if name.startswith("__") and name.endswith("__") and name not in READABLE_DUNDERS:
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

    def __enter__(self) -> Any:
        return self._method("__enter__")

    def __exit__(self, *exc: object) -> None:
        self._method("__exit__", None, None, None)  # never allowed to swallow a test's error

    async def __aenter__(self) -> Any:
        return await self._method("__aenter__")  # type: ignore[misc]

    async def __aexit__(self, *exc: object) -> None:
        await self._method("__aexit__", None, None, None)  # type: ignore[misc]

    def __aiter__(self) -> Any:
        return self._method("__aiter__")

    async def __anext__(self) -> Any:
        return await self._method("__anext__")  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<object #{self._number} of your code>"


class AwaitableRemote(Remote):
    """A :class:`Remote` of an object the student's process can await (a coroutine, a task):
    ``await`` runs it there, on that process's one loop."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, Any]:
        return self._channel.awaiting(self._number)
