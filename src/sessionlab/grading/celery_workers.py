"""Grading on many machines: Celery workers with Redis as the broker, no shared filesystem.

The coordinator (``sessionlab grade ... --broker redis://HOST:PORT/DB``) sends each
:class:`~sessionlab.grading.unit.GradingTask` (the notebook travels in it) to the queue; each
grading machine runs ``sessionlab grade-worker --broker ...`` from its own checkout of the
course. A worker grades the task with the same unit of work as local grading and stores the
:class:`~sessionlab.grading.unit.GradingResult` in Redis under the student and the notebook's
hash; the coordinator collects results from there and writes its one gradebook.

Exactly once, whatever dies:

* **late acknowledgement**: a task is acknowledged only after its result is stored; a worker
  killed mid-task (``kill -9``, a machine that dies) leaves it unacknowledged, and the broker
  delivers it again after the visibility timeout (a lost pool child: at once);
* **a claim with a heartbeat**: before grading, a worker takes
  ``sessionlab:grade:claim:<key>`` (``SET NX``, renewed every few seconds while it grades). A
  second delivery of a task someone is grading waits and retries; one whose result exists
  ends at once. A dead worker's claim expires within :data:`CLAIM_TTL_S`;
* **results keyed by lesson, grader, student and submission hash**, written with ``SET NX``:
  a coordinator restarted mid-run finds what is done and sends only the rest.

A worker whose checkout hashes differently (lesson source, course config or the
``sessionlab`` package) refuses the task, tells the coordinator why (it prints it), hands the
task back for another worker and stops taking tasks: a stale checkout never grades.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sessionlab.errors import CourseError
from sessionlab.grading.unit import (
    GradingResult,
    GradingTask,
    StaleWorkerError,
    SubmissionLimits,
    check_keys,
)

if TYPE_CHECKING:
    import redis
    from celery import Celery, Task

    from sessionlab.grading.workspace import GraderWorkspace, Lesson

QUEUE = "sessionlab-grading"
TASK_NAME = "sessionlab.grade_submission"
PREFIX = "sessionlab:grade"
REFUSALS = f"{PREFIX}:refusals"  # hash: worker -> JSON {message, lesson_key, grader_key, at}
GRADED_LOG = f"{PREFIX}:graded"  # list: "<result key> <worker> stored|duplicate", per grading
# The result and its log line in one step: a worker killed between two commands would leave a
# stored result that no log line accounts for (seen once under load in the kill -9 test).
STORE_AND_LOG = """
local stored = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
local verdict = 'duplicate'
if stored then verdict = 'stored' end
redis.call('RPUSH', KEYS[2], ARGV[3] .. ' ' .. verdict)
if stored then return 1 end
return 0
"""
CLAIM_TTL_S = 30
RESULT_TTL_S = 3 * 24 * 3600  # long enough for a coordinator to come back
DEFAULT_VISIBILITY_TIMEOUT_S = 120.0

log = logging.getLogger("sessionlab.grade-worker")


def _id(task: GradingTask) -> str:
    return f"{task.lesson_key[:16]}:{task.grader_key[:16]}:{task.key}"


def result_key(task: GradingTask) -> str:
    return f"{PREFIX}:result:{_id(task)}"


def claim_key(task: GradingTask) -> str:
    return f"{PREFIX}:claim:{_id(task)}"


def make_app(broker: str, *, visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S) -> Celery:
    """The Celery app both sides use: JSON only, late acks, one task per process at a time."""
    from celery import Celery

    app = Celery("sessionlab", broker=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # a pool child killed mid-task: requeue at once
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout_s,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
        },
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True)(_grade_submission)
    return app


# --- the worker side -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSettings:
    broker: str
    course: Path  # this checkout's autograder/ (nbgrader_config.py)
    hide: tuple[Path, ...] = ()  # more paths kernels must not see on this machine


_settings: WorkerSettings | None = None
_workspaces: dict[tuple[str, SubmissionLimits], GraderWorkspace] = {}
_lessons: dict[str, Lesson] = {}
_client: redis.Redis | None = None


def configure_worker(settings: WorkerSettings) -> None:
    """Set once in the worker's main process, before the pool forks its children."""
    global _settings
    _settings = settings


def close_workspaces(**_: object) -> None:
    """A pool child's private courses go with it (Celery's ``worker_process_shutdown``)."""
    while _workspaces:
        _workspaces.popitem()[1].close()


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        import redis

        assert _settings is not None
        _client = redis.Redis.from_url(_settings.broker)
    return _client


def _lesson(assignment: str) -> Lesson:
    from sessionlab.grading.workspace import Lesson

    assert _settings is not None
    if assignment not in _lessons:
        _lessons[assignment] = Lesson.load(_settings.course, assignment)
    return _lessons[assignment]


def _workspace(task: GradingTask) -> GraderWorkspace:
    from sessionlab.grading.workspace import GraderWorkspace

    assert _settings is not None
    key = (task.assignment, task.limits)
    if key not in _workspaces:
        _workspaces[key] = GraderWorkspace(
            _settings.course, task.assignment, task.limits, hide=_settings.hide
        )
    return _workspaces[key]


@contextlib.contextmanager
def _claim_held(client: redis.Redis, key: str, owner: str) -> Iterator[None]:
    """Renew the claim every few seconds while the block runs; release it after."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(CLAIM_TTL_S / 3):
            with contextlib.suppress(Exception):
                client.set(key, owner, ex=CLAIM_TTL_S, xx=True)

    thread = threading.Thread(target=renew, name="claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(Exception):
            if client.get(key) == owner.encode():
                client.delete(key)


def _refuse(self: Task, task: GradingTask, error: Exception, worker: str) -> None:
    """Tell the coordinator, stop taking tasks from the queue, hand this one back."""
    message = str(error)
    log.error("%s", message)
    record = {
        "message": message, "lesson_key": task.lesson_key, "grader_key": task.grader_key,
        "at": time.time(),
    }  # fmt: skip
    _redis().hset(REFUSALS, worker, json.dumps(record))
    with contextlib.suppress(Exception):
        self.app.control.cancel_consumer(QUEUE, destination=[self.request.hostname])
    raise self.retry(countdown=1, max_retries=None)


def _grade_submission(self: Task, payload: str) -> str:
    """The Celery task: grade one submission unless it is graded or being graded."""
    from sessionlab.grading.worker_env import worker_name

    task = GradingTask.from_json(payload)
    client = _redis()
    done_key, claim = result_key(task), claim_key(task)
    if client.exists(done_key):
        return "already graded"
    worker = f"{self.request.hostname}/{worker_name()}"
    try:
        lesson = _lesson(task.assignment)
        check_keys(task, lesson.lesson_key, lesson.grader_key, worker)
    except (StaleWorkerError, CourseError) as error:
        _refuse(self, task, error, worker)
    if not client.set(claim, worker, nx=True, ex=CLAIM_TTL_S):
        raise self.retry(countdown=5, max_retries=None)  # another worker is grading it now
    with _claim_held(client, claim, worker):
        result = _workspace(task).grade(task)
        client.eval(
            STORE_AND_LOG, 2, done_key, GRADED_LOG, result.to_json(), RESULT_TTL_S,
            f"{done_key} {worker}",
        )  # fmt: skip
    log.info("graded %s: %s/%s in %.1f s", task.student_id, result.score, result.max_score,
             result.seconds)  # fmt: skip
    return "graded"


def run_worker(
    settings: WorkerSettings,
    *,
    concurrency: int = 1,
    name: str | None = None,
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S,
    loglevel: str = "INFO",
) -> int:
    """``sessionlab grade-worker``: serve the grading queue until stopped."""
    from sessionlab.grading.workspace import load_course_config

    load_course_config(settings.course)  # a wrong --course fails here, in one line
    configure_worker(settings)
    app = make_app(settings.broker, visibility_timeout_s=visibility_timeout_s)
    from celery.signals import worker_process_shutdown

    worker_process_shutdown.connect(close_workspaces, weak=False)
    argv = [
        "worker", f"--loglevel={loglevel}", "-Q", QUEUE, "-c", str(concurrency),
        "--pool", "prefork", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if name:
        argv += ["-n", name]
    app.worker_main(argv)
    return 0


# --- the coordinator side ----------------------------------------------------------------


class CeleryRunner:
    """Sends tasks to the queue and yields results from Redis as workers store them."""

    def __init__(
        self,
        broker: str,
        *,
        stream: TextIO,
        poll_s: float = 0.5,
        wait_s: float | None = None,
        force: bool = False,
    ) -> None:
        import redis

        self.app = make_app(broker)
        self.redis = redis.Redis.from_url(broker)
        try:
            self.redis.ping()
        except redis.RedisError as error:
            raise CourseError(f"--broker {broker}: Redis is not reachable ({error})") from None
        self.stream = stream
        self.poll_s = poll_s
        self.wait_s = wait_s
        self.force = force
        self.started = time.time()
        self.refusals_seen: set[str] = set()

    def run(self, tasks: list[GradingTask]) -> Iterator[GradingResult]:
        pending = {result_key(t): t for t in tasks}
        if self.force and pending:  # --force: a stored result of the same notebook is not reused
            self.redis.delete(*pending)
        # A coordinator restarted mid-run: what workers already stored is not sent again.
        yield from self._collect(pending)
        for task in pending.values():
            self.app.send_task(TASK_NAME, args=[task.to_json()], queue=QUEUE)
        deadline = None if self.wait_s is None else time.monotonic() + self.wait_s
        keys = {(t.lesson_key, t.grader_key) for t in tasks}
        while pending:
            time.sleep(self.poll_s)
            yield from self._collect(pending)
            self._report_refusals(keys)
            if deadline is not None and time.monotonic() > deadline and pending:
                raise CourseError(
                    f"{len(pending)} submission(s) not graded within {self.wait_s:g} s: "
                    "is a `sessionlab grade-worker` with this checkout running?"
                )

    def _collect(self, pending: dict[str, GradingTask]) -> Iterator[GradingResult]:
        if not pending:
            return
        keys = list(pending)
        for key, value in zip(keys, self.redis.mget(keys), strict=True):
            if value is not None:
                del pending[key]
                yield GradingResult.from_json(value.decode())

    def _report_refusals(self, keys: set[tuple[str, str]]) -> None:
        raw: dict[bytes, bytes] = self.redis.hgetall(REFUSALS)
        for worker, value in raw.items():
            record: dict[str, Any] = json.loads(value)
            seen = f"{worker.decode()} {record['at']}"
            mine = (record["lesson_key"], record["grader_key"]) in keys
            if mine and seen not in self.refusals_seen and record["at"] >= self.started - 5:
                self.refusals_seen.add(seen)
                self.stream.write(f"refused: {record['message']}\n")
                self.stream.flush()

    def close(self) -> None:
        self.redis.close()
