"""The course model: a deterministic, offline Anthropic Messages API for the real Claude Code CLI.

Point a CLI at it with ``ANTHROPIC_BASE_URL=<model.url>`` and any ``ANTHROPIC_API_KEY``. It
answers with short, predictable sentences that reveal how much of the conversation the CLI
sent (see :mod:`sessionlab.model.replies` for the grammar), and records every request
(:class:`RequestRecord`) so a test can prove what the model saw.

Modules: :mod:`~.server` (HTTP, SSE, thread), :mod:`~.replies` (what to answer),
:mod:`~.conversation` (what the student said, minus CLI wrappers), :mod:`~.usage` (tokens and
cost), :mod:`~.records` (request log), :mod:`~.wire` (API JSON and SSE shapes).

Endpoints the pinned CLIs call (measured by logging every request, 2026-11, with
``DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1``; print mode ``-p`` and stream-json input mode
driven by claude-code-sdk 0.0.25 behave the same):

* **1.0.120 (legacy)**: only ``POST /v1/messages?beta=true``, streaming (``stream: true``,
  ``max_tokens`` 32000), one per model call. Nothing at start-up, no ``count_tokens``, no
  title/quota request, with or without ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``.
* **2.1.112 (current)**: ``HEAD /`` once at start-up (a connectivity probe), then
  ``POST /v1/messages?beta=true`` (streaming) per model call. Without
  ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` it also sends, in stream-json input mode, a
  streaming title request after the first user message (again on the next message while no
  valid title has come back) on ``claude-haiku-4-5-20251001`` (system prompt
  "Generate a concise, sentence-case title...", ``output_config.format`` = JSON schema
  ``{"title": string}``); the CLI stores the answer as an ``ai-title`` line in the transcript.
  With the variable set, no title request.
* Neither calls ``/api/...`` endpoints against the base URL with ``DISABLE_TELEMETRY=1``.
  With the model down, both retry each call 10 times with exponential backoff (minutes);
  ``CLAUDE_CODE_MAX_RETRIES=0`` makes them exit 1 with "API Error: ..." in about a second.
* Both bundle code for a quota probe (``max_tokens`` 1, content ``"quota"``, non-streaming) and
  1.0.x for a topic/title request (``isNewTopic``) and a summary request; the course never saw
  them in ``-p`` / SDK mode but the model answers them. ``/v1/messages/count_tokens`` is
  served for completeness. Anything else gets a JSON 404 ``not_found_error`` and is recorded.

The model also serves ``GET /_course/health`` and ``GET /_course/records`` (JSON) for
out-of-process use; these are not recorded. Records hold every user's text, so that route needs
``Authorization: Bearer <CourseModel.operator_token>``, and they are bounded (the newest 10,000,
about 16 MiB of text). Only requests naming an expected ``Host`` are served.
"""

from __future__ import annotations

from sessionlab.model.records import RequestRecord
from sessionlab.model.server import CourseModel

__all__ = ["CourseModel", "RequestRecord"]
