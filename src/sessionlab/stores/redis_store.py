"""A SessionStore on a Redis server, shared by every process that can reach it.

Layout (every key starts with ``prefix``; ``<pk>``, ``<sid>`` are percent-encoded, so a ``:``
inside a key part can never make two keys collide; ``<id>`` is ``<pk>:<sid>`` for the main
transcript and ``<pk>:<sid>/<subpath>`` for a subagent's):

* ``e:<id>``: a list, one JSON entry per element, in append order;
* ``u:<id>``: a set of the uuids in ``e:<id>`` (the idempotency keys);
* ``sessions:<pk>``: a sorted set of main-transcript session ids scored by mtime (ms);
* ``summaries:<pk>``: a hash, session id -> the SDK's folded summary as JSON;
* ``subkeys:<pk>:<sid>``: a set of the session's subpaths.

Atomicity: an append ``WATCH`` es ``e:<id>``, asks which uuids are known and reads the
summary, folds in Python (``fold_session_summary`` is Python-only), and then writes list,
uuid set, index and summary in one ``MULTI``/``EXEC``. If anyone appended to the same key in
between, ``EXEC`` fails and the append is redone, so the uuid check and the summary
read-fold-write are never interleaved. The mtime is the server's ``TIME``: every client of a
server shares one clock, which ``list_sessions`` and the summaries both report.

Retention is the caller's: nothing here expires (the SDK never deletes on its own either).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

import orjson
import redis.asyncio as aioredis
from claude_agent_sdk import fold_session_summary
from claude_agent_sdk.types import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from redis.exceptions import WatchError

from sessionlab.stores.codec import encode_entry, entry_uuid, new_entries, parse_line, uuid_key
from sessionlab.stores.keys import Key, check_component, parse_key

DEFAULT_PREFIX = "sessionlab:store:"
#: WATCH conflicts only happen when two writers append to the same key at the same moment.
MAX_ATTEMPTS = 100


def _part(value: str) -> str:
    return quote(value, safe="")


class RedisSessionStore(SessionStore):
    """Entries in Redis lists, with uuid sets, an mtime index and summaries beside them."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)

    # -- key names ------------------------------------------------------------------------
    def _id(self, key: Key) -> str:
        ident = f"{_part(key.project_key)}:{_part(key.session_id)}"
        if key.subpath is not None:
            ident += "/" + "/".join(_part(p) for p in key.parts)
        return ident

    def _entries(self, key: Key) -> str:
        return f"{self.prefix}e:{self._id(key)}"

    def _uuids(self, key: Key) -> str:
        return f"{self.prefix}u:{self._id(key)}"

    def _sessions(self, project_key: str) -> str:
        return f"{self.prefix}sessions:{_part(project_key)}"

    def _summaries(self, project_key: str) -> str:
        return f"{self.prefix}summaries:{_part(project_key)}"

    def _subkeys(self, key: Key) -> str:
        return f"{self.prefix}subkeys:{_part(key.project_key)}:{_part(key.session_id)}"

    # -- the SessionStore protocol --------------------------------------------------------
    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        """Append the entries whose uuid is new, atomically with the index and summary."""
        parsed = parse_key(key)
        if not entries:
            return
        batch = list(entries)
        uuids = sorted({u for u in map(entry_uuid, batch) if u is not None})
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    await self._append_once(pipe, parsed, batch, uuids)
                    return
                except WatchError:
                    continue
        raise RuntimeError(f"append to {self._id(parsed)} lost {MAX_ATTEMPTS} WATCH races")

    async def _append_once(self, pipe: Any, key: Key, batch: list[Any], uuids: list[str]) -> None:
        await pipe.watch(self._entries(key))
        known: set[bytes] = set()
        if uuids:
            flags = await pipe.smismember(self._uuids(key), uuids)
            known = {uuid_key(u) for u, flag in zip(uuids, flags, strict=True) if flag}
        fresh, _ = new_entries(batch, known)
        if not fresh:
            await pipe.unwatch()
            return
        seconds, micros = await pipe.time()
        mtime = int(seconds) * 1000 + int(micros) // 1000
        summary = None
        if key.subpath is None:
            raw = await pipe.hget(self._summaries(key.project_key), key.session_id)
            prev: SessionSummaryEntry | None = None
            if raw is not None:
                prev = cast(
                    SessionSummaryEntry, {"session_id": key.session_id, **orjson.loads(raw)}
                )
            summary = fold_session_summary(prev, key.session_key(), fresh)
        new_uuids = [u for e in fresh if (u := entry_uuid(e)) is not None]
        pipe.multi()
        pipe.rpush(self._entries(key), *(encode_entry(e) for e in fresh))
        if new_uuids:
            pipe.sadd(self._uuids(key), *new_uuids)
        if summary is not None:
            pipe.zadd(self._sessions(key.project_key), {key.session_id: mtime})
            pipe.hset(
                self._summaries(key.project_key),
                key.session_id,
                orjson.dumps({"mtime": mtime, "data": summary["data"]}),
            )
        else:
            pipe.sadd(self._subkeys(key), key.subpath)
        await pipe.execute()

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The list's entries; ``None`` if it is empty or absent (Redis cannot tell apart)."""
        raw = await self._redis.lrange(self._entries(parse_key(key)), 0, -1)
        return [cast(SessionStoreEntry, parse_line(item)) for item in raw] or None

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        check_component(project_key, "project_key")
        rows = await self._redis.zrange(self._sessions(project_key), 0, -1, withscores=True)
        return [{"session_id": sid.decode(), "mtime": int(score)} for sid, score in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        check_component(project_key, "project_key")
        rows = await self._redis.hgetall(self._summaries(project_key))
        out: list[SessionSummaryEntry] = []
        for sid, raw in rows.items():
            value = orjson.loads(raw)
            out.append({"session_id": sid.decode(), "mtime": value["mtime"], "data": value["data"]})
        return out

    async def delete(self, key: SessionKey) -> None:
        """Delete one subpath, or a main transcript with all its subpaths and its summary."""
        parsed = parse_key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            if parsed.subpath is not None:
                pipe.delete(self._entries(parsed), self._uuids(parsed))
                pipe.srem(self._subkeys(parsed), parsed.subpath)
                await pipe.execute()
                return
            for _ in range(MAX_ATTEMPTS):
                try:
                    await self._delete_session(pipe, parsed)
                    return
                except WatchError:
                    continue
        raise RuntimeError(f"delete of {self._id(parsed)} lost {MAX_ATTEMPTS} WATCH races")

    async def _delete_session(self, pipe: Any, key: Key) -> None:
        """Main transcript, every subpath (watched, so none is added meanwhile), summary."""
        subkeys = self._subkeys(key)
        await pipe.watch(subkeys)
        subs = [
            Key(key.project_key, key.session_id, s.decode()) for s in await pipe.smembers(subkeys)
        ]
        pipe.multi()
        for each in (key, *subs):
            pipe.delete(self._entries(each), self._uuids(each))
        pipe.delete(subkeys)
        pipe.zrem(self._sessions(key.project_key), key.session_id)
        pipe.hdel(self._summaries(key.project_key), key.session_id)
        await pipe.execute()

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        parsed = parse_key({"project_key": key["project_key"], "session_id": key["session_id"]})
        return sorted(s.decode() for s in await self._redis.smembers(self._subkeys(parsed)))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()

    async def __aenter__(self) -> RedisSessionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
