"""The Redis session store: sessions shared by several app processes through a Redis server.

Layout (every key under ``prefix``):

* ``s:<id>``: a hash with the session's fields; counters are fields ``c:<name>``;
* ``ip:<client ip>``: a sorted set of that IP's session ids, scored by ``expires_at``;
* ``all``: a sorted set of every session id, scored by ``expires_at`` (cleanup, listing).

Expiry is decided by the caller's ``now`` (the manager's injectable clock) against the stored
``expires_at``; Redis's own ``PEXPIRE`` is only a backstop that frees memory if nobody cleans.

Atomicity: the per-IP check and the insert run in one Lua script (:data:`CREATE_LUA`). Redis
runs a script alone, start to finish, so concurrent creators cannot interleave between the
count and the insert. Config updates use ``WATCH``/``MULTI`` instead, to show the other
classic tool: the transaction is retried when the hash changed under us.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from sessionlab.isolation.errors import SessionLimitExceeded
from sessionlab.isolation.ids import validate_session_id
from sessionlab.isolation.state import SessionState

# KEYS: ip set, session hash, all set. ARGV: now, expires_at, max, id, ip, config, backstop ms.
CREATE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live = redis.call('ZCARD', KEYS[1])
if live >= tonumber(ARGV[3]) then return -live - 1 end
redis.call('HSET', KEYS[2], 'client_ip', ARGV[5], 'created_at', ARGV[1],
           'last_seen', ARGV[1], 'expires_at', ARGV[2], 'version', 1, 'config', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
return live + 1
"""
# KEYS: session hash, ip set, all set. ARGV: now, new expires_at, backstop ms, id.
TOUCH_LUA = """
local expires = redis.call('HGET', KEYS[1], 'expires_at')
if not expires or tonumber(expires) <= tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1], 'expires_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
return redis.call('HGETALL', KEYS[1])
"""
# KEYS: session hash. ARGV: now, field, amount.
COUNTER_LUA = """
local expires = redis.call('HGET', KEYS[1], 'expires_at')
if not expires or tonumber(expires) <= tonumber(ARGV[1]) then return nil end
return redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])
"""
# KEYS: session hash, ip set, all set. ARGV: id, now (or '' to delete regardless of expiry).
DELETE_LUA = """
if ARGV[2] ~= '' then
  local expires = redis.call('HGET', KEYS[1], 'expires_at')
  if expires and tonumber(expires) > tonumber(ARGV[2]) then return -1 end
end
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return existed
"""
BACKSTOP_SLACK_SECONDS = 60


def _num(value: float) -> str:
    """A float as text Redis and Lua parse back exactly (``repr`` round-trips)."""
    return repr(float(value))


class RedisStateStore:
    """:class:`~sessionlab.isolation.state_store.StateStore` on a Redis server."""

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "sessionlab:iso:"
    ) -> None:
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self._create = self.client.register_script(CREATE_LUA)
        self._touch = self.client.register_script(TOUCH_LUA)
        self._counter = self.client.register_script(COUNTER_LUA)
        self._delete = self.client.register_script(DELETE_LUA)

    # --- keys ------------------------------------------------------------------------------
    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}s:{validate_session_id(session_id)}"

    def _ip_key(self, client_ip: str) -> str:
        return f"{self.prefix}ip:{client_ip}"

    @property
    def _all_key(self) -> str:
        return f"{self.prefix}all"

    @staticmethod
    def _backstop_ms(ttl: float) -> int:
        return int((ttl + BACKSTOP_SLACK_SECONDS) * 1000)

    def _state(self, session_id: str, fields: dict[str, str]) -> SessionState:
        return SessionState(
            session_id=session_id,
            client_ip=fields["client_ip"],
            created_at=float(fields["created_at"]),
            last_seen=float(fields["last_seen"]),
            expires_at=float(fields["expires_at"]),
            version=int(fields["version"]),
            config=json.loads(fields["config"]),
            counters={k[2:]: int(v) for k, v in fields.items() if k.startswith("c:")},
        )

    # --- reading ---------------------------------------------------------------------------
    def get(self, session_id: str, *, now: float) -> SessionState | None:
        fields = self.client.hgetall(self._session_key(session_id))
        if not fields or float(fields["expires_at"]) <= now:
            return None
        return self._state(session_id, fields)

    def live_ids(self, *, now: float) -> list[str]:
        return list(self.client.zrangebyscore(self._all_key, f"({_num(now)}", "+inf"))

    def count_for_ip(self, client_ip: str, *, now: float) -> int:
        return int(self.client.zcount(self._ip_key(client_ip), f"({_num(now)}", "+inf"))

    # --- writing ---------------------------------------------------------------------------
    def create(
        self,
        session_id: str,
        client_ip: str,
        config: dict[str, Any],
        *,
        now: float,
        ttl: float,
        max_per_ip: int,
    ) -> SessionState:
        key = self._session_key(session_id)
        result = int(
            self._create(
                keys=[self._ip_key(client_ip), key, self._all_key],
                args=[
                    _num(now),
                    _num(now + ttl),
                    max_per_ip,
                    session_id,
                    client_ip,
                    json.dumps(config, sort_keys=True),
                    self._backstop_ms(ttl),
                ],
            )
        )
        if result < 0:
            raise SessionLimitExceeded(
                f"{client_ip} already has {-result - 1} live sessions (limit {max_per_ip})"
            )
        return SessionState(session_id, client_ip, now, now, now + ttl, 1, dict(config), {})

    def touch(self, session_id: str, *, now: float, ttl: float) -> SessionState | None:
        key = self._session_key(session_id)
        client_ip = self.client.hget(key, "client_ip")  # never changes once written
        if client_ip is None:
            return None
        flat = self._touch(
            keys=[key, self._ip_key(client_ip), self._all_key],
            args=[_num(now), _num(now + ttl), self._backstop_ms(ttl), session_id],
        )
        if not flat:
            return None
        return self._state(session_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    def update_config(
        self, session_id: str, changes: dict[str, Any], *, now: float, ttl: float
    ) -> SessionState | None:
        key = self._session_key(session_id)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    fields = pipe.hgetall(key)
                    if not fields or float(fields["expires_at"]) <= now:
                        pipe.unwatch()
                        return None
                    config = {**json.loads(fields["config"]), **changes}
                    expires = now + ttl
                    pipe.multi()
                    pipe.hset(
                        key,
                        mapping={
                            "config": json.dumps(config, sort_keys=True),
                            "last_seen": _num(now),
                            "expires_at": _num(expires),
                        },
                    )
                    pipe.hincrby(key, "version", 1)
                    pipe.pexpire(key, self._backstop_ms(ttl))
                    pipe.zadd(self._ip_key(fields["client_ip"]), {session_id: expires})
                    pipe.zadd(self._all_key, {session_id: expires})
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue  # someone changed the session between WATCH and EXEC: redo
        return self.get(session_id, now=now)

    def add_counter(self, session_id: str, name: str, amount: int, *, now: float) -> int | None:
        value = self._counter(
            keys=[self._session_key(session_id)], args=[_num(now), f"c:{name}", amount]
        )
        return None if value is None else int(value)

    def _remove(self, session_id: str, now: float | None) -> int:
        """1 deleted, 0 was already gone, -1 renewed meanwhile (``now`` given) and kept."""
        key = self._session_key(session_id)
        client_ip = self.client.hget(key, "client_ip")
        ip_key = self._ip_key(client_ip) if client_ip is not None else f"{self.prefix}ip:?"
        done = self._delete(
            keys=[key, ip_key, self._all_key],
            args=[session_id, "" if now is None else _num(now)],
        )
        if client_ip is None:  # the hash vanished already: still drop the index entry
            self.client.zrem(self._all_key, session_id)
        return int(done)

    def delete(self, session_id: str) -> bool:
        return self._remove(session_id, None) == 1

    def purge_expired(self, *, now: float) -> list[str]:
        candidates = self.client.zrangebyscore(self._all_key, "-inf", _num(now))
        return [sid for sid in candidates if self._remove(sid, now) >= 0]

    def close(self) -> None:
        self.client.close()
