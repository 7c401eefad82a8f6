"""The sweeper: interval, disabled at 0, survives failures (logged, counted), stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from lifecycle_fakes import run

from sessionlab.sweeper import Sweeper


def fake_sleep(clock, calls):
    async def sleep(seconds: float) -> None:
        calls.append(seconds)
        clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


def test_runs_every_interval_on_the_fake_clock(clock):
    async def body():
        ran_at: list[float] = []
        calls: list[float] = []

        async def job():
            ran_at.append(clock.monotonic())
            if len(ran_at) == 3:
                scheduler.request_stop()

        scheduler = Sweeper(job, 300, sleep=fake_sleep(clock, calls))
        assert scheduler.start() and scheduler.running
        while scheduler.runs < 3:
            await asyncio.sleep(0)
        await scheduler.stop()
        assert ran_at == [1300.0, 1600.0, 1900.0]
        assert not scheduler.running

    run(body)


def test_interval_zero_starts_nothing(clock):
    async def body():
        async def job():
            raise AssertionError("must never run")

        scheduler = Sweeper(job, 0)
        assert not scheduler.enabled
        assert scheduler.start() is False and not scheduler.running
        await scheduler.stop()

    run(body)
    with pytest.raises(ValueError):
        Sweeper(lambda: None, -1)  # type: ignore[arg-type,return-value]


def test_a_failing_run_does_not_end_maintenance(clock, caplog):
    async def body():
        async def job():
            if scheduler.failures == 0:
                raise OSError("project folder unreadable")
            return "ok"

        scheduler = Sweeper(job, 60, sleep=fake_sleep(clock, []))
        scheduler.start()
        while scheduler.runs < 2:
            await asyncio.sleep(0)
        await scheduler.stop()
        assert scheduler.failures == 1 and scheduler.last_result == "ok"
        assert "project folder unreadable" in scheduler.last_error

    with caplog.at_level(logging.ERROR, logger="sessionlab.sweeper"):
        run(body)
    assert [r.exc_info[1].args for r in caplog.records] == [("project folder unreadable",)]


def test_the_thread_loop_has_the_same_policy(caplog):
    passes: list[int] = []
    done = threading.Event()

    def job() -> int:
        passes.append(1)
        if len(passes) == 1:
            raise ValueError("store briefly down")
        done.set()
        return len(passes)

    sweeper = Sweeper(job, 0.01, name="test-sweeper")
    with caplog.at_level(logging.ERROR, logger="sessionlab.sweeper"):
        assert sweeper.start_thread() and sweeper.running
        assert done.wait(10)  # generous: only bounds a hang
        sweeper.stop_thread()
    assert not sweeper.running
    assert sweeper.failures == 1 and sweeper.runs >= 1 and sweeper.last_result >= 2
    assert sweeper.last_error == "ValueError: store briefly down"
    assert "test-sweeper: a pass failed" in caplog.records[0].getMessage()
    assert Sweeper(job, 0).start_thread() is False


def test_stop_wakes_the_default_sleep_and_lets_a_running_job_finish():
    async def body():
        started, finish = asyncio.Event(), asyncio.Event()
        finished: list[bool] = []

        async def job():
            started.set()
            await finish.wait()
            finished.append(True)

        idle = Sweeper(job, 3600)  # real sleep of an hour: stop must wake it
        idle.start()
        await asyncio.sleep(0)
        await asyncio.wait_for(idle.stop(), 5)
        assert idle.runs == 0

        async def instant(seconds: float) -> None:
            await asyncio.sleep(0)

        busy = Sweeper(job, 1, sleep=instant)
        busy.start()
        await started.wait()
        stopping = asyncio.create_task(busy.stop())
        await asyncio.sleep(0)
        assert not stopping.done()
        finish.set()
        await stopping
        assert finished == [True] and busy.runs == 1

    run(body)


def test_stop_cancels_a_job_that_overruns_the_timeout():
    async def body():
        async def job():
            await asyncio.Event().wait()  # hangs

        async def instant(seconds: float) -> None:
            await asyncio.sleep(0)

        scheduler = Sweeper(job, 1, sleep=instant)
        scheduler.start()
        for _ in range(5):
            await asyncio.sleep(0)
        await scheduler.stop(timeout=0.01)
        assert not scheduler.running

    run(body)
