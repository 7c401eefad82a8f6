"""The handler and the pool on the real SDK and the pinned 2.1.112 CLI (course model).

What the fakes assume is checked here against the real thing: usage per turn, cost
cumulative per process, one session per process, resume appends to the same file, and a
connection closed from another task than the one that opened it.
"""

from __future__ import annotations

import asyncio

import pytest
from claude_code_sdk import ResultMessage

from sessionlab.lifecycle import (
    PoolSettings,
    RegistrySettings,
    SessionHandler,
    SystemConfig,
    TimeoutSettings,
)

pytestmark = pytest.mark.cli

TIMEOUTS = TimeoutSettings(create=60, destroy=15, message=60)


def config(**pool) -> SystemConfig:
    return SystemConfig(
        registry=RegistrySettings(max_sessions=5, timeout_minutes=30),
        pool=PoolSettings(**{"max_size": 3, "min_size": 0, **pool}),
        timeouts=TIMEOUTS,
    )


def test_pooled_sessions_stay_apart_and_metrics_match_the_model(make_lab):
    lab = make_lab("current")

    async def body():
        async with SessionHandler(
            lab.options(), config(max_uses=2), project_dir=lab.project_dir
        ) as h:
            await asyncio.gather(h.create_session("ana"), h.create_session("bo"))
            ana = [await h.send("ana", p) for p in ("my name is Ana", "hello", "what is my name?")]
            bo = await h.send("bo", "what is my name?")
            report = await h.maintenance()
            return h, ana, bo, report

    h, ana, bo, report = asyncio.run(body())
    assert "Ana" in ana[-1].text, "the third turn ran on a resumed connection and remembered"
    assert "Ana" not in bo.text, "bo's connection never carried ana's conversation"
    assert len({r.connection_id for r in ana}) == 2, "max_uses=2 retired the first connection"
    assert len({r.transcript_id for r in ana}) == 1, "the 2.x CLI resumed into the same file"
    assert report.orphans is not None and report.orphans.count == 0
    assert {p.stem for p in lab.transcripts()} == {ana[0].transcript_id, bo.transcript_id}

    turns = [r for r in lab.model.records if r.kind == "turn"]
    metrics = h.metrics.all()
    assert sum(m.input_tokens for m in metrics.values()) == sum(r.input_tokens for r in turns)
    assert sum(m.output_tokens for m in metrics.values()) == sum(r.output_tokens for r in turns)
    assert metrics["ana"].message_count == 3 and metrics["bo"].message_count == 1
    assert metrics["ana"].total_cost_usd == pytest.approx(sum(r.usage.cost_usd for r in ana))
    assert all(r.usage.cost_usd > 0 for r in ana)
    assert h.pool.status()["pool_size"] == 0, "shutdown closed every CLI process"


def test_result_cost_is_cumulative_per_process(make_lab):
    """The fact the metrics rely on, measured directly."""
    from claude_code_sdk import ClaudeSDKClient

    lab = make_lab("current")

    async def body() -> list[ResultMessage]:
        results = []
        async with ClaudeSDKClient(lab.options()) as client:
            for prompt in ("one", "two", "three"):
                await client.query(prompt)
                async for message in client.receive_response():
                    if isinstance(message, ResultMessage):
                        results.append(message)
        return results

    results = asyncio.run(body())
    turns = [r for r in lab.model.records if r.kind == "turn"]
    assert [r.usage["input_tokens"] for r in results] == [t.input_tokens for t in turns]
    totals = [r.total_cost_usd for r in results]
    assert totals == sorted(totals) and totals[2] > 2.5 * totals[0], totals


@pytest.mark.slow
def test_pool_bench_runs_and_the_pool_saves_on_one_session(make_lab):
    from sessionlab.lifecycle.pool_benchmark import run_pool_bench

    lab = make_lab("current")
    bench = asyncio.run(run_pool_bench(lab.options(), 3, cli="current"))
    assert [m.processes for m in bench.modes.values()] == [3, 1, 3]
    assert bench.reduction("pooled") > 0.3, bench.table()  # 1 open instead of 3: generous
    assert bench.as_dict()["modes"][0]["transcripts"] == 1
