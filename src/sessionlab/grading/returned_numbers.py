"""Numbers the student's process returned, kept out of what a test cell shows.

A hidden test passes the student's code its hidden inputs; the code may encode what it saw
into the numbers it returns (``int.from_bytes(secret)``, one float per character), and a test
that prints what it got would carry them into the feedback. Strings are scrubbed by value
(:meth:`sessionlab.grading.remote.Channel.scrub`); this does the same for numbers, with one
rule: **a number the student returned is shown only where the test holds that number itself**:

* a literal of the test cell or of the lesson's definitions (the instructor wrote it), or
* a value in the test's namespace when the cell ends that is not an object received from the
  student (the test computed it: ``expected = removals(...)``).

Every other number in the output that equals a returned one, or is a returned float rounded to
the digits shown (``f"{x:.1f}"``), becomes ``<number from your code>``. Small integers (-5 to
256) are one shared object in CPython, so whether the test computed one cannot be told from
identity: they count as the test's own only as literals.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator

MARK = "<number from your code>"
MAX_WALK = 50_000  # values of the test's namespace looked at, at most
_INTEGER = re.compile(r"[-+]?\d+")
_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w)")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ReturnedNumbers:
    """Every int and float the student's process returned (the objects themselves, so that the
    test's own numbers are told apart by identity)."""

    def __init__(self) -> None:
        self._kept: list[int | float] = []
        self._values: set[float] = set()
        self._ids: set[int] = set()
        self._rounded: dict[int, set[float]] = {}

    def add(self, value: int | float) -> None:
        self._kept.append(value)  # keeps the object alive: its id stays its own
        self._ids.add(id(value))
        self._values.add(value)
        self._rounded.clear()

    def came_from_student(self, value: object) -> bool:
        return id(value) in self._ids

    def _rounded_to(self, digits: int) -> set[float]:
        if digits not in self._rounded:
            self._rounded[digits] = {
                round(v, digits) for v in self._values if isinstance(v, float) and v == v
            }
        return self._rounded[digits]

    def matches(self, token: str) -> int | float | None:
        """The token's value when it shows a returned number (exactly, or rounded), else None."""
        if _INTEGER.fullmatch(token):
            try:
                number = int(token)  # exactly: a 40-digit int is no float
            except ValueError:  # longer than Python converts: nobody's honest answer
                return float("nan")
            return number if number in self._values else None
        try:
            value = float(token)
        except ValueError:
            return None
        if value in self._values:
            return value
        mantissa = token.lower().split("e")[0]
        if "." in mantissa and "e" not in token.lower():
            digits = len(mantissa.split(".")[1])
            if value in self._rounded_to(digits):
                return value
        return None

    def scrub(self, text: str, known: set[float]) -> str:
        if not self._values:
            return text

        def replace(match: re.Match[str]) -> str:
            value = self.matches(match.group(0))
            if value is None or (value == value and value in known):
                return match.group(0)
            return MARK

        return _TOKEN.sub(replace, text)


def literals(tree: ast.AST) -> Iterator[float]:
    """The numbers written in ``tree`` (``-3`` included)."""
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield value
            yield -value


def held_by_test(namespace: dict[str, object], returned: ReturnedNumbers) -> Iterator[float]:
    """Numbers the test's namespace holds that it did not receive from the student."""
    todo: list[tuple[object, int]] = [
        (v, 0) for k, v in namespace.items() if not k.startswith("__")
    ]
    seen = 0
    while todo and seen < MAX_WALK:
        value, depth = todo.pop()
        seen += 1
        if _is_number(value):
            small = type(value) is int and -5 <= value <= 256
            if not small and not returned.came_from_student(value):
                yield value  # type: ignore[misc]
        elif depth < 4 and isinstance(value, list | tuple | set | frozenset):
            todo += [(item, depth + 1) for item in value]
        elif depth < 4 and isinstance(value, dict):
            todo += [(item, depth + 1) for pair in value.items() for item in pair]


def known_numbers(
    trees: Iterable[ast.AST], namespace: dict[str, object], returned: ReturnedNumbers
) -> set[float]:
    """What the test may show of the numbers the student returned (see the module docstring)."""
    known: set[float] = set()
    for tree in trees:
        known.update(literals(tree))
    known.update(held_by_test(namespace, returned))
    return known
