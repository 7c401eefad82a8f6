"""Load and isolation: 100 concurrent users x 20 messages against a real bot server process.

The bot runs as ``sessionlab bot serve`` (uvicorn, its own course model) on loopback; the
users are one ``httpx.AsyncClient`` with 100 concurrent tasks. Every message is built so the
model's reply proves whose history it saw:

* odd messages state a fact only this user knows (``my u17 token is u17-m3``), and the reply
  must echo it;
* even messages ask ``what is my u17 token?``; the reply must be this user's latest token,
  which the model can only know from this conversation's stored history;
* the last message asks what the model remembers: the capped history must hold exactly this
  user's 10 previous messages.

Afterwards the store itself is read: each conversation holds exactly its last 20 messages,
all its own, in order (no cross-talk, nothing lost). p50/p99 latency is printed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionlab.bot.history import HistoryLimits, RedisHistory, SQLiteHistory
from sessionlab.bot.process import BotProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

USERS = 100
MESSAGES = 20
CREATORS = 50
MAX_PER_IP = 5


def plan(user: int) -> list[tuple[str, str]]:
    """``(message, expected reply)`` for one user, in order; every text names the user."""
    key = f"u{user} token"
    steps = []
    for number in range(1, MESSAGES):
        if number % 2:
            token = f"u{user}-m{number}"
            steps.append((f"my {key} is {token}", f"Got it: your {key} is {token}."))
        else:
            steps.append((f"what is my {key}?", f"Your {key} is u{user}-m{number - 1}."))
    # The cap keeps 20 messages: the last 10 user messages, the oldest being message 10.
    steps.append(
        (
            "what do you remember?",
            "I can see 10 earlier messages from you in this conversation. "
            f'The first one was: "{steps[9][0]}".',
        )
    )
    return steps


async def run_user(client: httpx.AsyncClient, user: int, latencies: list[float]) -> list[str]:
    """Send the plan one message at a time (a user waits for each reply); returns problems."""
    problems = []
    for index, (text, expected) in enumerate(plan(user)):
        body = {
            "type": "message",
            "id": f"u{user}-a{index}",
            "conversation": {"id": f"load-conversation-{user}"},
            "from": {"id": f"load-user-{user}"},
            "text": text,
        }
        started = time.perf_counter()
        response = await client.post("/api/messages", json=body)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            problems.append(f"user {user} message {index}: HTTP {response.status_code}")
            continue
        reply = response.json()["text"]
        if reply != expected:
            problems.append(f"user {user} message {index}: {reply!r} != {expected!r}")
    return problems


async def load(url: str) -> tuple[list[str], list[float], float]:
    """All users at once. One small client per user: like real users, and it keeps the load
    generator cheap (one shared pool of 100 connections cost more CPU than the bot itself)."""
    latencies: list[float] = []

    async def user(number: int) -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await run_user(client, number, latencies)

    started = time.perf_counter()
    results = await asyncio.gather(*(user(u) for u in range(USERS)))
    elapsed = time.perf_counter() - started
    return [p for problems in results for p in problems], latencies, elapsed


async def create_concurrently(url: str) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        responses = await asyncio.gather(*(client.post("/api/sessions") for _ in range(CREATORS)))
    return [r.status_code for r in responses]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def check_store(store: SQLiteHistory | RedisHistory) -> None:
    now = time.time()
    stats = store.stats(now=now)
    assert len(stats) == USERS
    for user in range(USERS):
        kept = store.history(f"load-conversation-{user}", now=now)
        sent = [text for text, _ in plan(user)]
        replies = [reply for _, reply in plan(user)]
        expected = [m for pair in zip(sent, replies, strict=True) for m in pair][-20:]
        assert [m.text for m in kept] == expected, f"user {user}: history differs"
        assert [m.role for m in kept] == ["user", "assistant"] * 10


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_100_users_20_messages_no_cross_talk_no_loss(
    store_kind: str, tmp_path: Path, prefix: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    with BotProcess(
        data_dir=tmp_path, store=store_kind, redis_url=redis_url, redis_prefix=prefix
    ) as bot:
        problems, latencies, elapsed = asyncio.run(load(bot.url))
        statuses = asyncio.run(create_concurrently(bot.url))
        info: dict[str, Any] = httpx.get(f"{bot.url}/sessions", timeout=10).json()
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(
        f"\n[{store_kind}] {USERS} users x {MESSAGES} messages = {len(latencies)} requests "
        f"in {elapsed:.1f}s ({len(latencies) / elapsed:.0f} req/s); "
        f"latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{max(latencies) * 1000:.1f} ms, mean {statistics.mean(latencies) * 1000:.1f} ms; "
        f"cross-talk/lost: {len(problems)}; sessions created {statuses.count(201)} of "
        f"{CREATORS} concurrent (limit {MAX_PER_IP}), refused {statuses.count(429)}"
    )
    assert problems == [], problems[:5]
    assert len(latencies) == USERS * MESSAGES
    assert statuses.count(201) == MAX_PER_IP and statuses.count(429) == CREATORS - MAX_PER_IP
    assert info["total_sessions"] == USERS and info["isolated_sessions"] == MAX_PER_IP
    assert all(s["messages"] == 20 for s in info["sessions"])
    if store_kind == "sqlite":
        store: SQLiteHistory | RedisHistory = SQLiteHistory(
            tmp_path / "histories.sqlite3", HistoryLimits()
        )
    else:
        store = RedisHistory(str(redis_url), HistoryLimits(), prefix=f"{prefix}bot:")
    try:
        check_store(store)
    finally:
        store.close()


def test_real_server_refuses_huge_and_traversal_payloads_before_storing(tmp_path: Path) -> None:
    with BotProcess(data_dir=tmp_path) as bot:
        huge = httpx.post(f"{bot.url}/api/messages", content=b"x" * (4 * 1024 * 1024), timeout=30)
        bad = httpx.post(
            f"{bot.url}/api/messages",
            json={
                "type": "message",
                "conversation": {"id": "../../etc"},
                "from": {"id": "u"},
                "text": "hi",
            },
            timeout=30,
        )
        info = httpx.get(f"{bot.url}/sessions", timeout=10).json()
    assert huge.status_code == 413
    assert bad.status_code == 400 and "not allowed" in bad.json()["error"]
    assert info["total_sessions"] == 0
