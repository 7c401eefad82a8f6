"""``sessionlab bench monitor|pool``: the monitor benchmark, and the connection pool's overhead."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark course components (monitor, pool)",
        description="Benchmarks that back the course's numbers. Everything runs in temporary "
        "directories; nothing under ~/.claude is touched.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    monitor = targets.add_parser(
        "monitor",
        help="naive vs reference monitor: latency, idle CPU, throughput, memory",
        description="Detection latency (paced, burst, with 10,000 old files), idle CPU, merge "
        "throughput of a 200 MB stray vs a plain copy, and peak RSS, for the naive monitor and "
        "the reference SessionMonitor (if importable). Writes monitor-bench.json and "
        "monitor-bench.png and prints a table. Takes about two minutes (--quick: ~30 s).",
    )
    monitor.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    monitor.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for the JSON and PNG (default: bench-results/)",
    )
    monitor.set_defaults(func=_monitor)
    from sessionlab.commands.bench_pool import register_pool

    register_pool(targets)


def _monitor(args: argparse.Namespace) -> int:
    from sessionlab.monitor.benchmark import run_bench, table

    results = run_bench(quick=args.quick, out=args.out)
    print()
    print(table(results))
    print(f"\nwrote {args.out / 'monitor-bench.json'} and {args.out / 'monitor-bench.png'}")
    return 0
