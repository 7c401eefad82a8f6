"""Content hashes that decide whether a worker may grade and whether a cached score still holds.

* the **lesson key**: the assignment's source notebook (its tests, hidden ones included), the
  course's ``nbgrader_config.py`` and :data:`GRADER_VERSION`. A cached result is reused only
  under the same lesson key (as before workers existed);
* the **grader key**: every Python file of the ``sessionlab`` package (the harness that awards
  lesson 03's points lives there) and nbgrader's version. A worker on another machine whose
  package differs, by one edited line, refuses the task: a stale checkout never grades.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

import sessionlab

# Bump when a change in the pipeline changes scores: every cached result is then regraded.
GRADER_VERSION = "3"


def lesson_key(source_notebook: Path, course_config: Path) -> str:
    digest = hashlib.sha256()
    for part in (source_notebook.read_bytes(), course_config.read_bytes(), GRADER_VERSION.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


@functools.cache
def grader_key() -> str:
    """Hash of this process's ``sessionlab`` sources (cached: they do not change under it)."""
    package = Path(sessionlab.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    try:
        digest.update(b"nbgrader " + metadata.version("nbgrader").encode())
    except metadata.PackageNotFoundError:
        digest.update(b"nbgrader missing")
    return digest.hexdigest()
