"""``sessionlab consolidate PROJECT_DIR --into UUID [--apply]``: fold existing fragments."""

from __future__ import annotations

import argparse
import sys

from sessionlab.errors import CourseError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "consolidate",
        help="merge already fragmented history into one session (dry run by default)",
        description="Merge every top-level <uuid>.jsonl of a project directory into one "
        "session with the monitor's engine: duplicates from legacy --resume copies are "
        "skipped, fragments are re-linked into one chain, sidechain agent-*.jsonl files are "
        "left alone. Without --apply it only reports what would move.",
    )
    parser.add_argument("project_dir", metavar="PROJECT_DIR", help="the project directory")
    parser.add_argument("--into", required=True, metavar="UUID", help="the session to keep")
    parser.add_argument("--apply", action="store_true", help="do it (default: dry run)")
    parser.add_argument(
        "--real-home",
        action="store_true",
        help="allow a directory inside your real ~/.claude (or $CLAUDE_CONFIG_DIR)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for busy files (--apply)"
    )
    parser.set_defaults(func=_consolidate)


def _consolidate(args: argparse.Namespace) -> int:
    from sessionlab.monitor import consolidation
    from sessionlab.monitor.home_guard import check_project_dir, check_session_id

    session_id = check_session_id(args.into)
    project = check_project_dir(args.project_dir, real_home=args.real_home)
    out = sys.stdout
    the_plan = consolidation.plan(project, session_id)
    verb = "merging" if args.apply else "would merge"
    print(f"{verb} into {session_id}.jsonl in {project}", file=out)
    for info in the_plan.files:
        note = " (empty: removed)" if info.empty else ""
        note += " (summary only)" if info.summary_only else ""
        print(
            f"  {info.name}: {info.lines} lines, {info.new_lines} new, "
            f"{info.duplicates} duplicates, {info.bad_lines} bad{note}",
            file=out,
        )
    for name, why in sorted(the_plan.skipped.items()):
        print(f"  left alone: {name} ({why})", file=out)
    totals = the_plan.totals()
    print(
        f"  total: {totals['files']} files, {totals['new_lines']} new lines, "
        f"{totals['duplicates']} duplicates, {totals['bad_lines']} bad lines (quarantined)",
        file=out,
    )
    print(
        f"  conversation chain: {the_plan.chain_before} -> {the_plan.chain_after} entries "
        f"of {the_plan.entries_after}",
        file=out,
    )
    if not args.apply:
        print("dry run: nothing changed; add --apply to do it", file=out)
        return 0
    try:
        stats = consolidation.apply(project, session_id, timeout=args.timeout)
    except (ValueError, OSError) as error:
        raise CourseError(str(error)) from None
    print(
        f"done: {stats['corrections']} files merged and removed, {stats['lines_merged']} lines, "
        f"{stats['duplicates_skipped']} duplicates skipped, "
        f"{stats['quarantined_lines']} quarantined",
        file=out,
    )
    if stats["pending_files"]:
        print(
            f"still in use by a writer (left in place): {', '.join(stats['pending_files'])}",
            file=out,
        )
        return 1
    return 0
