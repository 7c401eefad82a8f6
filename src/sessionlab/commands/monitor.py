"""``sessionlab monitor PROJECT_DIR --session-id UUID``: run the reference monitor live."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any, TextIO

from sessionlab.errors import CourseError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="merge stray transcripts into one fixed session, live",
        description="Watch a Claude Code project directory and merge every new stray "
        "<uuid>.jsonl into the fixed session file, losing nothing (see docs/monitor-design.md). "
        "Files present at the first start are history and are left alone. Prints a live "
        "status line; Ctrl-C or SIGTERM stops it with a final report.",
    )
    parser.add_argument("project_dir", metavar="PROJECT_DIR", help="the project directory")
    parser.add_argument("--session-id", required=True, metavar="UUID", help="the fixed session")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be merged; change nothing"
    )
    parser.add_argument(
        "--real-home",
        action="store_true",
        help="allow a directory inside your real ~/.claude (or $CLAUDE_CONFIG_DIR)",
    )
    parser.add_argument(
        "--adopt-existing",
        action="store_true",
        help="treat files already present as strays too (default: they are history)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help=argparse.SUPPRESS
    )  # tests: stop after N seconds
    parser.set_defaults(func=_monitor)


def status_line(stats: dict[str, Any]) -> str:
    return (
        f"corrections {stats['corrections']}  lines {stats['lines_merged']}  "
        f"dups {stats['duplicates_skipped']}  quarantined {stats['quarantined_lines']}  "
        f"following {len(stats['pending_files'])}"
    )


def final_report(stats: dict[str, Any], out: TextIO) -> None:
    print("monitor stopped", file=out)
    for key in (
        "corrections",
        "intercepted_files",
        "lines_merged",
        "duplicates_skipped",
        "quarantined_lines",
        "relinked_fragments",
        "empty_removed",
        "lease_busy",
        "write_errors",
        "bytes_unread",
    ):
        print(f"  {key:20} {stats.get(key)}", file=out)
    for name, why in stats.get("rejected_files", {}).items():
        print(f"  left alone: {name} ({why})", file=out)
    for name in stats.get("pending_files", []):
        print(f"  still followed at exit (resumed on next start): {name}", file=out)
    samples = stats.get("detection_latencies_ms") or []
    if samples:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"  detection p99 ms     {p99:.1f}", file=out)


def _monitor(args: argparse.Namespace) -> int:
    from sessionlab.monitor.engine import SessionMonitor
    from sessionlab.monitor.home_guard import check_project_dir, check_session_id

    session_id = check_session_id(args.session_id)
    project = check_project_dir(args.project_dir, real_home=args.real_home)
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    monitor = SessionMonitor(
        project, session_id, dry_run=args.dry_run, adopt_existing=args.adopt_existing
    )
    try:
        monitor.start()
    except (ValueError, OSError) as error:
        signal.signal(signal.SIGTERM, previous)
        raise CourseError(str(error)) from None
    mode = " (dry run: nothing is changed)" if args.dry_run else ""
    print(f"monitoring {project} -> {session_id}.jsonl{mode}; Ctrl-C to stop", flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    live = sys.stdout.isatty()
    last = ""
    try:
        while not stop.wait(0.5):
            line = status_line(monitor.get_stats())
            if line != last:
                print(("\r" + line) if live else line, end="" if live else "\n", flush=True)
                last = line
            if deadline is not None and time.monotonic() >= deadline:
                break
            if monitor.error is not None:
                raise CourseError(f"monitor failed: {monitor.error}")
    except KeyboardInterrupt:
        pass
    finally:
        monitor.stop()
        signal.signal(signal.SIGTERM, previous)
    if live:
        print()
    final_report(monitor.get_stats(), sys.stdout)
    return 0
