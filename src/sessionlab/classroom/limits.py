"""Per-user memory and CPU limits for a hub's single-user servers, through Linux cgroups.

Each student's server (and every kernel, CLI and Node process it starts) runs in the cgroup
``sessionlab-hub/<user>``: a memory ceiling (the kernel's OOM killer ends that user's biggest
process, nobody else's) and a CPU quota (``1.0`` = one core's worth of time per period). The
spawner puts the server's first process in the group before it drops to the student's uid,
so nothing it starts escapes. cgroup v2 (``memory.max``, ``cpu.max``) and v1 (``memory`` and
``cpu`` hierarchies) are both handled; on a systemd server ``jupyterhub-systemdspawner`` is the
usual alternative (docs/classroom.md).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "sessionlab-hub"
CPU_PERIOD_US = 100_000


def parse_memory(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1048576"`` → bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = text.strip().upper().removesuffix("B")
    if value and value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(value)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@dataclass(frozen=True)
class UserLimits:
    """The cgroup folders of one user and the limits written into them."""

    user: str
    memory_bytes: int
    cpu_cores: float
    root: Path = CGROUP_ROOT

    @property
    def v2(self) -> bool:
        return (self.root / "cgroup.controllers").is_file()

    def folders(self) -> list[Path]:
        if self.v2:
            return [self.root / GROUP / self.user]
        return [self.root / "memory" / GROUP / self.user, self.root / "cpu" / GROUP / self.user]

    def available(self) -> bool:
        """Can limits be set here (a writable cgroup hierarchy with memory and cpu)?"""
        if self.v2:
            controllers = (self.root / "cgroup.controllers").read_text().split()
            return {"memory", "cpu"} <= set(controllers) and os.access(self.root, os.W_OK)
        return all(os.access(self.root / kind, os.W_OK) for kind in ("memory", "cpu"))

    def create(self) -> None:
        """Make the user's groups and write the limits (idempotent)."""
        quota = int(self.cpu_cores * CPU_PERIOD_US)
        if self.v2:
            group = self.root / GROUP
            group.mkdir(exist_ok=True)
            for parent in (self.root, group):
                _write(parent / "cgroup.subtree_control", "+memory +cpu")
            folder = group / self.user
            folder.mkdir(exist_ok=True)
            _write(folder / "memory.max", str(self.memory_bytes))
            _write(folder / "memory.swap.max", "0")
            _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        memory, cpu = self.folders()
        memory.mkdir(parents=True, exist_ok=True)
        cpu.mkdir(parents=True, exist_ok=True)
        _write(memory / "memory.limit_in_bytes", str(self.memory_bytes))
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", str(quota))

    def add(self, pid: int) -> None:
        """Move ``pid`` into the user's groups (its future children follow)."""
        for folder in self.folders():
            _write(folder / "cgroup.procs", str(pid))

    def members(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders():
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        return found

    def memory_usage(self) -> int:
        """Bytes the user's processes use now (page cache included, as the limit counts it)."""
        folder = self.folders()[0]
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return int((folder / name).read_text())

    def written_limits(self) -> tuple[int, float]:
        """The memory bytes and CPU cores the groups really hold (read back from the kernel)."""
        if self.v2:
            folder = self.folders()[0]
            quota_text, period_text = (folder / "cpu.max").read_text().split()
            return int((folder / "memory.max").read_text()), int(quota_text) / int(period_text)
        memory, cpu = self.folders()
        quota = int((cpu / "cpu.cfs_quota_us").read_text())
        period = int((cpu / "cpu.cfs_period_us").read_text())
        return int((memory / "memory.limit_in_bytes").read_text()), quota / period

    def remove(self) -> None:
        """Remove the groups once their processes have ended (best effort), and the class's
        parent group when it is left empty."""
        for folder in self.folders():
            for empty in (folder, folder.parent):
                with contextlib.suppress(OSError):
                    empty.rmdir()
