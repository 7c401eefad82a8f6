"""``sessionlab bench pool``: connection overhead with and without the pool, measured once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sessionlab.errors import CourseError


def register_pool(targets: argparse._SubParsersAction) -> None:
    pool = targets.add_parser(
        "pool",
        help="connection overhead: a connection per request vs the pool (real CLI)",
        description="Serve N requests three ways through the real Claude Code CLI and the "
        "course model: a new connection per request, the pool on one session, and the pool "
        "for N different sessions. Prints the table and the overhead reduction measured in "
        "this run (the seed claims 70%%). About 3 s per request on 2 cores.",
    )
    pool.add_argument("-n", "--requests", type=int, default=10, help="requests per mode (10)")
    pool.add_argument("--cli", default="current", help="pinned CLI: legacy or current (current)")
    pool.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    pool.set_defaults(func=_pool)


def _pool(args: argparse.Namespace) -> int:
    import asyncio

    from sessionlab.lifecycle.pool_benchmark import run_pool_bench
    from sessionlab.sandbox import course_env

    if not 1 <= args.requests <= 200:
        raise CourseError(f"--requests {args.requests} is out of range: use 1 to 200")
    with course_env(args.cli, name="bench-pool") as lab:
        print(f"Claude Code {lab.cli.version} ({lab.cli.name}), {args.requests} requests per mode")
        bench = asyncio.run(run_pool_bench(lab.options(), args.requests, cli=lab.cli.name))
    print()
    print(bench.table())
    print()
    print(
        "connection overhead, pool vs a connection per request, one session: "
        f"{_change(bench.reduction('pooled'))} (seed claim: 70% less)"
    )
    print(
        f"connection overhead, pool vs a connection per request, {args.requests} sessions: "
        f"{_change(bench.reduction('pooled_new_sessions'))}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench.as_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _change(reduction: float) -> str:
    return f"{reduction:.0%} less" if reduction >= 0 else f"{-reduction:.0%} more"
