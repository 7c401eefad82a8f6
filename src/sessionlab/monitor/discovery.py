"""Which files are strays, and the table of the ones being followed (rules 6 and 10).

Names are classified (tombstone, stray, or left alone: hidden, the fixed file, sidechains,
the baseline's history), opened safely and keyed by inode; rejected names are remembered
until their inode changes. A rescan lists the directory and hands the new strays over in
conversation order (:mod:`sessionlab.monitor.ordering`).
"""

from __future__ import annotations

import logging
import os

from sessionlab.clock import Clock
from sessionlab.durable.safety import UnsafeFile, open_stray
from sessionlab.monitor.counters import MonitorStats
from sessionlab.monitor.follower import Follower
from sessionlab.monitor.ordering import order_by_conversation
from sessionlab.monitor.quarantine import Quarantine
from sessionlab.transcripts import is_sidechain_file

log = logging.getLogger(__name__)

#: Hidden, in-directory name a stray gets before it is removed (rule 4/5). Renaming inside the
#: watched directory avoids watchdog's 0.5 s move-pairing stall; no ``.jsonl`` suffix, so the
#: CLI never lists it as a session.
TOMBSTONE_PREFIX = ".sessionlab-merging-"

FileKey = tuple[int, int]  # (st_dev, st_ino) while our fd pins the inode


class StrayDiscovery:
    """The strays of one directory: classification, safe opening, the follower table."""

    def __init__(
        self,
        fixed_name: str,
        max_line_bytes: int,
        quarantine: Quarantine,
        stats: MonitorStats,
        clock: Clock,
    ) -> None:
        self.fixed_name = fixed_name
        self.clock = clock  # the monitor's: wall time against file timestamps
        self.max_line_bytes = max_line_bytes
        self.quarantine = quarantine
        self.stats = stats
        self.dir_fd = -1
        self.dir_dev = 0
        self.baseline: set[str] = set()
        self.followers: dict[FileKey, Follower] = {}
        self.names: dict[str, FileKey] = {}
        self.rejected: dict[str, int] = {}

    def attach(self, dir_fd: int) -> None:
        """Work relative to the project directory's fd (every open and rename uses it)."""
        self.dir_fd = dir_fd
        self.dir_dev = os.fstat(dir_fd).st_dev

    def classify(self, name: str) -> str | None:
        if name.startswith(TOMBSTONE_PREFIX):
            return "tombstone"
        if (
            not name.endswith(".jsonl")
            or name.startswith(".")
            or name == self.fixed_name
            or is_sidechain_file(name)  # the CLI finds sidechains by agentId: leave them
            or name in self.baseline
        ):
            return None
        return "stray"

    def list_candidates(self) -> set[str]:
        """Every top-level session file but the fixed one (the first baseline)."""
        names = set()
        with os.scandir(self.dir_fd) as listing:
            for entry in listing:
                if (
                    entry.name.endswith(".jsonl")
                    and entry.name != self.fixed_name
                    and not entry.name.startswith(".")
                ):
                    names.add(entry.name)
        return names

    def unseen(self) -> list[str]:
        """Strays not followed yet, oldest conversation first (never by mtime or name)."""
        found: list[str] = []
        with os.scandir(self.dir_fd) as listing:
            for entry in listing:
                name = entry.name
                if name in self.names or self.classify(name) is None:
                    continue
                if self.rejected.get(name) == entry.inode():
                    continue
                found.append(name)
        return order_by_conversation(found, self.dir_fd)

    def ensure(self, name: str, now: float, *, from_event: bool) -> Follower | None:
        """The follower of ``name``, opening it if it is a new stray; None if it is not one."""
        key = self.names.get(name)
        if key is not None:
            return self.followers.get(key)
        kind = self.classify(name)
        if kind is None:
            return None
        try:
            opened = open_stray(self.dir_fd, name, self.dir_dev)
        except FileNotFoundError:
            return None
        except UnsafeFile as why:
            self.reject(name, str(why))
            return None
        existing = self.followers.get(opened.key)
        if existing is not None:  # renamed by someone else: same inode, new name
            os.close(opened.fd)
            self.names.pop(existing.name, None)
            existing.name = name
            self.names[name] = opened.key
            return existing
        follower = Follower(
            fd=opened.fd,
            key=opened.key,
            name=name,
            original_name=name,
            max_line=self.max_line_bytes,
            quarantine=self.quarantine,
            tombstoned=kind == "tombstone",
            first_seen=now,
            last_growth=now,
        )
        self.followers[opened.key] = follower
        self.names[name] = opened.key
        self.stats.intercepted(name)
        if from_event:
            born = min(opened.st.st_mtime, opened.st.st_ctime)
            self.stats.sample("detection_latencies_ms", max(0.0, self.clock.wall() - born))
        return follower

    def rename(self, follower: Follower, new_name: str) -> None:
        self.names.pop(follower.name, None)
        follower.name = new_name
        self.names[new_name] = follower.key

    def forget(self, follower: Follower) -> None:
        self.followers.pop(follower.key, None)
        self.names.pop(follower.name, None)
        follower.close()

    def still_named(self, follower: Follower) -> bool:
        """Does the follower's name still lead to the inode we follow?"""
        try:
            st = os.stat(follower.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == follower.key

    def reject(self, name: str, why: str) -> None:
        try:
            inode = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False).st_ino
        except OSError:
            return  # vanished: nothing to remember
        if self.rejected.get(name) != inode:
            log.warning("leaving %s alone: %s", name, why)
        self.rejected[name] = inode
        self.stats.rejected(name, why)

    def close(self) -> None:
        for follower in self.followers.values():
            follower.close()
        self.followers.clear()
        self.names.clear()
