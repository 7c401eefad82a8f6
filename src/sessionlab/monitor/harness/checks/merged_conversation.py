"""Checks on the merged *conversation*, not just on the lines.

- ``chain_continuity``: three fragments, each a root (``parentUuid: null``) as separate
  connections write them; after the merge, walking back from the newest leaf must visit every
  user/assistant entry, or ``--resume`` of the fixed session loses history.
- ``dedup_resume_copy``: two legacy ``--resume`` forks that copy earlier lines with the same
  uuids; the fixed file must hold each uuid once.
- ``old_sessions_untouched``: session files that existed before ``start()`` are other
  conversations, not strays; they must be neither merged nor deleted.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from sessionlab.monitor.harness.chain import conversation_chain
from sessionlab.monitor.harness.context import CheckContext
from sessionlab.monitor.harness.fragments import (
    Entry,
    hello_fragment,
    legacy_fork,
    message_uuids,
    to_bytes,
    tool_fragment,
)
from sessionlab.monitor.harness.results import CheckResult
from sessionlab.monitor.harness.tally import read_fixed


def _wait_merged(ctx: CheckContext, uuids: list[str], limit_s: float) -> None:
    tail = ctx.new_tail()
    deadline = min(time.monotonic() + limit_s, ctx.deadline - 3 * ctx.config.stop_timeout_s)
    while time.monotonic() < deadline:
        tail.poll()
        if all(u in tail.first_seen for u in uuids):
            return
        time.sleep(0.02)


def check_chain_continuity(ctx: CheckContext) -> CheckResult:
    written: list[Entry] = []
    with ctx.monitor():
        for make in (
            lambda sid: hello_fragment(sid, "first connection"),
            lambda sid: tool_fragment(sid, "/home/student/w/notes.txt"),
            lambda sid: hello_fragment(sid, "third connection"),
        ):
            sid = str(uuid.uuid4())
            fragment = make(sid)
            # Written whole, so that only the chain is under test here (the preservation
            # checks cover fragments that are still being written).
            ctx.write_stray(to_bytes(fragment), f"{sid}.jsonl")
            written += fragment
            _wait_merged(ctx, message_uuids(fragment), ctx.config.chain_fragment_wait_s)
        ctx.settle(message_uuids(written))
    entries, malformed, _ = read_fixed(ctx.fixed_path)
    chain, walker = conversation_chain(entries)
    on_chain = {e.get("uuid") for e in chain}
    wanted = message_uuids(written)
    missing = [u for u in wanted if u not in on_chain]
    present = {e.get("uuid") for e in entries}
    numbers = {
        "entries": len(wanted),
        "on_chain": len(wanted) - len(missing),
        "lost": sum(1 for u in wanted if u not in present),
        "roots_in_fixed": sum(
            1 for e in entries if e.get("type") in ("user", "assistant") and not e.get("parentUuid")
        ),
        "malformed": malformed,
    }
    passed = not missing
    detail = (
        f"resume would see {numbers['on_chain']} of {len(wanted)} messages ({walker})"
        if missing
        else f"all {len(wanted)} messages on one chain ({walker})"
    )
    return CheckResult("chain_continuity", passed, numbers, detail)


def check_dedup_resume_copy(ctx: CheckContext) -> CheckResult:
    original = hello_fragment(ctx.session_id, "hello")
    ctx.fixed_path.write_bytes(to_bytes(original))
    history = list(original)
    with ctx.monitor():
        for text in ("READ:/home/student/w/notes.txt", "and again"):
            sid = str(uuid.uuid4())
            fork = legacy_fork(history, sid, text)
            ctx.write_stray(to_bytes(fork), f"{sid}.jsonl")
            new_turn = fork[-2:]
            history += new_turn
            _wait_merged(ctx, message_uuids(new_turn), ctx.config.chain_fragment_wait_s)
        ctx.settle(message_uuids(history))
    tally = ctx.tally(message_uuids(history))
    numbers = {
        "entries": tally.written,
        "lost": tally.lost,
        "duplicated": tally.duplicated,
        "malformed": tally.malformed,
    }
    return CheckResult("dedup_resume_copy", tally.clean, numbers, tally.summary())


def check_old_sessions_untouched(ctx: CheckContext) -> CheckResult:
    ctx.fixed_path.write_bytes(to_bytes(hello_fragment(ctx.session_id, "fixed")))
    old: dict[str, bytes] = {}
    for i in range(3):
        sid = str(uuid.uuid4())
        data = to_bytes(hello_fragment(sid, f"an older conversation #{i}"))
        (ctx.project_dir / f"{sid}.jsonl").write_bytes(data)
        old[f"{sid}.jsonl"] = data
    old_uuids = {e["uuid"] for data in old.values() for e in _entries(data)}
    with ctx.monitor():
        sid = str(uuid.uuid4())
        fresh = hello_fragment(sid, "a new connection")
        ctx.write_stray(to_bytes(fresh), f"{sid}.jsonl")
        _wait_merged(ctx, message_uuids(fresh), ctx.config.chain_fragment_wait_s)
        time.sleep(0.3)
    touched = 0
    for name, data in old.items():
        path = ctx.project_dir / name
        if not path.exists() or path.read_bytes() != data:
            touched += 1
    entries, _, _ = read_fixed(ctx.fixed_path)
    merged_old = sum(1 for e in entries if e.get("uuid") in old_uuids)
    numbers = {"old_files": len(old), "touched": touched, "old_lines_merged": merged_old}
    passed = touched == 0 and merged_old == 0
    detail = (
        f"{touched}/{len(old)} pre-existing session files changed or removed, "
        f"{merged_old} of their lines merged (no baseline at start-up)"
        if not passed
        else "pre-existing sessions left alone"
    )
    return CheckResult("old_sessions_untouched", passed, numbers, detail)


def _entries(data: bytes) -> list[Entry]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "chain_continuity": check_chain_continuity,
    "dedup_resume_copy": check_dedup_resume_copy,
    "old_sessions_untouched": check_old_sessions_untouched,
}
