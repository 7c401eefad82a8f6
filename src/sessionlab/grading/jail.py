"""Run untrusted student code (a Jupyter kernel, a monitor under the harness) in a jail.

``python -m sessionlab.grading.jail --config JSON -- COMMAND...`` is what the grading kernel
spec and the monitor grader start. As root on Linux it:

* enters new **mount, network and PID namespaces**: the network namespace has only a loopback
  interface (brought up, so the course model and the harness still work); when the jail's
  first process exits, the kernel kills every process left in the PID namespace (forks,
  daemons, a fork bomb's survivors);
* mounts a size-limited **tmpfs on /tmp** (the code's only writable place: ``HOME``,
  ``TMPDIR`` and the working directory live there), and on ``/dev/shm`` and ``/var/tmp``;
* hides the **repository** (solutions with hidden tests, the gradebook, ``.git``), the grading
  course copy and the submissions: an empty read-only tmpfs is mounted over each, and only the
  virtualenv, the ``sessionlab`` sources and the pinned CLIs are bound back, read-only, at
  their own paths (on top of the private ``/tmp`` too, when the checkout lives there);
* drops to an **unprivileged uid** and sets rlimits: address space or data size (memory),
  process count (fork bombs), file size (disk), CPU seconds and open files;
* enforces a **wall-clock limit** on the whole run.

Without root (or where namespaces are not allowed) it falls back to the rlimits and the wall
limit only, and says so once on stderr (``fallback`` in ``capabilities()``): grade inside a
throw-away container or VM then. Kept free of heavy imports: a kernel start pays for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
SHARED = ("/tmp", "/dev/shm", "/var/tmp")  # world-writable: each gets a private tmpfs

# The uid student code runs as: no entry in /etc/passwd is needed, and no other process on a
# grading machine should use it, so RLIMIT_NPROC (counted per uid) counts only the jail's.
DEFAULT_UID = 61_000


@dataclass
class JailLimits:
    """Every limit of one jailed run. Sizes in MiB, times in seconds; 0 means no limit."""

    wall_s: float = 600.0
    cpu_s: int = 600
    memory_mb: int = 2048  # RLIMIT_DATA: heap and private writable mappings
    address_space_mb: int = 0  # RLIMIT_AS: stricter, but breaks Node's reservations
    nproc: int = 256  # processes *and threads* of the jail uid
    fsize_mb: int = 64  # largest file the code may write
    nofile: int = 1024
    tmp_mb: int = 128  # size of the private /tmp
    uid: int = DEFAULT_UID
    isolate: bool = True  # namespaces, hidden paths, uid drop (root only)
    hide: list[str] = field(default_factory=list)  # extra paths to cover with an empty tmpfs
    cover: list[str] = field(default_factory=list)  # trees hidden whole, except `keep` paths
    keep: list[str] = field(default_factory=list)  # bound back read-only inside `cover`
    links: dict[str, str] = field(default_factory=dict)  # name under the jail's HOME -> target
    # Folders bound read-write at their own path: the exchange folder a grader process and the
    # student's kernel both see (tests prepare files there for the student's code).
    shared: list[str] = field(default_factory=list)
    # A PID namespace to join instead of a new one (``/proc/<pid>/ns/pid_for_children`` of
    # another jail's wrapper): a grader whose writer processes the student's code must see.
    join_pid_ns: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JailLimits:
        return cls(**json.loads(text))


@functools.cache
def _libc() -> ctypes.CDLL:
    """libc, loaded once. Never ``find_library`` after unshare(): it forks a helper, which
    would become (and, exiting, end) PID 1 of the new namespace."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(
    libc: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str = ""
) -> None:
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def capabilities() -> dict[str, bool | str]:
    """What isolation this machine gives: probed by unsharing in a throw-away child."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return {"isolated": False, "fallback": "not root on Linux: rlimits and time limits only"}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _check(_libc().unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return {"isolated": False, "fallback": "unshare() refused (container without privileges)"}
    return {"isolated": True, "fallback": ""}


def _loopback_up() -> None:
    """Bring ``lo`` up in the new network namespace (it starts down): loopback only."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _setup_mounts(limits: JailLimits, extra_binds: dict[str, str]) -> None:
    """Private /tmp, hidden repository and course; must run in the new mount namespace.

    ``extra_binds`` maps a path outside the jail (e.g. the kernel's IPC socket folder) to where
    it appears inside. Sources are opened before anything is covered, then bound from
    ``/proc/self/fd``: that is how a path under a hidden tree stays reachable.
    """
    libc = _libc()
    _mount(libc, "none", "/", "", MS_REC | MS_PRIVATE)
    keep_fds = {
        path: os.open(path, os.O_PATH)
        for path in [*limits.keep, *extra_binds, *limits.shared]
        if os.path.exists(path)
    }
    secure = MS_NOSUID | MS_NODEV
    shared = [s for s in SHARED if os.path.isdir(s)]
    for folder in shared:
        size = limits.tmp_mb if folder == "/tmp" else 16
        _mount(libc, "tmpfs", folder, "tmpfs", secure, f"size={size}m,mode=1777")
    trees = [t for t in limits.cover if os.path.isdir(t) and not _under_any(t, shared)]
    trees = [t for t in trees if not any(o != t and _under(t, o) for o in trees)]
    for tree in trees:
        _mount(libc, "tmpfs", tree, "tmpfs", secure, "size=1m,mode=755")
    # Everything under a fresh tmpfs is gone, the private /tmp included: a checkout (venv,
    # sources) under /tmp, /var/tmp or a covered home is bound back at its own path, on top.
    kept: list[str] = []
    for path in sorted(keep_fds, key=len):  # a parent before what it contains
        if path not in limits.keep or _under_any(path, kept):
            continue
        if _under_any(path, [*shared, *trees]):
            _makedirs(path)
            _mount(libc, f"/proc/self/fd/{keep_fds[path]}", path, "", MS_BIND | MS_REC)
            _mount(libc, "none", path, "", MS_REMOUNT | MS_BIND | MS_RDONLY | secure)
            kept.append(path)
    for tree in trees:
        _mount(libc, "none", tree, "", MS_REMOUNT | MS_RDONLY | secure)
    for path in limits.hide:
        hidden = _under_any(path, [*shared, *limits.cover]) and not _under_any(path, kept)
        if os.path.isdir(path) and not hidden:
            _mount(libc, "tmpfs", path, "tmpfs", secure | MS_RDONLY, "size=1k,mode=555")
    for source, target in [*extra_binds.items(), *((s, s) for s in limits.shared)]:
        if source not in keep_fds:
            continue
        _makedirs(target)
        _mount(libc, f"/proc/self/fd/{keep_fds[source]}", target, "", MS_BIND)
    for fd in keep_fds.values():
        os.close(fd)


def _makedirs(path: str) -> None:
    """Mount points the jail creates: root's, 0755 whatever the umask (the jail uid may write
    to /tmp, never rename or replace a folder on the way to a bound-back path)."""
    old = os.umask(0o022)
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    finally:
        os.umask(old)


def _under_any(path: str, roots: list[str]) -> bool:
    return any(_under(path, root) for root in roots)


def _under(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _set_rlimits(limits: JailLimits) -> None:
    def cap(kind: int, value: int) -> None:
        if value > 0:
            resource.setrlimit(kind, (value, value))

    mib = 1 << 20
    cap(resource.RLIMIT_CPU, limits.cpu_s)
    cap(resource.RLIMIT_DATA, limits.memory_mb * mib)
    cap(resource.RLIMIT_AS, limits.address_space_mb * mib)
    cap(resource.RLIMIT_FSIZE, limits.fsize_mb * mib)
    cap(resource.RLIMIT_NOFILE, limits.nofile)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.isolate and os.geteuid() == 0:
        cap(resource.RLIMIT_NPROC, limits.nproc)  # not enforced for root: only after the drop


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _prepare_connection_file(argv: list[str], home: str, uid: int) -> tuple[list[str], dict]:
    """Copy a kernel's connection file (root-only, mode 0600) to where the jailed kernel reads it.

    With ``transport: ipc`` the sockets live next to the original file: that folder is bound
    into the jail at ``/tmp/.ipc`` and ``ip`` is rewritten to match. Returns the new argv and
    the binds to make.
    """
    if "-f" not in argv:
        return argv, {}
    index = argv.index("-f") + 1
    original = argv[index]
    info = json.loads(Path(original).read_text())
    binds: dict[str, str] = {}
    if info.get("transport") == "ipc":
        folder = os.path.dirname(os.path.abspath(info["ip"]))
        binds[folder] = "/tmp/.ipc"
        info["ip"] = "/tmp/.ipc/" + os.path.basename(info["ip"])
    copy = os.path.join(home, ".kernel.json")
    return [*argv[:index], copy, *argv[index + 1 :]], {"binds": binds, "info": info, "path": copy}


def _write_owned(path: str, text: str, uid: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)


def _child_env(limits: JailLimits, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _secret(k)}
    env.update(
        HOME=home,
        TMPDIR=home,
        MPLCONFIGDIR=os.path.join(home, ".mpl"),
        JUPYTER_RUNTIME_DIR=os.path.join(home, ".jupyter-runtime"),
        IPYTHONDIR=os.path.join(home, ".ipython"),
        SESSIONLAB_JAILED="1",
    )
    env.update(limits.env)
    return env


def _secret(name: str) -> bool:
    """Variables student code must not see: credentials and the grader's own plumbing."""
    upper = name.upper()
    words = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")
    return any(w in upper for w in words) or upper.startswith(("AWS_", "JPY_", "SSH_", "GIT"))


def _forward(target: int) -> None:
    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL if signum == signal.SIGTERM else signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def run(limits: JailLimits, command: list[str]) -> int:
    """Run ``command`` jailed; returns its exit status (128+signal when killed)."""
    isolate = limits.isolate and capabilities()["isolated"]
    # SIGINT reaches the kernel directly (jupyter_client signals the process group); the
    # wrappers ignore it so that an interrupt stops a cell, not the jail.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not isolate:
        if limits.isolate:
            print(
                "sessionlab jail: no namespaces here; rlimits and time limits only", file=sys.stderr
            )
        return _run_plain(limits, command)
    libc = _libc()
    if limits.join_pid_ns:
        namespace = os.open(limits.join_pid_ns, os.O_RDONLY)
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        _check(libc.setns(namespace, CLONE_NEWPID), "setns")
        os.close(namespace)
    else:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
    home = "/tmp/home"
    command, conn = _prepare_connection_file(command, home, limits.uid)
    _setup_mounts(limits, conn.get("binds", {}))
    _loopback_up()
    os.makedirs(home, mode=0o700, exist_ok=True)
    os.chown(home, limits.uid, limits.uid)
    for name, target in limits.links.items():
        link = os.path.join(home, name)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
        os.chown(os.path.dirname(link), limits.uid, limits.uid)
    if conn:
        _write_owned(conn["path"], json.dumps(conn["info"]), limits.uid)
    init = os.fork()
    if init == 0:  # pid 1 of the new PID namespace
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV)
            os._exit(_init(limits, command, home))
        except BaseException as error:  # pragma: no cover - reported to the parent
            print(f"sessionlab jail: {error}", file=sys.stderr)
            os._exit(125)
    _forward(init)
    return _wait(init, limits.wall_s)


def _init(limits: JailLimits, command: list[str], home: str) -> int:
    """PID 1: start the command, reap orphans, exit with its status (which ends the rest)."""
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if "-f" in command:  # a kernel: its console chatter is not the grader's output
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            os.chdir(home)
            _set_rlimits(limits)
            _drop_privileges(limits.uid)
            os.execvpe(command[0], command, _child_env(limits, home))
        except BaseException as error:
            print(f"sessionlab jail: cannot start {command[0]}: {error}", file=sys.stderr)
            os._exit(127)
    _forward(child)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return _exit_code(status)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _wait(pid: int, wall_s: float) -> int:
    deadline = time.monotonic() + wall_s if wall_s > 0 else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return _exit_code(status)
        if deadline is not None and time.monotonic() > deadline:
            print(f"sessionlab jail: wall-clock limit of {wall_s:g} s reached", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 137
        time.sleep(0.05)


def _run_plain(limits: JailLimits, command: list[str]) -> int:
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _set_rlimits(limits)
            env = {k: v for k, v in os.environ.items() if not _secret(k)}
            env["SESSIONLAB_JAILED"] = "0"  # limits.env describes the jail's own /tmp: unused
            os.execvpe(command[0], command, env)
        except BaseException as error:
            print(f"sessionlab jail: cannot start {command[0]}: {error}", file=sys.stderr)
            os._exit(127)
    _forward(child)
    return _wait(child, limits.wall_s)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 4 or args[0] != "--config" or args[2] != "--":
        print(
            "usage: python -m sessionlab.grading.jail --config JSON -- COMMAND...", file=sys.stderr
        )
        return 2
    return run(JailLimits.from_json(args[1]), args[3:])


if __name__ == "__main__":
    sys.exit(main())
