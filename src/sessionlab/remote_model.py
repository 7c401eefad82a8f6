"""A course model that runs in another process, such as the one ``make lab`` starts.

Notebooks started from ``make lab`` find it through ``$SESSIONLAB_MODEL_URL`` and read its
records with the operator token in ``$SESSIONLAB_MODEL_TOKEN`` (``make lab`` sets both in the
environment the kernels inherit); a JupyterLab terminal can point a ``claude`` at the same URL.
:attr:`RemoteCourseModel.records` shows only the requests made since this client attached, so
one lesson's evidence is not mixed with an earlier one's.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sessionlab.errors import CourseError
from sessionlab.model import RequestRecord
from sessionlab.model.server import RECORDS_DROPPED_HEADER

MODEL_URL_ENV = "SESSIONLAB_MODEL_URL"
MODEL_TOKEN_ENV = "SESSIONLAB_MODEL_TOKEN"


class RemoteCourseModel:
    """The same ``url`` and ``records`` a lesson reads from an in-process ``CourseModel``."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token if token is not None else os.environ.get(MODEL_TOKEN_ENV, "")
        dropped, items = self._fetch()
        # The model drops its oldest records past its bounds; numbering them from the first one
        # ever recorded keeps "since I attached" right when that happens.
        self._skip = dropped + len(items)

    def _fetch(self, run: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        query = "" if run is None else "?" + urllib.parse.urlencode({"run": run})
        request = urllib.request.Request(
            f"{self.url}/_course/records{query}",
            headers={"authorization": f"Bearer {self._token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                dropped = int(response.headers.get(RECORDS_DROPPED_HEADER) or 0)
                return dropped, json.load(response)
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise CourseError(
                    f"the course model at {self.url} refused its records: ${MODEL_TOKEN_ENV} "
                    "must hold its operator token (`make lab` sets it)"
                ) from None
            raise CourseError(
                f"the course model at {self.url} answered HTTP {error.code} for its records"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise CourseError(
                f"the course model at {self.url} (${MODEL_URL_ENV}) does not answer: {error}; "
                f"unset {MODEL_URL_ENV} or restart `make lab`"
            ) from None

    @property
    def records(self) -> list[RequestRecord]:
        dropped, items = self._fetch()
        return [RequestRecord(**item) for item in items[max(0, self._skip - dropped) :]]

    def records_for(self, run: str) -> list[RequestRecord]:
        """The requests one sandbox run sent, filtered by the model (not since attaching)."""
        return [RequestRecord(**item) for item in self._fetch(run)[1]]

    def clear_records(self) -> None:
        dropped, items = self._fetch()
        self._skip = dropped + len(items)
