"""Hedged requests, stale-while-revalidate and stale-if-error."""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import QUOTE, Quote
from polysource.errors import AllProvidersFailed
from polysource.testing import FakeProvider


async def test_hedge_starts_backup_and_cancels_the_loser(make_orchestrator, clock, events):
    """A slow primary: after the hedge delay the backup starts and wins; the primary stops."""
    cancelled = []

    async def slow_primary(request):
        try:
            await clock.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(request.key)
            raise
        return Quote(request.key, 1.0)

    a = FakeProvider("a", regions={"US": 1}, clock=clock).answer("AAPL", slow_primary)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.5)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 30}})
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", hedge=1.0))
    assert result.source == "b"
    assert clock.monotonic() == pytest.approx(1001.5)
    assert cancelled == ["AAPL"]
    assert [e.provider for e in events.of("hedge")] == ["b"]


async def test_hedge_not_needed_when_primary_is_fast(make_orchestrator, clock):
    """A primary answering before the hedge delay means the backup is never called."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=0.2)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, datasets={"quote": {"hedge_delay": 1.0}})
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US"))
    assert result.source == "a" and b.call_count() == 0


async def test_hedge_fails_over_immediately_on_error(make_orchestrator, clock):
    """An error from the primary starts the backup at once, without waiting for the delay."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "auth")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", hedge=5.0))
    assert result.source == "b" and clock.monotonic() == 1000


async def test_stale_if_error_serves_stale_with_errors(make_orchestrator, clock):
    """When every provider fails, an entry inside its stale window is served, marked stale."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        fake,
        datasets={"quote": {"ttl": {"free": 10}, "stale": 100}},
        providers={"a": {"retry": {"attempts": 1}}},
    )
    fresh = await orch.fetch(QUOTE, "AAPL")
    fake.fail_always("AAPL", "provider_down")
    await clock.advance(50)
    stale = await orch.fetch(QUOTE, "AAPL")
    assert stale.stale and stale.cached and stale.data == fresh.data
    assert [e.category for e in stale.errors] == ["provider_down"]
    assert stale.age == pytest.approx(50)
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "AAPL", allow_stale=False)
    await clock.advance(100)
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "AAPL")
    assert orch.stats().stale_served == 1


async def test_stale_while_revalidate_refreshes_once(make_orchestrator, clock):
    """In the stale window callers get the stale value at once; exactly one refresh runs."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        fake, datasets={"quote": {"ttl": {"free": 10}, "stale": 100, "revalidate": True}}
    )
    await orch.fetch(QUOTE, "AAPL")
    fake.slow("AAPL", 2.0).answer("AAPL", Quote("AAPL", 555.0))
    await clock.advance(20)
    answers = await asyncio.gather(*(orch.fetch(QUOTE, "AAPL") for _ in range(50)))
    assert all(a.stale for a in answers)
    await clock.advance(2.0)
    assert fake.call_count("AAPL") == 2
    refreshed = await orch.fetch(QUOTE, "AAPL")
    assert refreshed.data.price == 555.0 and not refreshed.stale
