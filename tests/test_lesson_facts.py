"""Lessons, docs and the package agree where they state the same fact.

``docs/cli-facts.md`` is the one place for facts several lessons repeat. These checks caught
real contradictions (issue 15): the capstone graded "CLI 1.0.124 with resume writes no new
file" while lessons 02 and 10 showed 1.0.124-2.0.x leaving strays; the capstone added up
``total_cost_usd``, which lesson 05 measures as cumulative per CLI process; lesson 02 said it
tried ``continue_conversation`` and never did; lessons and docs cited research files that are
not in the repository.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from sessionlab.claude_clis import PINNED

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "docs" / "cli-facts.md"
LESSONS = sorted((ROOT / "solutions").glob("*/*.py"))
TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *LESSONS]

Version = tuple[int, ...]


def _version(text: str) -> Version:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def resume_table() -> list[tuple[Version, Version, bool]]:
    """The rows of cli-facts.md's resume table: [low, high) version range, new file or not."""
    rows = []
    for line in FACTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[2] not in ("yes", "no"):
            continue
        versions = cells[0]
        if versions.startswith("≤"):
            low, high = (0,), (*_version(versions)[:2], _version(versions)[2] + 1)
        elif versions.startswith("≥"):
            low, high = _version(versions), (10**6,)
        else:
            first, last = versions.split("–")
            low = _version(first)
            major, minor = _version(last.replace("x", "0"))[:2]
            high = (major, minor + 1, 0)
        rows.append((low, high, cells[2] == "yes"))
    return rows


def facts_expect_new_file(version: str, resume: bool) -> bool:
    """What docs/cli-facts.md says: every connection without resume is a new file."""
    if not resume:
        return True
    found = [new for low, high, new in resume_table() if low <= _version(version) < high]
    assert len(found) == 1, f"cli-facts.md's resume table covers {version} {len(found)} times"
    return found[0]


def test_the_facts_table_covers_every_version_once() -> None:
    rows = resume_table()
    assert len(rows) == 3
    for version in ("1.0.30", "1.0.123", "1.0.124", "1.0.128", "2.0.77", "2.1.0", "2.1.330"):
        facts_expect_new_file(version, True)
    assert [facts_expect_new_file(v, True) for v in ("1.0.123", "1.0.124", "2.0.99", "2.1.0")] == [
        True,
        True,
        True,
        False,
    ]


def test_pinned_clis_agree_with_the_facts() -> None:
    for cli in PINNED.values():
        forks = facts_expect_new_file(cli.version, True) and _version(cli.version) < (1, 0, 124)
        assert cli.resume_appends is not forks, cli


def _capstone_cells() -> tuple[str, str]:
    nb = nbformat.read(ROOT / "solutions" / "09-capstone" / "09-capstone.ipynb", 4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    return by_id["expects_new_file"], by_id["test_expects_new_file"]


def test_capstone_challenge_and_its_tests_agree_with_the_facts() -> None:
    answer, tests = _capstone_cells()
    scope: dict[str, object] = {}
    exec(answer, scope)  # the reference answer
    expects = scope["expects_new_file"]
    assert isinstance(expects, Callable)
    grid = ["1.0.30", "1.0.120", "1.0.123", "1.0.124", "1.0.128", "2.0.77", "2.1.0", "2.1.112"]
    for version in grid:
        for resume in (False, True):
            assert expects(version, resume) == facts_expect_new_file(version, resume), version
    asserted = re.findall(
        r'assert expects_new_file\("([\d.]+)", resume=(True|False)\) is (True|False)', tests
    )
    assert len(asserted) >= 6, "visible and hidden checks"
    for version, resume, expected in asserted:
        claim = expected == "True"
        assert claim == facts_expect_new_file(version, resume == "True"), (version, resume)


def _code_of(path: Path) -> Iterator[ast.AST]:
    """The AST of a module, or of every code cell of a lesson twin (top-level await allowed)."""
    text = path.read_text()
    chunks = re.split(r"(?m)^# %%.*$", text) if path.parent.parent.name == "solutions" else [text]
    for chunk in chunks:
        flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        yield from ast.walk(compile(chunk, str(path), "exec", flags, dont_inherit=True))


def _mentions_total_cost(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr == "total_cost_usd":
            return True
        if isinstance(sub, ast.Constant) and sub.value == "total_cost_usd":
            return True
    return False


@pytest.mark.parametrize(
    "path",
    [*LESSONS, *sorted((ROOT / "src" / "sessionlab").rglob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_nothing_adds_up_total_cost_usd(path: Path) -> None:
    """``total_cost_usd`` is cumulative per CLI process: ``x += result.total_cost_usd`` counts
    early turns again (lesson 05). A turn's cost is the increase of its connection's total."""
    for node in _code_of(path):
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            assert not _mentions_total_cost(node.value), f"{path.name}:{node.lineno}"


def test_lessons_that_use_total_cost_usd_say_it_is_cumulative() -> None:
    for path in TEXTS:
        text = path.read_text()
        if "total_cost_usd" in text and path.name != "README.md":
            assert "cumulative" in text, (
                f"{path.name} uses total_cost_usd without saying what it is"
            )


def test_no_text_says_1_0_124_resume_writes_no_new_file() -> None:
    wrong = re.compile(r"1\.0\.124[^.\n]*(no new file|no stray|writes no|leaves no|clean)", re.I)
    for path in TEXTS:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert not wrong.search(line), f"{path.name}:{number}: {line.strip()}"


def test_lesson_02_tries_continue_conversation() -> None:
    text = (ROOT / "solutions" / "02-failed-fixes" / "02-failed-fixes.py").read_text()
    code = [c for c in re.split(r"(?m)^# %%.*$", text) if not c.lstrip().startswith("#")]
    calls = [c for c in code if "continue_conversation=True" in c and "await chat(" in c]
    assert len(calls) == 2, "tried on the legacy and on the current CLI"


def test_nothing_cites_research_files_outside_the_repository() -> None:
    sources = [*TEXTS, *sorted((ROOT / "src").rglob("*.py")), *sorted(ROOT.glob("tests/**/*.py"))]
    pattern = re.compile(r"research/|monitor-reliability|claude-code-sessions\.md|shared/")
    for path in sources:
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert not pattern.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
