"""Numbers the student's process returned, kept out of what a test cell shows.

A hidden test passes the student's code its hidden inputs; the code may encode what it saw
into the numbers it returns (``int.from_bytes(secret)``, one float per character), and a test
that prints what it got would carry them into the feedback. Strings are scrubbed by value
(:meth:`sessionlab.grading.remote.Channel.scrub`); this does the same for numbers, with one
rule: **a number the student returned is shown only if it is public**, a literal of the test
cell's visible part or of the lesson's definitions (the release shows both). A value the test
computed is not enough: a hidden test holds its hidden inputs too, and a student's code that
returns the input it was given would otherwise print it.

Every other number in the output that equals a returned one, or is a returned float rounded to
the digits shown (``f"{x:.1f}"``), becomes ``<number from your code>``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator

MARK = "<number from your code>"
_INTEGER = re.compile(r"[-+]?\d+")
_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w)")


class ReturnedNumbers:
    """Every int and float the student's process returned."""

    def __init__(self) -> None:
        self._values: set[float] = set()
        self._rounded: dict[int, set[float]] = {}

    def add(self, value: int | float) -> None:
        if value not in self._values:
            self._values.add(value)
            self._rounded.clear()

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


def public_numbers(trees: Iterable[ast.AST]) -> set[float]:
    """The numbers written in ``trees`` (the visible test, the lesson's definitions)."""
    known: set[float] = set()
    for tree in trees:
        known.update(literals(tree))
    return known


def public_strings(trees: Iterable[ast.AST]) -> set[str]:
    """The strings written in ``trees``: a returned string equal to one carries nothing the
    release does not show, so it need not be scrubbed (``"reference"``, a dict key)."""
    return {
        node.value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
