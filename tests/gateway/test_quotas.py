"""Per-key request quotas and cost budgets: 429 with Retry-After before any provider call."""

from __future__ import annotations

import uuid

import pytest

from polysource import load_config
from polysource.testing import FakeProvider

REDIS = "redis://localhost:6379/0"


async def _gateway(make_orchestrator, serving, keys, clock, **extra):
    fake = FakeProvider("alpha", datasets={"quote", "fundamentals"}, clock=clock)
    section = keys.section()
    section["api_keys"]["alice"].update(quota="3/hour")
    section["api_keys"]["bob"].update(budget="10/day")
    section["costs"] = {"fundamentals": 4}
    config = load_config(
        environ={}, overrides={"telemetry": {"log": False}, "gateway": section, **extra}
    )
    orch = await make_orchestrator(fake, config=config)
    return fake, serving(orch)


async def test_a_key_over_its_quota_gets_429_with_retry_after(
    make_orchestrator, serving, keys, clock
):
    """The fourth request of a 3/hour key is a 429 with Retry-After; other keys are unaffected."""
    fake, serve = await _gateway(make_orchestrator, serving, keys, clock)
    async with serve as client:
        for _ in range(3):
            assert (await client.get("/v1/quote/AAPL", headers=keys.auth(keys.alice))).status == 200
        calls = len(fake.calls)
        over = await client.get("/v1/quote/MSFT", headers=keys.auth(keys.alice))
        assert over.status == 429
        assert 1 <= int(over.headers["Retry-After"]) <= 3600
        assert (await over.json())["type"].endswith("quota-exceeded")
        assert len(fake.calls) == calls  # refused before any provider call
        assert (await client.get("/v1/quote/MSFT", headers=keys.auth(keys.public))).status == 200


async def test_a_budget_is_spent_by_cost_per_key(make_orchestrator, serving, keys, clock):
    """Costs per dataset and per batch key spend the budget; the request over it is a 429."""
    _, serve = await _gateway(make_orchestrator, serving, keys, clock)
    async with serve as client:
        bob = keys.auth(keys.bob)
        assert (await client.get("/v1/fundamentals/AAPL", headers=bob)).status == 200  # 4
        batch = await client.post("/v1/quote/batch", json={"keys": ["A", "B", "C"]}, headers=bob)
        assert batch.status == 200  # 7
        assert (await client.get("/v1/fundamentals/MSFT", headers=bob)).status == 429  # 11 > 10
        over = await client.post("/v1/quote/batch", json={"keys": list("ABCD")}, headers=bob)
        assert over.status == 429 and "Retry-After" in over.headers
        assert (await over.json())["type"].endswith("budget-exhausted")


async def test_quotas_are_shared_through_redis_when_a_fleet_is_configured(
    make_orchestrator, serving, keys, clock
):
    """With a Redis fleet, two gateways (two workers) count one key's quota together."""
    redis = pytest.importorskip("redis.asyncio")
    try:
        probe = redis.from_url(REDIS)
        await probe.ping()
        await probe.aclose()
    except Exception:
        pytest.skip("no Redis at localhost:6379")
    prefix = f"test-quota-{uuid.uuid4().hex[:8]}"
    extra = {"rate_limit_storage": f"async+{REDIS}", "rate_limit_prefix": prefix}
    _, first = await _gateway(make_orchestrator, serving, keys, clock, **extra)
    _, second = await _gateway(make_orchestrator, serving, keys, clock, **extra)
    try:
        async with first as a, second as b:
            alice = keys.auth(keys.alice)
            statuses = [(await c.get("/v1/quote/AAPL", headers=alice)).status for c in (a, b, a, b)]
            assert statuses == [200, 200, 200, 429]
    finally:
        client = redis.from_url(REDIS)
        async for key in client.scan_iter(f"{prefix}*"):
            await client.delete(key)
        await client.aclose()
