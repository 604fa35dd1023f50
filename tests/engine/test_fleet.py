"""The fleet's logic on the fake fleet backend: orchestrators of one test share one fake server.

Every orchestrator here is a "process" of the fleet: its own engine, memory tier, breakers and
listener, on the same :class:`FakeFleetServer` and the same fake clock. Messages cross the
server through the event loop, so a test lets the loop run (``until``), never real time; the
Redis backend's own tests run the same scenarios on a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from polysource.config import Secret
from polysource.datasets import QUOTE, Quote
from polysource.engine.fleet import FleetBackend
from polysource.engine.tiers import shared_key
from polysource.errors import AllProvidersFailed, ErrorCategory
from polysource.events import EventKind
from polysource.models import BreakerState
from polysource.orchestrator import Orchestrator
from polysource.security import Keyring
from polysource.testing import (
    FakeCacheBackends,
    FakeFleetBackend,
    FakeFleetBackends,
    FakeFleetServer,
    FakeProvider,
)

PROVIDER = "alpha"
SECRET = Secret.of("fleet-test-secret-0123456789abcdef")
LONG_CALLS = {"deadline": 30.0, "fleet": {"lease": 2.0}}
"""Calls may run 30 s, past the 2 s lease: the holder renews it."""


@attrs.define
class Engine:
    """One orchestrator of the fleet (a process), with its provider and fleet connection."""

    orch: Orchestrator
    provider: FakeProvider
    backend: FakeFleetBackend

    @property
    def fleet(self) -> Any:
        return self.orch._fleet

    def breaker(self) -> BreakerState:
        return self.orch.health()[PROVIDER].breaker


async def until(condition: Callable[[], object], what: str, rounds: int = 200) -> None:
    """Let the event loop run (no time passes) until ``condition`` holds."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def fakes() -> FakeFleetBackends:
    return FakeFleetBackends()


@pytest.fixture
def engines(make_orchestrator, clock, fakes):
    """A factory of started orchestrators on the fake fleet ``fake://f``, listening."""

    async def make(
        *plugins: object,
        tiers: list[str] | None = None,
        more: dict[str, Any] | None = None,
        listening: bool = True,
        **provider: Any,
    ) -> Engine:
        fake = FakeProvider(PROVIDER, clock=clock)
        settings = {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 2}, **provider}
        more = dict(more or {})
        orch = await make_orchestrator(
            fake,
            fakes,
            *plugins,
            telemetry={"log": False},
            fleet={"url": "fake://f", **more.pop("fleet", {})},
            security={"secret": SECRET},
            providers={PROVIDER: settings},
            cache={"tiers": tiers or ["memory://"]},
            **more,
        )
        engine = Engine(orch, fake, fakes.backends[-1])
        if listening:
            await until(lambda: engine.fleet.listening, "the listener to subscribe")
        return engine

    return make


def hold(engine: Engine, key: str, answer: Any) -> asyncio.Event:
    """Make ``engine``'s provider wait for the returned event, then answer ``answer`` (raise
    it, if it is an exception)."""
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
    """``one`` fetches ``key`` (its provider holds ``answer`` until the event is set) and
    ``two``, fetching it next, waits on one's lease."""
    gate = hold(one, key, answer)
    first = asyncio.create_task(one.orch.fetch(QUOTE, key))
    await until(lambda: one.provider.calls, f"one to call its provider for {key}")
    second = asyncio.create_task(two.orch.fetch(QUOTE, key))
    await until(lambda: two.fleet.waiting, f"two to wait on one's lease of {key}")
    return gate, first, second


async def open_everywhere(one: Engine, two: Engine) -> None:
    """Two failures in ``one`` open its breaker, and the news opens ``two``'s."""
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN, times=2)
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            await one.orch.fetch(QUOTE, "A")
    await until(lambda: two.breaker() is BreakerState.OPEN, "the breaker to open in two")


def flight(key: str) -> str:
    """The fleet's lease name of a public quote's single-flight."""
    return f"flight:{shared_key(QUOTE, key, 'global', None)}"


# -- the kit's plugin -----------------------------------------------------------------------


async def test_every_orchestrator_gets_a_backend_of_its_own_on_one_server(engines, fakes, clock):
    """Two orchestrators on ``fake://f`` share one server (on the test's clock), each with a
    connection of its own that implements the fleet backend protocol."""
    one, two = await engines(), await engines()
    server = fakes.servers["f"]
    assert isinstance(server, FakeFleetServer) and server.clock is clock
    assert one.backend is not two.backend and one.backend.server is two.backend.server is server
    assert isinstance(one.backend, FleetBackend)
    assert one.fleet.backend is one.backend and server.listeners == 2


# -- single-flight --------------------------------------------------------------------------


async def test_identical_misses_in_two_orchestrators_make_one_provider_call(engines):
    """The first orchestrator takes the lease and calls; the second waits and gets its answer."""
    one, two = await engines(), await engines()
    two.provider.answer("AAPL", Quote("AAPL", 999.0))
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    gate.set()
    a, b = await first, await second

    assert (a.data.price, b.data.price) == (101.0, 101.0)
    assert (len(one.provider.calls), len(two.provider.calls)) == (1, 0)
    assert one.orch.stats().fleet["leads"] == 1 and two.orch.stats().fleet["joins"] == 1
    assert (await two.orch.fetch(QUOTE, "AAPL")).cached  # kept in two's memory
    await until(lambda: one.fleet.pending == 0, "the release")
    assert one.backend.server.get(flight("AAPL")) is None


async def test_when_the_lease_holder_fails_the_waiter_calls_its_own_provider(engines):
    """A holder whose call fails publishes that it failed; the waiter calls at once."""
    one, two = await engines(), await engines()
    two.provider.answer("MSFT", Quote("MSFT", 300.0))
    gate, first, second = await one_calls_two_waits(one, two, "MSFT", ValueError("garbage"))
    gate.set()

    with pytest.raises(AllProvidersFailed):
        await first
    assert (await second).data.price == 300.0
    assert len(two.provider.calls) == 1 and two.fleet.wait_timeouts == 0


async def test_a_lease_that_expires_lets_the_waiter_call(engines, clock):
    """A holder that died (its lease never released) blocks the others only until the lease
    ends, then the waiter calls its own provider."""
    two = await engines()
    two.backend.server.set(flight("IBM"), "dead-process:0", 2.0)
    two.provider.answer("IBM", Quote("IBM", 150.0))
    fetch = asyncio.create_task(two.orch.fetch(QUOTE, "IBM"))
    await until(lambda: two.fleet.waiting, "the wait on the dead lease")
    await clock.advance(1.9)
    assert not fetch.done() and not two.provider.calls
    await clock.advance(0.1)

    assert (await fetch).data.price == 150.0
    assert two.fleet.wait_timeouts == 1 and len(two.provider.calls) == 1
    assert two.backend.server.get(flight("IBM")) is None
    three = await engines()
    assert (await three.orch.fetch(QUOTE, "IBM")).source == PROVIDER
    assert three.fleet.leads == 1 and three.fleet.wait_timeouts == 0  # the lease was free


async def test_a_lease_nobody_answers_is_waited_for_half_the_deadline_at_most(engines, clock):
    """A lease longer than the request's deadline is waited on for half the deadline only."""
    two = await engines()
    two.backend.server.set(flight("IBM"), "dead-process:0", 60.0)
    fetch = asyncio.create_task(two.orch.fetch(QUOTE, "IBM"))
    await until(lambda: two.fleet.waiting, "the wait on the dead lease")
    await clock.advance(5.0)  # half the default 10 s deadline

    assert (await fetch).source == PROVIDER
    assert two.fleet.wait_timeouts == 1


async def test_a_call_longer_than_the_lease_keeps_it_and_the_other_still_waits(engines, clock):
    """The holder renews its lease every half lease, so a process arriving after the first
    lease would have ended still waits for the answer."""
    one, two = await engines(more=LONG_CALLS), await engines(more=LONG_CALLS)
    server = one.backend.server
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider")
    assert server.ttl(flight("AAPL")) == 2.0
    await clock.advance(1.0)  # half a lease: the renewal
    await until(lambda: one.fleet.renewals == 1, "the renewal")
    assert server.ttl(flight("AAPL")) == 2.0
    await clock.advance(1.5)  # past the first lease's end
    assert server.ttl(flight("AAPL")) > 0 and one.fleet.renewals == 2
    second = asyncio.create_task(two.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: two.fleet.waiting, "two to wait on the renewed lease")
    gate.set()

    assert (await first).data.price == (await second).data.price == 101.0
    assert (len(one.provider.calls), len(two.provider.calls)) == (1, 0)
    await until(lambda: one.fleet.pending == 0, "the release")
    assert server.get(flight("AAPL")) is None and not one.fleet._renewals


async def test_a_lease_lost_while_the_call_runs_is_not_taken_back(engines, clock):
    """A renewal and a release touch only a lease the holder still has."""
    one = await engines(more=LONG_CALLS)
    server = one.backend.server
    gate = hold(one, "AAPL", Quote("AAPL", 101.0))
    first = asyncio.create_task(one.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: one.provider.calls, "one to call its provider")
    server.set(flight("AAPL"), "another-process:0", 60.0)
    await clock.advance(1.0)
    await until(lambda: one.fleet.renewals == 1, "the renewal attempt")
    await clock.advance(1.0)
    assert one.fleet.renewals == 1  # nothing left to renew
    gate.set()
    await first
    await until(lambda: one.fleet.pending == 0, "the release")
    assert server.get(flight("AAPL")) == "another-process:0"


async def test_overlapping_batches_in_two_orchestrators_fetch_each_key_once(engines):
    """Two overlapping fetch_many batches at once: each key has one provider call in the fleet."""
    one, two = await engines(), await engines()
    gates = [hold(one, key, Quote(key, 1.0)) for key in ("A", "B")]
    gates += [hold(two, key, Quote(key, 2.0)) for key in ("B", "C")]
    first = asyncio.create_task(one.orch.fetch_many(QUOTE, ["A", "B"]))
    await until(lambda: len(one.provider.calls) == 2, "one to call for A and B")
    second = asyncio.create_task(two.orch.fetch_many(QUOTE, ["B", "C"]))
    await until(lambda: two.provider.calls and two.fleet.waiting, "two to call C, wait on B")
    for gate in gates:
        gate.set()
    ones, twos = await first, await second

    assert ones.summary.successful == twos.summary.successful == 2
    assert twos.results["B"].data.price == 1.0  # one's answer
    calls = sorted(key for engine in (one, two) for _, key in engine.provider.calls)
    assert calls == ["A", "B", "C"]
    assert one.backend.count("claim_many") == two.backend.count("claim_many") == 1


async def test_a_waiter_whose_answer_message_is_lost_reads_the_holders_cache_write(engines, clock):
    """The answer never reaches the waiter: when its wait ends it reads the shared tier the
    holder wrote, instead of calling its provider."""
    tiers = FakeCacheBackends()
    urls = ["memory://", "fake://l2"]
    one, two = await engines(tiers, tiers=urls), await engines(tiers, tiers=urls)
    two.backend.dropping = True
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 42.0))
    gate.set()
    assert (await first).data.price == 42.0
    await until(lambda: tiers.backends["l2"].data, "one's cache write")
    await clock.advance(5.0)

    answer = await second
    assert answer.data.price == 42.0 and two.provider.calls == []
    assert two.fleet.wait_timeouts == 1


# -- breakers -------------------------------------------------------------------------------


async def test_failures_seen_by_two_orchestrators_open_the_breaker_in_both(engines):
    """Threshold 2: one failure in each orchestrator opens both breakers (neither saw two)."""
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
    assert len(one.provider.calls) == 1


async def test_the_fleets_failure_count_expires_after_the_window(engines, clock):
    """Failures further apart than ``failure_window`` do not add up across the fleet."""
    more = {"fleet": {"failure_window": 10.0}}
    one, two = await engines(more=more), await engines(more=more)
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN)
    two.provider.fail("B", ErrorCategory.PROVIDER_DOWN)
    with pytest.raises(AllProvidersFailed):
        await one.orch.fetch(QUOTE, "A")
    await clock.advance(10.0)
    with pytest.raises(AllProvidersFailed):
        await two.orch.fetch(QUOTE, "B")

    assert one.backend.server.get(f"breaker:{PROVIDER}:failures") == 1
    assert one.breaker() is two.breaker() is BreakerState.CLOSED


async def test_one_half_open_trial_runs_in_the_fleet_and_its_success_closes_both(engines, clock):
    """Both half-open; the one that takes the trial lease calls, the other skips, and the
    trial's success closes the breaker in both."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    await clock.advance(31)  # past the recovery timeout: both half-open
    assert one.breaker() is two.breaker() is BreakerState.HALF_OPEN
    gate = hold(one, "T1", Quote("T1", 1.0))
    trial = asyncio.create_task(one.orch.fetch(QUOTE, "T1"))
    await until(lambda: one.provider.calls[-1:] == [("quote", "T1")], "the trial call")

    with pytest.raises(AllProvidersFailed) as skipped:
        await two.orch.fetch(QUOTE, "T2")
    assert skipped.value.errors[0].category is ErrorCategory.CIRCUIT_OPEN
    assert "elsewhere" in skipped.value.errors[0].message
    assert two.provider.calls == []
    gate.set()
    await trial
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the close to reach two")
    assert (await two.orch.fetch(QUOTE, "AFTER")).source == PROVIDER


async def test_a_trial_without_a_verdict_gives_the_fleets_trial_back(engines, clock):
    """A trial answered 'not found' releases the trial lease, so another process's trial runs."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    await clock.advance(31)
    one.provider.fail("GONE", ErrorCategory.NOT_FOUND)
    with pytest.raises(AllProvidersFailed):
        await one.orch.fetch(QUOTE, "GONE")
    await until(lambda: one.fleet.pending == 0, "the trial lease's release")

    assert (await two.orch.fetch(QUOTE, "T2")).source == PROVIDER
    await until(lambda: one.breaker() is BreakerState.CLOSED, "the close to reach one")


async def test_a_manual_reset_closes_the_breaker_fleet_wide(engines):
    """``reset_breaker`` in one process closes the breaker in every process."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    one.orch.reset_breaker(PROVIDER)
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the reset to reach two")


async def test_an_orchestrator_that_starts_while_a_breaker_is_open_opens_it_too(engines, clock):
    """A late process reads the open breaker when it subscribes and half-opens when the time
    the fleet's record has left ends."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    await clock.advance(10)
    late = await engines()
    await until(lambda: late.breaker() is BreakerState.OPEN, "the late one to open")
    await clock.advance(19.9)
    assert late.breaker() is BreakerState.OPEN
    await clock.advance(0.2)  # 30 s recovery, counted from when one opened it
    assert late.breaker() is BreakerState.HALF_OPEN


async def test_a_healthy_call_makes_no_breaker_round_trip(engines, clock):
    """Without single-flight, a successful call touches the fleet not at all."""
    one = await engines(more={"fleet": {"single_flight": False}})
    await clock.settle()
    calls = len(one.backend.calls)
    assert (await one.orch.fetch(QUOTE, "HEALTHY")).source == PROVIDER
    await clock.settle()
    assert one.backend.calls[calls:] == []


# -- invalidation ---------------------------------------------------------------------------


async def test_invalidation_reaches_the_memory_of_every_orchestrator(engines):
    """Keys, patterns and whole datasets invalidated in one process leave the other's memory."""
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


async def test_an_invalidation_made_while_detached_is_published_when_the_fleet_is_back(
    engines, clock
):
    """A process cut off from the fleet keeps its invalidation and publishes it once the fleet
    answers again."""
    one, two = await engines(), await engines()
    await two.orch.fetch(QUOTE, "AAPL")
    one.backend.failing = True
    await until(lambda: not one.fleet.attached(), "one to detach")
    await one.orch.invalidate(QUOTE, ["AAPL"])
    await clock.settle()
    assert (await two.orch.fetch(QUOTE, "AAPL")).cached

    one.backend.failing = False
    await clock.advance(5.0)  # the cool-down ends; the listener subscribes again
    await until(lambda: two.fleet.invalidations == 1, "the kept invalidation to reach two")
    assert not (await two.orch.fetch(QUOTE, "AAPL")).cached


async def test_a_listener_that_was_cut_drops_the_memory_tier_when_it_subscribes_again(
    engines, clock
):
    """Messages sent while a process was not listening never arrive: when it subscribes again
    it drops its memory tier rather than serve entries the fleet invalidated."""
    one, two = await engines(), await engines()
    await one.orch.fetch(QUOTE, "AAPL")
    one.backend.disconnect()
    await until(lambda: not one.fleet.listening, "the listener to notice")
    await two.orch.invalidate(QUOTE, ["AAPL"])  # lost on its way to one
    await clock.advance(5.0)  # the listener's reconnect delay
    await until(lambda: one.fleet.listening, "the listener to subscribe again")

    assert not (await one.orch.fetch(QUOTE, "AAPL")).cached
    assert one.fleet.invalidations == 0


# -- outages --------------------------------------------------------------------------------


async def test_a_fleet_down_at_start_leaves_every_orchestrator_local(engines, fakes, clock):
    """With the server down, a process runs on local breakers; when it is back, it rejoins."""
    server = FakeFleetServer("f", clock)
    fakes.servers["f"] = server
    server.failing = True
    one = await engines(listening=False)
    await until(lambda: one.fleet.failures, "the listener to fail")

    assert (await one.orch.fetch(QUOTE, "AAPL")).source == PROVIDER
    one.provider.fail("A", ErrorCategory.PROVIDER_DOWN, times=2)
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            await one.orch.fetch(QUOTE, "A")
    assert one.breaker() is BreakerState.OPEN  # the local breaker stands in
    assert server.names() == []

    server.failing = False
    await clock.advance(5.0)
    await until(lambda: one.fleet.listening, "the listener to subscribe")
    one.orch.reset_breaker(PROVIDER)
    assert (await one.orch.fetch(QUOTE, "BACK")).source == PROVIDER
    assert one.fleet.attached()


async def test_a_hung_fleet_costs_one_bounded_wait_then_runs_local(engines, clock, events):
    """A fleet that stops answering mid-load: the first request waits out the fleet timeout
    once, the fleet is detached, and the requests after it never touch it."""
    one = await engines()
    await one.orch.fetch(QUOTE, "WARM")
    one.backend.server.hanging = True
    during = asyncio.create_task(one.orch.fetch(QUOTE, "DURING"))
    await clock.settle()
    assert not during.done()
    await clock.advance(0.25)  # the fleet timeout

    assert (await during).source == PROVIDER
    assert not one.fleet.attached()
    assert "detached" in [e.detail["state"] for e in events.of(EventKind.FLEET)]
    calls = len(one.backend.calls)
    assert (await one.orch.fetch(QUOTE, "AFTER")).source == PROVIDER
    assert one.backend.calls[calls:] == []
    one.backend.server.hanging = False


# -- signed messages ------------------------------------------------------------------------


async def test_a_forged_answer_on_the_channel_is_dropped(engines, events):
    """An unsigned (or wrongly signed) answer for a key a process waits on is rejected; the
    holder's signed answer is the one taken."""
    from polysource.cache.tiers import encode_record

    one, two = await engines(), await engines()
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    forged = encode_record(Quote("AAPL", 666.0), PROVIDER, 0.0)
    key = shared_key(QUOTE, "AAPL", "global", None)
    header = b'{"o": "forger", "t": "d", "k": "' + key.encode() + b'", "ok": 1}\n'
    server = two.backend.server
    server.publish(header + forged)
    server.publish(b"\0" * 32 + header + forged)
    await until(lambda: two.fleet.stats()["rejected_messages"] == 2, "the forgeries to arrive")
    assert not second.done() and two.fleet.waiting == 1
    gate.set()

    assert (await first).data.price == (await second).data.price == 101.0
    rejected = [e for e in events.of(EventKind.FLEET) if e.detail.get("state") == "rejected"]
    assert len(rejected) == 4  # two forgeries, each dropped by both processes


async def test_a_forged_breaker_message_opens_nothing(engines, clock):
    """An unsigned breaker-open message is dropped, while a signed one would apply."""
    one, two = await engines(), await engines()
    opened = b'{"o": "forger", "t": "b", "p": "alpha", "s": "open"}\n'
    server = two.backend.server
    server.publish(opened)
    await one.orch.invalidate(QUOTE, ["AAPL"])  # a signed message after it
    await until(lambda: two.fleet.invalidations == 1, "the invalidation after the forgery")
    assert two.breaker() is BreakerState.CLOSED and two.fleet.remote_changes == 0
    assert two.fleet.stats()["rejected_messages"] == 1

    signed = opened.replace(b"}", f', "w": {clock.time()}}}'.encode())
    server.publish(Keyring.from_secret(SECRET).sign(signed))
    await until(lambda: two.breaker() is BreakerState.OPEN, "the signed message to apply")


async def test_a_replayed_answer_is_dropped_not_served_as_fresh(engines, clock):
    """A genuine answer captured on the channel and published again a day later, while a
    process waits on that key, is rejected: the waiter does not take a day-old value."""
    one, two = await engines(), await engines()
    gate, first, second = await one_calls_two_waits(one, two, "AAPL", Quote("AAPL", 101.0))
    gate.set()
    await first, await second
    server = one.backend.server
    captured = [m for m in server.published if b'"t":"d"' in m]
    assert captured
    await clock.advance(86_400.0)
    two.orch.clear_cache()
    server.set(flight("AAPL"), "other-process:0", 5.0)  # a lease the replayer "answers"
    two.provider.answer("AAPL", Quote("AAPL", 202.0))
    waiting = asyncio.create_task(two.orch.fetch(QUOTE, "AAPL"))
    await until(lambda: two.fleet.waiting, "two to wait on the lease")
    rejected = two.fleet.stats()["rejected_messages"]
    server.publish(captured[-1])
    await until(
        lambda: two.fleet.stats()["rejected_messages"] > rejected, "the replay to be dropped"
    )
    assert not waiting.done()
    await clock.advance(5.0)
    assert (await waiting).data.price == 202.0


async def test_a_replayed_breaker_message_opens_nothing(engines):
    """A genuine breaker-open message published again after the breaker closed is dropped."""
    one, two = await engines(), await engines()
    await open_everywhere(one, two)
    server = one.backend.server
    opened = [m for m in server.published if b'"s":"open"' in m]
    assert opened
    one.orch.reset_breaker(PROVIDER)
    await until(lambda: two.breaker() is BreakerState.CLOSED, "the reset to reach two")
    rejected = two.fleet.stats()["rejected_messages"]
    server.publish(opened[-1])
    await until(
        lambda: two.fleet.stats()["rejected_messages"] > rejected, "the replay to be dropped"
    )
    assert two.breaker() is BreakerState.CLOSED


async def test_a_fleet_needs_the_deployment_secret(make_orchestrator, fakes, clock):
    """Without ``[security] secret`` a fleet cannot sign its messages: starting says so."""
    from polysource.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        await make_orchestrator(
            FakeProvider(PROVIDER, clock=clock), fakes, fleet={"url": "fake://f"}
        )
    assert error.value.path == "security.secret"


def test_the_testing_howtos_fleet_recipe_passes(pytester):
    """The testing how-to's fleet example passes as published, with the kit's pytest plugin."""
    page = Path(__file__).resolve().parents[2] / "docs" / "howto" / "testing.md"
    section = page.read_text(encoding="utf-8").split("## Fleet behaviour without Redis", 1)[1]
    recipe = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest('pytest_plugins = ["polysource.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_recipe=recipe)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
