"""A course model that runs in another process, such as the one ``make lab`` starts.

Notebooks started from ``make lab`` find it through ``$SESSIONLAB_MODEL_URL``; a JupyterLab
terminal can point a ``claude`` at the same URL. :attr:`RemoteCourseModel.records` shows only
the requests made since this client attached, so one lesson's evidence is not mixed with an
earlier one's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from sessionlab.errors import CourseError
from sessionlab.model import RequestRecord

MODEL_URL_ENV = "SESSIONLAB_MODEL_URL"


class RemoteCourseModel:
    """The same ``url`` and ``records`` a lesson reads from an in-process ``CourseModel``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._skip = len(self._fetch())

    def _fetch(self, run: str | None = None) -> list[dict]:
        query = "" if run is None else "?" + urllib.parse.urlencode({"run": run})
        address = f"{self.url}/_course/records{query}"
        try:
            with urllib.request.urlopen(address, timeout=10) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise CourseError(
                f"the course model at {self.url} (${MODEL_URL_ENV}) does not answer: {error}; "
                f"unset {MODEL_URL_ENV} or restart `make lab`"
            ) from None

    @property
    def records(self) -> list[RequestRecord]:
        return [RequestRecord(**item) for item in self._fetch()[self._skip :]]

    def records_for(self, run: str) -> list[RequestRecord]:
        """The requests one sandbox run sent, filtered by the model (not since attaching)."""
        return [RequestRecord(**item) for item in self._fetch(run)]

    def clear_records(self) -> None:
        self._skip = len(self._fetch())
