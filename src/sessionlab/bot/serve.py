"""Build the bot from command-line style settings and serve it with uvicorn.

Kept apart from the ``sessionlab bot`` command so a test can build the very same app
in-process, and from :mod:`~.process`, which runs it as a separate server process.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
import uvicorn

from sessionlab.bot.app import create_app
from sessionlab.bot.history import HistoryLimits, HistoryStore, RedisHistory, SQLiteHistory
from sessionlab.errors import CourseError
from sessionlab.isolation import Cleaner, IsolationLimits, SQLiteStateStore, TemporarySessionManager
from sessionlab.isolation.state_store import StateStore
from sessionlab.model import CourseModel
from sessionlab.net import listen_error
from sessionlab.paths import course_home

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def default_data_dir() -> Path:
    return course_home() / "bot"


@dataclass(frozen=True)
class BotSettings:
    """Everything ``sessionlab bot serve`` accepts."""

    host: str = "127.0.0.1"
    port: int = 3978
    store: str = "sqlite"
    redis_url: str = DEFAULT_REDIS_URL
    redis_prefix: str = "sessionlab:"
    data_dir: Path | None = None
    model_url: str | None = None
    history_limit: int = 20
    timeout_minutes: float = 30
    max_sessions_per_ip: int = 5


def _check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.RedisError, ValueError) as error:
        raise CourseError(
            f"Redis at {url} is not reachable ({error}): start redis-server, "
            "pass --redis-url, or use --store sqlite"
        ) from None


def build_stores(settings: BotSettings) -> tuple[HistoryStore, StateStore, Path]:
    """The history store, the isolated-session store and the data folder."""
    data_dir = Path(settings.data_dir or default_data_dir())
    limits = HistoryLimits(settings.history_limit, settings.timeout_minutes * 60)
    if settings.store == "sqlite":
        history: HistoryStore = SQLiteHistory(data_dir / "histories.sqlite3", limits)
        sessions: StateStore = SQLiteStateStore(data_dir / "isolated.sqlite3")
    elif settings.store == "redis":
        from sessionlab.isolation.redis_state_store import RedisStateStore

        _check_redis(settings.redis_url)
        history = RedisHistory(settings.redis_url, limits, prefix=f"{settings.redis_prefix}bot:")
        sessions = RedisStateStore(settings.redis_url, prefix=f"{settings.redis_prefix}iso:")
    else:
        raise CourseError(f"unknown store {settings.store!r}: use sqlite or redis")
    return history, sessions, data_dir


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0 picks a free one), or a one-line CourseError."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: replies are written as headers + body, and with
    # Nagle on, the body would wait 40 ms for a delayed ACK on every kept-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise listen_error(host, port, error) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def _model(url: str | None) -> Iterator[str]:
    """The given Messages API URL, or a private course model for this server's lifetime."""
    if url:
        yield url
        return
    with CourseModel() as model:
        no_nagle(model)
        yield model.url


def no_nagle(model: CourseModel) -> None:
    """Turn Nagle's algorithm off for the model's connections (they inherit it on Linux).

    The model writes a response's headers and body separately; with Nagle on, the body waits
    for the client's delayed ACK of the headers: 40 ms per call on a kept-alive connection,
    which capped the bot at ~100 replies/s. Measured: 44 ms -> 1 ms per call.
    """
    server = getattr(model, "_server", None)
    listener = getattr(server, "socket", None)
    if isinstance(listener, socket.socket):
        with contextlib.suppress(OSError):
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def serve(settings: BotSettings) -> int:
    """Run until SIGINT/SIGTERM. Prints ``bot listening on <url>`` once it accepts requests."""
    history, session_store, data_dir = build_stores(settings)
    # The event loop, the store threads and the private model's threads share one GIL; a
    # shorter switch interval hands it over sooner (GIL convoys otherwise add ~5 ms a hop).
    sys.setswitchinterval(0.001)
    manager = TemporarySessionManager(
        session_store,
        data_dir / "sessions",
        limits=IsolationLimits(max_per_ip=settings.max_sessions_per_ip),
    )
    cleaner = Cleaner(manager)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    with _model(settings.model_url) as model_url:
        app = create_app(history, model_url, isolation=manager)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        cleaner.start()
        print(f"bot listening on http://{shown}:{port}", flush=True)
        print(f"store: {settings.store}; model: {model_url}; data: {data_dir}", flush=True)
        try:
            server.run(sockets=[sock])
        finally:
            cleaner.stop()
            history.close()
            session_store.close()
            sock.close()
    print("bot stopped", file=sys.stderr, flush=True)
    return 0
