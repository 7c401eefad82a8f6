"""Find every student's notebook in what an instructor downloaded, and name the student.

Accepted, in one folder or a ``.zip`` of it (mixed is fine):

* nbgrader's ``submitted/`` layout: ``<student>/<assignment>/<notebook>.ipynb`` (the folder
  may be ``submitted/`` itself or contain it), with an optional ``timestamp.txt``;
* Canvas exports: ``lastname_firstname_12345_67890_03-monitor.ipynb`` (also ``lastnamefirstname``,
  a ``late_`` marker, and Canvas's ``-1`` suffix on resubmitted files);
* Moodle exports: ``Firstname Lastname_12345_assignsubmission_file_03-monitor.ipynb``, or the
  same prefix as a folder holding the notebook.

Names that fit none of these are reported, never guessed: an instructor must fix or rename
them. When one student has several notebooks, the newest submission wins (Canvas submission
id, then file time) and the others are reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sessionlab.errors import CourseError

CANVAS = re.compile(r"^(?P<name>[^_].*?)_(?:late_|LATE_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
MOODLE = re.compile(
    r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$"
)
# Zip bombs and junk: limits for an archive of notebooks.
MAX_ARCHIVE_FILES = 5000
MAX_NOTEBOOK_BYTES = 50 << 20


@dataclass
class Submission:
    """One student's notebook, wherever it came from."""

    student_id: str  # what nbgrader and the CSV use: [a-z0-9-], stable across downloads
    name: str  # as the LMS wrote it
    source: str  # "nbgrader", "canvas", "moodle"
    path: Path
    original: str  # the file name (or relative path) as found
    lms_id: str = ""
    order: tuple[int, float] = (0, 0.0)  # newest wins
    notes: list[str] = field(default_factory=list)
    timestamp: str | None = None

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass
class Collection:
    submissions: list[Submission]
    unparsed: list[str]  # relative paths with the reason
    superseded: list[str]


def slug(text: str) -> str:
    """``"Zoë  O'Brien"`` -> ``"zoe-o-brien"``: ASCII, lower case, dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "student"


def _file_matches(file_part: str, assignment: str) -> bool:
    stem = re.sub(r"(?:-\d+| \(\d+\))?\.ipynb$", "", file_part)
    return slug(stem) == slug(assignment)


def parse_lms_name(name: str, assignment: str) -> Submission | str:
    """A :class:`Submission` (path unset) from an LMS file name, or why it cannot be parsed."""
    for source, pattern in (("moodle", MOODLE), ("canvas", CANVAS)):
        match = pattern.match(name)
        if not match:
            continue
        person = match["name"].replace("_", " ").strip()
        if not slug(person) or slug(person) == "student":
            return "no student name before the LMS ids"
        sub = Submission(
            student_id=f"{slug(person)}-{match['uid']}",
            name=person,
            source=source,
            path=Path(),
            original=name,
            lms_id=match["uid"],
            order=(int(match.groupdict().get("sub") or 0), 0.0),
        )
        if match["file"] and not _file_matches(match["file"], assignment):
            sub.notes.append(f"file is named {match['file']!r}, not {assignment}.ipynb")
        return sub
    return (
        "not an LMS export name (expected lastname_firstname_<id>_<id>_<file>.ipynb or "
        "'First Last_<id>_assignsubmission_file_<file>.ipynb') and not "
        "<student>/<assignment>/<notebook>.ipynb"
    )


def unpack(archive: Path, target: Path) -> Path:
    """Extract a zip safely (no absolute paths, no ``..``, bounded size) into ``target``."""
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > MAX_ARCHIVE_FILES:
            raise ValueError(f"{archive.name}: more than {MAX_ARCHIVE_FILES} files")
        for member in members:
            parts = Path(member.filename).parts
            if member.filename.startswith("/") or ".." in parts or "__MACOSX" in parts:
                continue
            if member.file_size > MAX_NOTEBOOK_BYTES:
                continue
            out = target.joinpath(*parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return target


def collect(root: Path, assignment: str) -> Collection:
    """Every notebook under ``root`` (a folder, already unpacked), attributed to a student."""
    found: list[Submission] = []
    unparsed: list[str] = []
    base = root / "submitted" if (root / "submitted").is_dir() else root
    for path in sorted(base.rglob("*.ipynb")):
        rel = path.relative_to(base)
        if ".ipynb_checkpoints" in rel.parts or any(p.startswith(".") for p in rel.parts):
            continue
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            unparsed.append(f"{rel}: larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
            continue
        sub = _attribute(rel, assignment)
        if isinstance(sub, str):
            unparsed.append(f"{rel}: {sub}")
            continue
        sub.path = path
        sub.order = (sub.order[0], path.stat().st_mtime)
        stamp = path.parent / "timestamp.txt"
        if sub.source == "nbgrader" and stamp.is_file():
            sub.timestamp = stamp.read_text().strip()
        found.append(sub)
    by_student: dict[str, list[Submission]] = {}
    for sub in found:
        by_student.setdefault(sub.student_id, []).append(sub)
    chosen, superseded = [], []
    for student, subs in sorted(by_student.items()):
        subs.sort(key=lambda s: s.order, reverse=True)
        chosen.append(subs[0])
        for older in subs[1:]:
            superseded.append(f"{older.original}: older than {subs[0].original} ({student})")
            subs[0].notes.append(f"{len(subs) - 1} older notebook(s) ignored")
    return Collection(chosen, unparsed, superseded)


def _attribute(rel: Path, assignment: str) -> Submission | str:
    parts = rel.parts
    if len(parts) == 3 and parts[1] == assignment:  # nbgrader: <sid>/<assignment>/<nb>
        return Submission(
            slug(parts[0]) if parts[0] != slug(parts[0]) else parts[0],
            parts[0],
            "nbgrader",
            Path(),
            str(rel),
        )
    if len(parts) == 2:  # Moodle folder per student: "<Name>_<id>_assignsubmission_file_/x"
        folder = parse_lms_name(parts[0].rstrip("/") + "x.ipynb", assignment)
        if isinstance(folder, Submission) and folder.source == "moodle":
            folder.original = str(rel)
            folder.notes = [n for n in folder.notes if "file is named" not in n]
            if not _file_matches(parts[1], assignment):
                folder.notes.append(f"file is named {parts[1]!r}, not {assignment}.ipynb")
            return folder
    if len(parts) == 1 or len(parts) == 2:
        return parse_lms_name(parts[-1], assignment)
    return "unexpected folder depth"


@contextlib.contextmanager
def submissions_folder(path: Path) -> Iterator[Path]:
    """``path`` itself when it is a folder; a ``.zip`` unpacked into a temporary one."""
    if path.is_file() and path.suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="sessionlab-unzip-") as tmp:
            yield unpack(path, Path(tmp))
    elif path.is_dir():
        yield path
    else:
        raise CourseError(f"--submissions {path}: not a folder or a .zip")
