"""Writer processes that behave like the CLI writing a transcript, in the ways that break merges.

Run as ``python -m sessionlab.monitor.harness.writers '<plan as JSON>'`` so each writer is a
real, separate process (as the CLI is) doing real ``open``/``write``/``close`` calls. On exit
it prints ``{"uuids": [...]}``: the uuids of the lines it wrote *completely*, which is what
the harness then looks for in the fixed file.

Kinds (``plan["kind"]``):

- ``persistent``: one fd held open for the whole run, a line every ``interval_s``, pauses;
- ``reopen``: open/append/close for every line (Node's ``appendFileSync`` style);
- ``torn``: every line split into 2-3 ``write()`` calls with sleeps in between, a third of
  them inside a multi-byte UTF-8 character; the file is opened before the first piece and
  closed after the last (a writer never closes mid-line, but a reader sees half a line);
- ``large``: lines of ``sizes`` bytes (20 KB .. 10 MB), open/append/close per line;
- ``burst``: ``files`` separate stray files created back to back, ``lines_per_file`` each.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sessionlab.monitor.harness.lines import TEXT, line_uuid, make_line

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, _FLAGS, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


class _Pacer:
    """Sleeps ``interval_s`` between lines and ``pause_s`` every ``pause_every`` lines."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.interval = float(plan.get("interval_s", 0.001))
        self.pause_every = int(plan.get("pause_every", 0))
        self.pause = float(plan.get("pause_s", 0.0))
        self.deadline = time.monotonic() + float(plan.get("duration_s", 1.0))
        self.max_lines = int(plan.get("max_lines", 1_000_000))

    def more(self, written: int) -> bool:
        return written < self.max_lines and time.monotonic() < self.deadline

    def after(self, written: int) -> None:
        if self.pause_every and written % self.pause_every == 0:
            time.sleep(self.pause)
        elif self.interval:
            time.sleep(self.interval)


def write_persistent(plan: dict[str, Any]) -> list[str]:
    path = Path(plan["dir"]) / plan["name"]
    run, sid, pacer = plan["run"], plan["session_id"], _Pacer(plan)
    done: list[str] = []
    fd = os.open(path, _FLAGS, 0o600)
    try:
        while pacer.more(len(done)):
            seq = len(done)
            _write_all(fd, make_line(run, seq, sid))
            done.append(line_uuid(run, seq))
            pacer.after(len(done))
    finally:
        os.close(fd)
    return done


def write_reopen(plan: dict[str, Any]) -> list[str]:
    path = Path(plan["dir"]) / plan["name"]
    run, sid, pacer = plan["run"], plan["session_id"], _Pacer(plan)
    done: list[str] = []
    while pacer.more(len(done)):
        seq = len(done)
        _append(path, make_line(run, seq, sid))
        done.append(line_uuid(run, seq))
        pacer.after(len(done))
    return done


def _split_points(line: bytes, seq: int, rng: random.Random) -> list[int]:
    """Where to cut a line: inside the 4-byte emoji every third line, else at random."""
    if seq % 3 == 0:
        emoji = line.find(TEXT[-2].encode())
        if emoji > 0:
            return [emoji + 2]  # mid-character: neither half decodes as UTF-8 on its own
    cuts = sorted(rng.sample(range(1, len(line) - 1), k=rng.choice((1, 2))))
    return cuts


def write_torn(plan: dict[str, Any]) -> list[str]:
    path = Path(plan["dir"]) / plan["name"]
    run, sid, pacer = plan["run"], plan["session_id"], _Pacer(plan)
    rng = random.Random(plan.get("seed", 0))
    done: list[str] = []
    while pacer.more(len(done)):
        seq = len(done)
        line = make_line(run, seq, sid)
        fd = os.open(path, _FLAGS, 0o600)  # held for the whole line, closed after it
        try:
            start = 0
            for cut in [*_split_points(line, seq, rng), len(line)]:
                _write_all(fd, line[start:cut])
                start = cut
                if cut < len(line):
                    time.sleep(rng.uniform(0.002, 0.008))
        finally:
            os.close(fd)
        done.append(line_uuid(run, seq))
        pacer.after(len(done))
    return done


def write_large(plan: dict[str, Any]) -> list[str]:
    path = Path(plan["dir"]) / plan["name"]
    run, sid = plan["run"], plan["session_id"]
    interval = float(plan.get("interval_s", 0.005))
    done: list[str] = []
    for seq, size in enumerate(plan["sizes"]):
        _append(path, make_line(run, seq, sid, size=int(size)))
        done.append(line_uuid(run, seq))
        time.sleep(interval)
    return done


def write_burst(plan: dict[str, Any]) -> list[str]:
    directory = Path(plan["dir"])
    per_file = int(plan.get("lines_per_file", 2))
    done: list[str] = []
    for i in range(int(plan["files"])):
        run = f"{plan['run']}/{i}"
        sid = str(uuid.uuid4())
        data = b"".join(make_line(run, seq, sid) for seq in range(per_file))
        _append(directory / f"{sid}.jsonl", data)
        done.extend(line_uuid(run, seq) for seq in range(per_file))
    return done


KINDS = {
    "persistent": write_persistent,
    "reopen": write_reopen,
    "torn": write_torn,
    "large": write_large,
    "burst": write_burst,
}


def main(argv: list[str]) -> int:
    plan = json.loads(argv[0])
    uuids = KINDS[plan["kind"]](plan)
    sys.stdout.write(json.dumps({"uuids": uuids}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
