"""Errors a course user can act on: each carries one line that says what to do."""

from __future__ import annotations


class CourseError(Exception):
    """A problem with a clear, one-line remedy; the command line prints it without a traceback."""
