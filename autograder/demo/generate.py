"""Build a synthetic class of lesson 03 submissions, named as an LMS would name them.

``python autograder/demo/generate.py OUT [--subset]`` releases 03-monitor from ``solutions/``
into a temporary folder, then writes 42 notebooks into ``OUT``: the release with answer
cells filled in by kind (correct, naive monitor, slow poller, a merge that loses the chain,
crashes, a loop, a memory hog, a cheat that looks for the hidden tests, a vandal that deletes
files, a bounded fork bomb, a disk filler, ...), under Canvas, Moodle and nbgrader names.
``expected_scores.csv`` next to this file holds what each student must score.

Every variant is a small textual edit of the reference answer, checked when applied, so a
change to the lesson that breaks a variant fails loudly instead of grading something else.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

import course_cycle  # noqa: E402

sys.path.insert(0, str(HERE))
import hostile_grading  # noqa: E402
import hostile_jail  # noqa: E402

ASSIGNMENT = "03-monitor"
EXPECTED = HERE / "expected_scores.csv"

Answers = dict[str, str]


def _edit(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"variant no longer applies: {old[:60]!r} not in the reference answer")
    return text.replace(old, new, 1)


def correct(a: Answers) -> Answers:
    return a


def untouched(a: Answers) -> Answers:
    return {}


def partial(a: Answers) -> Answers:
    """Exercises 1 and 2 only."""
    return {k: a[k] for k in ("is_stray", "line_follower")}


def naive(a: Answers) -> Answers:
    """Exercises 1-4 right, then the lesson's polling monitor as the answer."""
    monitor = '''class StudentMonitor(NaivePollingMonitor):
    """The lesson's monitor, unchanged: it is allowed, and it loses lines."""
'''
    return {**a, "student_monitor": monitor}


def slow_poller(a: Answers) -> Answers:
    """No watchdog events: discovery only by a rescan every 0.5 s (detection KPI missed)."""
    text = _edit(a["student_monitor"], "self.rescan_interval = 1.0", "self.rescan_interval = 0.5")
    text = _edit(
        text, "self._observer.schedule(Hints(), str(self.project_dir), recursive=False)", "pass"
    )
    return {**a, "student_monitor": text}


def loses_chain(a: Answers) -> Answers:
    """The merger never re-links a fragment's root: one file, several chains."""
    text = _edit(a["chain_merger"], 'entry["parentUuid"] = self.leaf', "pass")
    return {**a, "chain_merger": text}


def crash(a: Answers) -> Answers:
    """The monitor raises in its constructor."""
    text = _edit(
        a["student_monitor"],
        "        ### BEGIN SOLUTION\n",
        '        raise RuntimeError("todo")\n        ### BEGIN SOLUTION\n',
    )
    return {**a, "student_monitor": text}


def kernel_crash(a: Answers) -> Answers:
    """A segfault in the first answer cell: the kernel dies."""
    return {**a, "is_stray": "import ctypes\n\nctypes.string_at(0)\n\n" + a["is_stray"]}


def infinite_loop(a: Answers) -> Answers:
    """Exercise 5's cell never finishes (the per-cell time limit interrupts it)."""
    return {**a, "student_monitor": "while True:\n    pass\n\n" + a["student_monitor"]}


def memory_hog(a: Answers) -> Answers:
    """Allocates until refused, in the monitor's constructor."""
    hog = "        hog = []\n        while True:\n            hog.append(bytearray(64 << 20))\n"
    text = _edit(
        a["student_monitor"], "        ### BEGIN SOLUTION\n", hog + "        ### BEGIN SOLUTION\n"
    )
    return {**a, "student_monitor": text}


CHEAT = """import glob
import os

import sessionlab

repo = Path(sessionlab.__file__).parents[2]

_found = []
for _pattern in (
    str(repo / "solutions" / "*" / "*.ipynb"),
    str(repo / "autograder" / "gradebook.db"),
    "../../../source/*/*.ipynb",
    "/tmp/sessionlab-grade-*/course/source/*/*.ipynb",
):
    for _path in glob.glob(_pattern):
        try:
            with open(_path) as _handle:
                _found.append((_path, _handle.read()))
        except OSError:
            pass
print(f"hidden tests found: {len(_found)}")
if _found:  # with the tests in hand, copy the reference answer out of the source
    for _path, _text in _found:
        if "def is_stray" in _text:
            import json as _json

            for _cell in _json.loads(_text)["cells"]:
                if "def is_stray" in "".join(_cell["source"]):
                    exec("".join(_cell["source"]))
else:
"""


def cheat(a: Answers) -> Answers:
    """Looks for the source notebook (hidden tests) and the gradebook; else a wrong answer.

    The wrong answer never calls a file a stray, so the monitor merges nothing and the score
    does not depend on timing (calling *every* ``.jsonl`` a stray, the fixed file included,
    scored anywhere from 3.75 to 6 of the 7 rule points between runs).
    """
    wrong = "    def is_stray(path, fixed_name, baseline):\n        return False\n"
    return {**a, "is_stray": CHEAT + wrong}


VANDAL = """import os
import shutil
from pathlib import Path

import sessionlab

repo = Path(sessionlab.__file__).parents[2]

# Outside the grading jail (no root, --no-isolation) these paths are the real checkout: the
# demo's vandal acts only where the jail says it is jailed.
if os.environ.get("SESSIONLAB_JAILED") == "1":
    for _target in (repo / "solutions", repo / "autograder", repo / "src", repo / ".git",
                    Path("../../..")):
        shutil.rmtree(_target, ignore_errors=True)
    print("deleted what I could")
else:
    print("not jailed: the demo's vandal does nothing")

"""


def vandal(a: Answers) -> Answers:
    """Deletes everything it can reach, then answers correctly."""
    return {**a, "is_stray": VANDAL + a["is_stray"]}


FORK_BOMB = """import os
import time

_children = []
try:
    for _ in range(2000):  # bounded: the grader's process limit stops it long before
        _pid = os.fork()
        if _pid == 0:
            time.sleep(2)
            os._exit(0)
        _children.append(_pid)
except OSError as _error:
    print(f"fork refused after {len(_children)} children: {type(_error).__name__}")
for _pid in _children:
    os.waitpid(_pid, 0)

"""


def fork_bomb(a: Answers) -> Answers:
    """Forks until refused, reaps its children, then answers correctly."""
    return {**a, "open_for_writing": FORK_BOMB + a["open_for_writing"]}


DISK_FILLER = """

with open("/tmp/filler.bin", "wb") as _handle:
    for _ in range(4096):  # 4 GiB if nothing stops it
        _handle.write(b"x" * (1 << 20))
"""


def disk_filler(a: Answers) -> Answers:
    """Answers correctly, then tries to write 4 GiB."""
    return {**a, "line_follower": a["line_follower"] + DISK_FILLER}


def uses_reference(a: Answers) -> Answers:
    """Wraps the course's reference monitor: forbidden, exercise 5 scores 0."""
    monitor = '''from sessionlab.monitor.engine import SessionMonitor


class StudentMonitor(SessionMonitor):
    """The reference, renamed."""
'''
    return {**a, "student_monitor": monitor}


def syntax_error(a: Answers) -> Answers:
    return {**a, "chain_merger": "class ChainMerger(:\n    pass\n"}


@dataclass(frozen=True)
class Student:
    file: str  # as the LMS names it ("" for nbgrader layout: <sid>/03-monitor/03-monitor.ipynb)
    kind: Callable[[Answers], Answers] | None  # None: not a notebook at all
    sid: str  # the student id the grader must derive


A = ASSIGNMENT
CLASS = [
    Student(f"garcia_ana_1001_5001_{A}.ipynb", correct, "garcia-ana-1001"),
    Student(f"Bruno Costa_1002_assignsubmission_file_{A}.ipynb", correct, "bruno-costa-1002"),
    Student("", correct, "carla"),
    Student(f"dupont_elise_1004_5004_{A}-1.ipynb", correct, "dupont-elise-1004"),
    Student(f"Zoë O'Brien_1005_assignsubmission_file_{A} (1).ipynb", correct, "zoe-o-brien-1005"),
    Student(f"kim_min_1006_5006_{A}.ipynb", correct, "kim-min-1006"),
    Student(f"lee_jo_1007_5007_{A}.ipynb", naive, "lee-jo-1007"),
    Student(f"Mia Rossi_1008_assignsubmission_file_{A}.ipynb", naive, "mia-rossi-1008"),
    Student(f"nash_kai_1009_5009_{A}.ipynb", slow_poller, "nash-kai-1009"),
    Student(f"ortiz_luz_1010_5010_{A}.ipynb", slow_poller, "ortiz-luz-1010"),
    Student(f"park_ji_1011_5011_{A}.ipynb", loses_chain, "park-ji-1011"),
    Student(f"Quinn Hale_1012_assignsubmission_file_{A}.ipynb", loses_chain, "quinn-hale-1012"),
    Student(f"reyes_sol_1013_5013_{A}.ipynb", crash, "reyes-sol-1013"),
    Student(f"silva_rui_1014_5014_{A}.ipynb", kernel_crash, "silva-rui-1014"),
    Student(f"tanaka_yu_1015_5015_{A}.ipynb", infinite_loop, "tanaka-yu-1015"),
    Student(f"ueda_rin_1016_5016_{A}.ipynb", memory_hog, "ueda-rin-1016"),
    Student(f"vega_noa_1017_5017_{A}.ipynb", cheat, "vega-noa-1017"),
    Student(f"wong_ivy_1018_5018_{A}.ipynb", vandal, "wong-ivy-1018"),
    Student(f"xu_lin_1019_5019_{A}.ipynb", fork_bomb, "xu-lin-1019"),
    Student(f"yilmaz_ece_1020_5020_{A}.ipynb", disk_filler, "yilmaz-ece-1020"),
    Student(f"zeller_max_1021_5021_{A}.ipynb", untouched, "zeller-max-1021"),
    Student(f"Ada Byron_1022_assignsubmission_file_{A}.ipynb", untouched, "ada-byron-1022"),
    Student(f"baker_tom_1023_5023_{A}.ipynb", partial, "baker-tom-1023"),
    Student(f"chen_wei_1024_5024_{A}.ipynb", partial, "chen-wei-1024"),
    Student(f"diaz_eva_1025_5025_{A}.ipynb", uses_reference, "diaz-eva-1025"),
    Student(f"evans_sam_1026_5026_{A}.ipynb", syntax_error, "evans-sam-1026"),
    Student(f"fox_jay_1027_5027_{A}.ipynb", None, "fox-jay-1027"),
    Student(f"gomez_leo_1028_5028_{A}.ipynb", naive, "gomez-leo-1028"),
    Student(f"hill_amy_1029_5029_{A}.ipynb", correct, "hill-amy-1029"),
    Student(f"ito_ken_1030_5030_{A}.ipynb", correct, "ito-ken-1030"),
]
CLASS += [Student(f, kind, sid) for f, kind, sid in hostile_jail.STUDENTS]
# Students who attack the grading itself (hostile_grading.py): every one is in the subset.
CLASS += [
    Student(file, hostile_grading.KINDS[kind], sid) for file, kind, sid in hostile_grading.STUDENTS
]
# Not graded: one name no LMS produces, and an older submission of garcia_ana.
EXTRAS = {"my_homework.ipynb": untouched, f"garcia_ana_1001_4001_{A}.ipynb": untouched}
# One student per kind: the test grades these (every kind, about half the class).
SUBSET = {
    "garcia-ana-1001", "bruno-costa-1002", "carla", "lee-jo-1007", "nash-kai-1009",
    "park-ji-1011", "reyes-sol-1013", "silva-rui-1014", "tanaka-yu-1015", "ueda-rin-1016",
    "vega-noa-1017", "wong-ivy-1018", "xu-lin-1019", "yilmaz-ece-1020", "zeller-max-1021",
    "baker-tom-1023", "diaz-eva-1025", "evans-sam-1026", "fox-jay-1027",
}  # fmt: skip
SUBSET |= {sid for _, _, sid in hostile_grading.STUDENTS}


def reference_answers(source: Path) -> Answers:
    nb = nbformat.read(source, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }


def build(
    out: Path, *, subset: bool = False, course: Path = ROOT, only: set[str] | None = None
) -> list[Student]:
    """Write the class (``only`` these student ids, if given) into ``out``; returns the
    students written."""
    source = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    answers = reference_answers(source)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sessionlab-demo-release-") as tmp:
        released = course_cycle.release(course, Path(tmp), assignments=(ASSIGNMENT,))
        release_nb = released / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        chosen = [s for s in CLASS if not subset or s.sid in SUBSET]
        chosen = [s for s in chosen if only is None or s.sid in only]
        for student in chosen:
            if student.file:
                path = out / student.file
            else:
                path = out / student.sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                (path.parent / "timestamp.txt").write_text("2030-01-01 12:00:00.000000 UTC")
            if student.kind is None:
                path.write_text('{"this is": "not a notebook"')
                continue
            nb = course_cycle.filled_submission(source, release_nb, student.kind(answers))
            nbformat.write(nb, path)
        if not subset and only is None:
            for name, kind in EXTRAS.items():
                nb = course_cycle.filled_submission(source, release_nb, kind(answers))
                nbformat.write(nb, out / name)
    return chosen


def expected_scores() -> dict[str, tuple[float, float, str]]:
    """``student_id -> (lowest, highest, kind)`` from ``expected_scores.csv``.

    A score is one number, or ``low..high`` where the lesson's own measurements vary between
    runs (the naive monitor loses lines to a reopening or tearing writer only sometimes).
    """
    with EXPECTED.open() as handle:
        rows = list(csv.DictReader(handle))
    expected = {}
    for row in rows:
        low, _, high = row["score"].partition("..")
        expected[row["student_id"]] = (float(low), float(high or low), row["kind"])
    return expected


def score_mismatches(grades_csv: Path, students: set[str] | None = None) -> list[str]:
    """One line per student whose score in ``grades_csv`` is not the expected one (or is
    missing); ``students``: whom to check (default: everyone in the CSV with an expectation)."""
    with grades_csv.open() as handle:
        got = {row["student_id"]: row for row in csv.DictReader(handle)}
    expected = expected_scores()
    wanted = students if students is not None else set(expected) & set(got)
    wrong = []
    for sid in sorted(wanted):
        low, high, kind = expected[sid]
        row = got.get(sid)
        actual = float(row["score"]) if row and row["score"] else None
        if actual is None or not low - 1e-6 <= actual <= high + 1e-6:
            wanted_text = f"{low:g}" if low == high else f"{low:g}..{high:g}"
            wrong.append(
                f"{sid} ({kind}): expected {wanted_text}, got {actual} [{row and row['notes']}]"
            )
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--subset", action="store_true", help="one student per kind")
    args = parser.parse_args(argv)
    written = build(args.out, subset=args.subset)
    print(json.dumps({"students": len(written), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
