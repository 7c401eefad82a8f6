"""The student's side of a grading call: runs in the jailed process, serves data-only requests.

A grader (a separate process) asks for the student's names, calls them, reads attributes of
what they return; the answers are :mod:`sessionlab.grading.plain_data` frames, and anything
that is not plain data stays here under a number (a *handle*) that the grader can call methods on.

Two transports: the Jupyter kernel (the grader's parent sends ``serve(...)`` as a silent
execute request and reads :data:`LAST` back as a user expression), and a stand-alone child
(``python -m sessionlab.grading.student_side``) that loads a module's source from its first
frame and then answers request frames on stdin/stdout, each in its own thread, so one call
that hangs does not stop the others.

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
    args = wire.decode(request.get("args", []), REGISTRY.resolve)
    kwargs = wire.decode(request.get("kwargs", {"$dict": []}), REGISTRY.resolve)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise TypeError("bad arguments")
    return args, {str(k): v for k, v in kwargs.items()}


def _run(request: dict[str, Any], namespace: dict[str, Any]) -> object:
    """One request; returns the raw result (encoded by the caller)."""
    op = request.get("op")
    if op == "get":
        names = [n for n in request.get("names", []) if isinstance(n, str)]
        return {n: namespace[n] for n in names if n in namespace}
    target = REGISTRY.resolve(int(request.get("h", 0)))
    name = str(request.get("name", ""))
    if op == "getattr":
        return getattr(target, name)
    if op == "setattr":
        setattr(target, name, wire.decode(request.get("value"), REGISTRY.resolve))
        return None
    if op == "call":
        args, kwargs = _args(request)
        return target(*args, **kwargs)  # type: ignore[operator]
    if op == "method":
        args, kwargs = _args(request)
        return getattr(type(target), name)(target, *args, **kwargs)
    if op == "await":  # a coroutine the student's code returned (an ``async def`` answer)
        if not inspect.isawaitable(target):
            raise TypeError("not awaitable")
        return _await(target)
    if op == "iter":
        items = []
        for item in target:  # type: ignore[attr-defined]
            items.append(item)
            if len(items) > MAX_ITER:
                raise OverflowError(f"more than {MAX_ITER} items")
        return items
    raise ValueError(f"unknown request {op!r}")


def _reply(request: dict[str, Any], run: Callable[[], object]) -> dict[str, object]:
    try:
        value = run()
        if inspect.isawaitable(value) and request.get("await"):
            value = _await(value)
        return {"ok": wire.encode(value, REGISTRY.handle_of)}
    except BaseException as error:  # the student's code: anything can happen
        kind = type(error)
        builtin = getattr(builtins, kind.__name__, None) is kind
        return {"error": {"type": kind.__name__[:60], "builtin": builtin}}


def _await(awaitable: Any) -> object:
    """Run a coroutine to its end outside any running loop (a kernel's loop runs in its own
    thread context; a fresh thread gives the coroutine a loop of its own)."""
    box: dict[str, object] = {}

    async def main() -> None:
        box["value"] = await awaitable

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def serve(frame: str) -> None:
    """Kernel transport: answer one request; the reply goes to :data:`LAST`."""
    global LAST
    try:
        request = wire.loads(frame)
        reply = _reply(request, lambda: _run(request, _namespace()))
        reply["id"] = request.get("id")
    except BaseException as error:
        reply = {"error": {"type": type(error).__name__[:60], "builtin": False}}
    try:
        data = wire.dumps(reply)
        if len(data) > wire.MAX_FRAME:
            raise ValueError("too big")
        LAST = base64.b64encode(data).decode()
    except (ValueError, TypeError):
        failure = {"type": "WireError", "builtin": False}
        LAST = base64.b64encode(wire.dumps({"error": failure, "id": reply.get("id")})).decode()


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
