"""fetch_many (cache multi-get, provider batches, per-key failover) and coalescing."""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import QUOTE, Quote
from polysource.errors import AllProvidersFailed, InvalidRequest
from polysource.testing import FakeProvider


async def test_fetch_many_batches_misses_within_max_batch_size(make_orchestrator, clock):
    """25 keys, batch size 10: three batch calls, never more than 10 keys each."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await make_orchestrator(fake)
    keys = [f"K{i}" for i in range(25)]
    batch = await orch.fetch_many(QUOTE, keys)
    assert set(batch.results) == set(keys) and not batch.errors
    assert [len(k) for _, k in fake.batch_calls] == [10, 10, 5]
    assert fake.calls == []
    summary = batch.summary
    assert (summary.total, summary.successful, summary.failed, summary.batches) == (25, 25, 0, 3)
    assert (summary.cached, summary.fresh) == (0, 25)


async def test_fetch_many_reads_cache_first(make_orchestrator, clock):
    """Keys already cached are answered from cache; only the others reach the provider."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await make_orchestrator(fake)
    await orch.fetch_many(QUOTE, ["A", "B"])
    batch = await orch.fetch_many(QUOTE, ["a", "B", "C"])
    assert batch.results["a"].cached and batch.results["B"].cached
    assert not batch.results["C"].cached
    assert fake.batch_calls[-1] == ("quote", ("C",))
    assert (batch.summary.cached, batch.summary.fresh) == (2, 1)
    assert (await orch.fetch(QUOTE, "C")).cached


async def test_keys_missing_from_a_batch_fail_over_per_key(make_orchestrator, clock):
    """A key the first provider's batch left out is fetched from the next provider."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, max_batch_size=50)
    a.fail_always("MISSING", "not_found")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    batch = await orch.fetch_many(QUOTE, ["AAPL", "MISSING"], region="US")
    assert batch.results["AAPL"].source == "a"
    assert batch.results["MISSING"].source == "b"
    assert [e.category for e in batch.results["MISSING"].errors] == ["not_found"]
    assert b.calls == [("quote", "MISSING")]


async def test_failed_batch_fails_over_every_key_and_reports_errors(make_orchestrator, clock):
    """A batch call that fails sends its keys on; keys nobody serves are per-key errors."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, max_batch_size=50)
    a.fail_always("*", "provider_down")
    b = FakeProvider("b", regions={"US": 2}, clock=clock).fail_always("BAD", "not_found")
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 1}}})
    batch = await orch.fetch_many(QUOTE, ["X", "BAD"], region="US")
    assert batch.results["X"].source == "b"
    assert isinstance(batch.errors["BAD"], AllProvidersFailed)
    assert [e.category for e in batch.errors["BAD"].errors] == ["provider_down", "not_found"]
    assert batch.summary.failed == 1


async def test_fetch_many_serves_stale_per_key(make_orchestrator, clock):
    """When every provider fails, keys with a stale entry are served stale, others fail."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await make_orchestrator(
        fake,
        datasets={"quote": {"ttl": {"free": 10}, "stale": 100}},
        providers={"a": {"retry": {"attempts": 1}}},
    )
    await orch.fetch_many(QUOTE, ["OLD"])
    await clock.advance(20)
    fake.fail_always("*", "provider_down")
    batch = await orch.fetch_many(QUOTE, ["OLD", "NEW"])
    assert batch.results["OLD"].stale
    assert "NEW" in batch.errors


async def test_fetch_many_bad_input(make_orchestrator):
    """Empty, string or blank key lists are rejected before any provider is asked."""
    orch = await make_orchestrator(FakeProvider("a"))
    for keys in ([], "AAPL", ["AAPL", " "]):
        with pytest.raises(InvalidRequest):
            await orch.fetch_many(QUOTE, keys)


async def test_concurrent_single_fetches_are_coalesced(make_orchestrator, clock):
    """Concurrent fetches of different keys for a batch provider become one batch call."""
    fake = FakeProvider("a", clock=clock, max_batch_size=100)
    orch = await make_orchestrator(fake)
    keys = [f"K{i}" for i in range(30)]
    results = await asyncio.gather(*(orch.fetch(QUOTE, key) for key in keys))
    assert [r.data.symbol for r in results] == keys
    assert len(fake.batch_calls) == 1 and len(fake.batch_calls[0][1]) == 30
    assert fake.calls == []
    assert orch.stats().batches == 1
    assert orch.stats().providers["a"].attempts == 1


async def test_coalescing_respects_batch_size_and_window(make_orchestrator, clock):
    """With a window, keys arriving within it join; batches are cut at max_batch_size."""
    fake = FakeProvider("a", clock=clock, max_batch_size=4)
    orch = await make_orchestrator(fake, providers={"a": {"coalesce_window": 0.01}})
    first = [asyncio.create_task(orch.fetch(QUOTE, f"A{i}")) for i in range(3)]
    await clock.settle()
    later = [asyncio.create_task(orch.fetch(QUOTE, f"B{i}")) for i in range(3)]
    await clock.advance(0.01)
    await asyncio.gather(*first, *later)
    assert sorted(len(k) for _, k in fake.batch_calls) == [2, 4]


async def test_coalesced_key_missing_fails_over_alone(make_orchestrator, clock):
    """A key the coalesced batch did not return fails over; the others are unaffected."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, max_batch_size=10)
    a.fail_always("GONE", "not_found")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    ok, gone = await asyncio.gather(
        orch.fetch(QUOTE, "OK", region="US"), orch.fetch(QUOTE, "GONE", region="US")
    )
    assert (ok.source, gone.source) == ("a", "b")


async def test_coalescing_can_be_turned_off(make_orchestrator, clock):
    """coalesce = false sends each single fetch on its own."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await make_orchestrator(fake, providers={"a": {"coalesce": False}})
    await asyncio.gather(*(orch.fetch(QUOTE, f"K{i}") for i in range(3)))
    assert fake.batch_calls == [] and len(fake.calls) == 3


async def test_cancelled_coalesced_caller_leaves_batch_for_others(make_orchestrator, clock):
    """Cancelling one caller of a coalesced batch does not cancel the batch."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10, latency=1.0)
    orch = await make_orchestrator(fake)
    tasks = [asyncio.create_task(orch.fetch(QUOTE, f"K{i}")) for i in range(3)]
    await clock.settle()
    tasks[0].cancel()
    await clock.advance(1.0)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert [r.data.symbol for r in outcomes[1:]] == ["K1", "K2"]
    assert len(fake.batch_calls) == 1


async def test_fetch_many_joins_a_fetch_in_flight(make_orchestrator, clock):
    """A key already being fetched by fetch() is joined by fetch_many, not fetched twice."""
    fake = FakeProvider("a", clock=clock, latency=1.0)
    orch = await make_orchestrator(fake)
    single = asyncio.create_task(orch.fetch(QUOTE, "AAPL"))
    await clock.settle()
    many = asyncio.create_task(orch.fetch_many(QUOTE, ["AAPL"]))
    await clock.advance(1.0)
    batch = await many
    assert (await single).source == "a"
    assert batch.results["AAPL"].deduplicated
    assert fake.call_count("AAPL") == 1


def _quote(request):
    return Quote(request.key, 1.0)


async def test_cached_fetch_many_takes_the_hit_path(make_orchestrator, clock):
    """A second fetch_many of the same keys is answered by the L1 lookup stage, in order."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await make_orchestrator(fake)
    keys = ["K3", "K1", "K2"]
    await orch.fetch_many(QUOTE, keys)
    before = orch._lookup.hits
    again = await orch.fetch_many(QUOTE, keys)
    assert orch._lookup.hits - before == 3
    assert list(again.results) == keys
    assert again.summary.cached == 3 and again.summary.batches == 0
    mixed = await orch.fetch_many(QUOTE, ["K1", "NEW", "K2"])
    assert list(mixed.results) == ["K1", "NEW", "K2"]
    assert (mixed.summary.total, mixed.summary.cached, mixed.summary.fresh) == (3, 2, 1)
    await clock.advance(61)
    stale = await orch.fetch_many(QUOTE, keys)
    assert stale.summary.cached == 0


def _hanging_primary(clock, max_batch_size):
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10, max_batch_size=max_batch_size)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.05)
    return a, b


@pytest.mark.parametrize("max_batch_size", [1, 10])
async def test_fetch_many_retry_that_would_starve_the_backup_fails_over_at_once(
    make_orchestrator, clock, max_batch_size
):
    """fetch_many does not retry a hanging primary (batched or per key) when the retry would
    leave the backup no full try: the backup answers every key within the deadline."""
    a, b = _hanging_primary(clock, max_batch_size)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 0.2}, "b": {"timeout": 0.2}})
    start = clock.monotonic()
    batch = await clock.run(orch.fetch_many(QUOTE, ["K1", "K2"], region="US", deadline=0.45))
    assert not batch.errors
    assert {r.source for r in batch.results.values()} == {"b"}
    assert orch.stats().providers["a"].attempts == (2 if max_batch_size == 1 else 1)
    assert orch.stats().providers["a"].retries == 0
    assert clock.monotonic() - start == pytest.approx(0.25)


async def test_coalesced_retry_that_would_starve_the_backup_fails_over_at_once(
    make_orchestrator, clock
):
    """A coalesced batch is not retried when the retry would leave its callers' backup no
    full try: each caller fails over at once and the backup answers within the deadline."""
    a, b = _hanging_primary(clock, 10)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 0.2}, "b": {"timeout": 0.2}})
    start = clock.monotonic()
    results = await clock.run(
        asyncio.gather(*(orch.fetch(QUOTE, k, region="US", deadline=0.45) for k in ("K1", "K2")))
    )
    assert [r.source for r in results] == ["b", "b"]
    assert len(a.batch_calls) == 1 and orch.stats().providers["a"].retries == 0
    assert clock.monotonic() - start == pytest.approx(0.25)
