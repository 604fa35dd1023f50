"""Engines sharing one Redis as a fleet: single-flight, breakers, invalidation, budgets, outages.

Each test runs two orchestrators in this process, each with its own provider double, on the
shared Redis under a prefix of its own (outage tests on a ``redis-server`` of their own). Time
in the engines is a fake clock; what the tests wait for is a message crossing Redis, polled
with a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import polysource_redis
from polysource import AllProvidersFailed, Orchestrator, load_config
from polysource.cache.tiers import encode_record
from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import ACCOUNTS, QUOTE, Account, Accounts, Quote
from polysource.engine.tiers import shared_key
from polysource.errors import ErrorCategory
from polysource.events import EventKind
from polysource.models import BreakerState
from polysource.security import Keyring
from polysource.testing import EventRecorder, FakeClock, FakeProvider
from polysource_redis import RedisFleet, parse_url

PROVIDER = "alpha"
SECRET = Secret.of("fleet-test-secret-0123456789abcdef")
"""The deployment secret every engine of these tests shares."""


async def until(
    condition: Callable[[], bool], what: str | Callable[[], str], seconds: float = 5.0
) -> None:
    """Wait (bounded) for something another engine does through Redis."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def fleet_state(*engines: Engine) -> str:
    """What each engine's fleet did, for a failure message."""
    return "; ".join(
        f"fleet events {[e.detail for e in engine.events.of(EventKind.FLEET)]}, breaker "
        f"events {[e.detail for e in engine.events.of(EventKind.BREAKER)]}, listening "
        f"{engine.fleet.listening}, failures {engine.fleet.failures}, remote changes "
        f"{engine.fleet.remote_changes}"
        for engine in engines
    )


def hold(engine: Engine, key: str, answer: Any) -> asyncio.Event:
    """Make ``engine``'s provider wait for the returned event, then answer ``answer`` for
    ``key`` (raise it, if it is an exception)."""
    gate = asyncio.Event()

    async def held(_request: Any) -> Any:
        await gate.wait()
        if isinstance(answer, Exception):
            raise answer
        return answer

    engine.provider.answer(key, held)
    return gate


async def one_calls_two_waits(
    one: Engine, two: Engine, key: str, answer: Any
) -> tuple[asyncio.Event, asyncio.Task[Any], asyncio.Task[Any]]:
    """``one`` fetches ``key`` (its provider holds ``answer`` until the returned event is set)
    and ``two``, fetching it next, waits on one's lease; returns the event and both fetches."""
    gate = hold(one, key, answer)
    first = asyncio.create_task(one.orch.fetch(QUOTE, key))
    await until(lambda: one.provider.calls, f"one to call its provider for {key}")
    second = asyncio.create_task(two.orch.fetch(QUOTE, key))
    await until(lambda: two.fleet.waiting, f"two to wait on one's lease of {key}")
    return gate, first, second


async def advance(engine: Engine, seconds: float) -> None:
    """Move the engine's fake clock once its fleet has no operation in flight: moving it past
    the timeout of a command Redis is still answering would fail that command."""
    await until(lambda: engine.fleet.pending == 0, "the fleet's background work to finish")
    await engine.clock.advance(seconds)


async def fetch_on_a_hung_server(engine: Engine, key: str) -> Any:
    """Fetch ``key`` while the fleet's server does not answer: a command waits for its socket
    timeout (real time) at most; the engine's own bound is its fake clock's timer, advanced
    here in small steps (bounded: 3 s)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    fetch = asyncio.create_task(engine.orch.fetch(QUOTE, key))
    while not fetch.done() and loop.time() - started < 3:
        await engine.clock.advance(0.05)
        await asyncio.sleep(0.01)
    return await fetch


async def calls_made(engines: tuple[Engine, ...], rounds: int, label: str) -> int:
    """Fetch a new key in each engine, ``rounds`` times over; how many were answered (the rest
    were refused by a limit or budget)."""
    made = 0
    for i in range(rounds):
        for engine in engines:
            with contextlib.suppress(AllProvidersFailed):
                await engine.orch.fetch(QUOTE, f"{label}-{i}-{id(engine)}")
                made += 1
    return made


def cluster_url(cluster: Any, prefix: str) -> str:
    """The fleet URL of the test cluster, under ``prefix``."""
    options = f"prefix={prefix}&socket_timeout=0.5&connect_timeout=0.5"
    return f"redis+cluster://127.0.0.1:{cluster[0].port}?{options}"


async def subscribed(engine: Engine) -> None:
    """Wait (bounded) until the engine's listener has subscribed; a listener that failed (a
    connection slower than the timeout on a busy machine) is retried at once."""
    for _ in range(1000):
        if engine.fleet.listening:
            return
        if not engine.fleet.attached():
            await advance(engine, engine.fleet.cooldown)
        await asyncio.sleep(0.005)
    raise AssertionError("the listener did not subscribe")


def config(
    url: str,
    tiers: list[str] | None = None,
    more: dict[str, Any] | None = None,
    **provider: Any,
) -> Any:
    """The engines' config; ``more`` adds top-level settings (``fleet`` ones merged)."""
    settings = {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 2}, **provider}
    more = dict(more or {})
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "fleet": {"url": url, "cooldown": 5.0, **more.pop("fleet", {})},
            "security": {"secret": SECRET},
            "providers": {PROVIDER: settings},
            "cache": {"tiers": tiers or ["memory://"]},
            **more,
        },
    )


class Engine:
    """One orchestrator of the fleet, with its provider, clock and events."""

    def __init__(
        self,
        url: str,
        tiers: list[str] | None = None,
        more: dict[str, Any] | None = None,
        **provider: Any,
    ) -> None:
        self.clock = FakeClock()
        self.provider = FakeProvider(PROVIDER, datasets=("quote", "accounts"), clock=self.clock)
        self.events = EventRecorder()
        self.orch = Orchestrator(
            config(url, tiers, more, **provider),
            plugins=[self.provider, polysource_redis, self.events],
            clock=self.clock,
            entry_points=False,
            environ={},
        )

    @property
    def fleet(self) -> Any:
        return self.orch._fleet

    def breaker(self) -> BreakerState:
        return self.orch.health()[PROVIDER].breaker


async def open_everywhere(one: Engine, two: Engine) -> None:
    """Two failures in ``one`` open its breaker, and the news opens ``two``'s."""
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN, times=2)
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            await one.orch.fetch(QUOTE, "A")
    await until(
        lambda: two.breaker() is BreakerState.OPEN,
        lambda: f"the breaker to open in two ({fleet_state(one, two)})",
    )


@pytest.fixture
async def fleet_url(shared_url: str, prefix: str, raw: Any) -> str:
    """The fleet URL on the shared Redis under this test's prefix (cleaned up by ``raw``)."""
    return f"{shared_url}?prefix={prefix}"


@pytest.fixture
async def engines(fleet_url: str) -> AsyncIterator[Callable[..., Engine]]:
    """A factory of started engines on the fleet; all are closed at teardown."""
    started: list[Engine] = []

    async def make(
        url: str | None = None,
        *,
        listening: bool = True,
        tiers: list[str] | None = None,
        more: dict[str, Any] | None = None,
        **provider: Any,
    ) -> Engine:
        engine = Engine(url or fleet_url, tiers, more, **provider)
        await engine.orch.start()
        started.append(engine)
        if listening:
            await subscribed(engine)
        return engine

    yield make  # type: ignore[misc]
    for engine in started:
        await engine.orch.close()


async def test_identical_misses_in_two_engines_make_one_provider_call(engines):
    """The first engine takes the lease and calls; the second waits and gets its answer."""
    one, two = await engines(), await engines()
    two.provider.answer("AAPL", Quote("AAPL", 999.0))
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    gate.set()
    a, b = await first, await second

    assert (a.data.price, b.data.price) == (101.0, 101.0)
    assert (len(one.provider.calls), len(two.provider.calls)) == (1, 0)
    assert b.source == PROVIDER and two.orch._engine.fleet_joins == 1
    assert one.orch.stats().fleet["leads"] == 1
    assert two.orch.stats().fleet["joins"] == 1 and two.orch.stats().fleet["attached"] == 1
    assert any(e.detail.get("fleet") for e in two.events.of(EventKind.DEDUPLICATED))
    # The second engine keeps the answer in memory: the next fetch is a hit there.
    assert (await two.orch.fetch(QUOTE, "AAPL")).cached


async def test_when_the_lease_holder_fails_the_waiter_calls_its_own_provider(engines):
    one, two = await engines(), await engines()
    two.provider.answer("MSFT", Quote("MSFT", 300.0))
    gate, first, second = await one_calls_two_waits(one, two, "MSFT", ValueError("garbage"))
    gate.set()

    with pytest.raises(AllProvidersFailed):
        await first
    assert (await second).data.price == 300.0
    assert len(two.provider.calls) == 1


async def test_a_lease_nobody_answers_is_waited_for_a_bounded_time(engines, fleet_url):
    """A holder that never publishes (it died) blocks the others only until its lease ends."""
    two = await engines()
    dead = RedisFleet(parse_url(fleet_url))
    try:
        assert await dead.claim("flight:{quote:global}:-:IBM", "dead-process", 60) == 0
        two.provider.answer("IBM", Quote("IBM", 150.0))
        fetch = asyncio.create_task(two.orch.fetch(QUOTE, "IBM"))
        await until(lambda: two.fleet.waiting, "the engine to wait on the dead lease")
        assert not fetch.done()
        # The wait ends at half the 10 s deadline (before the lease does): then it calls.
        await advance(two, 5.5)
        result = await asyncio.wait_for(fetch, timeout=5)
    finally:
        await dead.close()
    assert result.data.price == 150.0
    assert two.fleet.wait_timeouts == 1
    assert len(two.provider.calls) == 1


LONG_CALLS = {"deadline": 30.0, "fleet": {"lease": 2.0}}
"""Calls may run 30 s, past the 2 s lease: the holder renews it."""


async def test_a_call_longer_than_the_lease_keeps_it_and_the_other_engine_still_waits(
    engines, raw, prefix
):
    """The holder renews its lease every half lease while the call runs, so another engine
    arriving after the first lease would have ended still waits for the answer."""
    one, two = await engines(more=LONG_CALLS), await engines(more=LONG_CALLS)
    name = f"{prefix}:fleet:flight:{shared_key(QUOTE, 'AAPL', 'global', None)}"
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider")
    assert 0 < await raw.pttl(name) <= 2000
    await raw.pexpire(name, 100)  # as if most of the lease had gone by
    await advance(one, 1.0)  # half a lease: the renewal
    await until(lambda: one.fleet.renewals == 1, "one to renew its lease")
    assert await raw.pttl(name) > 1000
    second = asyncio.create_task(two.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: two.fleet.waiting, "two to wait on the renewed lease")
    gate.set()
    assert (await first).data.price == (await second).data.price == 101.0
    assert (len(one.provider.calls), len(two.provider.calls)) == (1, 0)
    await until(lambda: one.fleet.pending == 0, "the lease to be released")
    assert not one.fleet._renewals and await raw.exists(name) == 0
    assert one.orch.stats().fleet["lease_renewals"] == 1
    await advance(one, 1.0)
    assert one.fleet.renewals == 1  # the renewal ended with the call


async def test_a_batch_longer_than_the_lease_renews_its_keys_in_one_round_trip(
    engines, raw, prefix, wire
):
    one = await engines(more=LONG_CALLS)
    names = [f"{prefix}:fleet:flight:{shared_key(QUOTE, k, 'global', None)}" for k in "XY"]
    gates = [hold(one, key, Quote(key, 1.0)) for key in "XY"]
    batch = asyncio.create_task(one.orch.fetch_many(QUOTE, ["X", "Y"]))
    await until(lambda: one.provider.calls, "one to call its provider")
    for name in names:
        await raw.pexpire(name, 100)
    wire.clear()
    await advance(one, 1.0)
    await until(lambda: one.fleet.renewals == 1, "one to renew its leases")
    assert len(wire.writes_with(b"EVALSHA")) == 1
    assert all([await raw.pttl(name) > 1000 for name in names])
    for gate in gates:
        gate.set()
    assert (await batch).summary.successful == 2
    await until(lambda: one.fleet.pending == 0, "the leases to be released")
    assert not one.fleet._renewals


async def test_a_lease_lost_while_the_call_runs_is_not_taken_back(engines, raw, prefix):
    """A renewal only extends a lease its holder still has: one that expired (and another
    process took) stays the other's."""
    one = await engines(more=LONG_CALLS)
    name = f"{prefix}:fleet:flight:{shared_key(QUOTE, 'AAPL', 'global', None)}"
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider")
    await raw.set(name, "another-process", px=60_000)
    await advance(one, 1.0)
    await until(lambda: one.fleet.renewals == 1, "one to try its renewal")
    assert await raw.get(name) == b"another-process"
    await advance(one, 1.0)
    assert one.fleet.renewals == 1  # nothing left to renew
    gate.set()
    await first
    await until(lambda: one.fleet.pending == 0, "the release")
    assert await raw.get(name) == b"another-process"  # released only if still ours


async def test_the_scripts_are_loaded_when_the_listener_subscribes(engines, redis_servers, wire):
    """A new (or restarted) server knows none of the fleet's scripts: they are loaded as the
    listener subscribes, so the first lease is one round trip, not a NOSCRIPT and a retry."""
    import redis.asyncio

    server = redis_servers()
    one = await engines(f"{server.url}?prefix=scripts")
    backend = one.fleet.backend
    shas = [
        script.sha
        for script in (backend._claim, backend._claim_many, backend._renew_many, backend._incr)
    ]
    raw = redis.asyncio.Redis.from_url(server.url)
    try:
        assert await raw.script_exists(*shas) == [True] * len(shas)
        wire.clear()
        await one.orch.fetch(QUOTE, "AAPL")
        await until(lambda: one.fleet.pending == 0, "the lease to be released")
        assert len(wire.commands(b"EVALSHA")) == 2  # the lease and its release
        assert not wire.commands(b"SCRIPT")
        await one.orch.fetch(QUOTE, "MSFT")  # in the memory tier
        memory = one.orch._engine.memory
        server.restart()  # forgets them; redis-py subscribes again by itself
        for _ in range(1000):
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if await raw.script_exists(*shas) == [True] * len(shas):
                    break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the scripts were not loaded again")
        # The reconnection counts as a rejoin: invalidations published meanwhile were lost.
        await until(
            lambda: memory.peek(("quote", "MSFT", "global", None)) is None,
            "the memory tier to be dropped",
        )
    finally:
        await raw.aclose()


async def test_a_call_within_the_lease_does_not_renew_it(engines):
    """With the default 10 s deadline and 10 s lease, a call cannot outlast its lease."""
    one = await engines()
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider")
    assert not one.fleet._renewals
    gate.set()
    await first


async def test_failures_seen_by_two_engines_open_the_breaker_in_both(engines):
    """Threshold 2: one failure in each engine opens both breakers (neither saw two)."""
    one, two = await engines(), await engines()
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN)
    two.provider.fail("B", ErrorCategory.PROVIDER_DOWN)
    with pytest.raises(AllProvidersFailed):
        await one.orch.fetch(QUOTE, "A")
    assert one.breaker() is BreakerState.CLOSED
    with pytest.raises(AllProvidersFailed):
        await two.orch.fetch(QUOTE, "B")

    assert two.breaker() is BreakerState.OPEN
    await until(lambda: one.breaker() is BreakerState.OPEN, "the open breaker to reach one")
    with pytest.raises(AllProvidersFailed) as skipped:
        await one.orch.fetch(QUOTE, "C")
    assert skipped.value.errors[0].category is ErrorCategory.CIRCUIT_OPEN
    assert len(one.provider.calls) == 1  # the open breaker sent nothing more


async def test_a_healthy_call_makes_no_breaker_round_trip(engines, wire):
    one = await engines()
    await one.orch.fetch(QUOTE, "WARM")  # lease and release: single-flight's round trips
    wire.clear()
    one.orch.config.fleet.single_flight = False
    one.fleet.single_flight = False
    await one.orch.fetch(QUOTE, "HEALTHY")
    assert wire.commands() == []


async def test_one_engine_runs_the_half_open_trial_and_its_success_closes_both(engines):
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    for engine in (one, two):
        await advance(engine, 31)  # past the recovery timeout: both half-open
    assert one.breaker() is two.breaker() is BreakerState.HALF_OPEN

    assert (await one.orch.fetch(QUOTE, "TRIAL-1", skip_cache=True)).source == PROVIDER
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the close to reach two")
    assert (await two.orch.fetch(QUOTE, "AFTER")).source == PROVIDER


async def test_a_half_open_trial_taken_elsewhere_is_skipped(engines):
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    for engine in (one, two):
        await advance(engine, 31)
    gate = hold(one, "T1", Quote("T1", 1.0))
    trial = asyncio.create_task(one.orch.fetch(QUOTE, "T1"))
    await until(lambda: one.provider.calls[-1:] == [("quote", "T1")], "the trial call")

    with pytest.raises(AllProvidersFailed) as skipped:
        await two.orch.fetch(QUOTE, "T2")
    assert skipped.value.errors[0].category is ErrorCategory.CIRCUIT_OPEN
    assert "elsewhere" in skipped.value.errors[0].message
    assert ("quote", "T2") not in two.provider.calls
    gate.set()
    await trial
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the close to reach two")


async def test_a_manual_reset_closes_the_breaker_fleet_wide(engines):
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    one.orch.reset_breaker(PROVIDER)
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the reset to reach two")


async def test_invalidation_reaches_the_memory_of_every_engine(engines):
    one, two = await engines(), await engines()
    for key in ("AAPL", "AMZN", "MSFT"):
        await two.orch.fetch(QUOTE, key)
    memory = two.orch._engine.memory

    def held(key: str) -> bool:
        return memory.peek(("quote", key, "global", None)) is not None

    await one.orch.invalidate(QUOTE, ["AAPL"])
    await until(lambda: not held("AAPL"), "the key invalidation")
    assert held("AMZN") and held("MSFT")
    await one.orch.invalidate(QUOTE, pattern="AM*")
    await until(lambda: not held("AMZN"), "the pattern invalidation")
    assert held("MSFT")
    await one.orch.invalidate(QUOTE)
    await until(lambda: not held("MSFT"), "the dataset invalidation")


async def test_invalidating_one_tenants_private_data_spares_the_others(engines):
    one, two = await engines(), await engines()
    two.provider.answer(
        "all", lambda r: Accounts((Account(f"acc-{r.tenant}", "Checking", "depository", "USD"),))
    )
    for tenant in ("alice", "bob"):
        await two.orch.connections.save(Connection(tenant, PROVIDER, "link"))
        await two.orch.fetch(ACCOUNTS, "all", tenant=tenant)
    memory = two.orch._engine.memory

    def held(tenant: str) -> bool:
        return memory.peek(("accounts", "all", "global", tenant)) is not None

    await one.orch.invalidate(ACCOUNTS, ["all"], tenant="alice")
    await until(lambda: not held("alice"), "alice's invalidation")
    assert held("bob")


async def test_a_cost_budget_holds_across_engines(engines):
    """A budget of 0.05 a day at 0.01 a call: five calls in all, whichever engine makes them."""
    settings = {"cost_per_call": 0.01, "budget": {"limit": 0.05, "period": "day"}}
    one, two = await engines(**settings), await engines(**settings)
    made, refused = 0, []
    for i in range(5):
        for engine in (one, two):
            try:
                await engine.orch.fetch(QUOTE, f"K{i}-{id(engine)}")
                made += 1
            except AllProvidersFailed as failed:
                refused.append(failed.errors[0].category)
    assert made == 5
    assert refused == [ErrorCategory.BUDGET_EXHAUSTED] * 5
    assert len(one.provider.calls) + len(two.provider.calls) == 5


async def test_a_fleet_down_at_start_leaves_every_engine_local(engines, redis_servers):
    server = redis_servers()
    url = f"{server.url}?prefix=down"
    server.stop()
    one = await engines(url, listening=False)
    await until(lambda: one.fleet.failures > 0, "the listener to fail")

    assert (await one.orch.fetch(QUOTE, "AAPL")).source == PROVIDER
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN, times=2)
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            await one.orch.fetch(QUOTE, "A")
    assert one.breaker() is BreakerState.OPEN  # the local breaker stands in
    states = [e.detail["state"] for e in one.events.of(EventKind.FLEET)]
    assert states[0] == "detached"

    server.start()
    await advance(one, 6)  # the cool-down ends: the listener reconnects
    await subscribed(one)
    one.orch.reset_breaker(PROVIDER)
    assert (await one.orch.fetch(QUOTE, "BACK")).source == PROVIDER
    assert one.fleet.attached()


@pytest.mark.parametrize("outage", ["stop", "pause"])
async def test_a_fleet_lost_mid_load_costs_one_bounded_wait(engines, redis_servers, outage):
    server = redis_servers()
    one = await engines(f"{server.url}?prefix=mid")
    await one.orch.fetch(QUOTE, "WARM")
    if outage == "stop":
        server.stop()
    else:
        server.pause()
    try:
        assert (await fetch_on_a_hung_server(one, "DURING")).source == PROVIDER
        assert not one.fleet.attached()
        assert (await one.orch.fetch(QUOTE, "AFTER")).source == PROVIDER  # no wait: detached
    finally:
        if outage == "pause":
            server.resume()
    assert "detached" in [e.detail["state"] for e in one.events.of(EventKind.FLEET)]

    if outage == "stop":
        server.start()
    # The cool-down ends: the listener reconnects and commands go through again. A command
    # caught by the restart (a pooled connection to the old server) may detach the fleet once
    # more, for one more cool-down; it must be attached within a few.
    for attempt in range(3):
        await advance(one, 6)
        await subscribed(one)
        leads = one.fleet.leads
        assert (await one.orch.fetch(QUOTE, f"BACK{attempt}")).source == PROVIDER
        if one.fleet.attached() and one.fleet.leads == leads + 1:  # leased in Redis again
            break
    else:
        raise AssertionError(f"the fleet did not re-attach: {fleet_state(one)}")
    assert [e.detail["state"] for e in one.events.of(EventKind.FLEET)][-1] in {
        "attached",
        "listening",
    }


def test_the_fleet_names_a_limits_storage_for_its_servers():
    plain = RedisFleet(parse_url("redis://h:7000/2"))
    secret = RedisFleet(parse_url("rediss://user:p%40ss@h/0"))
    cluster = RedisFleet(parse_url("redis+cluster://a:1,b:2"))
    assert plain.rate_limit_storage() == ("async+redis://h:7000/2", "ps:limits")
    assert secret.rate_limit_storage() == ("async+rediss://user:p%40ss@h:6379/0", "ps:limits")
    assert cluster.rate_limit_storage() == ("async+redis+cluster://a:1,b:2", "ps:limits")
    assert RedisFleet(parse_url("rediss+cluster://a:1")).rate_limit_storage() is None
    own_ca = RedisFleet(parse_url("rediss://h/0?ssl_ca_certs=/etc/my%20ca.pem"))
    assert own_ca.rate_limit_storage() == (
        "async+rediss://h:6379/0?ssl_ca_certs=/etc/my%20ca.pem",
        "ps:limits",
    )
    assert "p@ss" not in repr(secret) and "p%40ss" not in repr(secret)


async def test_a_rate_limit_holds_across_engines_through_the_fleet_url(engines):
    """With only ``[fleet] url`` set, rate limits are shared through the same Redis."""
    one = await engines(rate_limits=["3/minute"])
    two = await engines(rate_limits=["3/minute"])
    assert await calls_made((one, two), 3, "R") == 3


async def test_a_fleet_on_a_redis_cluster_shares_single_flight_and_breakers(
    engines, cluster, prefix
):
    """On a three-node cluster: the lease, the published answer and the open breaker."""
    url = cluster_url(cluster, prefix)
    one, two = await engines(url), await engines(url)
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    gate.set()
    assert (await first).data.price == (await second).data.price == 101.0
    assert two.provider.calls == []
    batch = await two.orch.fetch_many(QUOTE, ["X1", "X2", "X3"])  # leases of one slot: one script
    assert batch.summary.successful == 3 and two.fleet.leads == 3

    await open_everywhere(one, two)
    one.orch.reset_breaker(PROVIDER)
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the reset to reach two")


async def test_deleting_names_of_many_slots_on_a_cluster_is_one_write_per_node(
    cluster, prefix, wire
):
    """On a cluster, ``delete`` of names in many hash slots sends one ``UNLINK`` per slot, all
    of a node's in one write, instead of a round trip per name."""
    fleet = RedisFleet(parse_url(cluster_url(cluster, prefix)))
    try:
        names = [f"counter-{i}" for i in range(30)]
        for name in names:
            await fleet.incr(name, 60)
        wire.clear()

        await fleet.delete(names)

        unlinked = [key for command in wire.commands(b"UNLINK") for key in command[1:]]
        assert sorted(unlinked) == sorted(f"{prefix}:fleet:{name}".encode() for name in names)
        assert len(wire.writes_with(b"UNLINK")) <= len(cluster)
        assert [await fleet.ttl(name) for name in names] == [0] * len(names)
    finally:
        await fleet.close()


async def test_rate_limits_and_budgets_hold_across_engines_on_a_redis_cluster(
    engines, cluster, prefix
):
    """On a three-node cluster, the fleet's limits storage holds 3 a minute and a budget of
    four calls a day across both engines."""
    url = cluster_url(cluster, prefix)
    limited = {"rate_limits": ["3/minute"]}
    budgeted = {"cost_per_call": 0.25, "budget": {"limit": 1.0, "period": "day"}}
    for settings, allowed in ((limited, 3), (budgeted, 4)):
        one, two = await engines(url, **settings), await engines(url, **settings)
        one.fleet.single_flight = two.fleet.single_flight = False
        assert await calls_made((one, two), 4, str(allowed)) == allowed
        assert one.orch._slots[PROVIDER].shared_guard.attached()


async def test_shared_rate_limit_and_budget_cost_well_under_a_round_trip_a_call(engines, wire):
    """Permits and cost are leased in blocks: 200 calls make a handful of round trips."""
    one = await engines(
        rate_limits=["20000/minute"],  # blocks of 200 permits: one renewal in 200 calls
        cost_per_call=0.01,
        budget={"limit": 1000.0, "period": "day"},
    )
    one.fleet.single_flight = False  # only the limit and the budget talk to Redis here
    await one.orch.fetch(QUOTE, "WARM")
    wire.clear()
    for i in range(200):
        assert (await one.orch.fetch(QUOTE, f"K{i}")).source == PROVIDER
    assert 1 <= len(wire.writes) <= 4, wire.writes


async def test_an_engine_that_starts_while_a_breaker_is_open_opens_it_too(engines):
    """A process that was not listening when the breaker opened reads it at subscription, and
    half-opens when the time the fleet's record has left (at most the recovery timeout) ends."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    late = await engines()
    await until(lambda: late.breaker() is BreakerState.OPEN, "the late engine to open")
    await advance(late, 29)
    assert late.breaker() is BreakerState.OPEN
    await advance(late, 1.1)  # the 30 s recovery, counted from when one opened it
    assert late.breaker() is BreakerState.HALF_OPEN


async def test_garbage_on_the_fleet_channel_is_ignored(engines, raw, prefix):
    """Messages that are not the fleet's (or are cut short), even signed, change nothing and
    break nothing."""
    one, two = await engines(), await engines()
    sign = Keyring(SECRET.reveal()).sign
    for junk in (b"", b"\xff\xfe", b"not json\n", b'{"t": "b"}\n', b'{"o": "x", "t": "d"}\n'):
        await raw.publish(f"{prefix}:fleet", sign(junk))
    sent = two.fleet.clock.time()
    opened = f'{{"o": "x", "t": "b", "p": "alpha", "s": "open", "w": {sent}}}\n'.encode()
    await raw.publish(f"{prefix}:fleet", sign(opened))
    await until(lambda: two.breaker() is BreakerState.OPEN, "a well-formed message to apply")
    assert two.fleet.listening and two.fleet.attached()
    one.orch.reset_breaker(PROVIDER)  # a close from a real engine still goes through
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the close to reach two")


async def test_the_process_holding_the_trial_runs_every_trial_it_needs(engines):
    """With two successes to close, the engine that took the trial lease runs the second
    trial too (the lease is its own), and its close reaches the other engine."""
    breaker = {"failure_threshold": 2, "success_threshold": 2}
    one, two = await engines(breaker=breaker), await engines(breaker=breaker)
    await open_everywhere(one, two)
    for engine in (one, two):
        await advance(engine, 31)
    first = await one.orch.fetch(QUOTE, "TRIAL-1", skip_cache=True)
    assert first.source == PROVIDER
    assert one.breaker() is BreakerState.HALF_OPEN
    second = await one.orch.fetch(QUOTE, "TRIAL-2", skip_cache=True)
    assert second.source == PROVIDER
    assert one.breaker() is BreakerState.CLOSED
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the close to reach two")
    assert [key for _, key in one.provider.calls[-2:]] == ["TRIAL-1", "TRIAL-2"]


async def test_a_trial_without_a_verdict_gives_the_fleets_trial_back(engines):
    """A half-open trial answered 'not found' says nothing of the provider's health: the
    lease is released, so the other engine's trial runs at once instead of being skipped."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    for engine in (one, two):
        await advance(engine, 31)
    one.provider.fail("GONE", ErrorCategory.NOT_FOUND)
    with pytest.raises(AllProvidersFailed) as missing:
        await one.orch.fetch(QUOTE, "GONE")
    assert missing.value.errors[0].category is ErrorCategory.NOT_FOUND
    await until(lambda: one.fleet.pending == 0, "the lease to be released")

    assert (await two.orch.fetch(QUOTE, "T2")).source == PROVIDER
    assert ("quote", "T2") in two.provider.calls
    await until(lambda: one.breaker() is BreakerState.CLOSED, "the close to reach one")


async def test_renewing_the_limit_and_the_budget_together_is_one_round_trip(engines, monkeypatch):
    """A small limit and a small budget both renew on every call: the two renewals are sent
    together, so the call waits for one round trip, not two (nor four)."""
    from redis.asyncio.connection import AbstractConnection

    one = await engines(
        rate_limits=["50/minute"],  # one permit a lease
        cost_per_call=0.01,
        budget={"limit": 1.0, "period": "day"},  # one call's cost a lease
    )
    one.fleet.single_flight = False
    await one.orch.fetch(QUOTE, "WARM")
    trace: list[str] = []
    send, read = AbstractConnection.send_packed_command, AbstractConnection.read_response

    async def traced_send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        trace.append("send")
        return await send(self, *args, **kwargs)

    async def traced_read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = await read(self, *args, **kwargs)
        trace.append("read")
        return outcome

    monkeypatch.setattr(AbstractConnection, "send_packed_command", traced_send)
    monkeypatch.setattr(AbstractConnection, "read_response", traced_read)
    for key in ("K1", "K2"):
        trace.clear()
        assert (await one.orch.fetch(QUOTE, key)).source == PROVIDER
        assert trace == ["send", "send", "read", "read"], trace


async def test_shared_limits_on_a_paused_redis_wait_once_then_go_local(engines, redis_servers):
    """Redis frozen mid-load: the first call waits out the fleet timeout once and detaches the
    fleet; the calls after it use the local limit and budget without touching Redis."""
    server = redis_servers()
    one = await engines(
        f"{server.url}?prefix=limits",
        rate_limits=["50/minute"],
        cost_per_call=0.01,
        budget={"limit": 1.0, "period": "day"},
    )
    one.fleet.single_flight = False
    assert (await one.orch.fetch(QUOTE, "WARM")).source == PROVIDER
    slot = one.orch._slots[PROVIDER]
    server.pause()
    try:
        assert (await fetch_on_a_hung_server(one, "DURING")).source == PROVIDER
        assert not one.fleet.attached()
        states = [e.detail["state"] for e in one.events.of(EventKind.FLEET)]
        assert "detached" in states
        for i in range(3):
            after = asyncio.create_task(one.orch.fetch(QUOTE, f"AFTER{i}"))
            await asyncio.sleep(0.05)  # no clock movement: only a call that waits on Redis hangs
            assert after.done()
            assert after.result().source == PROVIDER
        assert slot.limiter.fallbacks == slot.budget.fallbacks == 4
    finally:
        server.resume()


async def test_limits_a_tls_cluster_fleet_cannot_hold_are_a_config_error():
    """``limits`` names no TLS cluster storage: a provider's limits would silently stay per
    process, so starting says so (and names the way out)."""
    from polysource.errors import ConfigError

    engine = Engine("rediss+cluster://127.0.0.1:1?prefix=x", rate_limits=["5/minute"])
    with pytest.raises(ConfigError, match="rate_limit_storage") as error:
        await engine.orch.start()
    assert error.value.path == "fleet.url"
    assert PROVIDER in str(error.value)
    await engine.orch.close()


async def test_an_invalidation_made_while_detached_is_published_when_the_fleet_is_back(engines):
    """An engine whose fleet is detached keeps its invalidation and publishes it once a fleet
    operation succeeds again, so the other engine's memory drops the key after all."""
    one, two = await engines(), await engines()
    await two.orch.fetch(QUOTE, "AAPL")
    memory = two.orch._engine.memory
    one.fleet.fail(ConnectionError("simulated"))  # only one's fleet is away
    await one.orch.invalidate(QUOTE, ["AAPL"])
    await asyncio.sleep(0.05)
    assert memory.peek(("quote", "AAPL", "global", None)) is not None  # nothing was sent

    await advance(one, 5.0)  # the cool-down ends; the next fleet operation re-attaches
    await one.orch.fetch(QUOTE, "OTHER")
    await until(
        lambda: memory.peek(("quote", "AAPL", "global", None)) is None,
        "the kept invalidation to reach two",
    )


async def test_an_engine_whose_listener_was_lost_drops_its_memory_when_it_subscribes_again(
    engines, redis_servers
):
    """Messages sent while an engine was not listening never arrive: when it subscribes
    again it drops its memory tier rather than serve entries the fleet invalidated."""
    server = redis_servers()
    url = f"{server.url}?prefix=rejoin"
    one = await engines(url)
    await one.orch.fetch(QUOTE, "AAPL")
    memory = one.orch._engine.memory
    assert memory.peek(("quote", "AAPL", "global", None)) is not None
    server.stop()
    await until(lambda: not one.fleet.listening, "the listener to notice", seconds=10)
    assert memory.peek(("quote", "AAPL", "global", None)) is not None
    server.start()
    await advance(one, 6.0)  # the listener's reconnect delay
    await subscribed(one)
    assert memory.peek(("quote", "AAPL", "global", None)) is None


async def test_fetch_many_joins_the_fleet_for_keys_another_engine_is_fetching(engines, wire):
    """A key another engine is fetching is waited for, not fetched again; the batch leases
    its other keys in one round trip, and a single fetch elsewhere joins one of those."""
    one, two = await engines(), await engines()
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider for AAPL")
    held = hold(two, "MSFT", Quote("MSFT", 7.0))
    wire.clear()
    batch = asyncio.create_task(two.orch.fetch_many(QUOTE, ["AAPL", "MSFT", "GOOG"]))
    await until(lambda: two.fleet.waiting, "two to wait on one's lease of AAPL")
    assert len(wire.writes_with(b"EVALSHA")) == 1, [
        [c[:3] for c in w] for w in wire.writes_with(b"EVALSHA")
    ]  # the batch's leases: one script
    single = asyncio.create_task(one.orch.fetch(QUOTE, "MSFT"))
    await until(lambda: one.fleet.waiting, "one to wait on two's lease of MSFT")

    gate.set()
    await until(lambda: not two.fleet.waiting, "AAPL's answer to reach two")
    held.set()
    result = await batch
    assert result.results["AAPL"].data.price == 101.0
    assert result.results["AAPL"].deduplicated
    assert result.results["MSFT"].data.price == 7.0
    assert (await single).data.price == 7.0
    assert (await first).data.price == 101.0
    assert ("quote", "AAPL") not in two.provider.calls
    assert ("quote", "MSFT") not in one.provider.calls
    assert one.fleet.joins == 1 and two.fleet.joins == 1


async def test_overlapping_batches_in_two_engines_fetch_each_key_once(engines):
    """Two engines fetch overlapping batches at once: each key has one provider call in the
    fleet, and neither batch waits on the other beyond the other's own calls."""
    one, two = await engines(), await engines()
    gates = [hold(one, key, Quote(key, 1.0)) for key in ("A", "B")]
    gates += [hold(two, key, Quote(key, 2.0)) for key in ("B", "C")]
    first = asyncio.create_task(one.orch.fetch_many(QUOTE, ["A", "B"]))
    await until(lambda: len(one.provider.calls) == 2, "one to call for A and B")
    second = asyncio.create_task(two.orch.fetch_many(QUOTE, ["B", "C"]))
    await until(lambda: two.provider.calls and two.fleet.waiting, "two to call C and wait on B")
    for gate in gates:
        gate.set()
    ones, twos = await first, await second
    assert ones.summary.successful == twos.summary.successful == 2
    assert twos.results["B"].data.price == 1.0  # one's answer, not a call of two's own
    calls = sorted(key for engine in (one, two) for _, key in engine.provider.calls)
    assert calls == ["A", "B", "C"]
    assert one.fleet.wait_timeouts == two.fleet.wait_timeouts == 0


async def test_a_waiter_whose_answer_message_is_lost_reads_the_holders_cache_write(
    engines, shared_url, prefix, raw
):
    """The holder's answer message never reaches the waiting engine: when its wait ends, it
    reads the shared tier the holder wrote before asking its own provider, and is answered."""
    tiers = ["memory://", f"{shared_url}?prefix={prefix}-cache"]
    one, two = await engines(tiers=tiers), await engines(tiers=tiers)
    two.fleet._done = lambda key, record: None  # the DONE message is lost on the way to two
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 42.0))
    gate.set()
    assert (await first).data.price == 42.0
    written = f"{prefix}-cache:{shared_key(QUOTE, 'AAPL', 'global', None)}"

    async def in_redis() -> bool:
        return bool(await raw.exists(written))

    for _ in range(300):  # bounded wait for one's background write
        if await in_redis():
            break
        await asyncio.sleep(0.01)
    assert await in_redis()
    while not second.done():  # two's wait ends on its fake clock
        await advance(two, 1.0)
        await asyncio.sleep(0.005)
    answer = await second
    assert answer.data.price == 42.0 and answer.source == PROVIDER
    assert two.provider.calls == []
    assert two.fleet.wait_timeouts == 1


# -- tenant isolation and signed messages ------------------------------------------------------


def _accounts(tenant: str) -> Accounts:
    return Accounts((Account(f"acc-{tenant}", "Checking", "depository", "USD"),))


@pytest.mark.parametrize("many", [False, True], ids=["fetch", "fetch_many"])
async def test_a_tenant_whose_pseudonym_collides_never_takes_anothers_fleet_answer(
    engines, monkeypatch, many
):
    """Two tenants with the same short pseudonym share a lease, but the waiting one rejects
    the holder's answer (another tenant's digest) and asks its own provider."""
    monkeypatch.setattr(Keyring, "pseudonym", lambda self, tenant: "h:000000000000")
    one, two = await engines(), await engines()
    await one.orch.connections.save(Connection("alice", PROVIDER, "link"))
    await two.orch.connections.save(Connection("bob", PROVIDER, "link"))
    gate = hold(one, "all", _accounts("alice"))
    two.provider.answer("all", _accounts("bob"))
    first = asyncio.create_task(one.orch.fetch(ACCOUNTS, "all", tenant="alice"))
    await until(lambda: one.provider.calls, "alice's call")
    if many:
        second = asyncio.create_task(two.orch.fetch_many(ACCOUNTS, ["all"], tenant="bob"))
    else:
        second = asyncio.create_task(two.orch.fetch(ACCOUNTS, "all", tenant="bob"))
    await until(lambda: two.fleet.waiting, "bob to wait on the lease his pseudonym shares")
    gate.set()
    assert (await first).data == _accounts("alice")
    answer = await second
    got = answer.results["all"].data if many else answer.data
    assert got == _accounts("bob")
    assert len(two.provider.calls) + len(two.provider.batch_calls) == 1
    assert two.events.of(EventKind.TENANT_MISMATCH)


async def test_a_forged_answer_on_the_channel_is_dropped(engines, raw, prefix):
    """An unsigned answer published for a key a process waits on is rejected; the holder's
    signed answer is the one taken."""
    one, two = await engines(), await engines()
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    forged = encode_record(Quote("AAPL", 666.0), PROVIDER, two.clock.time())
    key = shared_key(QUOTE, "AAPL", "global", None)
    header = b'{"o": "forger", "t": "d", "k": "' + key.encode() + b'", "ok": 1}\n'
    await raw.publish(f"{prefix}:fleet", header + forged)
    await raw.publish(f"{prefix}:fleet", b"\0" * 32 + header + forged)  # a wrong signature
    await until(lambda: two.fleet.stats()["rejected_messages"] == 2, "the forgeries to arrive")
    assert not second.done() and two.fleet.waiting == 1
    gate.set()
    assert (await first).data.price == (await second).data.price == 101.0
    rejected = [e for e in two.events.of(EventKind.FLEET) if e.detail.get("state") == "rejected"]
    assert len(rejected) == 2


async def test_a_forged_breaker_message_opens_nothing(engines, raw, prefix):
    """An unsigned breaker-open message is dropped: no process opens its breaker."""
    one, two = await engines(), await engines()
    forged = b'{"o": "forger", "t": "b", "p": "alpha", "s": "open"}\n'
    await raw.publish(f"{prefix}:fleet", forged)
    await one.orch.invalidate(QUOTE, ["AAPL"])  # a signed message after it, to know it arrived
    await until(lambda: two.fleet.invalidations == 1, "the invalidation after the forgery")
    assert two.breaker() is BreakerState.CLOSED and two.fleet.remote_changes == 0
    assert two.fleet.stats()["rejected_messages"] == 1


# -- a process joins its own flights -----------------------------------------------------------


async def test_a_fetch_joins_the_batch_of_its_own_process_that_holds_the_key(engines):
    """A fetch of a key the same process's fetch_many is fetching (and holds the fleet's lease
    of) joins that batch: one provider call, answered when the batch's answer arrives."""
    one = await engines()
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    batch = asyncio.create_task(one.orch.fetch_many(QUOTE, ["AAPL", "MSFT"]))
    await until(lambda: one.provider.call_count("AAPL"), "the batch's call")
    single = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    again = asyncio.create_task(one.orch.fetch_many(QUOTE, ["AAPL"]))
    await one.clock.settle()
    assert not single.done() and not again.done() and one.fleet.waiting == 0
    gate.set()
    await until(lambda: single.done() and again.done(), "the joiners to get the batch's answer")
    assert (await single).data.price == 101.0 and (await single).deduplicated
    assert (await again).results["AAPL"].data.price == 101.0
    assert (await batch).results["AAPL"].data.price == 101.0
    assert one.provider.call_count("AAPL") == 1
    assert one.fleet.wait_timeouts == 0
