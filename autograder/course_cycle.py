"""The instructor's nbgrader cycle as plain functions: release, and a full grading round trip.

``python autograder/course_cycle.py release`` regenerates ``notebooks/`` from ``solutions/``
(what ``make release`` runs). ``python autograder/course_cycle.py roundtrip`` copies the course
into a temporary directory and runs the whole cycle there: generate, two fake submissions per
lesson (``solutions``: the release with the reference answers pasted in; ``untouched``: the
release as students get it), autograde, feedback, CSV export. It prints the scores and exits
non-zero when the solutions do not get full marks or the untouched notebooks score anything.
Both actions take lesson names to work on some lessons only (``roundtrip 10-agent-sdk``).

Why a separate gradebook for ``release``: ``generate_assignment`` always writes assignment rows
into ``gradebook.db``; regenerating the student notebooks must neither need nor touch the real
gradebook an instructor grades with, so it uses a throw-away one.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from lesson_sources import ASSIGNMENTS

from sessionlab.grading.workspace import venv_first_path

ROOT = Path(__file__).resolve().parents[1]
NAIVE_MONITOR = ROOT / "src" / "sessionlab" / "monitor" / "naive.py"


def naive_as_student_monitor() -> str:
    """The lesson's naive monitor as a student would submit it: its imports and the class.

    Built from ``naive.py`` itself, so the round trip always grades the real baseline.
    """
    source = NAIVE_MONITOR.read_text()
    lines = source.splitlines()
    kept = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Import | ast.ImportFrom | ast.ClassDef)
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    text = {id(node): "\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in kept}
    imports = "\n".join(text[id(n)] for n in kept if not isinstance(n, ast.ClassDef))
    classes = "\n\n\n".join(text[id(n)] for n in kept if isinstance(n, ast.ClassDef))
    return f"{imports}\n\n\n{classes}\n".replace("NaivePollingMonitor", "StudentMonitor")


# A plausible half-right student: checks partial credit, and that a warning printed by a
# student's function does not zero a passing test (IgnorePattern in nbgrader_config.py).
PARTIAL_ANSWERS: dict[str, dict[str, str]] = {
    "01-fragmentation": {
        "count_session_files": """\
import warnings


def count_session_files(project_dir):
    warnings.warn("scanning the folder", UserWarning, stacklevel=2)
    folder = Path(project_dir)
    if not folder.is_dir():
        return 0
    found = [p for p in folder.glob("*.jsonl") if p.is_file()]
    return len([p for p in found if not p.name.startswith("agent-")])
""",
        "follow_chain": """\
def follow_chain(path):
    # file order instead of the parentUuid walk: right for a simple file only
    entries = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    kinds = ("user", "assistant")
    return [e for e in entries if e.get("type") in kinds and not e.get("isSidechain")]
""",
        "sanitize_cwd": """\
def sanitize_cwd(cwd, truncate_long=True):
    import re

    return re.sub(r"[^a-zA-Z0-9]", "-", str(cwd))  # forgot the 200-character rule
""",
    },
    "02-failed-fixes": {
        "classify_pair": """\
FORK = "fork with copied history"
INDEPENDENT = "independent"


def classify_pair(first, second):
    a, b = uuids_in(first), uuids_in(second)
    return FORK if a and b and a[0] == b[0] else INDEPENDENT  # only looks at the first uuid
""",
        # The experiment runs and counts right, but "remembered" looks for the word "name",
        # which the model's "I don't know your name" contains too: the counts score 2 of 2,
        # the turn-and-memory test 0.
        "measure_attempt": """\
async def measure_attempt(lab, attempt):
    before = sorted(lab.project_dir.glob("*.jsonl"))
    turn = (await chat(lab, [PROBE], quiet=True, **attempt))[0]
    after = sorted(lab.project_dir.glob("*.jsonl"))
    return {
        "files_before": len(before),
        "files_after": len(after),
        "new_files": sorted({p.name for p in after} - {p.name for p in before}),
        "turn_file": f"{turn.session_id}.jsonl",
        "remembered": "name" in turn.reply,
    }
""",
        # Forgets the stray file a 1.0.124-2.0.x resume left beside the target: every visible
        # case passes, one hidden case of seven fails.
        "judge_attempt": """\
def judge_attempt(measured, target_id):
    if measured["turn_file"] in measured["new_files"]:
        return FORKED if measured["remembered"] else NEW_SESSION
    if measured["turn_file"] == f"{target_id}.jsonl":
        return ONE_SESSION
    return OTHER_SESSION
""",
    },
}
# A submission whose monitor is the lesson's naive one: it must lose the preservation and
# chain points of the monitor exercise and keep everything else.
PARTIAL_ANSWERS["03-monitor"] = {"student_monitor": naive_as_student_monitor()}
# A session store with the two classic slips: mtimes in seconds (list_sessions: 0 of 2) and a
# delete that leaves the subagent transcripts behind (delete: 1 of 2); two optional methods
# left out. Expected: 4 + 0 + 1 + 0 + 0 = 5 of 10.
PARTIAL_ANSWERS["10-agent-sdk"] = {
    "student_store": """\
class StudentStore:
    \"\"\"Half right: mtimes in seconds, delete forgets the subagents, two methods left out.\"\"\"

    def __init__(self):
        self.entries = {}
        self.mtimes = {}

    async def append(self, key, entries):
        k = (key["project_key"], key["session_id"], key.get("subpath"))
        self.entries.setdefault(k, []).extend(entries)
        self.mtimes[k] = time.time()  # seconds, not milliseconds

    async def load(self, key):
        found = self.entries.get((key["project_key"], key["session_id"], key.get("subpath")))
        return None if found is None else list(found)

    async def list_sessions(self, project_key):
        return [
            {"session_id": sid, "mtime": self.mtimes[(pk, sid, sub)]}
            for (pk, sid, sub) in self.entries
            if pk == project_key and sub is None
        ]

    async def delete(self, key):
        k = (key["project_key"], key["session_id"], key.get("subpath"))
        self.entries.pop(k, None)  # the subagent transcripts stay behind
        self.mtimes.pop(k, None)
""",
}
# The capstone's thin wrapper around the importable reference (the main exercise must score 0:
# reading the reference is allowed, submitting it is not), and a backup that appends in place:
# incremental and right until a crash tears it (2 of the challenge's 3 points). The other
# challenges are right.
PARTIAL_ANSWERS["09-capstone"] = {
    "backup_transcript": """\
def backup_transcript(fixed, backup_dir) -> int:
    \"\"\"Appends the new bytes in place: a run killed half-way leaves them half-written.\"\"\"
    fixed, backup_dir = Path(fixed), Path(backup_dir)
    if not fixed.exists():
        return 0
    backup_dir.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / "transcript.backup"
    done = backup.stat().st_size if backup.exists() else 0
    size = fixed.stat().st_size
    if size < done:
        backup.unlink()
        done = 0
    with open(fixed, "rb") as source, open(backup, "ab") as target:
        source.seek(done)
        while chunk := source.read(64 * 1024):
            target.write(chunk)
    return size - done


def restore_transcript(backup_dir) -> bytes:
    backup = Path(backup_dir) / "transcript.backup"
    return backup.read_bytes() if backup.exists() else b""
""",
    "my_chat_system": """\
from sessionlab.capstone import SingleSessionChatSystem as _Engine


class MyChatSystem:
    \"\"\"The reference behind a thin wrapper: not the student's own work.\"\"\"

    def __init__(self, options, project_dir, monitor_factory=SessionMonitor):
        self.project_dir = Path(project_dir)
        self.engine = _Engine(options, truncate_long=False, monitor_factory=monitor_factory)

    async def send(self, prompt):
        return (await self.engine.send(prompt)).text

    async def reconnect(self):
        await self.engine.reconnect()

    async def close(self):
        await self.engine.close()

    def status(self):
        return self.engine.status()
""",
}
# Lesson 7's Redis exercises half right: a store that keeps users apart and holds the per-IP
# limit but ignores time (no Redis TTL: nothing ever expires), and a worker cache that reuses
# each session's client but never asks whether the session is still live; and the lesson's
# racy "count, then insert" as create_limited (right one at a time, wrong under the stampede,
# which grading from outside must still catch). Exercises 1-2 are left as released.
# Expected: create_limited 0 of 3, redis_sessions 2 of 2, its TTL cell 0 of 2,
# session_clients 2 of 3: 4 of 16.
PARTIAL_ANSWERS["07-isolated-sessions"] = {
    "create_limited": """\
def create_limited(db_path, session_id, client_ip, *, now, ttl, max_per_ip, pause=0.0) -> bool:
    \"\"\"Count, then insert: two steps, so concurrent creators all see room.\"\"\"
    return naive_create(
        db_path, session_id, client_ip, now=now, ttl=ttl, max_per_ip=max_per_ip, pause=pause
    )
""",
    "redis_sessions": """\
class RedisSessions:
    \"\"\"Half right: isolated and limited per IP, but sessions never expire.\"\"\"

    def __init__(self, url, root, *, ttl_seconds=3600, max_per_ip=5):
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.root = Path(root)
        self.max_per_ip = max_per_ip

    def _checked(self, session_id):
        if not isinstance(session_id, str) or str(uuid.UUID(session_id)) != session_id:
            raise ValueError(f"invalid session id {session_id!r}")
        if uuid.UUID(session_id).version != 4:
            raise ValueError(f"invalid session id {session_id!r}")
        return session_id

    def create(self, client_ip, config):
        if self.redis.scard(f"ip:{client_ip}") >= self.max_per_ip:
            return None
        session_id = str(uuid.uuid4())
        self.redis.set(f"session:{session_id}", json.dumps(config))  # no TTL
        self.redis.sadd(f"ip:{client_ip}", session_id)
        self.folder(session_id).mkdir(parents=True)
        return session_id

    def config(self, session_id):
        raw = self.redis.get(f"session:{self._checked(session_id)}")
        return None if raw is None else json.loads(raw)

    def folder(self, session_id):
        return self.root / self._checked(session_id)

    def sweep(self):
        return []
""",
    "session_clients": """\
class SessionClients:
    \"\"\"Half right: one client per session, reused, but dead sessions are served too.\"\"\"

    def __init__(self, sessions):
        self.sessions = sessions
        self.clients = {}

    def handle_turn(self, session_id, text):
        if session_id not in self.clients:
            self.clients[session_id] = TranscriptClient(self.sessions.folder(session_id))
        return self.clients[session_id].send(text)
""",
}

# Lesson 08: a /sessions page whose check is right but whose rows are in store order with the
# uptime left out (visible check 1 + refusals 1 of 3), and an isolation test that only
# checks the seed's contract and a made-up token (the real bot: passes; it catches one history
# for everybody and a bot that trusts the id, not the other four: 1 + 0.6 of 4). Ex. 1-2 stay
# unanswered. Expected: 2 + 1.6 = 3.6 of 12.
PARTIAL_ANSWERS["08-multisession-bot"] = {
    "sessions_page": """\
def operator_refusal(authorization, operator_token):
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        return 401, "this page needs the operator token"
    if not hmac.compare_digest(token.encode(), operator_token.encode()):
        return 403, "that is not the operator token"
    return None


def sessions_summary(conversations, now):
    rows = [
        {"conversation": c["id"][:12] + "…", "messages": len(c["messages"]),
         "last_activity": datetime.fromtimestamp(c["last_activity"], UTC).isoformat()}
        for c in conversations
    ]
    return {"total_sessions": len(rows), "sessions": rows}
""",
    "isolation_test": """\
def test_isolation(address):
    with connect(address) as bot:
        a, b = (bot.post("/api/conversations").json() for _ in range(2))

        def post(conversation, text, token):
            headers = {"authorization": f"Bearer {token}"}
            return bot.post("/api/messages", json=activity(conversation, text), headers=headers)

        post(a["conversationId"], "my pin is 246810", a["token"])
        assert "246810" not in post(b["conversationId"], "what is my pin?", b["token"]).text
        assert post(a["conversationId"], "what is my pin?", "made-up").status_code == 403
""",
}
# A pool that keeps sessions apart and reuses their clients, but has no limit and no health
# check: the visible checks pass (2), the rules earn "apart" and "close_all" only (1 of 4);
# every other exercise is the reference's. Expected: 10 + 2 + 1 = 13 of 16.
PARTIAL_ANSWERS["05-session-manager"] = {
    "session_pool": """\
class SessionPool:
    \"\"\"Half right: a client per session, reused, kept apart; no limit, no health check.\"\"\"

    def __init__(self, options, max_size=2):
        self.options = options
        self.max_size = max_size  # never looked at
        self.clients = {}

    async def ask(self, session_key, prompt):
        if session_key not in self.clients:
            self.clients[session_key] = await LiveClient(self.options).open()
        self.clients[session_key] = self.clients.pop(session_key)  # the most recent last
        return await self.clients[session_key].ask(prompt)

    def open_sessions(self):
        return list(self.clients)

    async def close_all(self):
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
""",
}
# Lessons whose partial student answers everything else correctly (only the override differs).
PARTIAL_OVER_REFERENCE = frozenset({"03-monitor", "05-session-manager", "09-capstone"})


def students_for(assignment: str) -> tuple[str, ...]:
    """Fake students for one lesson: ``partial`` only where partial answers are written."""
    if assignment in PARTIAL_ANSWERS:
        return ("solutions", "partial", "untouched")
    return ("solutions", "untouched")


def _env() -> dict[str, str]:
    """nbgrader shells out to ``alembic``: the venv's ``bin`` must be on PATH."""
    return {**os.environ, "PATH": venv_first_path()}


def nbgrader(*args: str, cwd: Path, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one nbgrader command with the course config (``autograder/`` under ``cwd``).

    nbgrader logs to stderr and exits 1 on failure (``validate`` is the exception: never used
    here); the output is kept and shown only when the command fails.
    """
    command = [
        str(Path(sys.executable).with_name("nbgrader")),
        *args,
        "--CourseDirectory.root=autograder",
        "--log-level=WARN" if quiet else "--log-level=INFO",
    ]
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def release(
    course: Path = ROOT,
    release_dir: Path | None = None,
    *,
    gradebook: Path | None = None,
    assignments: tuple[str, ...] | None = None,
) -> Path:
    """Generate the student notebooks (default: ``<course>/notebooks``).

    Without ``gradebook`` the assignment rows go to a throw-away database; a grading run passes
    the gradebook it will autograde with (autograde needs the rows).
    """
    target = (release_dir or course / "notebooks").resolve()
    with tempfile.TemporaryDirectory(prefix="sessionlab-release-") as tmp:
        db = gradebook or Path(tmp) / "gradebook.db"
        for assignment in assignments or ASSIGNMENTS:
            nbgrader(
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={target}",
                f"--CourseDirectory.db_url=sqlite:///{db}",
                cwd=course,
            )
    return target


def reference_answers(source: Path) -> dict[str, str]:
    """Every answer cell's reference solution, by grade id."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(source, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def partial_answers(assignment: str, source: Path) -> dict[str, str]:
    """The partial student's answers: alone, or over the reference for whole-lesson cases."""
    answers = PARTIAL_ANSWERS[assignment]
    if assignment in PARTIAL_OVER_REFERENCE:
        return {**reference_answers(source), **answers}
    return answers


def filled_submission(
    source: Path, released: Path, answers: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """The released notebook with answer cells filled in.

    Without ``answers``: every answer cell gets the reference answer from ``source``. With
    them: only those grade ids are filled, the rest stay as released.
    """
    if answers is None:
        answers = reference_answers(source)
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


@dataclass
class Score:
    """One student's result for one assignment, as the gradebook holds it."""

    assignment: str
    student: str
    auto: float
    auto_max: float
    manual_pending: list[str] = field(default_factory=list)
    cells: dict[str, float | None] = field(default_factory=dict)
    error_cells: list[str] = field(default_factory=list)


def _error_cells(notebook: Path) -> list[str]:
    """Which cells of an autograded notebook raised: nbgrader grade_id, or ``#<index>``."""
    found = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        if cell.cell_type == "code" and any(o.output_type == "error" for o in cell.outputs):
            tags = cell.metadata.get("tags", [])
            # Demonstrations meant to fail are tagged; graded cells are tagged too (so Run All
            # reaches the end), yet an error in one of them is what this list is about.
            if "raises-exception" in tags and "nbgrader" not in cell.metadata:
                continue
            found.append(cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}")
    return found


def roundtrip(
    workdir: Path, *, manual_grade: bool = True, assignments: tuple[str, ...] | None = None
) -> list[Score]:
    """Run the instructor's cycle in ``workdir`` (a fresh copy of the course) and read scores.

    ``assignments`` limits the cycle to some lessons (default: all of them).
    """
    from nbgrader.api import Gradebook

    chosen = assignments or ASSIGNMENTS

    for part in ("solutions", "autograder"):
        shutil.copytree(
            ROOT / part,
            workdir / part,
            ignore=shutil.ignore_patterns(
                "gradebook.db", "submitted", "autograded", "feedback", "exports", "__pycache__"
            ),
        )
    course = workdir / "autograder"
    release(workdir, gradebook=course / "gradebook.db", assignments=chosen)
    for assignment in chosen:
        source = workdir / "solutions" / assignment / f"{assignment}.ipynb"
        released = workdir / "notebooks" / assignment / f"{assignment}.ipynb"
        for student in students_for(assignment):
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            if student == "solutions":
                nbformat.write(filled_submission(source, released), folder / released.name)
            elif student == "partial":
                partial = filled_submission(source, released, partial_answers(assignment, source))
                nbformat.write(partial, folder / released.name)
            else:
                shutil.copy(released, folder / released.name)
            (folder / "timestamp.txt").write_text("2030-01-01 12:00:00.000000 UTC")
    for assignment in chosen:
        started = time.monotonic()
        print(f"autograding {assignment} for {', '.join(students_for(assignment))} ...", flush=True)
        nbgrader("autograde", assignment, "--force", cwd=workdir)
        print(f"  done in {time.monotonic() - started:.0f}s", flush=True)

    scores: list[Score] = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in chosen:
            for student in students_for(assignment):
                submission = gb.find_submission(assignment, student)
                score = Score(assignment, student, 0.0, 0.0)
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        cell = grade.cell
                        if grade.needs_manual_grade and student == "solutions" and manual_grade:
                            grade.manual_score = cell.max_score  # the instructor grades it
                            grade.needs_manual_grade = False
                        if grade.needs_manual_grade:
                            score.manual_pending.append(cell.name)
                        score.cells[cell.name] = grade.score
                        if grade.auto_score is not None:
                            score.auto += grade.auto_score
                            score.auto_max += cell.max_score
                    notebook = course / "autograded" / student / assignment / f"{nb.name}.ipynb"
                    score.error_cells = _error_cells(notebook)
                scores.append(score)
        gb.db.commit()
    for assignment in chosen:
        nbgrader("generate_feedback", assignment, "--force", cwd=workdir)
    nbgrader("export", "--to", str(course / "grades.csv"), cwd=workdir)
    return scores


def report(scores: list[Score], grades_csv: Path | None = None) -> str:
    """A short table of the round trip's results."""
    lines = [f"{'assignment':<18} {'student':<10} {'auto':>9}  cells that raised"]
    for s in scores:
        raised = ", ".join(s.error_cells) or "-"
        lines.append(f"{s.assignment:<18} {s.student:<10} {s.auto:>4g}/{s.auto_max:<4g}  {raised}")
    if grades_csv and grades_csv.exists():
        lines.append("")
        lines.append("nbgrader export (grades.csv):")
        for row in csv.DictReader(grades_csv.open()):
            lines.append(
                f"  {row['assignment']:<18} {row['student_id']:<10} "
                f"{row['score']:>5}/{row['max_score']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["release", "roundtrip"])
    parser.add_argument("assignments", nargs="*", help="only these lessons (default: all of them)")
    parser.add_argument("--keep", action="store_true", help="roundtrip: keep the temp course")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.assignments) - set(ASSIGNMENTS))
    if unknown:
        parser.error(
            f"unknown assignment(s) {', '.join(unknown)}: choose from {', '.join(ASSIGNMENTS)}"
        )
    chosen = tuple(args.assignments) or ASSIGNMENTS
    if args.action == "release":
        target = release(assignments=chosen)
        print(f"released {', '.join(chosen)} into {target.relative_to(ROOT)}/")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="sessionlab-roundtrip-"))
    try:
        scores = roundtrip(workdir, assignments=chosen)
        print(report(scores, workdir / "autograder" / "grades.csv"))
        feedback = sorted((workdir / "autograder" / "feedback").rglob("*.html"))
        print(f"\nfeedback: {len(feedback)} HTML files" + (f" in {workdir}" if args.keep else ""))
        expected = {
            "solutions": lambda s: s.auto == s.auto_max,
            "partial": lambda s: 0 < s.auto < s.auto_max,
            "untouched": lambda s: s.auto == 0,
        }
        ok = all(expected[s.student](s) for s in scores)
        print(json.dumps({"solutions_full_partial_between_untouched_zero": ok}))
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
