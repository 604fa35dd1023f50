"""Shared cache tiers: lookup order, fills, write-through, fetch_many, degradation."""

from __future__ import annotations

import asyncio

import pytest

from polysource.cache.tiers import decode_record, encode_record
from polysource.config import Secret
from polysource.datasets import QUOTE, Accounts, Quote
from polysource.engine.tiers import shared_key
from polysource.errors import AllProvidersFailed, ConfigError
from polysource.testing import FakeCacheBackend, FakeCacheBackends, FakeProvider

SECURITY = {"secret": Secret.of("test-deployment-secret-0123456789abcdef")}
"""A ``[security]`` section with a deployment secret (shared tiers holding private data)."""


@pytest.fixture
def fakes():
    return FakeCacheBackends()


async def _tiered(make_orchestrator, fakes, *providers, tiers=("memory://", "fake://l2"), **kw):
    cache = {"tiers": list(tiers), **kw.pop("cache", {})}
    return await make_orchestrator(*providers, fakes, cache=cache, **kw)


async def test_answer_is_written_to_l2_and_l2_answers_after_l1_is_gone(
    make_orchestrator, clock, fakes
):
    """A provider answer reaches L2; with L1 cleared, L2 answers and fills L1 again."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake)
    await orch.fetch(QUOTE, "AAPL")
    await clock.settle()
    l2 = fakes.backends["l2"]
    assert shared_key(QUOTE, "AAPL", "global", None) in l2.data
    orch.clear_cache()
    from_l2 = await orch.fetch(QUOTE, "AAPL")
    assert from_l2.cached and from_l2.tier == "l2" and fake.call_count() == 1
    assert (await orch.fetch(QUOTE, "AAPL")).tier == "memory"
    assert orch.stats().hits_by_tier == {"memory": 1, "l2": 1}


async def test_a_lower_tier_hit_fills_the_tiers_above(make_orchestrator, clock, fakes):
    """A hit in L3 writes the value to L2 (and L1)."""
    orch = await _tiered(
        make_orchestrator,
        fakes,
        FakeProvider("a", clock=clock),
        tiers=("memory://", "fake://l2", "fake://l3"),
    )
    key = shared_key(QUOTE, "MSFT", "global", None)
    fakes.backends["l3"].data[key] = encode_record(Quote("MSFT", 4.0), "a", clock.time())
    result = await orch.fetch(QUOTE, "MSFT")
    await clock.settle()
    assert result.tier == "l3" and result.data.price == 4.0
    assert key in fakes.backends["l2"].data


async def test_fetch_many_reads_each_tier_once(make_orchestrator, clock, fakes):
    """50 keys all in L2: one get_many call, no provider call."""
    fake = FakeProvider("a", clock=clock, max_batch_size=100)
    orch = await _tiered(make_orchestrator, fakes, fake)
    l2 = fakes.backends["l2"]
    for i in range(50):
        l2.data[shared_key(QUOTE, f"K{i}", "global", None)] = encode_record(
            Quote(f"K{i}", float(i)), "a", clock.time()
        )
    batch = await orch.fetch_many(QUOTE, [f"K{i}" for i in range(50)])
    assert batch.summary.cached == 50 and fake.call_count() == 0
    assert l2.count("get_many") == 1


async def test_a_dead_tier_is_skipped_and_reattached(make_orchestrator, clock, fakes, events):
    """A failing tier never fails a request; it is detached, skipped, then tried again."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(
        make_orchestrator,
        fakes,
        fake,
        cache={
            "tiers": ["fake://l2"],
            "tier_cooldown": 5.0,
        },
    )
    l2 = fakes.backends["l2"]
    l2.failing = True
    assert (await orch.fetch(QUOTE, "A")).source == "a"
    calls = len(l2.calls)
    assert (await orch.fetch(QUOTE, "B")).source == "a"
    assert len(l2.calls) == calls  # detached: not even asked
    assert [e.detail["state"] for e in events.of("tier")] == ["detached"]
    l2.failing = False
    await clock.advance(5.0)
    await orch.fetch(QUOTE, "C")
    await clock.settle()
    assert len(l2.calls) > calls
    assert [e.detail["state"] for e in events.of("tier")] == ["detached", "attached"]


async def test_a_hung_tier_costs_at_most_the_tier_timeout(make_orchestrator, clock, fakes):
    """A tier that never answers is abandoned after tier_timeout; the provider answers."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(
        make_orchestrator,
        fakes,
        fake,
        cache={
            "tiers": ["fake://l2"],
            "tier_timeout": 0.2,
        },
    )
    fakes.backends["l2"].hanging = True
    result = await clock.run(orch.fetch(QUOTE, "AAPL"))
    assert result.source == "a"
    assert clock.monotonic() - 1000 == pytest.approx(0.2, abs=1e-6)


async def test_garbage_in_a_tier_is_a_miss(make_orchestrator, clock, fakes):
    """An undecodable record is a miss: the provider answers and the record is replaced."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake, cache={"tiers": ["fake://l2"]})
    key = shared_key(QUOTE, "AAPL", "global", None)
    fakes.backends["l2"].data[key] = b"\x00not a record"
    assert (await orch.fetch(QUOTE, "AAPL")).source == "a"
    await clock.settle()
    assert fakes.backends["l2"].data[key].startswith(b"{")


async def test_stale_record_in_l2_serves_when_providers_fail(make_orchestrator, clock, fakes):
    """A record past its TTL but inside the stale window is served stale-if-error."""
    fake = FakeProvider("a", clock=clock).fail_always("*", "provider_down")
    orch = await _tiered(
        make_orchestrator,
        fakes,
        fake,
        cache={"tiers": ["fake://l2"]},
        datasets={"quote": {"ttl": {"free": 10}, "stale": 100}},
        providers={"a": {"retry": {"attempts": 1}}},
    )
    key = shared_key(QUOTE, "AAPL", "global", None)
    fakes.backends["l2"].data[key] = encode_record(Quote("AAPL", 9.0), "a", clock.time() - 50)
    result = await orch.fetch(QUOTE, "AAPL")
    assert result.stale and result.data.price == 9.0 and result.age == pytest.approx(50)


async def test_private_keys_carry_a_tenant_hash_and_invalidate_reaches_tiers(
    make_orchestrator, clock, fakes
):
    """Shared keys of private data hold a hash of the tenant; invalidate clears every tier."""
    from polysource.connections import Connection

    bank = FakeProvider("bank", datasets={"accounts"}, clock=clock).answer("all", Accounts(()))
    orch = await _tiered(make_orchestrator, fakes, bank, security=SECURITY)
    await orch.connections.save(Connection("tenant-alice", "bank", "l"))
    await orch.fetch("accounts", "all", tenant="tenant-alice")
    await clock.settle()
    keys = list(fakes.backends["l2"].data)
    assert keys and all("tenant-alice" not in key for key in keys)
    await orch.invalidate("accounts", ["all"], tenant="tenant-alice")
    assert fakes.backends["l2"].data == {}


async def test_unknown_tier_scheme_is_a_config_error(make_orchestrator):
    """A tier URL no plugin claims names the known schemes."""
    with pytest.raises(ConfigError, match=r"nope://.*memory"):
        await make_orchestrator(FakeProvider("a"), cache={"tiers": ["memory://", "nope://x"]})


async def test_all_failing_with_no_stale_raises(make_orchestrator, clock, fakes):
    """No tier holds the key and every provider fails: AllProvidersFailed as usual."""
    fake = FakeProvider("a", clock=clock).fail_always("*", "not_found")
    orch = await _tiered(make_orchestrator, fakes, fake)
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "NOPE")


async def test_invalidating_a_dataset_clears_it_from_every_tier(make_orchestrator, clock, fakes):
    """invalidate(dataset) drops the dataset's keys from L1 and L2, not other datasets'."""
    from polysource.datasets import FUNDAMENTALS

    fake = FakeProvider("a", datasets={"quote", "fundamentals"}, clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake)
    await orch.fetch(QUOTE, "AAPL")
    await orch.fetch(FUNDAMENTALS, "AAPL")
    await clock.settle()
    l2 = fakes.backends["l2"]
    assert len(l2.data) == 2
    await orch.invalidate(QUOTE)
    assert list(l2.data) == [shared_key(FUNDAMENTALS, "AAPL", "global", None)]
    assert not (await orch.fetch(QUOTE, "AAPL")).cached
    assert (await orch.fetch(FUNDAMENTALS, "AAPL")).cached


class _TimedBackend(FakeCacheBackend):
    """A fake tier with a single-key ``get`` that bounds its own reads (as Redis does)."""

    self_timed = True

    def __init__(self, name: str, clock) -> None:
        super().__init__(name)
        self.clock = clock
        self.read_delay = 0.0

    async def get(self, key: str) -> bytes | None:
        await self._enter("get", 1)
        if self.read_delay:
            await self.clock.sleep(self.read_delay)
            raise TimeoutError("read timed out")  # the backend's own bound
        return self.data.get(key)


async def test_a_backend_with_get_reads_one_key_with_it(make_orchestrator, clock, fakes):
    """A single fetch uses the backend's ``get``; ``fetch_many`` still uses one ``get_many``."""
    l2 = fakes.backends["l2"] = _TimedBackend("l2", clock)
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake, tiers=("fake://l2",))
    for key in ("A", "B"):
        l2.data[shared_key(QUOTE, key, "global", None)] = encode_record(
            Quote(key, 2.0), "a", clock.time() - 3
        )
    result = await orch.fetch(QUOTE, "A")
    batch = await orch.fetch_many(QUOTE, ["A", "B"])
    assert (result.tier, result.cached, result.data, result.source) == (
        "l2",
        True,
        Quote("A", 2.0),
        "a",
    )
    assert result.age == pytest.approx(3)
    assert batch.summary.cached == 2 and batch.results["B"].tier == "l2"
    assert (l2.count("get"), l2.count("get_many"), fake.call_count()) == (1, 1, 0)


async def test_a_self_timed_tier_bounds_its_own_reads_and_a_failure_detaches_it(
    make_orchestrator, clock, fakes, events
):
    """Reads of a self-timed tier end when the backend says; a failure detaches it for a while."""
    l2 = fakes.backends["l2"] = _TimedBackend("l2", clock)
    l2.read_delay = 0.3
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(
        make_orchestrator, fakes, fake, cache={"tiers": ["fake://l2"], "tier_timeout": 0.2}
    )
    result = await clock.run(orch.fetch(QUOTE, "AAPL"))
    assert result.source == "a"
    assert clock.monotonic() - 1000 == pytest.approx(0.3, abs=1e-6)  # not cut at 0.2
    assert [(e.detail["state"], e.detail["error"]) for e in events.of("tier")] == [
        ("detached", "TimeoutError")
    ]
    await orch.fetch(QUOTE, "MSFT")
    assert l2.count("get") == 1  # detached: not asked again during the cool-down
    l2.read_delay = 0.0
    await clock.advance(5.0)
    await orch.fetch(QUOTE, "GOOG")
    assert l2.count("get") == 2
    assert [e.detail["state"] for e in events.of("tier")] == ["detached", "attached"]


async def test_fetch_many_serves_stale_l2_records_without_l1(make_orchestrator, clock, fakes):
    """With L2 only, keys whose records are stale are served stale when providers fail."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10).fail_always("*", "provider_down")
    orch = await _tiered(
        make_orchestrator,
        fakes,
        fake,
        cache={"tiers": ["fake://l2"]},
        datasets={"quote": {"ttl": {"free": 10}, "stale": 100}},
        providers={"a": {"retry": {"attempts": 1}}},
    )
    l2 = fakes.backends["l2"]
    for key, age in (("OLD", 50), ("NEW", 1), ("GONE", 500)):
        l2.data[shared_key(QUOTE, key, "global", None)] = encode_record(
            Quote(key, 1.0), "a", clock.time() - age
        )
    batch = await orch.fetch_many(QUOTE, ["OLD", "NEW", "GONE"])
    assert batch.results["NEW"].cached and not batch.results["NEW"].stale
    assert batch.results["OLD"].stale and batch.results["OLD"].data == Quote("OLD", 1.0)
    assert list(batch.errors) == ["GONE"]


async def test_fetch_many_asks_each_lower_tier_only_for_what_the_upper_ones_lacked(
    make_orchestrator, clock, fakes
):
    """L2 answers what it holds; L3 is asked once for the rest, an undecodable L2 record too."""
    fake = FakeProvider("a", clock=clock, max_batch_size=10)
    orch = await _tiered(make_orchestrator, fakes, fake, tiers=("fake://l2", "fake://l3"))
    l2, l3 = fakes.backends["l2"], fakes.backends["l3"]

    def put(backend, key):
        backend.data[shared_key(QUOTE, key, "global", None)] = encode_record(
            Quote(key, 1.0), "a", clock.time()
        )

    put(l2, "A")
    put(l3, "B")
    put(l3, "C")
    l2.data[shared_key(QUOTE, "C", "global", None)] = b"not a record"
    batch = await orch.fetch_many(QUOTE, ["A", "B", "C", "D"])
    assert {key: r.tier for key, r in batch.results.items()} == {
        "A": "l2",
        "B": "l3",
        "C": "l3",
        "D": None,
    }
    assert l2.calls == [("get_many", 4)] and l3.calls[0] == ("get_many", 3)
    assert fake.call_count() == 1 and orch.stats().hits_by_tier == {"l2": 1, "l3": 2}


async def test_an_invalidation_a_detached_tier_missed_runs_before_it_is_read_again(
    make_orchestrator, clock, fakes
):
    """L2 is away when a key is invalidated: the deletion is kept, and when L2 is back it runs
    before L2 is read, so the invalidated value never comes back from it."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(
        make_orchestrator, fakes, fake, tiers=("fake://l2",), cache={"tier_cooldown": 5.0}
    )
    fake.answer("AAPL", Quote("AAPL", 1.0))
    await orch.fetch(QUOTE, "AAPL")
    await clock.settle()
    l2 = fakes.backends["l2"]
    key = shared_key(QUOTE, "AAPL", "global", None)
    assert key in l2.data
    l2.failing = True
    await orch.invalidate(QUOTE, ["AAPL"])
    await orch.invalidate(QUOTE, pattern="MS*")
    l2.failing = False
    assert key in l2.data  # the deletion did not reach it
    await clock.advance(5.0)
    fake.answer("AAPL", Quote("AAPL", 2.0))
    again = await orch.fetch(QUOTE, "AAPL")
    assert again.data.price == 2.0 and not again.cached
    assert l2.count("delete") == 2  # tried (it failed and detached L2), then run on return
    assert l2.count("delete_pattern") == 1  # kept while detached, run on return


async def test_many_missed_invalidations_widen_to_the_whole_dataset(
    make_orchestrator, clock, fakes
):
    """Past the bound, the kept deletions of a detached tier become one per dataset."""
    from polysource.engine.tiers import MAX_PENDING

    orch = await _tiered(
        make_orchestrator, fakes, FakeProvider("a", clock=clock), tiers=("fake://l2",)
    )
    l2 = fakes.backends["l2"]
    l2.failing = True
    for i in range(MAX_PENDING + 1):
        await orch.invalidate(QUOTE, [f"K{i}"])
    assert orch._engine.tiers.tiers[0].pending == [(True, "{quote:*")]


async def test_a_pattern_with_a_character_class_is_refused_before_any_tier(
    make_orchestrator, clock, fakes
):
    """Every tier matches *, ? and escapes alike; a [...] class would not be: it is refused."""
    from polysource.errors import InvalidRequest

    orch = await _tiered(make_orchestrator, fakes, FakeProvider("a", clock=clock))
    with pytest.raises(InvalidRequest, match="character class"):
        await orch.invalidate(QUOTE, pattern="A[AB]*")
    assert fakes.backends["l2"].count("delete_pattern") == 0
    await orch.invalidate(QUOTE, pattern="A\\[*")  # an escaped bracket is a literal
    assert fakes.backends["l2"].count("delete_pattern") == 1


def _bad_price_record(price, stamp):
    """A quote record whose ``price`` holds ``price`` (any JSON value), stamped ``stamp``."""
    import orjson

    record = orjson.loads(encode_record(Quote("AAPL", 1.0, "USD"), "old", stamp))
    record["d"]["price"] = price
    return orjson.dumps(record)


@pytest.mark.parametrize("price", ["190.5", {"value": 190.5}, [190.5], True])
@pytest.mark.parametrize("many", [False, True], ids=["fetch", "fetch_many"])
async def test_a_record_with_a_wrong_value_type_is_a_miss_and_is_replaced(
    make_orchestrator, clock, fakes, events, price, many
):
    """A shared record whose price is a string, object, list or bool is not served: the
    provider answers, its answer replaces the record, and a tier event names the field."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake)
    key = shared_key(QUOTE, "AAPL", "global", None)
    l2 = fakes.backends["l2"]
    l2.data[key] = _bad_price_record(price, clock.time())
    if many:
        result = (await orch.fetch_many(QUOTE, ["AAPL"])).results["AAPL"]
    else:
        result = await orch.fetch(QUOTE, "AAPL")
    await clock.settle()
    assert result.source == "a" and not result.cached
    assert type(result.data.price) is float and fake.call_count() == 1
    replaced = decode_record(l2.data[key], Quote)
    assert replaced is not None and replaced.value == result.data
    (event,) = [e for e in events.of("tier") if e.detail.get("state") == "rejected"]
    assert event.dataset == "quote" and event.detail["tier"] == "l2"
    assert "$.price" in event.detail["reason"] and "190" not in event.detail["reason"]


@pytest.mark.parametrize("many", [False, True], ids=["fetch", "fetch_many"])
async def test_a_record_stamped_in_the_future_is_a_miss(
    make_orchestrator, clock, fakes, events, many
):
    """A record stamped an hour ahead is not fresh for an hour: it is a miss, the provider
    answers and its answer replaces it; a stamp within the clock skew counts as now."""
    fake = FakeProvider("a", clock=clock)
    orch = await _tiered(make_orchestrator, fakes, fake, datasets={"quote": {"ttl": {"free": 30}}})
    l2 = fakes.backends["l2"]
    ahead = shared_key(QUOTE, "AAPL", "global", None)
    skewed = shared_key(QUOTE, "MSFT", "global", None)
    l2.data[ahead] = encode_record(Quote("AAPL", 1.0), "old", clock.time() + 3600)
    l2.data[skewed] = encode_record(Quote("MSFT", 2.0), "old", clock.time() + 0.5)

    async def get(key):
        if many:
            return (await orch.fetch_many(QUOTE, [key])).results[key]
        return await orch.fetch(QUOTE, key)

    result = await get("AAPL")
    await clock.settle()
    assert result.source == "a" and fake.call_count() == 1
    record = decode_record(l2.data[ahead], Quote)
    assert record is not None and record.source == "a" and record.fetched_at <= clock.time()
    (event,) = [e for e in events.of("tier") if e.detail.get("state") == "rejected"]
    assert event.detail["reason"] == "stamped in the future"
    assert (await get("MSFT")).source == "old"
    await clock.advance(31)
    orch.clear_cache()
    assert (await get("MSFT")).source == "a"


class _QuickTier:
    """A healthy tier whose every reply arrives after one millisecond (on the event loop)."""

    name = "quick"

    def __init__(self, self_timed: bool, timeout: float) -> None:
        self.self_timed = self_timed
        self.timeout = timeout

    async def get_many(self, keys):
        if self.self_timed:  # bounds itself, as the Redis tier's socket timeouts do
            async with asyncio.timeout(self.timeout):
                await asyncio.sleep(0.001)
        else:
            await asyncio.sleep(0.001)
        return [None] * len(keys)

    async def close(self):
        pass


@pytest.mark.parametrize("self_timed", [False, True], ids=["timed", "self-timed"])
async def test_a_healthy_tier_stays_attached_when_the_event_loop_lags(self_timed):
    """A callback that blocks the event loop past the tier timeout makes the read a miss, but
    the tier is not detached: its timer ran late, the tier answered in time."""
    import time

    from polysource.clock import SystemClock
    from polysource.engine.singleflight import TaskSet
    from polysource.engine.telemetry import Emitter
    from polysource.engine.tiers import TierChain

    clock = SystemClock()
    chain = TierChain(
        [_QuickTier(self_timed, 0.02)], clock, Emitter((), clock), TaskSet(), timeout=0.02
    )
    loop = asyncio.get_running_loop()
    loop.call_soon(time.sleep, 0.1)  # the loop does nothing else for five tier timeouts
    assert await chain.get_many(["k"], QUOTE) == ([None], [""])
    tier = chain.tiers[0]
    assert tier.attached() and tier.failures == 0 and tier.lagged == 1
    assert await chain.get_many(["k"], QUOTE) == ([None], [""])  # still read, not skipped
    assert tier.lagged == 1


class _BusyTier:
    """A tier whose every operation finds its connection pool in use."""

    name = "busy"

    async def get_many(self, keys):
        from polysource.cache.tiers import TierBusy

        raise TierBusy("no connection came free")

    async def close(self):
        pass


async def test_a_busy_tier_is_a_miss_and_stays_attached():
    """TierBusy from a backend (a full connection pool) is a miss that leaves the tier
    attached, with no failure counted."""
    from polysource.clock import SystemClock
    from polysource.engine.singleflight import TaskSet
    from polysource.engine.telemetry import Emitter
    from polysource.engine.tiers import TierChain

    clock = SystemClock()
    chain = TierChain([_BusyTier()], clock, Emitter((), clock), TaskSet(), timeout=0.02)
    assert await chain.get_many(["k"], QUOTE) == ([None], [""])
    tier = chain.tiers[0]
    assert tier.attached() and tier.failures == 0 and tier.lagged == 1
