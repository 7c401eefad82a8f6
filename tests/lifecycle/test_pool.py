"""The connection pool with fake CLI clients: reuse, isolation, limits, retirement, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from lifecycle_fakes import run

from sessionlab.errors import CourseError
from sessionlab.lifecycle import (
    ConnectionPool,
    PoolConnectionError,
    PoolSettings,
    TimeoutSettings,
)


def pool(options, clients, clock, **settings) -> ConnectionPool:
    timeouts = settings.pop("timeouts", TimeoutSettings(create=5, destroy=5, message=5))
    settings.setdefault("min_size", 0)
    return ConnectionPool(
        options, PoolSettings(**settings), timeouts, clock=clock, client_factory=clients
    )


async def turn(p: ConnectionPool, key: str, prompt: str = "hi", resume: str | None = None):
    async with p.lease(key, resume) as conn:
        messages = await conn.ask(prompt, 5)
    return conn, messages[-1]


def test_start_opens_min_size_warm_connections_and_a_new_session_takes_one(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, min_size=2, max_size=4)
        await p.start()
        assert p.status()["warm"] == 2 and len(clients.made) == 2
        conn, _ = await turn(p, "ana")
        assert conn.client is clients.made[0]
        await p.settle()  # taking a warm one refills in the background
        assert p.status()["warm"] == 1 and len(p) == 2, "min_size counts every connection"
        assert p.stats.warm_hits == 1
        await p.shutdown()
        assert clients.alive == []

    run(body)


def test_one_session_reuses_its_connection_and_keeps_one_transcript(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=3)
        results = [(await turn(p, "ana", f"m{n}"))[1] for n in range(5)]
        assert len(clients.made) == 1 and p.stats.reused == 4
        assert {r.session_id for r in results} == {clients.made[0].session_id}
        await p.shutdown()

    run(body)


def test_sessions_never_share_a_connection(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=3)
        a, _ = await turn(p, "ana", "my name is Ana")
        b, _ = await turn(p, "bo", "what is my name?")
        assert a is not b and b.client.prompts == ["what is my name?"]
        await p.shutdown()

    run(body)


def test_a_session_with_history_gets_a_resumed_connection_not_a_warm_one(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, min_size=1, max_size=3)
        await p.start()
        conn, _ = await turn(p, "ana", resume="t-ana")
        assert conn.client.options.resume == "t-ana"
        assert p.stats.warm_hits == 0 and p.status()["warm"] == 1
        await p.shutdown()

    run(body)


def test_concurrent_turns_never_exceed_max_size_and_waiters_get_served(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=3)
        clients.turn_gate = asyncio.Event()
        tasks = [asyncio.create_task(turn(p, f"user{n}")) for n in range(8)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(p) == 3 and p.status()["busy"] == 3
        clients.turn_gate.set()
        await asyncio.gather(*tasks)
        assert len(clients.made) == 8, "each new session needs its own process"
        assert p.stats.evicted >= 5 and p.stats.waits >= 5
        await p.settle()
        assert len(p) <= 3
        await p.shutdown()
        assert clients.alive == []

    run(body)


def test_one_session_runs_one_turn_at_a_time(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=5)
        clients.turn_gate = asyncio.Event()
        tasks = [asyncio.create_task(turn(p, "ana", f"m{n}")) for n in range(3)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(clients.made) == 1 and p.status()["busy"] == 1
        clients.turn_gate.set()
        await asyncio.gather(*tasks)
        assert clients.made[0].prompts == ["m0", "m1", "m2"]
        await p.shutdown()

    run(body)


def test_max_uses_retires_on_release(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2, max_uses=2)
        first, _ = await turn(p, "ana")
        again, _ = await turn(p, "ana")
        assert first is again
        await p.settle()
        assert first.retiring and len(p) == 0 and p.stats.retired == 1
        third, _ = await turn(p, "ana", resume="t-ana")
        assert third is not first and third.client.options.resume == "t-ana"
        await p.shutdown()

    run(body)


def test_max_age_retires_at_maintenance_and_on_reuse(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=3, max_age_minutes=60)
        old, _ = await turn(p, "ana")
        await turn(p, "bo")
        clock.advance(minutes=59)
        assert (await p.maintain())["retired"] == 0
        clock.advance(minutes=1)
        report = await p.maintain()
        assert report == {"retired": 2, "opened": 0, "size": 0}
        assert not old.client.alive
        await p.shutdown()

    run(body)


def test_unlimited_age_and_uses_when_zero(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=1, max_age_minutes=0, max_uses=0)
        for _ in range(5):
            await turn(p, "ana")
        clock.advance(minutes=60 * 24 * 365)
        assert (await p.maintain())["retired"] == 0
        assert len(clients.made) == 1
        await p.shutdown()

    run(body)


def test_health_check_retires_a_dead_process_and_maintain_tops_up(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, min_size=2, max_size=3)
        await p.start()
        clients.made[0].alive = False  # the CLI process died
        assert p.status()["healthy_connections"] == 1
        report = await p.maintain()
        assert report == {"retired": 1, "opened": 1, "size": 2}
        assert p.status()["healthy_connections"] == 2
        await p.shutdown()

    run(body)


def test_a_dead_connection_is_not_reused(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2)
        first, _ = await turn(p, "ana")
        first.client.alive = False
        second, _ = await turn(p, "ana", resume="t")
        assert second is not first
        await p.shutdown()

    run(body)


def test_connect_failure_frees_the_slot(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=1)
        clients.fail_connect = True
        with pytest.raises(PoolConnectionError, match="could not start Claude Code"):
            await p.acquire("ana")
        assert len(p) == 0 and p.stats.failed == 1
        clients.fail_connect = False
        await turn(p, "ana")
        await p.shutdown()

    run(body)


def test_create_timeout(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=1, timeouts=TimeoutSettings(create=0.01))
        clients.gate = asyncio.Event()  # connect never finishes
        with pytest.raises(PoolConnectionError, match=r"within 0\.01s \(OPT_CREATE_TIMEOUT"):
            await p.acquire("ana")
        assert len(p) == 0
        await p.shutdown()

    run(body)


def test_message_timeout_breaks_the_connection(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=1)
        clients.turn_gate = asyncio.Event()  # the model never answers
        with pytest.raises(PoolConnectionError, match="OPT_MESSAGE_TIMEOUT"):
            async with p.lease("ana") as conn:
                await conn.ask("hi", 0.01)
        await p.settle()
        assert len(p) == 0 and not conn.client.alive, "a timed-out turn retires its connection"
        await p.shutdown()

    run(body)


def test_connections_close_in_the_task_that_opened_them(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=4)
        # opened inside gather's child tasks, closed from this task and a background task
        await asyncio.gather(*(turn(p, f"user{n}") for n in range(3)))
        await p.discard("user0")
        await p.shutdown()
        assert [c.disconnects for c in clients.made] == [1, 1, 1]

    run(body)


def test_discard_waits_for_the_turn_in_flight(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2)
        clients.turn_gate = asyncio.Event()
        task = asyncio.create_task(turn(p, "ana"))
        for _ in range(10):
            await asyncio.sleep(0)
        assert await p.discard("ana") == 0
        clients.turn_gate.set()
        conn, _ = await task
        await p.settle()
        assert conn.retiring and not conn.client.alive
        await p.shutdown()

    run(body)


def test_graceful_shutdown_lets_busy_turns_finish_and_refuses_new_ones(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2)
        clients.turn_gate = asyncio.Event()
        busy = asyncio.create_task(turn(p, "ana"))
        for _ in range(10):
            await asyncio.sleep(0)
        closing = asyncio.create_task(p.shutdown())
        for _ in range(10):
            await asyncio.sleep(0)
        assert not closing.done(), "shutdown waits for the busy turn"
        with pytest.raises(CourseError, match="shut down"):
            await p.acquire("bo")
        clients.turn_gate.set()
        _, result = await busy
        await closing
        assert result.session_id and clients.alive == []

    run(body)


def test_a_full_pool_waits_for_a_closing_slot_instead_of_evicting(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2)
        ana, _ = await turn(p, "ana")
        bo, _ = await turn(p, "bo")
        await p.discard("ana")  # closing in the background, still holding its slot
        await turn(p, "cy")
        assert p.stats.evicted == 0 and bo.client.alive, "bo's connection was kept"
        assert not ana.client.alive and len(p) == 2
        await p.shutdown()

    run(body)


def test_the_pool_records_what_it_did_for_the_timeline(options, clients, clock):
    async def body():
        p = pool(options, clients, clock, max_size=2)
        ana, _ = await turn(p, "ana", "my name is Ana")
        clock.advance(1)
        await turn(p, "bo")
        clock.advance(1)
        await turn(p, "ana")  # reused: ana is now the most recently used
        clock.advance(1)
        await turn(p, "cy")  # full: bo's connection is evicted
        await p.settle()
        ana.client.alive = False  # ana's CLI process dies
        clock.advance(1)
        await turn(p, "ana", resume=ana.client.session_id)
        await p.shutdown()
        seen = [(e.kind, e.session) for e in p.events]
        assert seen[:4] == [("open", "ana"), ("open", "bo"), ("reuse", "ana"), ("evict", "bo")]
        assert ("dead", "ana") in seen and seen.count(("open", "ana")) == 2
        assert seen.count(("open", "cy")) == 1
        resumed = [e for e in p.events if e.kind == "open" and e.why]
        assert [e.session for e in resumed] == ["ana"], "the replacement resumes ana"
        opened = {e.connection for e in p.events if e.kind == "open"}
        closed = {e.connection for e in p.events if e.kind == "close"}
        assert opened == closed, "every connection opened was closed"
        assert [e.seconds for e in p.events] == sorted(e.seconds for e in p.events)

    run(body)
