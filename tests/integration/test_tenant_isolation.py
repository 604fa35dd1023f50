"""Private data in real shared tiers (Redis, SQLite): a record stored under one tenant's key
but belonging to another tenant is a miss, from ``fetch`` and ``fetch_many`` alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

import polysource_redis
import polysource_sql
from polysource import Orchestrator, load_config
from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import ACCOUNTS, Account, Accounts
from polysource.events import EventKind
from polysource.testing import EventRecorder, FakeClock, FakeProvider

SHARED = "redis://localhost:6379/0"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis, removed afterwards."""
    client = redis.asyncio.Redis.from_url(SHARED)
    try:
        await client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"this test needs a Redis at {SHARED}: {exc}")
    prefix = f"ps-tenant-{uuid.uuid4().hex[:10]}"
    yield prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.unlink(*keys)
    await client.aclose()


def _accounts(tenant: str) -> Accounts:
    return Accounts((Account(f"acc-{tenant}", "Checking", "depository", "USD"),))


def _orchestrator(tier: str, *plugins: object) -> Orchestrator:
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", tier], "tier_timeout": 1.0},
            "security": {"secret": Secret.of("tenant-isolation-test-secret-0123456789")},
        },
    )
    plugins = (*plugins, polysource_redis, polysource_sql)
    return Orchestrator(config, plugins=plugins, clock=FakeClock(), entry_points=False, environ={})


async def _written(keys: list[str], count: int) -> None:
    for _ in range(300):  # background writes reach the tier (bounded: ~3 s)
        if len(keys) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} writes expected, saw {keys}")


@pytest.mark.parametrize("many", [False, True], ids=["fetch", "fetch_many"])
@pytest.mark.parametrize("tier", ["redis", "sqlite"])
async def test_another_tenants_record_under_a_tenants_key_is_a_miss(
    tier, many, redis_prefix, tmp_path, monkeypatch
):
    """Alice's accounts copied into the key Bob reads (what a pseudonym collision does) are
    not served to Bob: his read is a miss, a ``tenant_mismatch`` event, and his own answer."""
    bank = FakeProvider("bank", datasets={"accounts"})
    bank.answer("all", lambda request: _accounts(request.tenant))
    bank.answer("other", lambda request: _accounts(request.tenant))
    events = EventRecorder()
    url = f"{SHARED}?prefix={redis_prefix}" if tier == "redis" else f"sqlite:///{tmp_path}/l3.db"
    async with _orchestrator(url, bank, events) as orch:
        chain = orch._engine.tiers
        backend = chain.tiers[0].backend
        keys: list[str] = []
        write = chain.write

        def spy(key: str, *args: Any, **kwargs: Any) -> None:
            keys.append(key)
            write(key, *args, **kwargs)

        monkeypatch.setattr(chain, "write", spy)
        for tenant in ("alice", "bob"):
            await orch.connections.save(Connection(tenant, "bank", f"link-{tenant}"))
        await orch.fetch(ACCOUNTS, "all", tenant="alice")
        await orch.fetch(ACCOUNTS, "other", tenant="bob")
        await _written(keys, 2)
        alices, bobs_other = keys
        bobs = bobs_other.removesuffix("other") + "all"
        for _ in range(300):  # the writes themselves run in the background
            (record,) = await backend.get_many([alices])
            if record is not None and (await backend.get_many([bobs_other]))[0] is not None:
                break
            await asyncio.sleep(0.01)
        assert record is not None
        await backend.set(bobs, record, 600)  # Alice's record, where Bob looks
        orch.clear_cache()
        calls = bank.call_count()
        if many:
            answer = (await orch.fetch_many(ACCOUNTS, ["all"], tenant="bob")).results["all"]
        else:
            answer = await orch.fetch(ACCOUNTS, "all", tenant="bob")
        assert answer.data == _accounts("bob") and not answer.cached
        assert bank.call_count() == calls + 1
        mismatches = events.of(EventKind.TENANT_MISMATCH)
        assert mismatches and all(
            "bob" not in repr(e) and "alice" not in repr(e) for e in mismatches
        )
