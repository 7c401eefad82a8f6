"""Objects a test builds in the student's process and reads back: the same test cell works
in a plain kernel (the lesson's own run) and in the grader process.

A test that hands the student's code a mutable object and checks it afterwards (a ``set`` that
fifty concurrent ``create_session`` calls share, a ``ResultMessage`` the code reads) cannot
pass a copy: data crosses by value. ``in_student(set)`` builds the object where the student's
code runs and gives the test a handle to it; ``read_back(obj)`` gives its current value as
data. In a plain kernel (no grader process) both are the plain operations::

    from sessionlab.grading.student_objects import in_student, read_back

    sessions = in_student(set)
    await asyncio.gather(*(create_session(sessions, f"k{i}", 5, connect) for i in range(50)))
    assert len(read_back(sessions)) == 5
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sessionlab.grading.remote import Channel

#: The grader process's channel to the student's process (set by the tester; None elsewhere).
CHANNEL: Channel | None = None


def in_student(factory: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``, made in the student's process (``factory``: a class or
    function of the course, the standard library or the SDK; arguments: data)."""
    if CHANNEL is None:
        return factory(*args, **kwargs)
    return CHANNEL.make(factory, list(args), kwargs)


def read_back(obj: Any) -> Any:
    """The value of ``obj`` as data, read now from the student's process (``obj`` itself when
    it is already data, or in a plain kernel)."""
    if CHANNEL is None:
        return obj
    return CHANNEL.read(obj)
