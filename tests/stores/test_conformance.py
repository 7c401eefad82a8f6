"""Each store passes the SDK's own SessionStore conformance suite, all 14 contracts.

No ``skip_optional``: the suite runs the optional-method contracts only for methods a store
overrides, so the first test also proves that none of them is silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from claude_agent_sdk.testing import run_session_store_conformance
from claude_agent_sdk.types import SessionStore

OPTIONAL = ("list_sessions", "list_session_summaries", "delete", "list_subkeys")

pytestmark = pytest.mark.anyio


async def test_every_optional_method_is_implemented(make_store: Callable[[], SessionStore]):
    store = make_store()
    for name in OPTIONAL:
        assert getattr(type(store), name) is not getattr(SessionStore, name), name


async def test_sdk_conformance_suite(make_store: Callable[[], SessionStore]):
    await run_session_store_conformance(make_store)
