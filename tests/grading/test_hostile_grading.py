"""Students who attack the grading: hooks, transformers, patches, forged reports, lying results.

The hostile kinds of ``autograder/demo/hostile_grading.py`` and one correct student are graded
together by ``sessionlab grade`` (jailed, about 2 minutes): each scores what its honest content
earns, the correct student keeps full marks, and no feedback file carries a hidden test's text
or data in any encoding: the test decodes every base64, zlib, hex, rot13 and reversed form it
finds. A positive control decodes the instructor's autograded record of the exfiltrator,
where its kernel's output is kept: the same decoder finds the hidden data there, so the
exfiltrator really captured it and the decoder really reads its encodings.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import contextlib
import csv
import html
import io
import os
import re
import sys
import zlib
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.jail import capabilities
from sessionlab.grading.notebook import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    hidden_lines,
    is_test_cell,
    leaked_lines,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "03-monitor" / "03-monitor.ipynb"
sys.path.insert(0, str(ROOT / "autograder" / "demo"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not capabilities()["isolated"], reason="hostile students need the jail"),
]
CONTROL = "garcia-ana-1001"  # a correct student, graded in the same batch


def hidden_secrets(source: nbformat.NotebookNode, public: str) -> set[str]:
    """Hidden lines, and every string literal of a hidden block the release does not show."""
    secrets = set(hidden_lines(source))
    for cell in source.cells:
        if BEGIN_HIDDEN not in cell.source:
            continue
        block = cell.source.split(BEGIN_HIDDEN, 1)[1].split(END_HIDDEN, 1)[0]
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                text = node.value if isinstance(node.value, str) else node.value.decode()
                if len(text.strip()) >= 6:
                    secrets.add(text.strip())
    return {s for s in secrets if s not in public}


def decoded_forms(text: str) -> list[str]:
    """``text`` plus everything its base64, zlib, hex, rot13 and reversed tokens decode to."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    forms = [text, codecs.encode(text, "rot13"), text[::-1]]
    for token in re.findall(r"[A-Za-z0-9+/=_-]{12,}", text):
        for raw in (token, token.replace("-", "+").replace("_", "/")):
            try:
                data = base64.b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                continue
            forms.append(data.decode("utf-8", "replace"))
            with contextlib.suppress(zlib.error):
                forms.append(zlib.decompress(data).decode("utf-8", "replace"))
    for token in re.findall(r"\b[0-9a-f]{16,}\b", text):
        with contextlib.suppress(ValueError):
            data = bytes.fromhex(token if len(token) % 2 == 0 else token[:-1])
            forms.append(data.decode("utf-8", "replace"))
    return forms


def found(secrets: set[str], text: str) -> set[str]:
    forms = decoded_forms(text)
    return {s for s in secrets if any(s in form for form in forms)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import generate
    import hostile_grading

    from sessionlab.grading.pipeline import GradeOptions, run_cli

    given = os.environ.get("SESSIONLAB_HOSTILE_RESULTS")  # reuse a graded folder
    if given:
        return Path(given)
    tmp = tmp_path_factory.mktemp("hostile")
    everyone = tmp / "all"
    generate.build(everyone, subset=True)
    submissions = tmp / "submissions"
    submissions.mkdir()
    wanted = {file for file, _, _ in hostile_grading.STUDENTS} | {
        s.file for s in generate.CLASS if s.sid == CONTROL
    }
    for name in wanted:
        (submissions / name).write_bytes((everyone / name).read_bytes())
    out = tmp / "out"
    lines: list[str] = []
    status = run_cli(
        GradeOptions("03-monitor", submissions, ROOT / "autograder", out=out, cell_timeout=60,
                     stream=io.StringIO()),
        echo=lines.append,
    )  # fmt: skip
    print("\n".join(lines))
    assert status == 0
    return out


def test_each_hostile_student_scores_its_honest_content(graded: Path) -> None:
    import generate
    import hostile_grading

    with (graded / "exports" / "03-monitor" / "grades.csv").open() as handle:
        got = {row["student_id"]: row for row in csv.DictReader(handle)}
    expected = generate.expected_scores()
    sids = [sid for _, _, sid in hostile_grading.STUDENTS] + [CONTROL]
    assert set(got) == set(sids), "grades.csv has everyone"
    wrong = [
        f"{sid}: expected {expected[sid][0]:g}, got {got[sid]['score']} [{got[sid]['notes']}]"
        for sid in sids
        if not expected[sid][0] - 1e-6 <= float(got[sid]["score"] or -1) <= expected[sid][1] + 1e-6
    ]
    assert not wrong, "\n".join(wrong)


def test_no_feedback_carries_hidden_tests_in_any_encoding(graded: Path) -> None:
    import hostile_grading

    source = nbformat.read(SOURCE, as_version=4)
    public = "\n".join(c.source for c in source.cells if BEGIN_HIDDEN not in c.source) + "\n".join(
        c.source.split(BEGIN_HIDDEN)[0] for c in source.cells
    )
    secrets = hidden_secrets(source, public)
    assert {"agent-12ab.jsonl", ".hidden.jsonl"} <= secrets, "the hidden cases are secrets"
    files = sorted((graded / "feedback").rglob("*.html"))
    assert len(files) == len(hostile_grading.STUDENTS) + 1, "feedback for everyone"
    for path in files:
        text = path.read_text()
        # What the student wrote themselves is no leak (the forger prints "not json").
        submitted = graded / "autograded" / path.parts[-3] / "03-monitor" / "03-monitor.ipynb"
        cells = nbformat.read(submitted, as_version=4).cells
        own = "\n".join(c.source for c in cells if not is_test_cell(c))
        theirs = {s for s in secrets if s not in own}
        assert leaked_lines(text, hidden_lines(source)) == [], path
        assert found(theirs, text) == set(), path
    # Positive control: the exfiltrator's kernel did capture hidden data (kept in the
    # instructor's record), and the decoder reads it back from its encodings.
    record = graded / "autograded" / "hook-exfil-1038" / "03-monitor" / "03-monitor.ipynb"
    nb = nbformat.read(record, as_version=4)
    printed = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    captured = found(secrets, printed)
    assert {"agent-12ab.jsonl", ".hidden.jsonl"} <= captured, sorted(captured)
    assert "b64:" in printed and "zlib:" in printed and "rot13:" in printed


def test_feedback_shows_the_graders_decisions(graded: Path) -> None:
    feedback = graded / "feedback" / "li-ar-1042" / "03-monitor" / "03-monitor.html"
    text = html.unescape(re.sub(r"<[^>]+>", " ", feedback.read_text()))
    assert "grader: failed in the visible tests" in text  # is_stray's lying object
    assert "grader: passed" in text
    exfiltrator = graded / "feedback" / "hook-exfil-1038" / "03-monitor" / "03-monitor.html"
    assert "what your code printed after a test ran is not shown" in exfiltrator.read_text()
