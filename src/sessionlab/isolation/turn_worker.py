"""Session turns on a real Celery worker that keeps one live client per session (lesson 7).

The seed sends every query to a Celery worker (``process_sql_query_task.delay(session_id,
user_input)``) and the worker keeps, per process, each session's live objects
(``{session_id: {cache_key: agent}}``), so the second query of a session reuses the agent the
first one built. This module gives a lesson the real parts of that picture and leaves the
cache to the student:

* :class:`TranscriptClient`: the live object a worker keeps per session. Starting one opens a
  new transcript file in the session's folder; every turn is appended to it. A worker that
  builds a new client per turn splits one conversation over many files (lesson 1's
  fragmentation); one that hands a client to another session writes one user's words into
  another user's transcript.
* :meth:`TurnWorkers.start`: a Celery worker (solo pool: one process, one task at a time, like
  one process of the seed's pool) serving turns with ``clients_class(sessions)``, the
  student's cache over the student's store. It is a **fork** of the calling process, because
  the worker must run the notebook's own classes: ``celery -A module worker`` would need them
  in a module file, and a kernel's classes have none. It is bounded (it stops itself after
  ``lifetime`` seconds or when its parent is gone) and :meth:`TurnWorker.stop` ends it.
* :func:`send_turn`: the web app's side: queue one turn, wait for the worker's reply.

Replies travel as one JSON document pushed to a Redis list the caller waits on, never through
Celery's result backend: the caller (a grader, in grading) parses plain JSON and nothing else
(Celery's backend would import the module an exception record names).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from sessionlab.isolation.errors import IsolationError

if TYPE_CHECKING:
    from celery import Celery

QUEUE = "sessionlab-turns"
TURN_TASK = "sessionlab.turns.turn"
PING_TASK = "sessionlab.turns.ping"
REPLY_PREFIX = "sessionlab:turns:reply:"
REPLY_TTL_S = 120
MAX_REPLY_BYTES = 1 << 20
DEFAULT_LIFETIME_S = 90.0
START_TIMEOUT_S = 45.0


class TurnError(IsolationError):
    """A turn that did not come back: refused by the worker's code, or no reply in time."""


class TranscriptClient:
    """A live conversation of one session: one transcript file, every turn appended to it.

    ``folder`` is the session's folder; the transcript is ``transcripts/<client id>.jsonl``
    there. Each line is one turn, chained to the previous one by ``parentUuid`` as in Claude
    Code's transcripts.
    """

    def __init__(self, folder: str | Path) -> None:
        self.client_id = str(uuid.uuid4())
        self.path = Path(folder) / "transcripts" / f"{self.client_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=False)
        self.turns = 0
        self._last_uuid: str | None = None

    def send(self, text: str) -> dict[str, Any]:
        """Append one turn; what a reply says: which transcript, which turn, which process."""
        entry: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "parentUuid": self._last_uuid,
            "type": "user",
            "text": str(text),
            "timestamp": time.time(),
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        self._last_uuid = entry["uuid"]
        self.turns += 1
        return {"transcript": self.client_id, "turn": self.turns, "worker_pid": os.getpid()}


def broker_url(url: str) -> str:
    """Celery's name for a Redis URL (``unix:///x.sock?db=0`` -> ``redis+socket:///x.sock``)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://").split("?", 1)[0]
    return url


def _app(url: str) -> Celery:
    from celery import Celery

    app = Celery("sessionlab-turns", broker=broker_url(url), set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
    )
    return app


_senders: dict[str, Celery] = {}


def _reply(
    client: redis.Redis, key: str, timeout: float, alive: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """The reply pushed to ``key``; waits at most ``timeout`` s, less if ``alive()`` says no."""
    deadline = time.monotonic() + timeout
    found = None
    while found is None:
        left = deadline - time.monotonic()
        if left <= 0 or (alive is not None and not alive()):
            raise TurnError(f"no reply from the turn worker within {timeout:g} s")
        found = client.blpop([key], timeout=max(0.1, min(1.0, left)))
    raw = found[1]
    if len(raw) > MAX_REPLY_BYTES:
        raise TurnError("the turn worker's reply is too big")
    try:
        reply = json.loads(raw)
    except ValueError:
        raise TurnError("the turn worker's reply is not JSON") from None
    if not isinstance(reply, dict) or ("ok" not in reply and "error" not in reply):
        raise TurnError("the turn worker's reply is not a reply")
    return reply


def _send(
    url: str,
    task: str,
    args: list[Any],
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    app = _senders.get(url)
    if app is None:
        app = _senders[url] = _app(url)
    key = f"{REPLY_PREFIX}{uuid.uuid4()}"
    app.send_task(task, args=[key, *args], queue=QUEUE)
    client = redis.Redis.from_url(url)
    try:
        return _reply(client, key, timeout, alive)
    finally:
        client.close()


def send_turn(url: str, session_id: str, text: str, *, timeout: float = 10.0) -> Any:
    """Queue one turn of ``session_id`` and return what the worker's ``handle_turn`` returned.

    Raises :class:`TurnError` (one line: the exception's type) when ``handle_turn`` raised.
    """
    reply = _send(url, TURN_TASK, [session_id, text], timeout)
    if "error" in reply:
        raise TurnError(f"the worker refused the turn: {str(reply['error'])[:200]}")
    return reply["ok"]


class TurnWorker:
    """A running turn worker (a child process of the one that started it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._status: int | None = None

    def alive(self) -> bool:
        if self._status is None:
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done == 0:
                    return True
                self._status = status
            if self._status is None:
                self._status = -1
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown (SIGTERM: the task at hand finishes), then SIGKILL after ``timeout``."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._status = -9


class TurnWorkers:
    """Starts turn workers; one object per lesson, so a grader can ask the kernel for one."""

    def __init__(self) -> None:
        self.started: list[TurnWorker] = []

    def start(
        self,
        clients_class: Any,
        sessions: Any,
        url: str,
        *,
        lifetime: float = DEFAULT_LIFETIME_S,
        log: str | None = None,
    ) -> TurnWorker:
        """Fork a Celery worker on the Redis at ``url`` serving ``clients_class(sessions)``.

        Returns once the worker has answered a first ping (at most :data:`START_TIMEOUT_S`).
        """
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            code = 1
            try:
                _serve(clients_class, sessions, url, parent, lifetime, log)
                code = 0
            except BaseException:  # the child must reach os._exit whatever happens
                pass
            finally:
                os._exit(code)
        worker = TurnWorker(pid)
        self.started.append(worker)
        try:
            reply = _send(url, PING_TASK, [], START_TIMEOUT_S, worker.alive)
        except BaseException:
            worker.stop()
            raise
        if reply.get("ok") != "pong":
            worker.stop()
            raise TurnError("the turn worker did not start")
        return worker

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


def _quiet_child_io(log: str | None) -> None:
    """Detach the fork from the parent's streams (a kernel's go to its front end over ZeroMQ,
    whose sockets a child must never touch)."""
    target = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(target, 1)
    os.dup2(target, 2)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))


def _watchdog(parent: int, lifetime: float) -> None:
    """Stop the worker when its parent is gone or its lifetime is over; kill it if it lingers."""
    deadline = time.monotonic() + lifetime
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    os._exit(2)


def _serve(
    clients_class: Any, sessions: Any, url: str, parent: int, lifetime: float, log: str | None
) -> None:
    _quiet_child_io(log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the notebook's interrupt is not ours
    threading.Thread(target=_watchdog, args=(parent, lifetime), daemon=True).start()
    app = _app(url)
    replies = redis.Redis.from_url(url)
    state: dict[str, Any] = {}

    def answer(key: str, reply: dict[str, Any]) -> None:
        try:
            data = json.dumps(reply)
        except (TypeError, ValueError):
            data = json.dumps({"error": "TypeError: handle_turn returned something not JSON"})
        replies.rpush(key, data)
        replies.expire(key, REPLY_TTL_S)

    def ping(key: str) -> None:
        answer(key, {"ok": "pong"})

    def turn(key: str, session_id: str, text: str) -> None:
        try:
            if "clients" not in state:  # built once per worker process, on its first turn
                state["clients"] = clients_class(sessions)
            reply: dict[str, Any] = {"ok": state["clients"].handle_turn(session_id, text)}
        except Exception as error:  # the student's code: report the type, keep serving
            reply = {"error": type(error).__name__}
        answer(key, reply)

    app.task(name=PING_TASK)(ping)
    app.task(name=TURN_TASK)(turn)
    app.worker_main(
        [
            "worker", "--pool", "solo", "--concurrency", "1", "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", QUEUE, "-n", f"turns-{os.getpid()}@localhost",
        ]
    )  # fmt: skip
