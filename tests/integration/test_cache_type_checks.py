"""Cached records of the wrong value types, through the real Redis and SQLite tiers."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
import redis

import polysource_redis
import polysource_sql
from polysource import Orchestrator, load_config
from polysource.cache.tiers import decode_record, encode_record
from polysource.datasets import QUOTE, Quote
from polysource.engine.tiers import shared_key
from polysource.testing import EventRecorder, FakeProvider

REDIS = "redis://localhost:6379/0"


@pytest.fixture(params=["redis", "sqlite"])
def tier_url(request, tmp_path):
    """The URL of a real shared tier of this test's own: a Redis prefix or a SQLite file."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cache.db'}"
        return
    prefix = f"ps-test-{uuid.uuid4().hex[:8]}"
    yield f"{REDIS}?prefix={prefix}"
    client = redis.Redis.from_url(REDIS)
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _until(condition, limit=300):
    for _ in range(limit):  # bounded wait for the background write (~3 s)
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


@pytest.mark.parametrize("price", ["190.5", {"value": 190.5}, [190.5]])
@pytest.mark.parametrize("many", [False, True], ids=["fetch", "fetch_many"])
async def test_a_stored_record_with_a_wrong_price_type_is_replaced(tier_url, price, many):
    """A stored quote whose price is a string, object or list is a miss: the provider
    answers, its answer replaces the record in the tier, and a tier event says so."""
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", tier_url], "tier_timeout": 0.5},
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )
    recorder = EventRecorder()
    fake = FakeProvider("a")
    plugins = [fake, recorder, polysource_redis, polysource_sql]
    async with Orchestrator(config, plugins=plugins, entry_points=False, environ={}) as orch:
        backend = orch._engine.tiers.tiers[0].backend
        key = shared_key(QUOTE, "AAPL", orch.config.region, None)
        record = orjson.loads(encode_record(Quote("AAPL", 1.0), "old", time.time()))
        record["d"]["price"] = price
        await backend.set(key, orjson.dumps(record), 600)
        if many:
            result = (await orch.fetch_many(QUOTE, ["AAPL"])).results["AAPL"]
        else:
            result = await orch.fetch(QUOTE, "AAPL")
        assert result.source == "a" and not result.cached and fake.call_count() == 1

        async def replaced() -> bool:
            (data,) = await backend.get_many([key])
            stored = decode_record(data, Quote) if data is not None else None
            return stored is not None and stored.source == "a"

        await _until(replaced)
    (event,) = [e for e in recorder.of("tier") if e.detail.get("state") == "rejected"]
    assert event.detail["tier"] == backend.name and "$.price" in event.detail["reason"]
