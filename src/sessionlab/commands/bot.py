"""``sessionlab bot serve``: the multi-session bot (lesson 8) as a real HTTP server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sessionlab.errors import CourseError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bot",
        help="run the multi-session bot (FastAPI + uvicorn)",
        description="The multi-session bot: one isolated, capped, expiring history per "
        "conversation, stored in SQLite or Redis so it survives a restart.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve the bot until Ctrl-C",
        description="Serve POST /api/conversations (start one: an id and its token), "
        "POST /api/messages (Bot Framework-style activities, with the conversation's token), "
        "GET /sessions (metadata only, with the operator token written to "
        "<data-dir>/operator-token or taken from $SESSIONLAB_BOT_OPERATOR_TOKEN) and "
        "POST /api/sessions (isolated temporary sessions). Without --model-url it starts a "
        "private course model for its replies.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=3978, help="port; 0 picks a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--store",
        choices=("sqlite", "redis"),
        default="sqlite",
        help="where histories and sessions live (default: %(default)s)",
    )
    serve.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis server for --store redis (default: %(default)s)",
    )
    serve.add_argument(
        "--redis-prefix", default="sessionlab:", help="key prefix in Redis (default: %(default)s)"
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="SQLite files and session folders (default: <course home>/bot)",
    )
    serve.add_argument(
        "--model-url",
        default=None,
        help="Messages API base URL (default: start a private course model)",
    )
    serve.add_argument(
        "--history-limit", type=int, default=20, help="messages kept per conversation (default: 20)"
    )
    serve.add_argument(
        "--timeout-minutes",
        type=float,
        default=30,
        help="forget a conversation after this much silence (default: 30)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host is NAME (loopback names always; repeatable)",
    )
    serve.add_argument(
        "--docs", action="store_true", help="serve /docs, /redoc and /openapi.json (off by default)"
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        from sessionlab.bot.serve import BotSettings, serve
    except ImportError as error:
        raise CourseError(
            f"the bot needs the 'bot' extra ({error.name} is missing): "
            "pip install -e '.[bot]' (make setup installs it)"
        ) from None
    if args.history_limit < 2 or args.timeout_minutes <= 0:
        raise CourseError("--history-limit must be >= 2 and --timeout-minutes > 0")
    settings = BotSettings(
        host=args.host,
        port=args.port,
        store=args.store,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
        data_dir=args.data_dir,
        model_url=args.model_url,
        history_limit=args.history_limit,
        timeout_minutes=args.timeout_minutes,
        allowed_hosts=tuple(args.allowed_host),
        docs=args.docs,
    )
    # This process is the bot server: its event loop, store threads and private model threads
    # share one GIL, and a shorter switch interval hands it over sooner (GIL convoys otherwise
    # add ~5 ms a hop). Set here, by the program, not by the library's serve().
    sys.setswitchinterval(0.001)
    return serve(settings)
