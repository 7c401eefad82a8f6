"""Attacks on the jail from inside, as a student's code would make them (real jail, real uids).

Each test plants something on the host (another checkout of the course, secrets in the
environment, a UNIX socket, SysV IPC objects) or runs two jails at once, then attacks from
inside and checks from outside. About 10 s together.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionlab.grading.jail import JailLimits, capabilities, claim_uid
from sessionlab.grading.jail_settings import grading_limits

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not capabilities()["isolated"], reason="needs root and namespaces (documented fallback)"
)

# A student's walk over everything the jail lets it see: sockets, and any file that names or
# contains ``token`` (a planted copy of the course carries it in its hidden tests).
WALK = """
import os, stat, sys
token = sys.argv[1]
sockets, hits, files = [], [], 0
def walk(folder):
    global files
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.path in ("/proc", "/dev/fd"):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if token in entry.name:
            hits.append(entry.path)
        if stat.S_ISSOCK(info.st_mode):
            sockets.append(entry.path)
        elif stat.S_ISDIR(info.st_mode):
            walk(entry.path)
        elif stat.S_ISREG(info.st_mode):
            files += 1
            if entry.name.endswith((".ipynb", ".db", ".json")) and info.st_size < 4 << 20:
                try:
                    with open(entry.path, "rb") as handle:
                        if token.encode() in handle.read():
                            hits.append(entry.path)
                except OSError:
                    pass
walk("/")
print("files", files)
print("sockets", sockets)
print("hits", hits)
"""


def jailed(
    code: str, config: JailLimits | None = None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    config = config or grading_limits(wall_s=60)
    command = [sys.executable, "-m", "sessionlab.grading.jail", "--config", config.to_json(),
               "--", sys.executable, "-c", textwrap.dedent(code), *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def start_jailed(code: str, config: JailLimits, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "sessionlab.grading.jail", "--config", config.to_json(),
               "--", sys.executable, "-u", "-c", textwrap.dedent(code), *args]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder outside /tmp and outside everything the jail keeps: where a second checkout
    of the course (or a host service's socket) could be on a real machine."""
    folder = ROOT / ".course" / "scratch" / f"jail-attack-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_another_checkout_of_the_course_is_not_in_the_jail(scratch: Path, tmp_path: Path) -> None:
    """The security review read a second copy of the course elsewhere on the machine."""
    token = f"hidden-{uuid.uuid4().hex}"
    for place in (scratch / "course-copy", tmp_path / "course-copy"):
        shutil.copytree(ROOT / "solutions" / "03-monitor", place / "solutions" / "03-monitor")
        notebook = place / "solutions" / "03-monitor" / "03-monitor.ipynb"
        text = notebook.read_text().replace(
            "### BEGIN HIDDEN TESTS", f"### BEGIN HIDDEN TESTS {token}"
        )
        assert token in text
        notebook.write_text(text)
        (place / f"gradebook-{token}.db").write_text(token)
    done = jailed(WALK, None, token)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["hits"] == "[]", lines["hits"]
    assert int(lines["files"]) > 1000, "the walk saw the system and the venv"
    # A checkout the machine has beside this one (CI clones elsewhere; /work/main is then
    # another copy of the course). This checkout's own root exists in the jail as the
    # skeleton that carries the venv, src/ and the CLIs, so it is not a probe.
    others = [p for p in ("/work/main",) if Path(p).resolve() != ROOT.resolve()]
    probe = jailed(
        """
        import os, sys
        for path in sys.argv[1:]:
            print(path, os.path.exists(path))
        """,
        None,
        str(ROOT / "solutions"), str(ROOT / ".git"), str(scratch), *others, "/home",
        str(Path.home() / ".ssh"), "/root/.bash_history", "/etc/pip.conf", "/etc/npmrc",
        "/etc/machine-id", "/var/lib", "/opt", "/srv", "/run",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert " True" not in probe.stdout, probe.stdout


def test_secrets_in_the_environment_never_reach_student_code() -> None:
    secrets = {
        "DATABASE_URL": f"postgres://grader:{uuid.uuid4().hex}@db/course",
        "MYSQL_PWD": uuid.uuid4().hex,
        "SMTP_PASSWD": uuid.uuid4().hex,
        "SENTRY_DSN": f"https://{uuid.uuid4().hex}@sentry.example/1",
        "COURSE_OPERATOR": uuid.uuid4().hex,  # a name no denylist would guess
    }
    done = jailed(
        """
        import os
        print(sorted(os.environ))
        print(repr(dict(os.environ)))
        for pid in os.listdir("/proc"):  # the jail's own init and wrapper processes
            if pid.isdigit():
                for part in ("environ", "cmdline"):
                    try:
                        print(open(f"/proc/{pid}/{part}", "rb").read())
                    except OSError as error:
                        print(pid, part, "refused", error.errno)
        """,
        env={**os.environ, **secrets},
    )
    assert done.returncode == 0, done.stderr
    for name, value in secrets.items():
        assert value not in done.stdout, f"{name} reached the jail"
    assert "1 environ refused 13" in done.stdout, "init's environment is root's"


def test_host_unix_sockets_and_run_lock_are_out_of_reach(scratch: Path) -> None:
    token = uuid.uuid4().hex
    path = scratch / f"service-{token}.sock"
    named = socket.socket(socket.AF_UNIX)
    named.bind(str(path))
    named.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0sessionlab-{token}")
    abstract.listen()
    try:
        walk = jailed(WALK, None, token)
        lines = dict(line.split(" ", 1) for line in walk.stdout.splitlines())
        assert lines["sockets"] == "[]", lines["sockets"]
        probe = jailed(
            f"""
            import os, socket
            for address in ({str(path)!r}, "\\0sessionlab-{token}"):
                client = socket.socket(socket.AF_UNIX)
                try:
                    client.connect(address)
                    print("connected", repr(address))
                except OSError as error:
                    print("refused", error.errno)
            for folder in ("/run/lock", "/var/lock", "/run", "/var/run", "/var"):
                try:
                    os.makedirs(folder, exist_ok=True)
                    open(folder + "/{token}", "w").write("x")
                    print("wrote", folder)
                except OSError as error:
                    print("no", folder, error.errno)
            """
        )
    finally:
        named.close()
        abstract.close()
    assert probe.returncode == 0, probe.stderr
    assert "connected" not in probe.stdout and probe.stdout.count("refused") == 2, probe.stdout
    assert "wrote" not in probe.stdout, probe.stdout
    for folder in ("/run/lock", "/var/lock", "/run", "/tmp", "/var/tmp"):
        assert not Path(folder, token).exists()


SYSV = """
import ctypes, sys, time
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000
shm_key, msg_key = int(sys.argv[1]), int(sys.argv[2])
if sys.argv[3] == "plant":
    big = libc.shmget(shm_key + 1, 256 << 20, IPC_CREAT | 0o666)
    print("big segment", big, ctypes.get_errno())
    shm = libc.shmget(shm_key, 1 << 20, IPC_CREAT | 0o666)
    address = libc.shmat(shm, None, 0)
    ctypes.memmove(address, b"pin 7731", 8)
    queue = libc.msgget(msg_key, IPC_CREAT | 0o666)
    message = ctypes.create_string_buffer(8 + 16)
    ctypes.memmove(ctypes.addressof(message), (1).to_bytes(8, "little") + b"pin 7731", 16)
    print("planted", shm, queue, libc.msgsnd(queue, message, 8, 0), flush=True)
    time.sleep(float(sys.argv[4]))
else:
    shm = libc.shmget(shm_key, 0, 0)
    print("shm", shm, ctypes.get_errno())
    queue = libc.msgget(msg_key, 0)
    print("queue", queue, ctypes.get_errno())
"""


def test_sysv_ipc_neither_crosses_students_nor_outlives_grading() -> None:
    """The review's 2.3 GiB segment and message queue outlived grading; the next student read
    the message. In the jail's IPC namespace: capped, invisible to others, gone at the end."""
    shm_key, msg_key = 0x5E55_0000 + os.getpid() % 4096, 0x5E56_0000 + os.getpid() % 4096
    keys = (str(shm_key), str(msg_key))
    planter = start_jailed(SYSV, grading_limits(wall_s=60), *keys, "plant", "4")
    assert planter.stdout is not None
    first = planter.stdout.readline() + planter.stdout.readline()
    assert "planted" in first, first + planter.stderr.read()  # type: ignore[union-attr]
    assert "big segment -1 22" in first, "a segment over the jail's shmmax is refused"
    concurrent = jailed(SYSV, None, *keys, "read")
    host = Path("/proc/sysvipc/shm").read_text() + Path("/proc/sysvipc/msg").read_text()
    planter.wait(timeout=60)
    after = jailed(SYSV, None, *keys, "read")
    for done in (concurrent, after):
        assert "shm -1 2" in done.stdout and "queue -1 2" in done.stdout, done.stdout + done.stderr
    hex_keys = {f"{shm_key:d}", f"{msg_key:d}"}
    assert not any(line.split()[0] in hex_keys for line in host.splitlines()[1:] if line.split())
    left = Path("/proc/sysvipc/shm").read_text() + Path("/proc/sysvipc/msg").read_text()
    assert not any(line.split()[0] in hex_keys for line in left.splitlines()[1:] if line.split())


HOARDER = """
import os, sys, time
children = 0
try:
    while children < 5000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError:
    pass
print("uid", os.getuid(), "holding", children, flush=True)
time.sleep(float(sys.argv[1]))
"""

INNOCENT = """
import os, time
started = 0
for _ in range(40):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    started += 1
for _ in range(started):
    os.wait()
print("uid", os.getuid(), "started", started)
"""


def test_a_process_hoarder_cannot_starve_a_concurrent_jail() -> None:
    """Two batches at once shared uid 61000's process limit: a hoarder gave the other batch's
    innocent student 0. Each jail now takes its own uid from the pool."""
    config = grading_limits(wall_s=60, nproc=64, uid=61_100, uids=4)
    hoarder = start_jailed(HOARDER, config, "6")
    assert hoarder.stdout is not None
    line = hoarder.stdout.readline().split()
    assert line[2] == "holding" and 50 <= int(line[3]) < 64, line
    innocent = jailed(INNOCENT, config)
    hoarder.kill()
    hoarder.wait(timeout=30)
    got = innocent.stdout.split()
    assert got[2:] == ["started", "40"], innocent.stdout + innocent.stderr
    assert got[1] != line[1], "two jails at once never share a uid"
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-u", line[1]], capture_output=True, text=True).stdout
    assert left.strip() == "", "killing the jail ended every process of its uid"


def test_the_uid_pool_is_shared_across_processes(tmp_path: Path) -> None:
    """``claim_uid`` holds a uid by flock: another process (or another claim) gets the next
    one, and a full pool waits, then says so."""
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o700)
    limits = JailLimits(uid=61_200, uids=2, wall_s=0.5)
    first, fd1 = claim_uid(limits, str(lock_dir))
    other = subprocess.run(
        [sys.executable, "-c", "from sessionlab.grading.jail import JailLimits, claim_uid;"
         f"print(claim_uid(JailLimits(uid=61_200, uids=2), {str(lock_dir)!r})[0])"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert int(other.stdout) == 61_201 and first == 61_200, other.stderr
    second, fd2 = claim_uid(limits, str(lock_dir))
    assert second == 61_201
    with pytest.raises(OSError, match="no free jail uid"):
        claim_uid(limits, str(lock_dir))
    os.close(fd1)
    again, fd3 = claim_uid(limits, str(lock_dir))
    assert again == 61_200
    for fd in (fd2, fd3):
        os.close(fd)
    os.chmod(lock_dir, 0o755)
    with pytest.raises(OSError, match="mode 0700"):
        claim_uid(limits, str(lock_dir))
