"""The Redis tier under many concurrent callers: a busy event loop is not a failing Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio

import polysource_redis
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import EventRecorder, FakeProvider

CALLERS = 500
KEYS = 200


async def test_500_concurrent_callers_on_a_healthy_redis_never_detach_it(
    shared_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    """500 concurrent fetch and fetch_many callers, Redis the only tier: no detach, no failure."""
    config = load_config(
        environ={},
        overrides={
            "cache": {"tiers": [f"{shared_url}?prefix={prefix}"]},
            "telemetry": {"log": False},
        },
    )
    events = EventRecorder()
    plugins = [polysource_redis, FakeProvider("a"), events]
    async with Orchestrator(config, plugins=plugins, entry_points=False, environ={}) as orch:

        async def caller(i: int) -> Any:
            if i % 2:
                return await orch.fetch(QUOTE, f"K{i % KEYS}")
            return await orch.fetch_many(QUOTE, [f"K{(i + j) % KEYS}" for j in range(5)])

        async with asyncio.timeout(20):
            for _ in range(3):  # misses and writes, then hits read from Redis
                answers = await asyncio.gather(*(caller(i) for i in range(CALLERS)))
                assert all(answer is not None for answer in answers)
            chain = orch._engine.tiers
            while chain.writing:  # the background writes of the last round
                await asyncio.sleep(0.01)
        (tier,) = chain.tiers
        detached = [e.detail for e in events.of("tier") if e.detail.get("state") == "detached"]
        assert detached == []
        assert tier.failures == 0
        assert orch.stats().hits_by_tier.get(tier.name, 0) > 0
