"""The student's work folder: lessons copied in, course updates merged, the student's edits win."""

from __future__ import annotations

import json
from pathlib import Path

from sessionlab.classroom.workfolder import (
    MANIFEST,
    content_digest,
    sync_lessons,
    with_language_info,
)


def notebook(*sources: str, outputs: list[str] | None = None) -> bytes:
    cells = [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": text}
                     for text in (outputs or [])],
         "execution_count": None}
        for i, source in enumerate(sources)
    ]  # fmt: skip
    data = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(data, indent=1).encode()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_nbgitpuller_rule_added_updated_kept(tmp_path: Path) -> None:
    release, work = tmp_path / "notebooks", tmp_path / "work"
    write(release / "01" / "01.ipynb", notebook("x = 1"))
    write(release / "02" / "02.ipynb", notebook("y = 2"))
    first = sync_lessons(release, work)
    assert sorted(first.added) == ["01/01.ipynb", "02/02.ipynb"]

    # The student edits lesson 01 and only runs lesson 02 (outputs are not edits).
    write(work / "01" / "01.ipynb", notebook("x = 1", "my own cell"))
    write(work / "02" / "02.ipynb", notebook("y = 2", outputs=["2\n"]))
    # The course fixes both lessons and adds lesson 03.
    write(release / "01" / "01.ipynb", notebook("x = 10"))
    write(release / "02" / "02.ipynb", notebook("y = 20"))
    write(release / "03" / "03.ipynb", notebook("z = 3"))
    second = sync_lessons(release, work)
    assert second.added == ["03/03.ipynb"]
    assert second.updated == ["02/02.ipynb"]
    assert second.kept == ["01/01.ipynb"]
    assert b"my own cell" in (work / "01" / "01.ipynb").read_bytes(), "the student's edit was lost"
    assert b"y = 20" in (work / "02" / "02.ipynb").read_bytes()
    assert "kept your version of 01/01.ipynb" in second.summary()

    # Nothing new: nothing moves, and the kept edit stays kept on every later update.
    third = sync_lessons(release, work)
    assert third.added == third.updated == [] and third.kept == ["01/01.ipynb"]
    assert b"my own cell" in (work / "01" / "01.ipynb").read_bytes()


def test_a_deleted_lesson_comes_back_and_an_unknown_file_is_never_overwritten(
    tmp_path: Path,
) -> None:
    release, work = tmp_path / "notebooks", tmp_path / "work"
    write(release / "01" / "01.ipynb", notebook("x = 1"))
    write(work / "02" / "02.ipynb", notebook("the student's older copy"))  # no manifest entry
    write(release / "02" / "02.ipynb", notebook("y = 2"))
    report = sync_lessons(release, work)
    assert report.kept == ["02/02.ipynb"] and report.added == ["01/01.ipynb"]
    (work / "01" / "01.ipynb").unlink()
    assert sync_lessons(release, work).updated == ["01/01.ipynb"]
    assert (work / "01" / "01.ipynb").is_file()


def test_a_broken_manifest_loses_nothing(tmp_path: Path) -> None:
    release, work = tmp_path / "notebooks", tmp_path / "work"
    write(release / "01" / "01.ipynb", notebook("x = 1"))
    sync_lessons(release, work)
    write(work / "01" / "01.ipynb", notebook("edited"))
    (work / MANIFEST).write_text("{not json")
    write(release / "01" / "01.ipynb", notebook("x = 2"))
    assert sync_lessons(release, work).kept == ["01/01.ipynb"]
    assert b"edited" in (work / "01" / "01.ipynb").read_bytes()


def test_the_kernels_language_info_is_written_without_changing_cells(tmp_path: Path) -> None:
    release, work = tmp_path / "notebooks", tmp_path / "work"
    source = write(release / "01" / "01.ipynb", notebook("x = 1"))
    info = {"name": "python", "version": "3.11.7"}
    sync_lessons(release, work, with_language_info(info))
    copied = work / "01" / "01.ipynb"
    assert json.loads(copied.read_bytes())["metadata"]["language_info"] == info
    assert content_digest(copied) == content_digest(source)
    assert sync_lessons(release, work).unchanged == ["01/01.ipynb"]


def test_the_real_release_copies_every_lesson(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    report = sync_lessons(repo / "notebooks", tmp_path / "work")
    lessons = {path.split("/")[0] for path in report.added if path.endswith(".ipynb")}
    assert lessons == {p.name for p in (repo / "notebooks").iterdir() if p.is_dir()}
