"""Memory, the shared Redis and SQLite together: writes reach every tier, lower hits fill the
tiers above, invalidation clears all three; a Redis that answers garbage never fails a request."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

import polysource_redis
import polysource_sql
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE, Quote
from polysource.engine.tiers import shared_key
from polysource.testing import EventRecorder, FakeProvider

SHARED = "redis://localhost:6379/0"


async def _until(condition, what: str, limit: int = 300) -> None:
    for _ in range(limit):  # bounded wait for background writes (~3 s)
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def raw() -> AsyncIterator[tuple[redis.asyncio.Redis, str]]:
    """A client of the shared Redis and a prefix of this test's own, removed afterwards."""
    client = redis.asyncio.Redis.from_url(SHARED)
    try:
        await client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"this test needs a Redis at {SHARED}: {exc}")
    prefix = f"ps3-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.unlink(*keys)
    await client.aclose()


def _orchestrator(tiers: list[str], *plugins: object) -> Orchestrator:
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": tiers, "tier_timeout": 0.5, "tier_cooldown": 60.0},
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )
    return Orchestrator(
        config, plugins=[*plugins, polysource_redis, polysource_sql], entry_points=False, environ={}
    )


async def test_three_real_tiers_fill_upwards_and_invalidate_together(raw, tmp_path):
    """An answer reaches L2 and L3; with L1 and L2 emptied, L3 answers and fills L2 and L1;
    an invalidation leaves the key in no tier."""
    client, prefix = raw
    fake = FakeProvider("a")
    fake.answer("AAPL", Quote("AAPL", 190.5))
    sqlite = f"sqlite:///{tmp_path / 'l3.db'}"
    redis_url = f"{SHARED}?prefix={prefix}"
    redis_key = f"{prefix}:{shared_key(QUOTE, 'AAPL', 'global', None)}"
    async with _orchestrator(["memory://", redis_url, sqlite], fake) as orch:
        assert (await orch.fetch(QUOTE, "AAPL")).source == "a"

        async def in_l2() -> bool:
            return bool(await client.exists(redis_key))

        await _until(in_l2, "the write to Redis")
        await client.unlink(redis_key)
        orch.clear_cache()

        async def from_l3() -> bool:
            orch.clear_cache()
            await client.unlink(redis_key)
            return (await orch.fetch(QUOTE, "AAPL")).tier == "sqlite"

        await _until(from_l3, "an L3 hit")
        await _until(in_l2, "L3's hit to fill Redis")
        assert (await orch.fetch(QUOTE, "AAPL")).tier == "memory"  # and L1
        assert fake.call_count() == 1

        await orch.invalidate(QUOTE, ["AAPL"])
        assert not await in_l2()
        fake.answer("AAPL", Quote("AAPL", 200.0))
        again = await orch.fetch(QUOTE, "AAPL")
        assert (again.cached, again.data.price) == (False, 200.0)  # not from L3 either


async def test_a_redis_answering_garbage_is_detached_and_requests_go_on(tmp_path):
    """A server on the Redis port that answers every command with bytes that are not RESP:
    the tier fails, is detached with an event, and every request is answered."""
    seen = 0

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                seen += 1
                writer.write(b"\x00\xffnot resp at all\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    events = EventRecorder()
    fake = FakeProvider("a")
    try:
        async with _orchestrator(
            ["memory://", f"redis://127.0.0.1:{port}/0?prefix=junk"], fake, events
        ) as orch:
            loop = asyncio.get_running_loop()
            began = loop.time()
            for key in ("A", "B", "C"):
                assert (await orch.fetch(QUOTE, key)).source == "a"
            assert loop.time() - began < 2.0
            assert seen >= 1
            states = [e.detail["state"] for e in events.of("tier")]
            assert states[:1] == ["detached"]
    finally:
        server.close()
        await server.wait_closed()
