"""``sessionlab hub serve|accounts|remove``: JupyterHub for a class on one Linux server."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from sessionlab.errors import CourseError
from sessionlab.net import ensure_port_free
from sessionlab.paths import repo_root

DEFAULT_DATA = Path("/srv/sessionlab-hub")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hub",
        help="JupyterHub for a class: accounts, exchange, limits (Linux, root)",
        description="Run the course for a class on one Linux server: a JupyterHub with one "
        "account per student and one for the instructor, nbgrader's shared exchange, the "
        "course and its pinned CLIs installed once, per-user memory and CPU limits. See "
        "docs/classroom.md.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser("serve", help="create what is missing, then run the hub")
    serve.add_argument("--students", type=int, required=True, help="number of student accounts")
    serve.add_argument("--prefix", default="student", help="student account prefix (student)")
    serve.add_argument("--instructor", default="instructor", help="instructor account name")
    serve.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"hub state ({DEFAULT_DATA})"
    )
    serve.add_argument("--ip", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="public port (8000)")
    serve.add_argument("--memory", default="2G", help="memory per user, e.g. 2G (default 2G)")
    serve.add_argument("--cpu", type=float, default=1.0, help="CPU cores per user (1.0)")
    serve.set_defaults(func=_serve)
    remove = verbs.add_parser("remove", help="delete the class's accounts and their homes")
    remove.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"hub state ({DEFAULT_DATA})"
    )
    remove.set_defaults(func=_remove)
    grade = verbs.add_parser(
        "grade",
        help="autograde the instructor's collected submissions in the jail (as root)",
        description="Run `sessionlab grade` on the instructor's course (~/course/autograder) "
        "as root, so every kernel is jailed under an unprivileged uid, then give the results "
        "back to the instructor. Collect first (Formgrader or `nbgrader collect`).",
    )
    grade.add_argument("assignment", help="e.g. 01-fragmentation")
    grade.add_argument("--data", type=Path, default=DEFAULT_DATA, help="hub state folder")
    grade.add_argument(
        "--course",
        type=Path,
        help="grade this course folder instead of the hub instructor's (e.g. autograder/ "
        "under `make instructor`)",
    )
    grade.set_defaults(func=_grade)
    accounts = verbs.add_parser("accounts", help="print the class's accounts and passwords")
    accounts.add_argument("--data", type=Path, default=DEFAULT_DATA)
    accounts.set_defaults(func=_accounts)


def _check_machine() -> Path:
    if not sys.platform.startswith("linux"):
        raise CourseError("the hub runs on a Linux server; students only need a browser")
    if os.geteuid() != 0:
        raise CourseError("the hub creates accounts and starts servers as them: run it as root")
    root = repo_root()
    if root is None:
        raise CourseError("run the hub from a course checkout after `make setup`")
    return root


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from sessionlab import claude_clis as clis
    from sessionlab.classroom.accounts import class_names, ensure_accounts
    from sessionlab.classroom.class_hub import (
        HubPlan,
        hub_command,
        prepare,
        python_bin,
        write_config,
    )
    from sessionlab.classroom.proxy import install_proxy, proxy_command
    from sessionlab.paths import course_home

    started = time.monotonic()
    wanted = class_names(args.students, args.prefix, args.instructor)  # bad input: fail first
    root = _check_machine()
    # nbgrader's gradebook shells out to `alembic`, which lives beside this interpreter.
    os.environ["PATH"] = f"{python_bin()}{os.pathsep}{os.environ.get('PATH', '')}"
    ensure_port_free(args.ip, args.port, flag="--port")
    for name in ("legacy", "current"):
        if not clis.is_installed(name):
            raise CourseError(f"the {name} CLI is not installed: run `make setup` first")
    install_proxy()
    from sessionlab.classroom.install import shared_cli_dir, shared_venv_bin

    venv_bin = shared_venv_bin(root)
    data = args.data.expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    cli_dir = shared_cli_dir(clis.install_root(course_home()), venv_bin, data)
    accounts = ensure_accounts(data, wanted)
    plan = HubPlan(
        data=str(data),
        repo=str(root),
        venv_bin=str(venv_bin),
        cli_dir=str(cli_dir),
        ip=args.ip,
        port=args.port,
        hub_port=_free_port(),
        proxy_api_port=_free_port(),
        students=[a.name for a in accounts if a.role == "student"],
        instructor=args.instructor,
        memory=args.memory,
        cpu=args.cpu,
        proxy_command=proxy_command(),
    )
    prepare(plan, accounts)
    write_config(data)
    print(
        f"hub for {len(plan.students)} students and {plan.instructor}: "
        f"http://{args.ip}:{args.port}/  (accounts: {data / 'accounts.csv'}; "
        f"{args.memory} and {args.cpu:g} CPU per user; prepared in "
        f"{time.monotonic() - started:.1f} s)",
        flush=True,
    )
    with subprocess.Popen(hub_command(data, python_bin()), cwd=data) as hub:
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return hub.wait()
        except KeyboardInterrupt:
            hub.send_signal(signal.SIGINT)
            try:
                hub.wait(timeout=60)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()
            return 0


def _remove(args: argparse.Namespace) -> int:
    from sessionlab.classroom.accounts import read_accounts, remove_accounts
    from sessionlab.classroom.limits import UserLimits

    _check_machine()
    for account in read_accounts(args.data):
        UserLimits(account.name, 0, 0).remove()
    removed = remove_accounts(args.data)
    print(f"removed {len(removed)} accounts: {' '.join(removed) or '-'}")
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from sessionlab.classroom.accounts import read_accounts

    for account in read_accounts(args.data):
        print(f"{account.role:<10} {account.name:<16} {account.password}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    import pwd

    from sessionlab.classroom.class_hub import HubPlan, chown_tree
    from sessionlab.classroom.exchange import carry_submission_secrets

    env = dict(os.environ)
    owner = None
    if args.course is not None:
        course = args.course.expanduser().resolve()
    else:
        _check_machine()
        plan = HubPlan.load(args.data.expanduser().resolve())
        account = pwd.getpwnam(plan.instructor)
        owner = (account.pw_uid, account.pw_gid)
        course = Path(account.pw_dir) / "course" / "autograder"
        env["SESSIONLAB_EXCHANGE"] = str(plan.exchange)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [
        str(Path(sys.executable).parent / "sessionlab"), "grade", args.assignment,
        "--submissions", str(course / "submitted"), "--course", str(course),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, cwd=course, check=False)
        carry_submission_secrets(course, args.assignment)
    finally:
        if owner is not None:
            chown_tree(course, *owner)  # the instructor owns the results
    return done.returncode
