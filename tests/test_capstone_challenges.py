"""The capstone challenges' graders: a child process really killed mid-write, a page read back.

The crash test must tell a crash-safe backup from one that appends in place, whatever either
writes; the dashboard reader must see what a browser shows (entities decoded, markup not
text). Both are checked here on the lesson's own reference answers and on wrong ones.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import nbformat
import pytest

from sessionlab.lessons.child_runs import definitions_source, digest, run_in_child
from sessionlab.lessons.dashboards import bars_match, read_dashboard

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "09-capstone" / "09-capstone.ipynb"
SETUP = "import html, json, os\nfrom pathlib import Path\n"

IN_PLACE = """
def backup_transcript(fixed, backup_dir):
    fixed, backup_dir = Path(fixed), Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / "copy"
    done = backup.stat().st_size if backup.exists() else 0
    with open(fixed, "rb") as source, open(backup, "ab") as target:
        source.seek(done)
        while chunk := source.read(65536):
            target.write(chunk)
    return fixed.stat().st_size - done


def restore_transcript(backup_dir):
    return (Path(backup_dir) / "copy").read_bytes()
"""

WHOLE_COPY = """
def backup_transcript(fixed, backup_dir):
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    data = Path(fixed).read_bytes()
    (backup_dir / "tmp").write_bytes(data)
    os.replace(backup_dir / "tmp", backup_dir / "copy")
    return len(data)
"""


def _answer(grade_id: str) -> str:
    nb = nbformat.read(SOURCE, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n", "", cell.source)


def _lines(tag: bytes, count: int) -> bytes:
    return b"".join(b'{"%s": %d, "pad": "%s"}\n' % (tag, i, b"x" * 60) for i in range(count))


def _crash(cells: list[str], tmp: Path) -> tuple[bool, object, bytes]:
    """Back up, grow, back up killed half-way: (killed?, what restores, the old bytes)."""
    fixed, backups = tmp / "session.jsonl", tmp / "backups"
    old, new = _lines(b"before", 200), _lines(b"during", 6000)
    fixed.write_bytes(old)
    assert run_in_child(cells, "backup_transcript", str(fixed), str(backups)).returned == len(old)
    with open(fixed, "ab") as grow:
        grow.write(new)
    limit = len(old) + len(new) // 2
    run = run_in_child(cells, "backup_transcript", str(fixed), str(backups), max_file_bytes=limit)
    restored = run_in_child(cells, "restore_transcript", str(backups)).returned
    return run.killed_by == signal.SIGXFSZ, restored, old


def test_capstone_reference_backup_survives_a_kill_mid_write(tmp_path: Path) -> None:
    cells = [SETUP, _answer("backup_transcript")]
    killed, restored, old = _crash(cells, tmp_path)
    assert killed
    assert restored == digest(old)
    fixed, backups = tmp_path / "session.jsonl", tmp_path / "backups"
    again = run_in_child(cells, "backup_transcript", str(fixed), str(backups))
    assert again.returned == fixed.stat().st_size - len(old)  # only what the crash lost
    final = run_in_child(cells, "restore_transcript", str(backups)).returned
    assert final == digest(fixed.read_bytes())


def test_capstone_backup_appending_in_place_is_torn_by_the_kill(tmp_path: Path) -> None:
    killed, restored, old = _crash([SETUP, IN_PLACE], tmp_path)
    assert killed
    assert restored != digest(old)


def test_capstone_child_counts_the_bytes_really_written(tmp_path: Path) -> None:
    fixed, backups = tmp_path / "session.jsonl", tmp_path / "backups"
    old, new = _lines(b"old", 11000), _lines(b"new", 100)
    for answer, recopies in ((_answer("backup_transcript"), False), (WHOLE_COPY, True)):
        fixed.write_bytes(old)
        cells = [SETUP, answer]
        run_in_child(cells, "backup_transcript", str(fixed), str(backups / answer[:9]))
        with open(fixed, "ab") as grow:
            grow.write(new)
        run = run_in_child(cells, "backup_transcript", str(fixed), str(backups / answer[:9]))
        assert run.written_bytes is not None
        assert (run.written_bytes > len(old)) is recopies, run


def test_capstone_child_that_hangs_is_killed(tmp_path: Path) -> None:
    cells = ["import time\ndef wait(seconds):\n    time.sleep(float(seconds))\n"]
    run = run_in_child(cells, "wait", 30, timeout=1.0)
    assert run.killed_by == signal.SIGKILL and run.seconds < 15


def test_capstone_child_loads_only_what_the_function_needs() -> None:
    cells = [
        "import json\nimport claude_code_sdk\nLIMIT = 4 * 1024\nlab = open_lab('x')\n",
        "def helper():\n    return json.dumps(LIMIT)\n\ndef wanted():\n    return helper()\n",
        "def unrelated():\n    return claude_code_sdk\n",
    ]
    code = definitions_source(cells, "wanted")
    assert "import json" in code and "LIMIT = 4 * 1024" in code and "def helper" in code
    assert "claude_code_sdk" not in code and "open_lab" not in code and "unrelated" not in code
    assert run_in_child(cells, "wanted").returned == "4096"


def _dashboard() -> dict[str, object]:
    scope: dict[str, object] = {}
    exec(SETUP + _answer("dashboard"), scope)
    return scope


def test_capstone_reference_dashboard_shows_its_data() -> None:
    page = _dashboard()["dashboard_html"]
    status = {
        "session_id": "<script>x</script>&",
        "turns": 3,
        "transcript_bytes": 4821,
        "strays_merged": 2,
        "latencies_s": [1.5, 0.75, 3.0],
    }
    shown = read_dashboard(page(status))  # type: ignore[operator]
    assert shown.metrics == {k: str(v) for k, v in status.items() if k != "latencies_s"}
    assert "script" not in shown.tags
    assert bars_match(shown.bars, [1.5, 0.75, 3.0])
    assert not bars_match(shown.bars, [1.5, 1.5, 3.0])
    assert not bars_match(shown.bars, [1.5, 0.75])


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ('<td data-metric="session_id"><b>abc</b></td>', "markup"),
        ('<td data-metric="turns">3</td><svg><rect data-turn="1" height="x"/></svg>', "no bar"),
    ],
)
def test_capstone_dashboard_reader_sees_what_a_browser_shows(page: str, problem: str) -> None:
    shown = read_dashboard(page)
    if problem == "markup":
        assert shown.metrics["session_id"] == "abc" and "b" in shown.tags
    else:
        assert shown.metrics["turns"] == "3" and shown.bars == {}
