"""``sessionlab model serve``: run the course model in the foreground for out-of-process use.

Notebooks and tests start their own model in-process (:class:`sessionlab.model.CourseModel`);
this command is for a terminal next to a hand-run ``claude``, where watching one log line per
request shows exactly what the CLI sends and when.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from sessionlab.model import CourseModel, RequestRecord
from sessionlab.operator_token import token_from_env, write_secret
from sessionlab.paths import course_home
from sessionlab.remote_model import MODEL_TOKEN_ENV

DEFAULT_PORT = 8765
DUMMY_API_KEY = "sk-ant-course-dummy"
# Keep a hand-run CLI quiet and quick: no updater, telemetry, side traffic or long retries.
QUIET_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "model",
        help="run the course model (a deterministic offline Messages API)",
        description="The course model: a deterministic Anthropic Messages API on loopback that "
        "the real Claude Code CLI talks to offline. Its replies show how much of the "
        "conversation the CLI sent.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve the course model until Ctrl-C",
        description="Serve the course model in the foreground. Prints the environment "
        "variables that point a claude CLI at it, then one line per request on stderr. "
        "Stops cleanly on Ctrl-C or SIGTERM. Records: GET <url>/_course/records with "
        "Authorization: Bearer <operator token>; the token is $SESSIONLAB_MODEL_TOKEN if set, "
        "else a new one, written (mode 0600) to the file the first lines name.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request")
    serve.set_defaults(func=_serve)


def _log(record: RequestRecord) -> None:
    print(record.log_line(), file=sys.stderr, flush=True)


def exports(url: str) -> list[str]:
    """Shell lines that point a ``claude`` CLI at the model at ``url``."""
    env = {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": DUMMY_API_KEY, **QUIET_ENV}
    return [f"export {name}={value}" for name, value in env.items()]


def _serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    token = token_from_env(MODEL_TOKEN_ENV)
    model = CourseModel(
        args.host, args.port, log=None if args.quiet else _log, operator_token=token
    )
    model.start()
    token_file = course_home() / "model" / f"operator-token-{model.port}"
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        write_secret(token_file, token)
        print(f"course model listening on {model.url}", flush=True)
        print("point a claude CLI at it with:", flush=True)
        for line in exports(model.url):
            print(f"  {line}", flush=True)
        print(f"records: GET {model.url}/_course/records with the header", flush=True)
        print(f'  Authorization: Bearer $(cat "{token_file}")', flush=True)
        print("Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        model.stop()
        token_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    served = len(model.records)
    print(f"course model stopped after {served} request{'' if served == 1 else 's'}", flush=True)
    return 0
