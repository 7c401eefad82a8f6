"""Each lesson's time budget, from what can be measured: prose, code cells, exercises, run time.

``python autograder/lesson_budget.py`` prints the table; ``... measure [LESSON ...]`` runs those
solution notebooks top to bottom with nbclient (all of them without names), times them and
records the time; ``... write`` recounts every lesson's sizes and writes the table to
``docs/time-budgets.md``, the budget line at the top of each lesson's ``.py`` twin (its notebook
is regenerated) and the course total in ``README.md``; ``... check`` exits 1 when any of those
disagree with the sources (``tests/test_lesson_budget.py`` runs it).

Why measured parts and stated rates: nobody has timed a class through these lessons yet, so a
budget in minutes cannot be measured. What can be is the size of each lesson (words of prose,
code cells, exercises and their points) and how long its solved notebook takes to run here.
The minutes come from three rates that are our assumptions, stated next to every budget, so
that a teacher can redo the sum with their own.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from lesson_sources import ASSIGNMENTS, from_py, paths

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "time-budgets.md"
README = ROOT / "README.md"

# The three rates (assumptions, not measurements; the docs say so).
WORDS_PER_MINUTE = 150  # careful reading of technical prose
MINUTES_PER_CODE_CELL = 1.0  # read a code cell, run it, read what it printed
MINUTES_PER_POINT = 6.0  # the work of an exercise, by its points
ROUND_TO_MINUTES = 5

BUDGET_START = "# **Time budget:**"
_WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")
_TABLE_ROW = re.compile(r"^\| `(?P<lesson>[\w-]+)` \|(?P<cells>.*)\|\s*$", re.M)
_README_TOTAL = re.compile(r"^\*\*Time budget: .*?(?=^\s*$)", re.M | re.S)


@dataclass(frozen=True)
class Sizes:
    """What a lesson asks of a student, counted in its source notebook."""

    lesson: str
    words: int  # prose in markdown cells (not the budget paragraph, not answer cells)
    code_cells: int
    exercises: int  # answer cells (code or written), optional challenges excluded
    points: float
    optional_exercises: int = 0
    optional_points: float = 0.0


@dataclass(frozen=True)
class Timing:
    """One measured run of the solved notebook."""

    seconds: float
    load: float  # 1-minute load average when the run ended
    date: str  # YYYY-MM-DD


def _without_budget(markdown: str) -> str:
    """A markdown cell's text minus the time-budget paragraph (which quotes these counts)."""
    lines = markdown.splitlines()
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith(BUDGET_START.removeprefix("# ")):
            skipping = True
        elif skipping and not line.strip():
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def count_sizes(lesson: str, notebook: nbformat.NotebookNode) -> Sizes:
    """Words of prose, code cells, exercises and points of one lesson notebook.

    An exercise is an nbgrader answer cell; its points are those of the graded cells up to
    the next answer cell. Exercises under a heading that says *Challenge* or *optional* are
    counted apart: the capstone's optional challenges.
    """
    words = code_cells = 0
    exercises: list[tuple[bool, float]] = []  # (optional, points)
    optional = False
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and not meta.get("solution"):
            text = _without_budget(cell.source)
            words += len(_WORD.findall(text))
            for line in text.splitlines():
                if line.startswith("#"):
                    if re.search(r"challenge|optional", line, re.I):
                        optional = True
                    elif re.match(r"^##\s", line):
                        optional = False
        if cell.cell_type == "code":
            code_cells += 1
        if meta.get("solution"):
            exercises.append((optional, 0.0))
        if meta.get("grade") and exercises:
            was_optional, points = exercises[-1]
            exercises[-1] = (was_optional, points + float(meta.get("points", 0) or 0))
    required = [p for o, p in exercises if not o]
    extra = [p for o, p in exercises if o]
    return Sizes(lesson, words, code_cells, len(required), sum(required), len(extra), sum(extra))


def sizes_of(lesson: str) -> Sizes:
    ipynb, _ = paths(lesson)
    return count_sizes(lesson, nbformat.read(ipynb, as_version=4))


# --- minutes -------------------------------------------------------------------------------


def reading_minutes(sizes: Sizes) -> float:
    return sizes.words / WORDS_PER_MINUTE


def cell_minutes(sizes: Sizes) -> float:
    return sizes.code_cells * MINUTES_PER_CODE_CELL


def exercise_minutes(sizes: Sizes) -> float:
    return sizes.points * MINUTES_PER_POINT


def budget_minutes(sizes: Sizes, timing: Timing | None) -> int:
    """The lesson's budget, rounded to 5 minutes (optional challenges not included)."""
    run = timing.seconds / 60 if timing else 0.0
    total = reading_minutes(sizes) + cell_minutes(sizes) + exercise_minutes(sizes) + run
    return max(ROUND_TO_MINUTES, round(total / ROUND_TO_MINUTES) * ROUND_TO_MINUTES)


def optional_minutes(sizes: Sizes) -> int:
    total = sizes.optional_points * MINUTES_PER_POINT
    return round(total / ROUND_TO_MINUTES) * ROUND_TO_MINUTES


def duration(minutes: float) -> str:
    """``45 min``, ``1 h``, ``1 h 35``."""
    whole = round(minutes)
    hours, rest = divmod(whole, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest:02d}"


def _points(value: float) -> str:
    return f"{value:g}"


def _plural(count: float, word: str) -> str:
    return f"{_points(count)} {word}" if count == 1 else f"{_points(count)} {word}s"


def header(sizes: Sizes, timing: Timing | None) -> str:
    """The lesson's budget paragraph (markdown, three lines, ``# `` prefixed for the twin)."""
    run = (
        f"the solved notebook runs top to bottom in {timing.seconds:.0f} s"
        if timing
        else "the solved notebook's run time is not measured yet"
    )
    optional = ""
    if sizes.optional_exercises:
        optional = (
            f", plus {duration(optional_minutes(sizes))} for the "
            f"{sizes.optional_exercises} optional challenges"
        )
    lines = [
        f"**Time budget:** about {duration(budget_minutes(sizes, timing))}{optional}: "
        f"{sizes.words:,} words to read ({duration(reading_minutes(sizes))} at "
        f"{WORDS_PER_MINUTE} words a minute),",
        f"{_plural(sizes.code_cells, 'code cell')} to run and read "
        f"({duration(cell_minutes(sizes))} at {MINUTES_PER_CODE_CELL:g} min each), "
        f"{_plural(sizes.exercises, 'exercise')} worth {_plural(sizes.points, 'point')} "
        f"({duration(exercise_minutes(sizes))} at {MINUTES_PER_POINT:g} min a point);",
        f"{run} on the course's 2-core machine. "
        "Counts and run time are measured, the rates are estimates (docs/time-budgets.md).",
    ]
    return "\n".join(f"# {line}" for line in lines)


# --- the docs table ---------------------------------------------------------------------------

COLUMNS = (
    "lesson",
    "words",
    "reading",
    "code cells",
    "exercises",
    "points",
    "exercise work",
    "solved run",
    "load",
    "measured",
    "budget",
)


def table(rows: list[tuple[Sizes, Timing | None]]) -> str:
    """The markdown table of docs/time-budgets.md (and of the command's output)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    total = 0
    optional = 0
    for sizes, timing in rows:
        budget = budget_minutes(sizes, timing)
        total += budget
        optional += optional_minutes(sizes)
        extra = ""
        if sizes.optional_exercises:
            extra = f" + {sizes.optional_exercises} optional"
        extra_points = f" + {_points(sizes.optional_points)}" if sizes.optional_points else ""
        cells = [
            f"`{sizes.lesson}`",
            f"{sizes.words:,}",
            duration(reading_minutes(sizes)),
            str(sizes.code_cells),
            f"{sizes.exercises}{extra}",
            f"{_points(sizes.points)}{extra_points}",
            duration(exercise_minutes(sizes)),
            f"{timing.seconds:.1f} s" if timing else "-",
            f"{timing.load:.1f}" if timing else "-",
            timing.date if timing else "-",
            f"**{duration(budget)}**"
            + (f" + {duration(optional_minutes(sizes))}" if sizes.optional_exercises else ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"| **total** | | | | | | | | | | **{duration(total)}**"
        + (f" + {duration(optional)}" if optional else "")
        + " |"
    )
    return "\n".join(lines)


def recorded_timings(text: str) -> dict[str, Timing]:
    """The run times the docs table holds (kept for lessons not measured again)."""
    found: dict[str, Timing] = {}
    for match in _TABLE_ROW.finditer(text):
        cells = [c.strip() for c in match.group("cells").split("|")]
        run, load, date = cells[6], cells[7], cells[8]
        if run.endswith(" s") and load != "-":
            found[match.group("lesson")] = Timing(float(run[:-2]), float(load), date)
    return found


def total_minutes(rows: list[tuple[Sizes, Timing | None]]) -> tuple[int, int]:
    return (
        sum(budget_minutes(s, t) for s, t in rows),
        sum(optional_minutes(s) for s, _ in rows),
    )


def readme_paragraph(rows: list[tuple[Sizes, Timing | None]]) -> str:
    """README's budget paragraph: the total, each lesson's budget, what is measured and not."""
    total, optional = total_minutes(rows)
    per_lesson = ", ".join(duration(budget_minutes(s, t)) for s, t in rows)
    extra = (
        f" (plus {duration(optional)} for the capstone's optional challenges)" if optional else ""
    )
    longest = max((t.seconds for _, t in rows if t), default=0.0)
    text = (
        f"**Time budget: about {duration(total)} of work for the {len(rows)} lessons**{extra}: "
        f"{per_lesson}, each stated at the top of its lesson. Measured: the words of prose, the "
        "code cells, the exercises and their points, and how long each solved notebook takes to "
        f"run top to bottom on two cores, offline (the longest {longest:.0f} s). Estimated: the "
        f"minutes, from three rates ({WORDS_PER_MINUTE} words a minute, "
        f"{MINUTES_PER_CODE_CELL:g} minute a code cell, {MINUTES_PER_POINT:g} minutes an exercise "
        "point), not from timing a class. [docs/time-budgets.md](docs/time-budgets.md) has the "
        "table, the method and the command that measures it again."
    )
    return textwrap.fill(text, 96, break_long_words=False, break_on_hyphens=False) + "\n"


# docs/time-budgets.md is written by hand, except two blocks this script rewrites.
RATES_BLOCK = ("<!-- rates: written by autograder/lesson_budget.py -->", "<!-- rates end -->")
TABLE_BLOCK = ("<!-- table: written by autograder/lesson_budget.py -->", "<!-- table end -->")


def rates_table() -> str:
    """The three rates, as the docs state them."""
    return "\n".join(
        [
            "| part | rate |",
            "| --- | --- |",
            f"| reading | {WORDS_PER_MINUTE} words a minute |",
            f"| code cells | {MINUTES_PER_CODE_CELL:g} minute a cell |",
            f"| exercises | {MINUTES_PER_POINT:g} minutes a point |",
            "| machine | the measured solved run, as is |",
        ]
    )


def _replace_block(text: str, block: tuple[str, str], body: str) -> str:
    start, end = block
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"docs/time-budgets.md has no block {start!r} ... {end!r}")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)


def rows_for(timings: dict[str, Timing]) -> list[tuple[Sizes, Timing | None]]:
    return [(sizes_of(lesson), timings.get(lesson)) for lesson in ASSIGNMENTS]


def render_doc(text: str, rows: list[tuple[Sizes, Timing | None]]) -> str:
    """The docs page with its two generated blocks rewritten."""
    return _replace_block(
        _replace_block(text, RATES_BLOCK, rates_table()), TABLE_BLOCK, table(rows)
    )


def _replace_header(source: str, new: str) -> str:
    """The lesson's ``.py`` twin with its budget paragraph replaced by ``new``."""
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(BUDGET_START)), None)
    if start is None:
        raise ValueError("no '**Time budget:**' paragraph at the top of the lesson")
    end = start
    while end < len(lines) and lines[end].strip() not in ("#", ""):
        end += 1
    return "".join(lines[:start]) + new + "\n" + "".join(lines[end:])


def current_header(lesson: str) -> str:
    _, py = paths(lesson)
    lines = py.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(BUDGET_START)), None)
    if start is None:
        return ""
    end = start
    while end < len(lines) and lines[end].strip() not in ("#", ""):
        end += 1
    return "\n".join(lines[start:end])


def write(timings: dict[str, Timing]) -> list[str]:
    """Rewrite the docs table, the lessons' budget lines and README's total; return what changed."""
    rows = rows_for(timings)
    changed: list[str] = []
    for sizes, timing in rows:
        ipynb, py = paths(sizes.lesson)
        text = py.read_text()
        new = _replace_header(text, header(sizes, timing))
        if new != text:
            py.write_text(new)
            nbformat.write(from_py(py), ipynb)
            changed.append(str(py.relative_to(ROOT)))
    rows = rows_for(timings)  # the budget paragraph is not counted, but stay exact
    old = DOC.read_text()
    doc = render_doc(old, rows)
    if doc != old:
        DOC.write_text(doc)
        changed.append(str(DOC.relative_to(ROOT)))
    readme = README.read_text()
    new_readme, found = _README_TOTAL.subn(readme_paragraph(rows), readme, count=1)
    if not found:
        raise ValueError("README.md has no '**Time budget: ...' paragraph")
    if new_readme != readme:
        README.write_text(new_readme)
        changed.append("README.md")
    return changed


def problems() -> list[str]:
    """Where the docs table, a lesson's budget line or README's total disagree with the sources."""
    if not DOC.exists():
        return ["docs/time-budgets.md is missing"]
    text = DOC.read_text()
    timings = recorded_timings(text)
    rows = rows_for(timings)
    found: list[str] = []
    fix = "run `python autograder/lesson_budget.py write`"
    if render_doc(text, rows) != text:
        found.append(f"docs/time-budgets.md: the table differs from the lessons' counts; {fix}")
    for sizes, timing in rows:
        if timing is None:
            found.append(f"{sizes.lesson}: no measured run in docs/time-budgets.md; run `measure`")
        if current_header(sizes.lesson) != header(sizes, timing):
            found.append(f"{sizes.lesson}: its budget line differs from the table; {fix}")
    if readme_paragraph(rows) not in README.read_text():
        found.append(f"README.md: the course total differs from the table; {fix}")
    return found


# --- measuring a run ---------------------------------------------------------------------------


def run_solved(lesson: str) -> Timing:
    """Run the solved notebook top to bottom with nbclient, as tests/test_notebooks.py does."""
    from nbclient import NotebookClient

    ipynb, _ = paths(lesson)
    nb = nbformat.read(ipynb, as_version=4)
    with tempfile.TemporaryDirectory(prefix=f"budget-{lesson}-") as tmp:
        client = NotebookClient(
            nb, kernel_name="sessionlab", timeout=300, resources={"metadata": {"path": tmp}}
        )
        started = time.monotonic()
        client.execute()
        seconds = time.monotonic() - started
    return Timing(
        round(seconds, 1), round(os.getloadavg()[0], 1), datetime.now(UTC).date().isoformat()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("show", help="print the table (the default)")
    measure = sub.add_parser("measure", help="time solved notebooks, then write")
    measure.add_argument("lessons", nargs="*", help="lesson names (default: all)")
    sub.add_parser("write", help="recount, rewrite budget lines, docs table and README total")
    sub.add_parser("check", help="exit 1 when docs, lessons and README disagree")
    args = parser.parse_args(argv)
    timings = recorded_timings(DOC.read_text()) if DOC.exists() else {}
    if args.action == "measure":
        wanted = args.lessons or list(ASSIGNMENTS)
        unknown = sorted(set(wanted) - set(ASSIGNMENTS))
        if unknown:
            print(f"unknown lesson(s): {', '.join(unknown)}; known: {', '.join(ASSIGNMENTS)}")
            return 2
        for lesson in wanted:
            timing = run_solved(lesson)
            timings[lesson] = timing
            print(f"{lesson}: {timing.seconds:.1f} s (load {timing.load:.1f})", flush=True)
            write(timings)  # kept as it goes: an interrupted run loses only the lesson running
    if args.action in ("measure", "write"):
        for path in write(timings):
            print(f"rewrote {path}")
        print("now regenerate the student notebooks: python autograder/course_cycle.py release")
        return 0
    if args.action == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    print(table(rows_for(timings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
