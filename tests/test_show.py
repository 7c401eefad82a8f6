"""The lessons' printing helpers: ids shortened visibly, text cut at words with an ellipsis.

A notebook wraps a long output line wherever it runs out of room, in the middle of a uuid if
need be, and a reply cut silently reads as what the model said; these helpers are what the
lessons print through (``sessionlab.lessons.show``). Real transcripts: the CLI 1.0.120
captures in ``tests/fixtures/samples``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from sessionlab.lessons.show import (
    check_line,
    clip,
    file_label,
    print_attempts,
    print_chain,
    print_files,
    print_model_turns,
    print_turns,
    short,
    wrapped,
)

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "cc-1.0.120"
UUID = "5b1d2c3a-7e8f-4a1b-9c2d-3e4f5a6b7c8d"


def test_short_ids_show_that_they_are_cut() -> None:
    assert short(UUID) == "5b1d2c3a…"
    assert short(None) == "-"
    assert short("abc") == "abc", "a short value is whole, without an ellipsis"
    assert short("12345678") == "12345678"
    assert short(UUID, 4) == "5b1d…"


@pytest.mark.parametrize("width", [10, 20, 33, 60])
def test_clip_cuts_at_a_word_and_says_so(width: int) -> None:
    text = "I can see 3 earlier messages from you in this conversation. The first one was: hi"
    got = clip(text, width)
    assert len(got) <= width and got.endswith("…"), got
    stem = got[:-1]
    assert text.startswith(stem)
    # cut at a word boundary whenever one keeps two thirds of the room
    assert text[len(stem)] in " ,;:" or " " not in text[(width * 2) // 3 : width - 1], got


def test_clip_keeps_short_text_and_flattens_whitespace() -> None:
    assert clip("Your name is Ana.", 60) == "Your name is Ana."
    assert clip("two\n  lines\tof text", 60) == "two lines of text"
    assert clip("x" * 50, 10) == "x" * 9 + "…", "one long word: cut, with the ellipsis"
    assert clip("", 5) == ""
    assert clip("abc", 1) == "…"


def test_a_chain_table_prints_shortened_ids_in_aligned_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    original = sorted(SAMPLES.glob("A-*.jsonl"))[0]
    print_chain(original)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["type", "uuid", "parent", "text"]
    for line in lines[1:]:
        _, uid, parent = line.split()[:3]
        assert uid.endswith("…") and len(uid) == 9, line
        assert parent == "-" or (parent.endswith("…") and len(parent) == 9), line
        assert line.index(uid) == lines[0].index("uuid"), "columns line up"
        assert len(line) <= 100, "no line long enough for a notebook to wrap"


def test_model_turns_cut_replies_with_an_ellipsis(capsys: pytest.CaptureFixture[str]) -> None:
    long_reply = (
        "I can see 5 earlier messages from you in this conversation. "
        'The first one was: "my name is Ana".'
    )
    records = [
        SimpleNamespace(kind="title", first_user_text="x", reply_text="t", user_messages=1),
        SimpleNamespace(
            kind="turn", first_user_text="my name is Ana", reply_text=long_reply, user_messages=6
        ),
    ]
    print_model_turns(records)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2, "side requests are skipped"
    assert out[1].rstrip().endswith("…") and "The first one" not in out[1]


def test_turns_print_the_whole_reply_and_a_short_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_turns([SimpleNamespace(session_id=UUID, prompt="hi", reply="Your name is Ana.")])
    assert capsys.readouterr().out == "  session 5b1d2c3a…  'hi' -> 'Your name is Ana.'\n"


def test_attempts_table_one_row_per_fix(capsys: pytest.CaptureFixture[str]) -> None:
    fork = f"{uuid.uuid4()}.jsonl"
    measured = {
        "resume=": {
            "files_before": 3,
            "files_after": 4,
            "new_files": [fork],
            "turn_file": fork,
            "remembered": True,
        },
        "continue_conversation=True": {
            "files_before": 4,
            "files_after": 4,
            "new_files": [],
            "turn_file": f"{UUID}.jsonl",
            "remembered": False,
        },
        "a student's typo": ["not", "a", "dict"],
        "half a dict": {"files_before": 1, "remembered": ["unhashable"]},
    }
    print_attempts(measured, {"resume=": "fork (history copied)"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "fix" and lines[0].endswith("verdict")
    assert f"{fork[:8]}….jsonl (new)" in lines[1] and "yes" in lines[1]
    assert lines[1].endswith("fork (history copied)")
    assert "5b1d2c3a….jsonl" in lines[2] and "(new)" not in lines[2] and " no " in lines[2]
    assert lines[2].endswith("-"), "no verdict given for this fix"
    assert "not a dict" in lines[3]
    assert "1 -> ?" in lines[4] and lines[4].split()[-2:] == ["?", "-"]
    assert all(len(line) <= 100 for line in lines), "a notebook does not wrap them"
    assert UUID not in "".join(lines), "ids are never printed whole"


def test_file_label() -> None:
    assert file_label(f"{UUID}.jsonl") == "5b1d2c3a….jsonl"
    assert file_label("our-session.jsonl") == "our-sess….jsonl"
    assert file_label(None) == "-"
    assert file_label("short.jsonl") == "short.jsonl"


def test_files_of_a_project_fit_a_notebook_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / ("-work-wt-l02--course-sandbox-02-failed-fixes-legacy-" + "x" * 60)
    folder.mkdir()
    (folder / f"{UUID}.jsonl").write_text('{"uuid": "a"}\n{"uuid": "b"}\n')
    files = print_files(folder, label="legacy")
    out = capsys.readouterr().out.splitlines()
    assert files == [folder / f"{UUID}.jsonl"]
    assert out[0] == "legacy: 1 transcript file(s) in projects/-work-wt-l02--course-sandbox-02-…/"
    assert out[1] == f"  {UUID}.jsonl    2 lines", "file names stay whole: they are short enough"


def test_a_harness_check_prints_once_and_folds_at_words() -> None:
    from sessionlab.monitor.harness.results import CheckResult, HarnessReport

    long = CheckResult(
        "old_sessions_untouched",
        False,
        {"touched": 3},
        "3/3 pre-existing session files changed or removed, 6 of their lines merged "
        "(no baseline at start-up); e.g. lost uuid a65733bd-1726-4902-ab14-e212daba43e7",
    )
    text = check_line(long)
    lines = text.splitlines()
    assert lines[0].startswith("  old_sessions_untouched       FAIL  3/3 pre-existing")
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines)
    assert all(line.startswith(" " * 37) and line.strip() for line in lines[1:])
    words = " ".join(line.strip() for line in lines)
    assert "a65733bd-1726-4902-ab14-e212daba43e7" in words, "never broken inside a word"
    assert (
        check_line(CheckResult("chain_continuity", True, {}, ""))
        == "  chain_continuity             PASS"
    )
    report = HarnessReport("sessionlab.monitor.naive:NaivePollingMonitor", True, [long], 10.34)
    assert report.summary() == "NaivePollingMonitor: FAILED in 10.3 s, 0 of 1 passed"
    assert long.detail not in report.summary(), "the summary repeats no check"


def test_wrapped_folds_long_output_at_spaces() -> None:
    stats = {"corrections": 2, "intercepted_files": 2, "unique_files": 2, "following": 0,
             "lines_merged": 6, "duplicates_skipped": 4, "relinked": 1, "bad_lines": 0}  # fmt: skip
    text = wrapped(f"monitor stats: {stats}")
    lines = text.splitlines()
    assert len(lines) == 2 and all(len(line) <= 100 for line in lines)
    assert (
        lines[1].startswith("  '")
        and " ".join(t.strip() for t in lines) == f"monitor stats: {stats}"
    )
