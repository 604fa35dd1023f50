"""Single-flight: identical concurrent requests share one provider call."""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed
from polysource.testing import FakeProvider


async def test_thousand_identical_fetches_make_one_call(make_orchestrator, clock):
    """1,000 concurrent fetches of a cold key: one provider call, 999 deduplicated results."""
    fake = FakeProvider("a", clock=clock, latency=0.5)
    orch = await make_orchestrator(fake)
    results = await clock.run(asyncio.gather(*(orch.fetch(QUOTE, "AAPL") for _ in range(1000))))
    assert fake.call_count() == 1
    assert sum(r.deduplicated for r in results) == 999
    assert {r.data for r in results} == {results[0].data}
    assert orch.stats().deduplicated == 999


async def test_cancelled_joiner_does_not_cancel_shared_call(make_orchestrator, clock):
    """Cancelling the leader's caller leaves the shared call running for the other callers."""
    fake = FakeProvider("a", clock=clock, latency=1.0)
    orch = await make_orchestrator(fake)
    leader = asyncio.create_task(orch.fetch(QUOTE, "AAPL"))
    await clock.settle()
    joiner = asyncio.create_task(orch.fetch(QUOTE, "AAPL"))
    await clock.settle()
    leader.cancel()
    await clock.advance(1.0)
    result = await joiner
    assert leader.cancelled()
    assert result.deduplicated and result.source == "a"
    assert fake.call_count() == 1


async def test_failure_reaches_every_joined_caller(make_orchestrator, clock):
    """When the shared call fails, every caller gets AllProvidersFailed."""
    fake = FakeProvider("a", clock=clock, latency=1.0).fail_always("AAPL", "auth")
    orch = await make_orchestrator(fake)
    outcomes = await clock.run(
        asyncio.gather(*(orch.fetch(QUOTE, "AAPL") for _ in range(5)), return_exceptions=True)
    )
    assert all(isinstance(o, AllProvidersFailed) for o in outcomes)
    assert fake.call_count() == 1


async def test_joiner_with_short_deadline_times_out_alone(make_orchestrator, clock):
    """A joiner whose deadline passes gets a timeout; the leader still gets its answer."""
    fake = FakeProvider("a", clock=clock, latency=5.0)
    orch = await make_orchestrator(fake, providers={"a": {"timeout": 10}})
    leader = asyncio.create_task(orch.fetch(QUOTE, "AAPL", deadline=10))
    await clock.settle()
    joiner = asyncio.create_task(orch.fetch(QUOTE, "AAPL", deadline=1))
    await clock.advance(1.5)
    with pytest.raises(AllProvidersFailed, match="deadline"):
        await joiner
    await clock.advance(4)
    assert (await leader).source == "a"


async def test_cancelled_fast_joiner_leaves_other_joiners_waiting(make_orchestrator, clock):
    """Cancelling one of several joiners cancels only that caller; the others get the answer."""
    fake = FakeProvider("a", clock=clock, latency=1.0)
    orch = await make_orchestrator(fake)
    callers = [asyncio.create_task(orch.fetch(QUOTE, "AAPL")) for _ in range(4)]
    await clock.settle()
    callers[1].cancel()
    await clock.settle()
    callers[2].cancel()
    await clock.advance(1.0)
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert isinstance(outcomes[2], asyncio.CancelledError)
    assert outcomes[0].source == "a" and outcomes[3].source == "a"
    assert outcomes[3].deduplicated and not outcomes[0].deduplicated
    assert fake.call_count() == 1


async def test_joiners_of_a_call_cancelled_by_close_are_cancelled(make_orchestrator, clock):
    """Closing the orchestrator cancels the shared call and every caller waiting on it."""
    fake = FakeProvider("a", clock=clock, latency=10.0)
    orch = await make_orchestrator(fake)
    callers = [asyncio.create_task(orch.fetch(QUOTE, "AAPL")) for _ in range(3)]
    await clock.settle()
    await orch.close()
    outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 5)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)


async def test_identical_cold_fetches_join_by_cache_key_without_the_engine(
    make_orchestrator, clock
):
    """Concurrent fetches of a cold key, by handle, name and key spelling, join the one call in
    flight from the lookup stage: only the first enters the engine."""
    fake = FakeProvider("a", clock=clock, latency=0.5)
    orch = await make_orchestrator(fake)
    calls = [orch.fetch(QUOTE, "AAPL") for _ in range(50)]
    calls += [orch.fetch("quote", "aapl", tier="free") for _ in range(50)]
    results = await clock.run(asyncio.gather(*calls))
    assert fake.call_count() == 1
    assert orch._engine.requests == 1
    assert sum(r.deduplicated for r in results) == 99
    stats = orch.stats()
    assert (stats.requests, stats.cache_misses, stats.deduplicated) == (100, 100, 99)


async def test_fast_joiners_of_a_failed_call_get_the_failure_and_its_events(
    make_orchestrator, clock, events
):
    """Joiners of a failed call get AllProvidersFailed, each with its miss, deduplication and
    failure events, as on the engine's path."""
    fake = FakeProvider("a", clock=clock, latency=1.0).fail_always("AAPL", "auth")
    orch = await make_orchestrator(fake)
    outcomes = await clock.run(
        asyncio.gather(*(orch.fetch(QUOTE, "AAPL") for _ in range(5)), return_exceptions=True)
    )
    assert all(isinstance(o, AllProvidersFailed) for o in outcomes)
    assert orch._engine.requests == 1 and orch._lookup.joins == 4
    assert [len(events.of(kind)) for kind in ("cache_miss", "deduplicated", "request_failed")] == [
        5,
        4,
        5,
    ]


async def test_joiner_of_a_call_given_a_longer_deadline_takes_the_timed_path(
    make_orchestrator, clock
):
    """A call in flight with a deadline past the configured one is joined through the engine,
    so a joiner with the configured deadline still times out on its own."""
    fake = FakeProvider("a", clock=clock, latency=50.0)
    orch = await make_orchestrator(fake, deadline=2.0, providers={"a": {"timeout": 100}})
    leader = asyncio.create_task(orch.fetch(QUOTE, "AAPL", deadline=100))
    await clock.settle()
    joiner = asyncio.create_task(orch.fetch(QUOTE, "AAPL"))
    await clock.advance(3)
    with pytest.raises(AllProvidersFailed, match="deadline"):
        await joiner
    assert orch._lookup.joins == 0
    await clock.advance(50)
    assert (await leader).source == "a"
