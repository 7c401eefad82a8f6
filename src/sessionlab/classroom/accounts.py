"""Unix accounts for a class on one server: N students and one instructor.

Each person logs in to JupyterHub with a real account (PAM), so each single-user server runs
under its own uid: students cannot read each other's work or the instructor's gradebook.
Passwords are generated once and kept in ``accounts.csv`` (mode 600, root only) for the
instructor to hand out; re-running keeps existing accounts and passwords.
"""

from __future__ import annotations

import csv
import os
import pwd
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sessionlab.errors import CourseError

ACCOUNTS_FILE = "accounts.csv"
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


@dataclass(frozen=True)
class Account:
    name: str
    role: str  # "student" or "instructor"
    password: str

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.name).pw_gid


def class_names(students: int, prefix: str, instructor: str) -> list[tuple[str, str]]:
    """``[(name, role), ...]``: ``<prefix>01`` .. ``<prefix>NN`` and the instructor."""
    if not 1 <= students <= 500:
        raise CourseError(f"--students {students}: use 1 to 500")
    width = max(2, len(str(students)))
    names = [(f"{prefix}{i:0{width}d}", "student") for i in range(1, students + 1)]
    names.append((instructor, "instructor"))
    for name, _ in names:
        if not _NAME.match(name):
            raise CourseError(f"{name!r} is not a valid account name: lower-case letters, digits")
    return names


def read_accounts(data: Path) -> list[Account]:
    path = data / ACCOUNTS_FILE
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [
            Account(row["name"], row["role"], row["password"]) for row in csv.DictReader(handle)
        ]


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def ensure_accounts(data: Path, wanted: list[tuple[str, str]]) -> list[Account]:
    """Create missing accounts with new passwords; keep existing ones. Needs root."""
    if os.geteuid() != 0:
        raise CourseError("creating class accounts needs root: run `sudo sessionlab hub ...`")
    known = {account.name: account for account in read_accounts(data)}
    accounts = []
    for name, role in wanted:
        account = known.get(name)
        if account is None or not _exists(name):
            if _exists(name) and account is None:
                raise CourseError(
                    f"account {name!r} exists but is not one of this class's: pick another "
                    "--prefix or --instructor"
                )
            password = secrets.token_urlsafe(9)
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name],
                check=True, capture_output=True,
            )  # fmt: skip
            subprocess.run(
                ["chpasswd"], input=f"{name}:{password}\n", text=True, check=True,
                capture_output=True,
            )  # fmt: skip
            account = Account(name, role, password)
        accounts.append(account)
    data.mkdir(parents=True, exist_ok=True)
    path = data / ACCOUNTS_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "role", "password"])
        writer.writerows([a.name, a.role, a.password] for a in accounts)
    return accounts


def remove_accounts(data: Path) -> list[str]:
    """Delete the class's accounts and their home folders (the end of a term). Needs root."""
    removed = []
    for account in read_accounts(data):
        if _exists(account.name):
            subprocess.run(["userdel", "--remove", account.name], capture_output=True)
            removed.append(account.name)
    (data / ACCOUNTS_FILE).unlink(missing_ok=True)
    return removed
