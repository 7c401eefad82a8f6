"""The async face of a store whose storage calls block (files, SQLite).

The SDK awaits ``append``/``load`` on its event loop, next to the CLI's message stream; a
blocking write there would stall the conversation. Subclasses write the synchronous halves
(``_append``, ``_load``) and this class runs them in a worker thread, after the key has been
checked (a bad key fails before any thread or storage is touched).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from claude_agent_sdk.types import SessionKey, SessionStore, SessionStoreEntry

from sessionlab.stores.keys import Key, parse_key


class BlockingStore(SessionStore):
    """``append``/``load`` in a worker thread; subclasses implement ``_append``/``_load``."""

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        parsed = parse_key(key)
        if entries:
            await anyio.to_thread.run_sync(self._append, parsed, list(entries))

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await anyio.to_thread.run_sync(self._load, parse_key(key))

    def _append(self, key: Key, entries: list[Any]) -> None:
        raise NotImplementedError

    def _load(self, key: Key) -> list[Any] | None:
        raise NotImplementedError
