"""The student's side of a grading call: runs in the jailed process, serves data-only requests.

A grader (a separate process) asks for the student's names, calls them, reads attributes of
what they return; the answers are :mod:`sessionlab.grading.plain_data` frames, and anything
that is not plain data stays here under a number (a *handle*) that the grader can call methods on.

Two transports: the Jupyter kernel (the grader's parent sends ``serve(...)`` as a silent
execute request and reads :data:`LAST` back as a user expression), and a stand-alone child
(``python -m sessionlab.grading.student_side``) that loads a module's source from its first
frame and then answers request frames on stdin/stdout, each in its own thread, so one call
that hangs does not stop the others.

``await`` requests (:class:`_Awaits`) run the awaited object as a task on ONE loop for the
whole notebook: in a kernel, the kernel's own loop (the request is a top-level ``await``, which
IPython runs on that loop, as it runs the student's own top-level ``await`` cells); stand-alone,
one private loop in a thread of its own. Each request waits a little and answers the value or
``pending`` (the task keeps running between requests), plus the calls the student's code made
of functions the test passed, which the grader runs and answers with ``answer`` requests.

Nothing here is trusted by the grader: the student can patch this module in their own
process. They would only change what their own code appears to return, which they can do
anyway; the grader decides pass or fail from the data.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import builtins as _builtins
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from sessionlab.errors import SessionLabError
from sessionlab.grading import plain_data as wire

# Bound at import (the grader loads this module before any student code runs): a student's
# later ``builtins.float = ...`` or ``builtins.isinstance = ...`` does not reach this module.
globals().update({name: getattr(_builtins, name) for name in wire.PINNED_BUILTINS})

# The kernel transport's reply, read back as a user expression: base64 of the JSON frame, so
# that its repr is one quoted run of [A-Za-z0-9+/=] the grader checks by pattern (never parses
# as Python).
LAST = ""
MAX_ITER = 100_000


class _Registry:
    def __init__(self) -> None:
        self.objects: dict[int, object] = {}
        self.numbers: dict[int, int] = {}

    def handle_of(self, value: object) -> int:
        number = self.numbers.get(id(value))
        if number is None or self.objects.get(number) is not value:
            number = len(self.objects) + 1
            self.objects[number] = value
            self.numbers[id(value)] = number
        return number

    def resolve(self, number: int) -> object:
        try:
            return self.objects[number]
        except KeyError:
            raise LookupError(f"no object #{number}") from None


REGISTRY = _Registry()


def _handle(value: object) -> int | dict[str, object]:
    """A handle for ``value``; marked ``$awaitable`` when the grader may await it."""
    number = REGISTRY.handle_of(value)
    return {"$awaitable": number} if inspect.isawaitable(value) else number


def _namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def _args(request: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    args = wire.decode(request.get("args", []), REGISTRY.resolve, _grader_tags)
    kwargs = wire.decode(request.get("kwargs", {"$dict": []}), REGISTRY.resolve, _grader_tags)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise TypeError("bad arguments")
    return args, {str(k): v for k, v in kwargs.items()}


def _run(request: dict[str, Any], namespace: dict[str, Any]) -> object:
    """One request; returns the raw result (encoded by the caller)."""
    op = request.get("op")
    if op == "get":
        names = [n for n in request.get("names", []) if isinstance(n, str)]
        return {n: namespace[n] for n in names if n in namespace}
    if op == "make":  # built here, kept here: the grader gets a handle even for a set
        factory = wire.decode(request.get("f"), REGISTRY.resolve, _grader_tags)
        args, kwargs = _args(request)
        return wire.Handle(REGISTRY.handle_of(factory(*args, **kwargs)))  # type: ignore[operator]
    if op == "answer":
        AWAITS.answer(request)
        return None
    if op == "end_cell":
        return AWAITS.end_cell()
    if op == "cancel":
        AWAITS.cancel(int(request.get("h", 0)))
        return None
    target = REGISTRY.resolve(int(request.get("h", 0)))
    name = str(request.get("name", ""))
    if op == "getattr":
        return getattr(target, name)
    if op == "read":
        return target
    if op == "setattr":
        setattr(target, name, wire.decode(request.get("value"), REGISTRY.resolve, _grader_tags))
        return None
    if op == "call":
        args, kwargs = _args(request)
        return target(*args, **kwargs)  # type: ignore[operator]
    if op == "method":
        args, kwargs = _args(request)
        return getattr(type(target), name)(target, *args, **kwargs)
    if op == "iter":
        items = []
        for item in target:  # type: ignore[attr-defined]
            items.append(item)
            if len(items) > MAX_ITER:
                raise OverflowError(f"more than {MAX_ITER} items")
        return items
    raise ValueError(f"unknown request {op!r}")


def _failure(error: BaseException) -> dict[str, object]:
    kind = type(error)
    if isinstance(error, _Interrupted):
        return {"type": "KeyboardInterrupt", "builtin": True}
    builtin = getattr(builtins, kind.__name__, None) is kind
    return {"type": kind.__name__[:60], "builtin": builtin}


def _reply(request: dict[str, Any], run: Callable[[], object]) -> dict[str, object]:
    try:
        return {"ok": wire.encode(run(), _handle)}
    except BaseException as error:  # the student's code: anything can happen
        return {"error": _failure(error)}


# -- awaiting: the student's coroutines on one loop --------------------------------------------


class _Interrupted(SessionLabError):
    """A KeyboardInterrupt (the grader's timeout) inside a student's coroutine, as an ordinary
    exception: raised out of a task step, KeyboardInterrupt would stop the kernel's loop."""


class _Interruptible:
    """Awaits ``awaitable`` step by step, each step with Python's default SIGINT handler.

    Between requests a kernel ignores SIGINT, and during a top-level ``await`` it only cancels
    the request: a student's coroutine that loops without awaiting would hold the kernel's loop
    for good. Inside its own steps it can be interrupted (the grader's call timeout), and the
    KeyboardInterrupt ends that task only."""

    def __init__(self, awaitable: Any) -> None:
        self._awaitable = awaitable

    def __await__(self) -> Any:
        inner = self._awaitable.__await__()
        sent: object = None
        thrown: BaseException | None = None
        while True:
            with _SigintRaises():
                try:
                    yielded = _advance(inner, sent, thrown)
                except StopIteration as stop:
                    return stop.value
                except KeyboardInterrupt:
                    raise _Interrupted() from None
            try:
                sent, thrown = (yield yielded), None
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as error:  # a cancellation, thrown in by the task
                sent, thrown = None, error


def _advance(inner: Any, sent: object, thrown: BaseException | None) -> object:
    """One step of ``yield from inner``: any iterator, as ``await`` accepts it."""
    if thrown is not None:
        throw = getattr(inner, "throw", None)
        if throw is None:
            raise thrown
        return throw(thrown)
    if sent is None:
        return next(inner)
    return inner.send(sent)


class _SigintRaises:
    """Python's default SIGINT handler (KeyboardInterrupt) inside, in the main thread."""

    def __enter__(self) -> None:
        self._saved = None
        if threading.current_thread() is threading.main_thread():
            import signal

            self._saved = signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import signal

            signal.signal(signal.SIGINT, self._saved)


async def _drive(awaitable: Any) -> object:
    return await _Interruptible(awaitable)


class _TestFunction:
    """A function of the test, passed to the student's code: calling it returns a coroutine
    that asks the grader to run it (on the next poll of an ``await``) and waits for the answer.
    Valid until the test cell that passed it ends."""

    __slots__ = ("_epoch", "_number")

    def __init__(self, number: int, epoch: int) -> None:
        self._number = number
        self._epoch = epoch

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return AWAITS.call_test(self._number, self._epoch, list(args), kwargs)

    def __repr__(self) -> str:
        return f"<function #{self._number} of the test>"


class _Awaits:
    """Awaitables the grader awaits, as tasks on one loop for the whole notebook: the kernel's
    own (where the student's top-level ``await`` cells run) or, stand-alone, one private loop.
    An object whose asyncio locks, queues or tasks belong to that loop keeps working across
    calls, and two awaits the test runs at once (``asyncio.gather``) really run at once."""

    def __init__(self) -> None:
        self.tasks: dict[int, asyncio.Task[object]] = {}  # handle of the awaitable -> task
        self.outbox: list[dict[str, object]] = []  # calls of the test's functions, not yet sent
        self.waiting: dict[int, asyncio.Future[object]] = {}
        self.epoch = 0
        self._calls = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def private_loop(self) -> asyncio.AbstractEventLoop:
        """The stand-alone transport's one loop, run by a thread of its own."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, daemon=True).start()
        return self._loop

    def _wakeup(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    async def wait(self, number: int, seconds: float) -> dict[str, object]:
        """Start awaiting object ``number`` (first time), wait up to ``seconds`` for it or for a
        call of a test function; its value, or ``pending`` with the calls to run."""
        task = self.tasks.get(number)
        if task is None:
            target = REGISTRY.resolve(number)
            if not inspect.isawaitable(target):
                raise TypeError("not awaitable")
            task = asyncio.get_running_loop().create_task(_drive(target))
            self.tasks[number] = task
        if not task.done() and not self.outbox:
            wake = self._wakeup()
            wake.clear()
            waker = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({task, waker}, timeout=min(max(seconds, 0.0), 5.0),
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            finally:
                waker.cancel()
        calls, self.outbox = self.outbox, []
        if not task.done():
            return {"pending": True, "calls": calls}
        del self.tasks[number]
        try:
            value = task.result()
        except BaseException as error:  # the student's code (or its cancellation)
            return {"error": _failure(error), "calls": calls}
        return {"ok": wire.encode(value, _handle), "calls": calls}

    async def call_test(
        self, number: int, epoch: int, args: list[object], kwargs: dict[str, object]
    ) -> object:
        if epoch != self.epoch:
            raise RuntimeError("the test that passed this function has ended")
        self._calls += 1
        call = self._calls
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.waiting[call] = future
        self.outbox.append({"c": call, "f": number,
                            "args": wire.encode(args, _handle),
                            "kwargs": wire.encode(kwargs, _handle)})  # fmt: skip
        self._wakeup().set()
        try:
            return await future
        finally:
            self.waiting.pop(call, None)

    def answer(self, request: dict[str, Any]) -> None:
        """The grader's answer to a call of one of its functions."""
        future = self.waiting.get(int(request.get("c", 0)))
        if future is None:
            return
        if "ok" in request:
            value = wire.decode(request["ok"], REGISTRY.resolve, _grader_tags)
            future.get_loop().call_soon_threadsafe(_settle, future, value, None)
            return
        error = request.get("error")
        kind = str(error.get("type", "")) if isinstance(error, dict) else ""
        found = getattr(builtins, kind, None)
        if not (isinstance(found, type) and issubclass(found, Exception)):
            found = RuntimeError
        try:
            failure = found(f"raised by the test's function ({kind})")
        except TypeError:
            failure = RuntimeError(f"raised by the test's function ({kind})")
        future.get_loop().call_soon_threadsafe(_settle, future, None, failure)

    def cancel(self, number: int) -> None:
        task = self.tasks.pop(number, None)
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)

    def end_cell(self) -> int:
        """A test cell ended: cancel what it left running; its functions stop working."""
        self.epoch += 1
        left = [task for task in self.tasks.values() if not task.done()]
        for task in left:
            task.get_loop().call_soon_threadsafe(task.cancel)
        self.tasks.clear()
        for future in self.waiting.values():
            future.get_loop().call_soon_threadsafe(future.cancel)
        self.outbox = []
        return len(left)


def _settle(future: asyncio.Future[object], value: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


AWAITS = _Awaits()


def _grader_tags(tag: str, body: object) -> object:
    """Build what only the grader may send: a name to import, a partial of one, a test function."""
    if tag == "$callback" and type(body) is int:
        return _TestFunction(body, AWAITS.epoch)
    if tag == "$import" and isinstance(body, list) and len(body) == 2:
        import importlib

        module, qualname = (str(part) for part in body)
        found: object = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
        return found
    if tag == "$partial" and isinstance(body, list) and len(body) == 3:
        import functools

        func, args, kwargs = body
        if not callable(func) or not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("bad partial")
        return functools.partial(func, *args, **{str(k): v for k, v in kwargs.items()})
    raise wire.WireError(f"bad {tag}")


async def _await_reply(request: dict[str, Any]) -> dict[str, object]:
    try:
        return await AWAITS.wait(int(request.get("h", 0)), float(request.get("wait", 0.05)))
    except BaseException as error:
        return {"error": _failure(error)}


def serve(frame: str) -> None:
    """Kernel transport: answer one request; the reply goes to :data:`LAST`."""
    try:
        request = wire.loads(frame)
        reply = _reply(request, lambda: _run(request, _namespace()))
    except BaseException as error:
        request, reply = {}, {"error": {"type": type(error).__name__[:60], "builtin": False}}
    _store(reply, request.get("id"))


async def serve_async(frame: str) -> None:
    """Kernel transport for ``await`` requests, sent as a top-level ``await`` so that IPython
    runs them on the kernel's own loop (the student's coroutines run there, between and during
    such requests); the reply goes to :data:`LAST`."""
    try:
        request = wire.loads(frame)
        reply = await _await_reply(request)
    except BaseException as error:  # a cancellation (the grader's interrupt) included
        request, reply = {}, {"error": {"type": type(error).__name__[:60], "builtin": False}}
    _store(reply, request.get("id"))


def _store(reply: dict[str, object], number: object) -> None:
    global LAST
    reply["id"] = number
    try:
        data = wire.dumps(reply)
        if len(data) > wire.MAX_FRAME:
            raise ValueError("too big")
        LAST = base64.b64encode(data).decode()
    except (ValueError, TypeError):
        failure = {"type": "WireError", "builtin": False}
        LAST = base64.b64encode(wire.dumps({"error": failure, "id": number})).decode()


def main() -> int:
    """Stand-alone transport: first frame ``{"source": ...}``, then one request per line."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the student's print()s never reach the protocol
    lock = threading.Lock()

    def send(frame: dict[str, object]) -> None:
        data = wire.dumps(frame)
        if len(data) > wire.MAX_FRAME:
            error = {"type": "WireError", "builtin": False}
            data = wire.dumps({"id": frame.get("id"), "error": error})
        with lock:
            out.write(data)

    module = types.ModuleType("__main__")  # the notebook's classes say __module__ == "__main__"
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = vars(module)
    try:
        first = wire.loads(sys.stdin.buffer.readline())
        code = compile(str(first.get("source", "")), "<your notebook>", "exec")
        exec(code, namespace)
        send({"ready": True})
    except BaseException as error:
        send({"ready": False, "error": {"type": type(error).__name__[:60]}})
        return 0
    for line in sys.stdin.buffer:
        try:
            request = wire.loads(line)
        except wire.WireError:
            continue
        number = request.get("id")

        def work(request: dict[str, Any] = request, number: object = number) -> None:
            if request.get("op") == "await":
                loop = AWAITS.private_loop()
                future = asyncio.run_coroutine_threadsafe(_await_reply(request), loop)
                reply = future.result()
            else:
                reply = _reply(request, lambda: _run(request, namespace))
            reply["id"] = number
            try:
                send(reply)
            except (ValueError, TypeError):
                send({"id": number, "error": {"type": "WireError", "builtin": False}})

        threading.Thread(target=work, daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
