"""One sandbox run's window on a course model: its own base URL, only its own records.

Several runs share one model: every kernel of ``make lab`` uses the model the lab started, and
a test may pass one model to many sandboxes. Each run talks to ``<model url>/_run/<run id>``;
the model tags what arrives there with the run id, so :attr:`ModelRun.records` holds exactly
what this run sent, whatever other runs (Validate, a second tab, the grader) do at the same time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sessionlab.model import RequestRecord


class RunScopedModel(Protocol):
    """What a run needs from a model: an in-process ``CourseModel`` or a ``RemoteCourseModel``."""

    @property
    def url(self) -> str: ...

    def records_for(self, run: str) -> list[RequestRecord]: ...


class ModelRun:
    """The ``url`` and ``records`` a lesson reads, scoped to one run of one sandbox."""

    def __init__(self, model: RunScopedModel, run_id: str) -> None:
        self.shared = model
        self.run_id = run_id
        self._skip = 0

    @property
    def url(self) -> str:
        """Base URL for ``ANTHROPIC_BASE_URL``: the CLI appends ``/v1/messages``."""
        return f"{self.shared.url.rstrip('/')}/_run/{self.run_id}"

    @property
    def records(self) -> list[RequestRecord]:
        """Every request this run sent since it started (or since :meth:`clear_records`)."""
        return self.shared.records_for(self.run_id)[self._skip :]

    def clear_records(self) -> None:
        """Forget this run's records so far (other runs' records are not affected)."""
        self._skip += len(self.records)
