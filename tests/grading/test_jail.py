"""The jail, probed from inside: what student code can and cannot do (about 0.3 s a run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sessionlab.grading.jail import JailLimits, capabilities, uid_held
from sessionlab.grading.jail_settings import grading_limits

ROOT = Path(__file__).resolve().parents[2]
isolated = pytest.mark.skipif(
    not capabilities()["isolated"], reason="needs root and namespaces (documented fallback)"
)


def jailed(
    code: str, tmp_path: Path, config: JailLimits | None = None, **limits: object
) -> subprocess.CompletedProcess[str]:
    config = config or grading_limits(hide=[tmp_path], wall_s=limits.pop("wall_s", 20), **limits)
    command = [sys.executable, "-m", "sessionlab.grading.jail", "--config", config.to_json(),
               "--", sys.executable, "-c", textwrap.dedent(code)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@isolated
def test_hidden_tests_gradebook_and_other_students_are_out_of_reach(tmp_path: Path) -> None:
    secret = tmp_path / "other-student" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("answers")
    done = jailed(
        f"""
        import os
        for path in ({str(ROOT / "solutions")!r}, {str(ROOT / ".git")!r},
                     {str(ROOT / "autograder")!r}, {str(secret)!r}):
            print(path, os.path.exists(path))
        import sessionlab.monitor.harness  # what a lesson needs is still there
        print("uid", os.getuid(), "writable /tmp", os.access("/tmp", os.W_OK))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "True" not in done.stdout.split("uid")[0], done.stdout
    uid = int(done.stdout.split("uid")[1].split()[0])
    assert 61_000 <= uid < 61_064 and "writable /tmp True" in done.stdout


@isolated
def test_a_checkout_under_tmp_is_bound_back_over_the_private_tmp(tmp_path: Path) -> None:
    """A clone under /tmp (CI, ``git clone`` anywhere): its venv and sources would vanish
    under the jail's own /tmp; they are bound back on top, read-only, the rest stays hidden."""
    clone = tmp_path / "clone"
    (clone / "src").mkdir(parents=True)
    (clone / "src" / "lesson.txt").write_text("lesson")
    (clone / "solutions").mkdir()
    (clone / "solutions" / "hidden.txt").write_text("answers")
    config = grading_limits(hide=[tmp_path / "other"], wall_s=20)
    config.keep.append(str(clone / "src"))
    done = jailed(
        f"""
        import os
        print(open({str(clone / "src" / "lesson.txt")!r}).read())
        print("solutions", os.path.exists({str(clone / "solutions")!r}))
        try:
            open({str(clone / "src" / "new.txt")!r}, "w")
        except OSError as error:
            print("read-only", error.errno)
        """,
        tmp_path,
        config,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["lesson", "solutions", "False", "read-only", "30"], done.stdout


@isolated
def test_no_network_but_loopback(tmp_path: Path) -> None:
    done = jailed(
        """
        import socket
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=2)
        print("loopback ok")
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=2)
        except OSError as error:
            print("outside:", error.errno)
        """,
        tmp_path,
    )
    assert "loopback ok" in done.stdout and "outside: 101" in done.stdout, done.stdout + done.stderr


@isolated
def test_deleting_files_harms_nothing_outside(tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("x")
    done = jailed(
        f"""
        import shutil
        for target in ({str(ROOT / "solutions")!r}, {str(ROOT / "src")!r}, {str(tmp_path)!r}):
            shutil.rmtree(target, ignore_errors=True)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert victim.exists() and (ROOT / "src" / "sessionlab" / "cli.py").exists()


@isolated
def test_fork_bomb_is_bounded_and_cleaned_up(tmp_path: Path) -> None:
    done = jailed(
        """
        import os, time
        n = 0
        try:
            while n < 5000:
                if os.fork() == 0:
                    time.sleep(60)  # orphans: the PID namespace ends them
                    os._exit(0)
                n += 1
        except OSError:
            pass
        print("forked", n)
        """,
        tmp_path,
        nproc=64,
        uid=61_077,  # a pool of its own: a grading run elsewhere on the machine does not count
        uids=1,
    )
    forked = int(done.stdout.split()[-1])
    assert 0 < forked < 64, done.stdout
    left = subprocess.run(["pgrep", "-u", "61077"], capture_output=True, text=True).stdout
    assert left.strip() == "", f"processes survived the jail: {left}"


@isolated
def test_memory_disk_and_time_limits(tmp_path: Path) -> None:
    done = jailed(
        """
        hog = []
        try:
            while True:
                hog.append(bytearray(32 << 20))
        except MemoryError:
            print("memory refused at", len(hog) * 32, "MiB")
        del hog
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(1024):
                    f.write(b"x" * (1 << 20))
        except OSError as error:
            print("disk refused:", error.errno)
        while True:
            pass
        """,
        tmp_path,
        memory_mb=256,
        wall_s=3,
    )
    assert "memory refused at" in done.stdout, done.stdout + done.stderr
    mib = int(done.stdout.split("memory refused at")[1].split()[0])
    assert mib <= 256
    assert "disk refused: 27" in done.stdout or "disk refused: 28" in done.stdout  # EFBIG/ENOSPC
    assert done.returncode == 137 and "wall-clock limit" in done.stderr


@isolated
def test_a_worker_running_from_its_own_copy_grades_with_that_copy(tmp_path: Path) -> None:
    """A grading machine's copy of the course shares the venv, whose editable install names
    another checkout: the jailed kernel must import the copy the worker runs from."""
    copy = tmp_path / "machine" / "src"
    shutil.copytree(ROOT / "src" / "sessionlab", copy / "sessionlab")
    code = "import sessionlab; print(sessionlab.__file__)"
    # The jail is started the way a worker starts it: from the copy, with the copy's limits.
    starter = (
        "import subprocess, sys; from sessionlab.grading.jail_settings import grading_limits; "
        "config = grading_limits(wall_s=20).to_json(); "
        "sys.exit(subprocess.run([sys.executable, '-m', 'sessionlab.grading.jail', '--config', "
        f"config, '--', sys.executable, '-c', {code!r}]).returncode)"
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(copy / "sessionlab" / "__init__.py")


@isolated
def test_a_claimed_uid_is_used_only_while_its_caller_holds_it(tmp_path: Path) -> None:
    """A student's jail and its grader's run as one uid the caller holds (``uid_held``); a
    jail refuses a "claimed" uid nobody holds (the pool could hand it to anyone meanwhile)
    and one outside the pool (never root, never a host account)."""
    probe = "import os; print('uid', os.getuid())"
    limits = grading_limits(hide=[tmp_path], wall_s=20)
    with uid_held(limits) as uid:
        limits.claimed_uid = uid
        done = jailed(probe, tmp_path, limits)
        assert done.returncode == 0, done.stderr
        assert f"uid {uid}" in done.stdout
    released = jailed(probe, tmp_path, limits)
    assert released.returncode == 125 and "not held by the caller" in released.stderr
    limits.claimed_uid = 0
    as_root = jailed(probe, tmp_path, limits)
    assert as_root.returncode == 125 and "not in the pool" in as_root.stderr


@isolated
def test_shared_folder_and_joined_pid_namespace(tmp_path: Path) -> None:
    """The exchange folder is the same files, writable, in two jails; a jail that joins
    another's PID namespace sees that jail's processes (lesson 03's writers)."""
    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o700)
    limits = grading_limits(hide=[tmp_path], wall_s=30)
    limits.shared = [str(exchange)]
    with uid_held(limits) as uid:
        limits.claimed_uid = uid
        os.chown(exchange, uid, uid)
        config = limits.to_json()
        student = subprocess.Popen(
            [sys.executable, "-m", "sessionlab.grading.jail", "--config", config, "--",
             sys.executable, "-c",
             f"import pathlib, time; pathlib.Path({str(exchange)!r}, 'student.txt')"
             ".write_text('from the student'); time.sleep(20)"],
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not (exchange / "student.txt").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            limits.join_pid_ns = f"/proc/{student.pid}/ns/pid_for_children"
            done = jailed(
                f"""
                import os, pathlib
                print(pathlib.Path({str(exchange)!r}, "student.txt").read_text())
                pathlib.Path({str(exchange)!r}, "grader.txt").write_text("ok")
                cmdlines = [open(f"/proc/{{p}}/cmdline", "rb").read()
                            for p in os.listdir("/proc") if p.isdigit()]
                print("sees the student", any(b"student.txt" in c for c in cmdlines))
                print("uid", os.getuid())
                """,
                tmp_path,
                limits,
            )
        finally:
            student.kill()
            student.wait()
    assert done.returncode == 0, done.stderr
    assert "from the student" in done.stdout and f"uid {uid}" in done.stdout
    assert "sees the student True" in done.stdout
    assert (exchange / "grader.txt").read_text() == "ok"
