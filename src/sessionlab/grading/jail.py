"""Run untrusted student code (a Jupyter kernel, a monitor under the harness) in a jail.

``python -m sessionlab.grading.jail --config JSON -- COMMAND...`` is what the grading kernel
spec and the monitor grader start. As root on Linux it:

* takes a **uid of its own** from a pool (``JailLimits.uid`` .. ``uid + uids - 1``): an exclusive
  ``flock`` on ``/run/sessionlab-jail/uid-<n>.lock``, held until every process of the run is
  gone, so two jails running at once (two ``sessionlab grade`` runs, parallel workers) never
  share a uid, hence never share ``RLIMIT_NPROC``; a uid some other process still uses is
  skipped. The one exception is deliberate: a student's process and the grader process that
  tests it run as one uid the *caller* claimed (``JailLimits.claimed_uid``, see
  :func:`uid_held`);
* enters new **mount, network, PID and IPC namespaces**: the network namespace has only a
  loopback interface (brought up: the course model and the harness use 127.0.0.1); SysV
  shared memory, message queues and semaphores die with the run and no other run sees them
  (their sizes are capped); when the jail's first process exits, the kernel kills every
  process left in the PID namespace. A grader process instead joins the PID namespace of the
  student's jail it tests (``JailLimits.join_pid_ns``): lesson 03's tests start writer
  processes the student's code must see in ``/proc``;
* builds a **root by allowlist** and ``pivot_root``\\ s into it: the system directories
  (``/usr``, ``/bin``, ``/lib*``; read-only), a handful of ``/etc`` files the loader and the
  standard library read (``passwd``, ``group`` and ``hosts`` are written for the jail, not
  copied), ``/dev/{null,zero,full,random,urandom}``, a fresh ``/proc``, a size-limited private
  ``/tmp`` (``HOME``, ``TMPDIR`` and the working folder live there) and ``/dev/shm``, and the
  paths in ``JailLimits.keep`` (the Python installation, the virtualenv, ``src/``, the pinned
  CLIs), read-only at their own paths, and the folders in ``JailLimits.shared`` (the exchange
  folder of a student's process and its grader process), read-write at their own paths.
  Nothing else of the host exists inside: no checkout,
  no home, no ``/run`` (its lock folder, the UNIX sockets of host services), no ``/var``;
* gives a kernel its **own runtime folder**: the kernel's IPC sockets are created in the
  jail's private ``/tmp/.ipc`` (root's, group of the jail uid, mode 0770: the student can
  neither chmod nor replace it), hard-linked as soon as they exist into ``/tmp/.ipc-grader``
  (root's, 0700), and the client outside reaches them through symbolic links in its own
  runtime folder that point at ``/proc/<jail>/root/tmp/.ipc-grader/...``;
* passes an **environment by allowlist** (locale, terminal, ``PATH``, a few Python switches,
  what the jail sets and ``JailLimits.env``): no credentials whatever their name;
* drops to the unprivileged uid and sets rlimits: data size (memory), process count (fork
  bombs), file size (disk), CPU seconds and open files;
* enforces a **wall-clock limit** on the whole run.

Without root (or where namespaces are not allowed) it falls back to the rlimits, the
environment allowlist and the wall limit only, and says so once on stderr (``fallback`` in
``capabilities()``): grade inside a throw-away container or VM then. Kept free of heavy
imports: a kernel start pays for it.
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
import stat
import struct
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

# The first uid of the pool student code runs as: no entry in /etc/passwd is needed, and no
# other process on a grading machine should use these, so RLIMIT_NPROC counts only one jail.
DEFAULT_UID = 61_000
DEFAULT_UIDS = 64
LOCK_DIR = "/run/sessionlab-jail"  # root's, 0700: the uid pool's lock files
HOME = "/tmp/home"  # the jail's HOME and working folder
IPC_DIR = "/tmp/.ipc"  # a kernel's ZeroMQ sockets, inside the jail
SEALED_DIR = "/tmp/.ipc-grader"  # hard links to those sockets, root's: what the grader reaches
KERNEL_FILE = f"{HOME}/.kernel.json"  # a kernel's connection file, inside the jail

# The host's system directories, read-only (merged-/usr symbolic links are recreated).
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# What of /etc the loader, the standard library and Node read; everything else stays out
# (pip.conf, npmrc, gitconfig, machine-id, ... may hold tokens or identify the host).
ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "os-release",
    "mime.types", "protocols", "services", "gai.conf", "host.conf", "locale.alias",
    "alternatives", "ssl/certs", "ssl/openssl.cnf", "ca-certificates", "fonts",
)  # fmt: skip
DEVICES = ("null", "zero", "full", "random", "urandom")
# Variables passed to student code from the grader's environment, by exact name or prefix.
ENV_NAMES = frozenset(
    {
        "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR",
        "FORCE_COLOR", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE", "PYDEVD_DISABLE_FILE_VALIDATION", "MPLBACKEND",
    }
)  # fmt: skip
ENV_PREFIXES = ("LC_",)


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
    shm_mb: int = 64  # SysV shared memory in the jail's IPC namespace, all segments together
    uid: int = DEFAULT_UID  # first uid of the pool
    uids: int = DEFAULT_UIDS  # size of the pool: how many jails may run at once
    isolate: bool = True  # namespaces, the allowlist root, uid drop (root only)
    keep: list[str] = field(default_factory=list)  # bound read-only at their own paths
    hide: list[str] = field(default_factory=list)  # covered with an empty tmpfs inside `keep`
    links: dict[str, str] = field(default_factory=dict)  # name under the jail's HOME -> target
    env: dict[str, str] = field(default_factory=dict)  # set for the command, on top
    # Folders bound read-write at their own path: the exchange folder a grader process and the
    # student's process both see (tests prepare files there for the student's code).
    shared: list[str] = field(default_factory=list)
    # A PID namespace to join instead of a new one (``/proc/<pid>/ns/pid_for_children`` of
    # the student's jail wrapper): a grader whose writer processes the student's code must see.
    join_pid_ns: str = ""
    # A uid of the pool the *caller* holds (:func:`uid_held`): run as it, claim none. -1: claim.
    claimed_uid: int = -1

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


def _mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    _check(
        _libc().mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def mount_tmpfs(target: str, size_mb: int, uid: int | None) -> None:
    """A tmpfs of ``size_mb`` on ``target`` (root only): mode 0700, owned by ``uid``."""
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _mount("sessionlab-tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={size_mb}m,mode=0700{owner}")  # fmt: skip


def unmount(target: str) -> None:
    """Detach whatever is mounted on ``target`` (lazily: open files keep it alive until closed)."""
    _check(_libc().umount2(target.encode(), MNT_DETACH), f"umount {target}")


def capabilities() -> dict[str, bool | str]:
    """What isolation this machine gives: probed by unsharing in a throw-away child."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return {"isolated": False, "fallback": "not root on Linux: rlimits and time limits only"}
    if os.uname().machine not in SYS_PIVOT_ROOT:
        return {"isolated": False, "fallback": f"pivot_root unknown on {os.uname().machine}"}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _check(_libc().unshare(NAMESPACES), "unshare")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return {"isolated": False, "fallback": "unshare() refused (container without privileges)"}
    return {"isolated": True, "fallback": ""}


# --- the uid pool -------------------------------------------------------------------------


def claim_uid(limits: JailLimits, lock_dir: str = LOCK_DIR) -> tuple[int, int]:
    """A uid of the pool no other jail holds: ``(uid, fd)``; the uid is ours until ``fd`` is
    closed (or this process dies). Waits for one to free up, at most ``limits.wall_s``."""
    folder = _lock_folder(lock_dir)
    deadline = time.monotonic() + (limits.wall_s or 600.0)
    told = False
    while True:
        for uid in range(limits.uid, limits.uid + max(1, limits.uids)):
            path = os.path.join(folder, f"uid-{uid}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if _uid_in_use(uid):  # not a jail of ours: someone else's processes
                os.close(fd)
                continue
            return uid, fd
        if time.monotonic() > deadline:
            raise OSError(f"no free jail uid in {limits.uid}..{limits.uid + limits.uids - 1}")
        if not told:
            print("sessionlab jail: every jail uid is busy; waiting", file=sys.stderr)
            told = True
        time.sleep(0.1)


@contextlib.contextmanager
def uid_held(limits: JailLimits, lock_dir: str = LOCK_DIR) -> Iterator[int]:
    """Claim a uid of the pool for a student's process *and* the grader process that tests it;
    pass it to both as ``JailLimits.claimed_uid``. Yields -1 (nothing claimed) where jails do
    not isolate.

    Why one uid for two jails, when the pool exists so that jails never share one: the two
    work on the same files. Tests prepare folders and transcripts in the exchange folder
    (0700) that the student's code must read, write and rename, and the student's code leaves
    files there the tests then inspect; lesson 03's tests start writer processes whose files
    the student's ``open_for_writing`` must find through ``/proc/<pid>/fd``, which only the
    same uid may read. The grader process guards itself instead: it is not dumpable (no
    ptrace, no ``/proc/<pid>/mem`` for the student), it holds no secret but test source the
    student sees anyway once graded, and its decision leaves through a pipe the student
    cannot reach. The uid is still the pair's own: the caller's lock keeps every other jail
    off it until both runs are over.
    """
    if not (limits.isolate and capabilities()["isolated"]):
        yield -1
        return
    uid, lock = claim_uid(limits, lock_dir)
    try:
        yield uid
    finally:
        os.close(lock)


def _held_by_someone(uid: int, lock_dir: str = LOCK_DIR) -> bool:
    """Whether a process holds ``uid``'s pool lock (a jail asked to run as a claimed uid
    refuses one nobody holds: the pool would hand it to another jail meanwhile)."""
    try:
        fd = os.open(os.path.join(_lock_folder(lock_dir), f"uid-{uid}.lock"),
                     os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)  # fmt: skip
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock when we got it
    return False


def _run_uid(limits: JailLimits) -> tuple[int, int]:
    """``(uid, lock fd or -1)``: the caller's claimed uid (checked), else one from the pool."""
    if limits.claimed_uid < 0:
        return claim_uid(limits)
    uid = limits.claimed_uid
    if not limits.uid <= uid < limits.uid + max(1, limits.uids):
        raise OSError(f"claimed uid {uid} is not in the pool {limits.uid}..")
    if not _held_by_someone(uid):
        raise OSError(f"claimed uid {uid} is not held by the caller (see uid_held)")
    return uid, -1


def _lock_folder(path: str) -> str:
    """The pool's lock folder: root's and 0700, refused when anyone else could have made it."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise OSError(f"{path} must be a folder owned by root with mode 0700")
    return path


def _uid_in_use(uid: int) -> bool:
    """Whether any process runs with ``uid`` (real uid: the one RLIMIT_NPROC counts)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            return True
                        break
        except OSError:
            continue  # gone meanwhile
    return False


# --- the root by allowlist ----------------------------------------------------------------


def _loopback_up() -> None:
    """Bring ``lo`` up in the new network namespace (it starts down): loopback only."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def kept_paths(limits: JailLimits) -> tuple[list[str], dict[str, str]]:
    """What the jail binds read-only: ``limits.keep`` plus what it needs to run itself (this
    interpreter's installation and virtualenv, the ``sessionlab`` package), as real paths,
    parents first; and ``{path as given: real path}`` where the two differ (made a link)."""
    package_root = Path(__file__).resolve().parents[2]
    wanted = [*limits.keep, sys.prefix, sys.base_prefix, str(package_root)]
    real: list[str] = []
    aliases: dict[str, str] = {}
    for path in wanted:
        given, resolved = os.path.abspath(path), os.path.realpath(path)
        if not os.path.exists(resolved):
            continue
        if resolved not in real:
            real.append(resolved)
        if given != resolved:
            aliases[given] = resolved
    real.sort(key=len)
    return [p for i, p in enumerate(real) if not _under_any(p, real[:i])], aliases


def _build_root(limits: JailLimits, uid: int) -> None:
    """Make the jail's root and ``pivot_root`` into it; must run in the new mount namespace.

    Every source is opened before anything is mounted, then bound from ``/proc/self/fd``: the
    staging root covers the host's ``/tmp``, where a checkout may live.
    """
    _mount("none", "/", "", MS_REC | MS_PRIVATE)
    secure = MS_NOSUID | MS_NODEV
    sources: dict[str, int] = {}

    def source(path: str) -> int | None:
        if path not in sources:
            try:
                sources[path] = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                return None
        return sources[path]

    system = {name: os.readlink(f"/{name}") for name in SYSTEM if os.path.islink(f"/{name}")}
    etc_links = {
        name: os.readlink(f"/etc/{name}") for name in ETC if os.path.islink(f"/etc/{name}")
    }
    for path in [f"/{n}" for n in SYSTEM if n not in system]:
        source(path)
    for path in [f"/etc/{n}" for n in ETC if n not in etc_links]:
        source(path)
    for path in [f"/dev/{n}" for n in DEVICES]:
        source(path)
    kept, aliases = kept_paths(limits)
    for path in kept:
        source(path)
    shared = [os.path.realpath(p) for p in limits.shared]
    for path in shared:
        source(path)

    root = "/tmp"  # a staging mount point every host has; covered in this namespace only
    _mount("tmpfs", root, "tmpfs", secure, "size=1m,mode=755")

    def bind(path: str, target: str, *, writable: bool = False) -> None:
        fd = sources.get(path)
        if fd is None:
            return
        inside = root + target
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            _makedirs(inside)
        else:
            _makedirs(os.path.dirname(inside))
            os.close(os.open(inside, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(f"/proc/self/fd/{fd}", inside, "", MS_BIND | MS_REC)
        if not writable:
            _mount("none", inside, "", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)

    for name in SYSTEM:
        if name in system:
            os.symlink(system[name], f"{root}/{name}")
        else:
            bind(f"/{name}", f"/{name}")
    _write_etc(root, uid)
    for name in ETC:
        if name in etc_links:
            _makedirs(os.path.dirname(f"{root}/etc/{name}"))
            os.symlink(etc_links[name], f"{root}/etc/{name}")
        else:
            bind(f"/etc/{name}", f"/etc/{name}")
    _makedirs(f"{root}/dev")
    _mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        bind(f"/dev/{name}", f"/dev/{name}", writable=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    _makedirs(f"{root}/dev/shm")
    _mount("tmpfs", f"{root}/dev/shm", "tmpfs", secure, "size=16m,mode=1777")
    _makedirs(f"{root}/proc")
    _makedirs(f"{root}/tmp")
    _mount("tmpfs", f"{root}/tmp", "tmpfs", secure, f"size={limits.tmp_mb}m,mode=1777")
    _makedirs(f"{root}/var")
    os.symlink("/tmp", f"{root}/var/tmp")
    for path in kept:  # a checkout under /tmp lands on top of the private /tmp, read-only
        bind(path, path)
    for path in shared:  # the exchange folder: the same files, read-write, for both jails
        fd = sources.get(path)
        if fd is not None and os.path.isdir(f"/proc/self/fd/{fd}"):  # a folder, never a file
            bind(path, path, writable=True)
            _mount("none", root + path, "", MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    for given, resolved in aliases.items():
        if not os.path.lexists(root + given):
            _makedirs(os.path.dirname(root + given))
            os.symlink(resolved, root + given)
    for path in map(os.path.realpath, limits.hide):
        inside = root + path
        if _under_any(path, kept) and os.path.isdir(inside):
            _mount("tmpfs", inside, "tmpfs", secure | MS_RDONLY, "size=4k,mode=555")
    for fd in sources.values():
        os.close(fd)
    _mount("none", root, "", MS_REMOUNT | MS_BIND | MS_RDONLY | secure)
    os.chdir(root)
    _check(_libc().syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    _check(_libc().umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")
    os.makedirs(HOME, mode=0o700)
    os.chown(HOME, uid, uid)
    os.mkdir(IPC_DIR, 0o770)  # the kernel's sockets; root's: the student cannot chmod it
    os.chown(IPC_DIR, 0, uid)
    os.chmod(IPC_DIR, 0o770)
    os.mkdir(SEALED_DIR, 0o700)


def _write_etc(root: str, uid: int) -> None:
    """``/etc`` files written for the jail: no host account, host name or resolver leaks in."""
    files = {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{uid}:student:{HOME}:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nstudent:x:{uid}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
        "hostname": "jail\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    _makedirs(f"{root}/etc")
    for name, text in files.items():
        Path(root, "etc", name).write_text(text)
        os.chmod(f"{root}/etc/{name}", 0o644)


def _makedirs(path: str) -> None:
    """Folders the jail creates: root's, 0755 whatever the umask."""
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


def _cap_ipc(limits: JailLimits) -> None:
    """SysV IPC of the new IPC namespace: bounded, so it cannot hold the host's memory."""
    pages = max(1, limits.shm_mb * (1 << 20) // os.sysconf("SC_PAGE_SIZE"))
    for name, value in (
        ("shmmax", limits.shm_mb << 20),
        ("shmall", pages),
        ("shmmni", 64),
        ("msgmni", 64),
    ):
        with open(f"/proc/sys/kernel/{name}", "w") as handle:
            handle.write(str(value))


# --- limits, environment, the kernel's connection file -----------------------------------


def _set_rlimits(limits: JailLimits, *, isolated: bool) -> None:
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
    if isolated:
        cap(resource.RLIMIT_NPROC, limits.nproc)  # not enforced for root: only after the drop


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


@dataclass
class _Kernel:
    """A kernel's connection file, read before the host disappears, and its socket links."""

    info: dict[str, object]  # the connection file, ``ip`` rewritten to the jail's /tmp/.ipc
    links: dict[str, str]  # socket name in the client's runtime folder -> name inside
    folder: int = -1  # the client's runtime folder, open (O_PATH) while links exist
    made: list[str] = field(default_factory=list)
    sealed: bool = False

    def link_sockets(self) -> None:
        """The client's socket paths become links into this jail, through ``/proc/<pid>/root``
        (this process's root is the jail's), to ``/tmp/.ipc-grader``: root's, 0700. They
        dangle until :meth:`seal` puts the kernel's sockets there (the client retries)."""
        for base, name in self.links.items():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base, dir_fd=self.folder)  # a stale link of a jail that was killed
            target = f"/proc/{os.getpid()}/root{SEALED_DIR}/{name}"
            os.symlink(target, base, dir_fd=self.folder)
            self.made.append(base)

    def seal(self) -> bool:
        """Hard-link each socket the kernel has bound in ``/tmp/.ipc`` into the sealed folder,
        once; True when all are there.

        The kernel's uid may change ``/tmp/.ipc`` (it must create its sockets there): were the
        client's links to point into it, the student could swap a socket for a symbolic link
        to a host path, which the grader, resolving it outside the jail, would connect to on
        its next reconnect. A hard link in a root-only folder names the socket's inode: what
        the student does to ``/tmp/.ipc`` afterwards reaches no one but itself.
        """
        for name in self.links.values():
            sealed = f"{SEALED_DIR}/{name}"
            if os.path.lexists(sealed):
                continue
            try:
                os.link(f"{IPC_DIR}/{name}", sealed, follow_symlinks=False)
            except FileNotFoundError:
                return False  # not bound yet
            if not stat.S_ISSOCK(os.lstat(sealed).st_mode):  # swapped for a link or a file
                os.unlink(sealed)
                return False
        self.sealed = True
        return True

    def close(self) -> None:
        for base in self.made:
            with contextlib.suppress(OSError):
                os.unlink(base, dir_fd=self.folder)
        if self.folder != -1:
            os.close(self.folder)


def _prepare_connection_file(argv: list[str]) -> tuple[list[str], _Kernel | None]:
    """Read a kernel's connection file (root-only, mode 0600); returns the new argv (the copy
    the jail writes in its HOME) and the kernel, or None when ``argv`` is not a kernel's."""
    if "-f" not in argv:
        return argv, None
    index = argv.index("-f") + 1
    info = json.loads(Path(argv[index]).read_text())
    kernel = _Kernel(info, {})
    if info.get("transport") == "ipc":
        host_ip = os.path.abspath(info["ip"])
        ports = [v for k, v in info.items() if k.endswith("_port") and isinstance(v, int)]
        base = os.path.basename(host_ip)
        kernel.links = {f"{base}-{port}": f"k-{port}" for port in ports}
        kernel.folder = os.open(os.path.dirname(host_ip), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        info["ip"] = f"{IPC_DIR}/k"
    return [*argv[:index], KERNEL_FILE, *argv[index + 1 :]], kernel


def _write_owned(path: str, text: str, uid: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)


def allowed_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The grader's variables student code may see: an allowlist, never a guess by name."""
    return {k: v for k, v in environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


def _child_env(limits: JailLimits) -> dict[str, str]:
    env = allowed_env(os.environ)
    env.update(
        HOME=HOME,
        TMPDIR=HOME,
        USER="student",
        LOGNAME="student",
        MPLCONFIGDIR=os.path.join(HOME, ".mpl"),
        JUPYTER_RUNTIME_DIR=os.path.join(HOME, ".jupyter-runtime"),
        IPYTHONDIR=os.path.join(HOME, ".ipython"),
        SESSIONLAB_JAILED="1",
        # The grader's own ``sessionlab`` (the jail binds it read-only), whichever checkout the
        # venv's editable install points at: a grading worker running from its own copy of the
        # course must grade with that copy, whose content hash the coordinator checked.
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    env.update(limits.env)
    return env


def _forward(target: int) -> None:
    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL if signum == signal.SIGTERM else signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# --- running ------------------------------------------------------------------------------


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
    uid, lock = _run_uid(limits)
    kernel: _Kernel | None = None
    try:
        command, kernel = _prepare_connection_file(command)
        libc = _libc()
        if limits.join_pid_ns:  # opened before the host's /proc disappears
            namespace = os.open(limits.join_pid_ns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(libc.unshare(NAMESPACES & ~CLONE_NEWPID), "unshare")
                _check(libc.setns(namespace, CLONE_NEWPID), "setns")
            finally:
                os.close(namespace)
        else:
            _check(libc.unshare(NAMESPACES), "unshare")
        _build_root(limits, uid)
        _loopback_up()
        for name, target in limits.links.items():
            link = os.path.join(HOME, name)
            _makedirs(os.path.dirname(link))
            os.symlink(target, link)
            os.chown(os.path.dirname(link), uid, uid)
        if kernel:
            _write_owned(KERNEL_FILE, json.dumps(kernel.info), uid)
            kernel.link_sockets()
        init = os.fork()
        if init == 0:  # pid 1 of the new PID namespace (a joined one: just a process in it)
            try:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                _cap_ipc(limits)
                os._exit(_init(limits, command, uid))
            except BaseException as error:  # pragma: no cover - reported to the parent
                print(f"sessionlab jail: {error}", file=sys.stderr)
                os._exit(125)
        _forward(init)
        return _wait(init, limits.wall_s, kernel if kernel and kernel.links else None)
    finally:
        if kernel:
            kernel.close()
        if lock != -1:
            os.close(lock)  # every process of the uid is gone: PID 1's exit waited for them


def _init(limits: JailLimits, command: list[str], uid: int) -> int:
    """PID 1: start the command, reap orphans, exit with its status (which ends the rest)."""
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if "-f" in command:  # a kernel: its console chatter is not the grader's output
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            os.chdir(HOME)
            _set_rlimits(limits, isolated=True)
            _drop_privileges(uid)
            os.execvpe(command[0], command, _child_env(limits))
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


def _wait(pid: int, wall_s: float, kernel: _Kernel | None = None) -> int:
    """Wait for ``pid`` within ``wall_s``; meanwhile seal ``kernel``'s sockets as soon as
    it binds them (polled every 5 ms until then: a kernel binds before it runs any cell)."""
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
        if kernel is not None and not kernel.sealed and not kernel.seal():
            time.sleep(0.005)
            continue
        time.sleep(0.05)


def _run_plain(limits: JailLimits, command: list[str]) -> int:
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _set_rlimits(limits, isolated=False)
            env = allowed_env(os.environ)
            for name in ("HOME", "USER", "LOGNAME", "TMPDIR"):
                if name in os.environ:
                    env[name] = os.environ[name]
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
    try:
        return run(JailLimits.from_json(args[1]), args[3:])
    except OSError as error:
        print(f"sessionlab jail: {error}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main())
