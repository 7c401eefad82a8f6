"""Both session stores keep the same contract: TTL renewed on use, atomic per-IP limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from sessionlab.isolation import (
    InvalidSessionId,
    ManualClock,
    SessionLimitExceeded,
    new_session_id,
    validate_session_id,
)
from sessionlab.isolation.state_store import StateStore

TTL = 3600.0
IP = "203.0.113.7"


def create(store: StateStore, clock: ManualClock, ip: str = IP, max_per_ip: int = 5) -> str:
    session_id = new_session_id()
    store.create(session_id, ip, {"top_k": 10}, now=clock.now(), ttl=TTL, max_per_ip=max_per_ip)
    return session_id


def test_created_session_reads_back(store: StateStore, clock: ManualClock) -> None:
    session_id = create(store, clock)
    state = store.get(session_id, now=clock.now())
    assert state is not None
    assert (state.client_ip, state.version, state.config) == (IP, 1, {"top_k": 10})
    assert state.expires_at == pytest.approx(clock.now() + TTL)
    assert store.live_ids(now=clock.now()) == [session_id]


def test_ttl_is_renewed_by_use_and_expires_after_silence(
    store: StateStore, clock: ManualClock
) -> None:
    session_id = create(store, clock)
    for _ in range(3):  # 3 x 59 minutes: alive, because each use renews it
        clock.advance(59 * 60)
        assert store.touch(session_id, now=clock.now(), ttl=TTL) is not None
    clock.advance(59 * 60)
    assert store.get(session_id, now=clock.now()) is not None, "get() does not renew..."
    clock.advance(60)  # ...so 60 minutes after the last touch it is gone
    assert store.get(session_id, now=clock.now()) is None
    assert store.touch(session_id, now=clock.now(), ttl=TTL) is None, "no resurrection"
    assert store.purge_expired(now=clock.now()) == [session_id]
    assert store.live_ids(now=clock.now()) == []


def test_per_ip_limit_and_expired_sessions_free_their_slot(
    store: StateStore, clock: ManualClock
) -> None:
    first = create(store, clock)
    for _ in range(4):
        create(store, clock)
    with pytest.raises(SessionLimitExceeded, match="limit 5"):
        create(store, clock)
    create(store, clock, ip="198.51.100.1")  # another IP has its own allowance
    assert store.count_for_ip(IP, now=clock.now()) == 5
    clock.advance(TTL / 2)
    assert store.delete(first)
    create(store, clock)  # a deleted session frees its slot
    clock.advance(TTL / 2)  # the other four expire now; the new one lives on
    assert store.count_for_ip(IP, now=clock.now()) == 1
    for _ in range(4):
        create(store, clock)


@pytest.mark.parametrize("max_per_ip", [1, 5])
def test_per_ip_limit_holds_under_concurrent_creation(
    make_store: Callable[[], StateStore], clock: ManualClock, max_per_ip: int
) -> None:
    """40 creators released at once (4 store objects, like 4 app processes): exactly max win."""
    stores = [make_store() for _ in range(4)]
    creators = 40
    barrier = threading.Barrier(creators)

    def attempt(index: int) -> bool:
        barrier.wait()
        try:
            create(stores[index % len(stores)], clock, max_per_ip=max_per_ip)
            return True
        except SessionLimitExceeded:
            return False

    with ThreadPoolExecutor(creators) as pool:
        won = sum(pool.map(attempt, range(creators)))
    assert won == max_per_ip
    assert stores[0].count_for_ip(IP, now=clock.now()) == max_per_ip


def test_config_changes_bump_the_version_and_renew(store: StateStore, clock: ManualClock) -> None:
    session_id = create(store, clock)
    clock.advance(30 * 60)
    state = store.update_config(session_id, {"top_k": 3, "model": "m2"}, now=clock.now(), ttl=TTL)
    assert state is not None
    assert (state.version, state.config) == (2, {"top_k": 3, "model": "m2"})
    assert state.expires_at == pytest.approx(clock.now() + TTL)
    clock.advance(TTL)
    assert store.update_config(session_id, {"x": 1}, now=clock.now(), ttl=TTL) is None


def test_concurrent_config_changes_and_counters_lose_nothing(
    store: StateStore, clock: ManualClock
) -> None:
    session_id = create(store, clock)

    def work(index: int) -> None:
        store.update_config(session_id, {f"k{index}": index}, now=clock.now(), ttl=TTL)
        store.add_counter(session_id, "total_queries", 1, now=clock.now())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(24)))
    state = store.get(session_id, now=clock.now())
    assert state is not None
    assert state.version == 25
    assert all(state.config[f"k{i}"] == i for i in range(24))
    assert state.counters == {"total_queries": 24}


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "..", "", "A0B1C2D3-0000-4000-8000-000000000000", "x" * 36, None, 7],
)
def test_invalid_ids_never_reach_the_store(store: StateStore, clock: ManualClock, bad) -> None:
    with pytest.raises(InvalidSessionId):
        store.get(bad, now=clock.now())
    with pytest.raises(InvalidSessionId):
        store.create(bad, IP, {}, now=clock.now(), ttl=TTL, max_per_ip=5)
    assert store.live_ids(now=clock.now()) == []


def test_session_ids_are_canonical_uuid4() -> None:
    made = {new_session_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(validate_session_id(s) == s for s in made)
    with pytest.raises(InvalidSessionId):
        validate_session_id(next(iter(made)) + "\n")
    with pytest.raises(InvalidSessionId):  # a UUID1 is a UUID, but not one we made
        validate_session_id("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
