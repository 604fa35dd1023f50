"""The L1 memory tier: TTL per tier, byte and count bounds, negative caching, options."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from polysource import BaseProvider, Orchestrator, ProviderInfo, Request, hookimpl, load_config
from polysource.cache.memory import ENTRY_OVERHEAD, MAX_SIGNATURES, Entry, MemoryCache
from polysource.cache.policy import Freshness, ages, classify
from polysource.connections import Connection
from polysource.datasets import QUOTE, Accounts, Quote
from polysource.errors import AllProvidersFailed
from polysource.models import Result
from polysource.testing import FakeProvider


def test_classify_is_pure_and_respects_max_age():
    """Freshness depends only on the times given; max_age narrows freshness, not staleness."""
    assert classify(now=10, stored_at=0, ttl=20, stale=5) is Freshness.FRESH
    assert classify(now=22, stored_at=0, ttl=20, stale=5) is Freshness.STALE
    assert classify(now=25, stored_at=0, ttl=20, stale=5) is Freshness.EXPIRED
    assert classify(now=10, stored_at=0, ttl=20, stale=5, max_age=5) is Freshness.STALE


@pytest.mark.parametrize("max_age", [None, 3.0, 50.0])
def test_ages_say_what_classify_says(max_age):
    """An entry's age against the two ages of ``ages`` gives ``classify``'s answer."""
    fresh_for, stale_for = ages(ttl=20, stale=5, max_age=max_age)
    for age in [0.0, 2.9, 3.0, 19.9, 20.0, 24.9, 25.0, 100.0]:
        by_ages = (
            Freshness.FRESH
            if age < fresh_for
            else Freshness.STALE
            if age < stale_for
            else Freshness.EXPIRED
        )
        assert by_ages is classify(now=age, stored_at=0, ttl=20, stale=5, max_age=max_age)


def _entry(key, size, *, result=False):
    value = Result(Quote(key, 1.0), "a", cached=True, tier="memory") if result else None
    return Entry(("quote", key, "US", None), value, 0.0, {"free": 1.0}, 1.0, size)


def test_entry_fresh_until_uses_the_shared_ttl():
    """An entry is fresh for stored_at plus the tier's TTL."""
    entry = Entry(("quote", "K", "US", None), None, 10.0, {"free": 5.0, "premium": 1.0}, 20.0, 1)
    assert (entry.fresh_until("free"), entry.fresh_until("premium")) == (15.0, 11.0)


def test_lru_byte_bound_holds_and_evicts_least_recent():
    """The byte bound holds after every put; the least recently used entry goes first."""
    cache = MemoryCache(max_entries=1000, max_bytes=10_000)
    for i in range(100):
        cache.put(_entry(f"K{i}", 1000))
        assert cache.bytes <= 10_000
        if i == 5:
            cache.get(("quote", "K0", "US", None))  # K0 becomes most recent
    assert len(cache) == 10
    keys = {entry.key[1] for entry in cache}
    assert "K99" in keys and "K1" not in keys
    assert cache.evictions == 90


def test_count_bound_and_oversized_entry():
    """The entry-count bound holds; an entry bigger than the byte bound is not stored."""
    cache = MemoryCache(max_entries=3, max_bytes=10_000)
    for i in range(5):
        cache.put(_entry(f"K{i}", 10))
    assert len(cache) == 3
    assert not cache.put(_entry("huge", 20_000))


def test_replaced_entry_is_dead_so_index_slots_expire():
    """Replacing an entry marks the old one dead, invalidating index slots that point to it."""
    cache = MemoryCache()
    old = _entry("A", 10)
    cache.put(old)
    cache.put(_entry("A", 10))
    assert not old.alive
    assert cache.bytes == 10


async def test_fresh_hit_makes_no_provider_call(make_orchestrator, clock):
    """A second fetch within the TTL is answered from memory with cached=True."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(fake)
    first = await orch.fetch(QUOTE, "AAPL")
    second = await orch.fetch(QUOTE, "AAPL")
    third = await orch.fetch("quote", "aapl")
    assert fake.call_count() == 1
    assert not first.cached and second.cached and third.cached
    assert second.tier == "memory" and second.data == first.data
    assert orch.stats().cache_hits == 2


async def test_ttl_per_tier(make_orchestrator, clock):
    """Premium callers get shorter TTLs: after 10s premium refetches, free still hits."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(fake)
    await orch.fetch(QUOTE, "AAPL", tier="free")
    await clock.advance(10)
    assert (await orch.fetch(QUOTE, "AAPL", tier="free")).cached
    assert not (await orch.fetch(QUOTE, "AAPL", tier="premium")).cached
    assert fake.call_count() == 2


async def test_expiry_refetches_and_age_grows(make_orchestrator, clock):
    """After the TTL the provider is asked again; age is measured on the clock."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(fake, datasets={"quote": {"ttl": {"free": 30}}})
    await orch.fetch(QUOTE, "AAPL")
    await clock.advance(20)
    hit = await orch.fetch(QUOTE, "AAPL")
    assert hit.cached and hit.age == pytest.approx(20)
    await clock.advance(11)
    assert not (await orch.fetch(QUOTE, "AAPL")).cached
    assert fake.call_count() == 2


async def test_skip_cache_force_refresh_and_max_age(make_orchestrator, clock):
    """Per-call options bypass or narrow the cache as documented."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(fake)
    await orch.fetch(QUOTE, "AAPL")
    assert not (await orch.fetch(QUOTE, "AAPL", skip_cache=True)).cached
    assert not (await orch.fetch(QUOTE, "AAPL", force_refresh=True)).cached
    await clock.advance(5)
    assert not (await orch.fetch(QUOTE, "AAPL", max_age=1)).cached
    assert (await orch.fetch(QUOTE, "AAPL", max_age=100)).cached
    assert fake.call_count() == 4


async def test_negative_cache_remembers_not_found(make_orchestrator, clock):
    """A not_found answer is cached for negative_ttl; afterwards the provider is asked again."""
    fake = FakeProvider("a", clock=clock).fail_always("NOPE", "not_found")
    orch = await make_orchestrator(fake, datasets={"quote": {"negative_ttl": 10}})
    for _ in range(3):
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.fetch(QUOTE, "NOPE")
        assert caught.value.errors[0].category == "not_found"
    assert fake.call_count("NOPE") == 1
    await clock.advance(11)
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "NOPE")
    assert fake.call_count("NOPE") == 2


async def test_private_data_is_cached_per_tenant(make_orchestrator, clock):
    """A private dataset's cache entry of one tenant never answers another tenant."""
    fake = FakeProvider("bank", datasets={"accounts"}, clock=clock)
    fake.answer("default", lambda request: Accounts(()))
    orch = await make_orchestrator(fake)
    for tenant in ("alice", "bob"):
        await orch.connections.save(Connection(tenant, "bank", f"link-{tenant}"))
    await orch.fetch("accounts", "default", tenant="alice")
    assert (await orch.fetch("accounts", "default", tenant="alice")).cached
    assert not (await orch.fetch("accounts", "default", tenant="bob")).cached
    assert fake.call_count() == 2


async def test_hundred_thousand_quotes_stay_under_byte_bound(make_orchestrator, clock):
    """Filling the cache far past its byte bound keeps it under the bound."""
    fake = FakeProvider("a", clock=clock, default=lambda r: Quote(r.key, 1.0, "USD"))
    orch = await make_orchestrator(fake, cache={"max_bytes": 200_000, "max_entries": 10**6})
    for i in range(3000):
        await orch.fetch(QUOTE, f"S{i}")
    memory = orch._engine.memory
    assert memory.bytes <= 200_000
    assert len(memory) * ENTRY_OVERHEAD <= 200_000
    assert memory.evictions > 0


async def test_hits_with_options_keep_the_index_bounded(make_orchestrator, clock):
    """Thousands of hits with options and key spellings on one key keep its index slots,
    the index and the accounted bytes bounded, and leave other keys' slots in place."""
    fake = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(fake, cache={"max_entries": 10})
    await orch.fetch(QUOTE, "MSFT")
    await orch.fetch(QUOTE, "MSFT")  # indexed for the plain call
    await orch.fetch(QUOTE, "AAPL")
    memory = orch._engine.memory
    spellings = ["AAPL", "aapl", " AAPL", "AAPL ", "Aapl", " aapl "]
    for i in range(3000):
        key = spellings[i % len(spellings)]
        option = ({"deadline": 5.0}, {"allow_stale": False}, {"max_age": 100.0}, {})[i % 4]
        assert (await orch.fetch(QUOTE, key, **option)).cached
    (entry,) = [e for e in memory if e.key[1] == "AAPL"]
    assert memory.signatures(entry) <= MAX_SIGNATURES
    tables = [*memory.index.values(), *memory.plain.values()]
    slots = sum(len(table) for table in tables)
    assert slots <= MAX_SIGNATURES * len(memory)
    assert memory.bytes == sum(e.size for e in memory) <= memory.max_bytes
    assert "MSFT" in memory.plain[QUOTE]
    assert fake.call_count() == 2


async def test_stats_report_the_memory_tier_size(make_orchestrator, clock):
    """stats() gives the memory tier's entries, charged bytes and evictions as they are now."""
    fake = FakeProvider("a", clock=clock, default=lambda r: Quote(r.key, 1.0, "USD"))
    orch = await make_orchestrator(fake, cache={"max_entries": 2})
    for key in ("A", "B", "C"):
        await orch.fetch(QUOTE, key)
    stats, memory = orch.stats(), orch._engine.memory
    assert (stats.memory_entries, stats.memory_evictions) == (2, 1)
    assert stats.memory_bytes == memory.bytes > 0


def test_referenced_entry_gets_a_second_chance():
    """An entry hit through the index survives the next eviction (CLOCK approximation of LRU)."""
    cache = MemoryCache(max_entries=3, max_bytes=10_000)
    first = _entry("K0", 10, result=True)
    cache.put(first)
    cache.put(_entry("K1", 10))
    cache.put(_entry("K2", 10))
    cache.index_put((QUOTE, "K0", None, None, None), first, 1.0)
    slot, _ = cache.plain[QUOTE]["K0"]
    cache.referenced[slot] = 1  # what a hit through the index does
    cache.put(_entry("K3", 10))
    keys = {entry.key[1] for entry in cache}
    assert keys == {"K0", "K2", "K3"}
    assert first.alive
    assert not cache.referenced[slot]


def test_codec_keeps_datetimes_and_dates():
    """Datetime fields keep their time and zone through the codec; dates stay dates."""
    import datetime as dt

    from polysource.cache.codec import roundtrip
    from polysource.datasets import Bar, DailyBars

    stamp = dt.datetime(2024, 3, 1, 15, 59, 59, 500000, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    quote = Quote("AAPL", 1.0, timestamp=stamp)
    assert roundtrip(quote, Quote) == quote
    bars = DailyBars("AAPL", [Bar(dt.date(2024, 3, 1), 1.0, 2.0, 0.5, 1.5)])
    assert roundtrip(bars, DailyBars) == bars


class _Quotes(BaseProvider):
    """A provider that keeps nothing per call, so only the cache holds objects per key."""

    info = ProviderInfo("bench", datasets={"quote"})

    async def fetch(self, request: Request) -> Quote:
        return Quote(request.key, 1.0, "USD")


class _QuotesPlugin:
    plugin_name = "bench"

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(_Quotes)


async def test_an_entry_leaves_two_tracked_objects_whatever_its_request_shapes(clock):
    """An L1 entry indexed for several request shapes (handle, name, region=, tier=) leaves the
    garbage collector two objects to track: its result and the value."""
    config = load_config(environ={})
    orch = Orchestrator(config, plugins=[_QuotesPlugin()], clock=clock, entry_points=False)
    await orch.start()

    async def fill(keys: list[str]) -> None:
        for key in keys:
            for _ in range(2):  # the second round is answered by the index
                await orch.fetch(QUOTE, key)
                await orch.fetch("quote", key)
                await orch.fetch(QUOTE, key, region=config.region)
                await orch.fetch(QUOTE, key, tier="premium")
        await clock.advance(3600)  # the calls' timers fire; expired entries stay stored

    try:
        await fill([f"W{i}" for i in range(50)])  # what the first requests build once
        gc.collect()
        before = len(gc.get_objects())
        count = 2000
        await fill([f"S{i}" for i in range(count)])
        gc.collect()
        tracked = len(gc.get_objects()) - before
        memory = orch._engine.memory
        assert len(memory) == count + 50
        assert orch.stats().cache_hits == 7 * (count + 50)
        assert tracked <= 2 * count + 40
    finally:
        await orch.close()


def test_an_entry_the_cache_did_not_store_is_not_indexed():
    """An entry too big to store is not alive, and indexing it leaves no index slot."""
    cache = MemoryCache(max_entries=10, max_bytes=100)
    big = _entry("K", 1000, result=True)
    assert not cache.put(big)
    cache.index_put((QUOTE, "K", None, None, None), big, 10.0)
    assert not big.alive
    assert not any(cache.plain.values())


def test_entries_read_back_and_clear_gives_back_the_slots():
    """get and peek return the stored fields; a replaced entry's copies are dead; clearing
    every entry leaves no slot, index slot or byte behind."""
    cache = MemoryCache(max_entries=10, max_bytes=10_000)
    first = _entry("A", 10, result=True)
    cache.put(first)
    cache.index_put((QUOTE, "A", "EU", None, None), first, 5.0)
    copy = cache.peek(("quote", "A", "US", None))
    assert copy is not None
    assert copy.alive
    assert (copy.result, copy.size, copy.fresh_until("free")) == (first.result, 10, 1.0)
    assert cache.index[QUOTE][("A", "EU", None, None)][1] == 5.0
    cache.put(_entry("A", 20, result=True))
    assert not copy.alive
    assert not first.alive
    assert not any(cache.index.values())
    cache.put(_entry("B", 30))
    assert cache.clear() == 2
    assert (len(cache), cache.bytes, cache.results, cache.referenced) == (0, 0, [], bytearray())


def test_entries_come_in_recency_order_and_get_makes_one_most_recent():
    """Iteration yields the least recently used entry first; get moves an entry to the end."""
    cache = MemoryCache(max_entries=10, max_bytes=10_000)
    for key in ("A", "B", "C"):
        cache.put(_entry(key, 10))
    cache.get(("quote", "A", "US", None))
    cache.peek(("quote", "B", "US", None))
    assert [entry.key[1] for entry in cache] == ["B", "C", "A"]
    cache.remove(("quote", "C", "US", None))
    cache.put(_entry("D", 10))
    assert [entry.key[1] for entry in cache] == ["B", "A", "D"]
