"""The handler: atomic limits under concurrency, turns, metrics, maintenance, cleanup."""

from __future__ import annotations

import asyncio

import pytest
from lifecycle_fakes import COST_PER_TURN, run

from sessionlab.errors import CourseError
from sessionlab.lifecycle import (
    PoolSettings,
    RegistrySettings,
    SessionHandler,
    SessionLimitError,
    SystemConfig,
    permanent_config,
)


def handler(options, clients, clock, tmp_path=None, *, registry=None, pool=None, **kw):
    config = SystemConfig(
        registry=registry or RegistrySettings(max_sessions=10, timeout_minutes=30),
        pool=pool or PoolSettings(max_size=20, min_size=0),
    )
    return SessionHandler(
        options, config, project_dir=tmp_path, clock=clock, client_factory=clients, **kw
    )


def test_concurrent_creations_never_exceed_the_limit(options, clients, clock):
    async def body():
        async with handler(options, clients, clock) as h:
            clients.gate = asyncio.Event()  # every connect waits: maximal interleaving
            tasks = [asyncio.create_task(h.create_session(f"user{n}")) for n in range(50)]
            for _ in range(20):
                await asyncio.sleep(0)
            clients.gate.set()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            created = [o for o in outcomes if o is None]
            refused = [o for o in outcomes if isinstance(o, SessionLimitError)]
            assert (len(created), len(refused)) == (10, 40)
            assert len(h.registry) == 10 and len(clients.made) == 10
            assert "SM_MAX_SESSIONS" in str(refused[0])

    run(body)


def test_a_failed_connection_gives_its_slot_back(options, clients, clock):
    async def body():
        async with handler(options, clients, clock) as h:
            clients.fail_connect = True
            outcomes = await asyncio.gather(
                *(h.create_session(f"u{n}") for n in range(12)), return_exceptions=True
            )
            assert all(isinstance(o, CourseError) for o in outcomes)
            assert len(h.registry) == 0
            clients.fail_connect = False
            await h.create_session("ok")
            assert h.registry.keys() == ["ok"]

    run(body)


def test_send_reuses_the_connection_and_metrics_add_up(options, clients, clock):
    async def body():
        async with handler(options, clients, clock) as h:
            await h.create_session("ana")
            replies = [await h.send("ana", f"message {n}") for n in range(4)]
            assert {r.connection_id for r in replies} == {"conn-1"}
            assert {r.transcript_id for r in replies} == {clients.made[0].session_id}
            m = h.metrics.session("ana")
            assert m.message_count == 4
            assert m.total_cost_usd == pytest.approx(4 * COST_PER_TURN)
            assert m.input_tokens == sum(r.usage.input_tokens for r in replies) == 1000
            assert h.registry.get("ana").transcript_id == replies[0].transcript_id
            report = h.health_report()
            assert report["totals"]["messages"] == 4
            assert report["pool"]["reused"] == 4

    run(body)


def test_send_to_an_unknown_session_fails_clearly(options, clients, clock):
    async def body():
        async with handler(options, clients, clock) as h:
            with pytest.raises(CourseError, match="unknown session 'ghost'"):
                await h.send("ghost", "hi")

    run(body)


def test_a_retired_connection_resumes_the_same_transcript(options, clients, clock):
    async def body():
        pool = PoolSettings(max_size=5, min_size=0, max_uses=2)
        async with handler(options, clients, clock, pool=pool) as h:
            await h.create_session("ana")
            replies = [await h.send("ana", f"m{n}") for n in range(5)]
            assert len({r.connection_id for r in replies}) == 3, "opening is not a use"
            assert len({r.transcript_id for r in replies}) == 1
            assert clients.made[1].options.resume == replies[0].transcript_id
            assert h.metrics.session("ana").total_cost_usd == pytest.approx(5 * COST_PER_TURN)

    run(body)


def test_maintenance_expires_idle_sessions_and_closes_their_connections(
    options, clients, clock, tmp_path
):
    async def body():
        async with handler(options, clients, clock, tmp_path) as h:
            for key in ("idle", "busy"):
                await h.create_session(key)
                await h.send(key, "hello")
            clock.advance(minutes=29)
            await h.send("busy", "still here")
            clock.advance(minutes=1)
            report = await h.maintenance()
            assert report.expired == ["idle"]
            await h.pool.settle()
            assert h.registry.keys() == ["busy"]
            assert [c.alive for c in clients.made] == [False, True]
            assert report.orphans is not None and report.orphans.count == 1, (
                "the fake CLI writes no files: the live session's transcript is missing"
            )

    run(body)


def test_permanent_profile_never_expires_and_runs_no_scheduler(options, clients, clock):
    async def body():
        h = SessionHandler(options, permanent_config(), clock=clock, client_factory=clients)
        async with h:
            assert not h.scheduler.running
            for n in range(30):
                await h.create_session(f"user{n}", connect=False)
            clock.advance(minutes=60 * 24 * 365)
            report = await h.maintenance()
            assert report.expired == [] and len(h.registry) == 30
            assert h.health_report()["scheduler"]["enabled"] is False

    run(body)


def test_scheduler_runs_maintenance_on_its_interval(options, clients, clock):
    async def body():
        async def sleep(seconds: float) -> None:
            clock.advance(seconds)
            await asyncio.sleep(0)

        registry = RegistrySettings(max_sessions=5, timeout_minutes=10, cleanup_interval_minutes=5)
        h = handler(options, clients, clock, registry=registry, scheduler_sleep=sleep)
        await h.create_session("ana", connect=False)
        await h.start()
        while "ana" in h.registry:
            await asyncio.sleep(0)
        assert h.scheduler.runs >= 2 and clock() >= 1000 + 600
        await h.shutdown()
        assert not h.scheduler.running

    run(body)


def test_destroy_and_force_cleanup(options, clients, clock, tmp_path):
    async def body():
        project = tmp_path / "project"
        project.mkdir()
        async with handler(options, clients, clock, project) as h:
            for key in ("a", "b", "c"):
                await h.create_session(key)
                reply = await h.send(key, "hi")
                (project / f"{reply.transcript_id}.jsonl").write_text("{}\n")
            assert await h.destroy_session("a") and not await h.destroy_session("a")
            report = await h.force_cleanup(tmp_path / "backups")
            assert sorted(report.removed) == ["b", "c"]
            assert len(report.backup.copied) == 3, "every transcript is backed up, a's too"
            assert len(h.registry) == 0 and clients.alive == []

    run(body)


def test_a_failing_turn_counts_an_error_and_retires_its_connection(options, clients, clock):
    async def body():
        async with handler(options, clients, clock) as h:
            await h.create_session("ana")
            broken = clients.made[0]

            async def dead(prompt: str) -> None:
                raise BrokenPipeError("the CLI process is gone")

            broken.query = dead
            with pytest.raises(CourseError, match="the turn failed: BrokenPipeError"):
                await h.send("ana", "hello")
            await h.pool.settle()
            assert h.metrics.session("ana").errors == 1 and not broken.alive
            reply = await h.send("ana", "hello again")  # a new connection takes over
            assert reply.connection_id == "conn-2"

    run(body)
