"""Keys checked before any I/O against real shared tiers; invalidation globs only the pattern.

The PostgreSQL tests run against ``POLYSOURCE_TEST_POSTGRESQL`` (default
``postgresql://localhost:5432/test``) in a schema of their own; the Redis ones against the
shared Redis at ``redis://localhost:6379/0`` under a prefix of their own. Both clean up only
what they created.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio

import polysource_redis
import polysource_sql
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.errors import InvalidRequest
from polysource.testing import EventRecorder, FakeProvider

POSTGRESQL_URL = os.environ.get("POLYSOURCE_TEST_POSTGRESQL", "postgresql://localhost:5432/test")
REDIS_URL = "redis://localhost:6379/0"


async def _postgresql(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRESQL_URL, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL tier URL in a new schema of this test's own, dropped afterwards."""
    name = f"ps_{uuid.uuid4().hex}"
    await _postgresql(f'CREATE SCHEMA "{name}"')
    yield f"{POSTGRESQL_URL}?schema={name}"
    await _postgresql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"pstest-{uuid.uuid4().hex}"
    yield prefix
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _config(url: str):
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", url], "tier_timeout": 2.0, "tier_cooldown": 600.0},
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )


async def _until(condition, limit=300):
    for _ in range(limit):  # bounded wait for background I/O (~3 s)
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


BAD_KEYS = {"nul": "AA\x00PL", "10 kB": "A" * 10_000}
CALLS = {
    "fetch": lambda orch, key: orch.fetch(QUOTE, key),
    "fetch_many": lambda orch, key: orch.fetch_many(QUOTE, ["MSFT", key]),
    "fetch_merged": lambda orch, key: orch.fetch_merged(QUOTE, key),
    "invalidate": lambda orch, key: orch.invalidate(QUOTE, [key]),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
async def test_bad_key_never_reaches_postgresql_and_the_tier_stays_attached(pg_url, call, bad):
    """A NUL or 10 kB key is rejected before any I/O; the PostgreSQL tier serves the next key."""
    recorder = EventRecorder()
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(pg_url), plugins=[fake, recorder, polysource_sql], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "WARM")  # the tier is attached and its table exists
        with pytest.raises(InvalidRequest) as caught:
            await CALLS[call](orch, bad)
        assert len(str(caught.value)) < 200
        assert fake.call_count() == 1
        assert recorder.of("tier") == []

        async def from_postgresql() -> bool:
            orch.clear_cache()
            return (await orch.fetch(QUOTE, "WARM")).tier == "postgresql"

        await _until(from_postgresql)
        assert recorder.of("tier") == []


async def _keys(prefix: str) -> list[bytes]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return sorted([key async for key in client.scan_iter(match=f"{prefix}*", count=1000)])
    finally:
        await client.aclose()


async def test_a_region_named_star_invalidates_only_itself_in_redis_and_memory(redis_prefix):
    """invalidate(region="*") drops that region's entries everywhere and no other region's."""
    url = f"{REDIS_URL}?prefix={redis_prefix}"
    fake = FakeProvider("a", regions={"US": 1, "MX": 1, "*": 1})
    async with Orchestrator(
        _config(url), plugins=[fake, polysource_redis], entry_points=False, environ={}
    ) as orch:
        for region in ("US", "MX", "*"):
            await orch.fetch(QUOTE, "AAPL", region=region)

        async def written() -> bool:
            return len(await _keys(redis_prefix)) == 3

        await _until(written)
        await orch.invalidate(QUOTE, pattern="AA*", region="*")
        left = await _keys(redis_prefix)
        assert len(left) == 2 and not any(b"{quote:*}" in key for key in left)
        calls = fake.call_count()
        for region in ("US", "MX"):
            assert (await orch.fetch(QUOTE, "AAPL", region=region)).cached
        assert not (await orch.fetch(QUOTE, "AAPL", region="*")).cached
        assert fake.call_count() == calls + 1


async def test_an_escaped_pattern_matches_the_same_keys_in_memory_and_redis(redis_prefix):
    """A pattern's backslash escape makes the next character literal in memory as in Redis."""
    url = f"{REDIS_URL}?prefix={redis_prefix}"
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(url), plugins=[fake, polysource_redis], entry_points=False, environ={}
    ) as orch:
        for key in ("A*B", "AXB"):
            await orch.fetch(QUOTE, key)

        async def written() -> bool:
            return len(await _keys(redis_prefix)) == 2

        await _until(written)
        await orch.invalidate(QUOTE, pattern="A\\*B")
        left = await _keys(redis_prefix)
        assert len(left) == 1 and left[0].endswith(b":AXB")
        assert (await orch.fetch(QUOTE, "AXB")).cached
        assert not (await orch.fetch(QUOTE, "A*B")).cached
