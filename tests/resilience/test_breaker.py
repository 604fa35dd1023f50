"""Circuit breaker state machine on the fake clock (purgatory's model, our clock)."""

from __future__ import annotations

import pytest

from polysource.config import BreakerConfig
from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed
from polysource.models import BreakerState
from polysource.resilience.breaker import Breaker
from polysource.testing import FakeClock, FakeProvider


def _breaker(clock, **kwargs):
    changes = []
    breaker = Breaker("p", BreakerConfig(**kwargs), clock, lambda a, b: changes.append((a, b)))
    return breaker, changes


def test_opens_at_threshold_and_half_opens_after_recovery_timeout():
    """Threshold failures open it; after the recovery timeout one trial is admitted."""
    clock = FakeClock()
    breaker, changes = _breaker(clock, failure_threshold=3, recovery_timeout=10)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock._now += 9.9
    assert not breaker.allow()
    clock._now += 0.2
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one trial only by default
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
    ]


def test_success_resets_failure_count_while_closed():
    """Failures must be consecutive: a success in between resets the count."""
    breaker, _ = _breaker(FakeClock(), failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_needs_success_threshold_and_reopens_on_failure():
    """With success_threshold 2 and 2 trials, two successes close it; a failure reopens it."""
    clock = FakeClock()
    breaker, changes = _breaker(
        clock, failure_threshold=1, recovery_timeout=5, half_open_trials=2, success_threshold=2
    )
    breaker.record_failure()
    clock._now += 5
    assert breaker.allow() and breaker.allow() and not breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    clock._now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert changes[-1] == (BreakerState.HALF_OPEN, BreakerState.OPEN)


def test_manual_reset_closes():
    """reset() closes an open breaker and reports the change."""
    breaker, changes = _breaker(FakeClock(), failure_threshold=1)
    breaker.record_failure()
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert changes[-1] == (BreakerState.OPEN, BreakerState.CLOSED)


async def test_open_breaker_skips_provider_as_circuit_open(make_orchestrator, clock, events):
    """Once open, the provider is skipped with circuit_open and the backup answers."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "provider_down")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {
                "retry": {"attempts": 1},
                "breaker": {"failure_threshold": 2, "recovery_timeout": 30},
            }
        },
    )
    for i in range(2):
        await orch.fetch(QUOTE, f"K{i}", region="US")
    result = await orch.fetch(QUOTE, "K9", region="US")
    assert result.source == "b"
    assert [e.category for e in result.errors] == ["circuit_open"]
    assert a.call_count() == 2
    assert orch.health()["a"].breaker == "open"
    assert [e.detail["to"] for e in events.of("breaker")] == ["open"]
    a.recover()
    await clock.advance(31)
    result = await orch.fetch(QUOTE, "K10", region="US")
    assert result.source == "a"
    assert orch.health()["a"].breaker == "closed"
    orch.reset_breaker("a")


async def test_all_breakers_open_raises_with_circuit_open(make_orchestrator, clock):
    """With every breaker open the error names circuit_open for each provider."""
    a = FakeProvider("a", clock=clock).fail_always("*", "network")
    orch = await make_orchestrator(
        a, providers={"a": {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 1}}}
    )
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "X")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "Y")
    assert caught.value.errors[0].category == "circuit_open"


async def test_half_open_trial_is_returned_after_a_neutral_failure(make_orchestrator, clock):
    """A trial call failing with rate_limit neither closes nor reopens, and frees the trial."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "provider_down")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {
                "retry": {"attempts": 1},
                "breaker": {"failure_threshold": 1, "recovery_timeout": 5},
            }
        },
    )
    await orch.fetch(QUOTE, "K0", region="US")
    await clock.advance(5)
    a.recover()
    a.fail("K1", "rate_limit")
    assert (await orch.fetch(QUOTE, "K1", region="US")).source == "b"
    assert orch.health()["a"].breaker == "half_open"
    assert (await orch.fetch(QUOTE, "K2", region="US")).source == "a"
    assert orch.health()["a"].breaker == "closed"


def test_release_returns_a_trial():
    """release() gives back a half-open trial taken by allow()."""
    clock = FakeClock()
    breaker, _ = _breaker(clock, failure_threshold=1, recovery_timeout=1)
    breaker.record_failure()
    clock._now += 1
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_trip_opens_at_once_for_the_recovery_timeout_or_what_is_left_of_it():
    """trip() opens without failures; trip(remaining) half-opens when that time has passed."""
    clock = FakeClock()
    breaker, changes = _breaker(clock, failure_threshold=5, recovery_timeout=30)
    breaker.trip(remaining=5)
    assert breaker.state is BreakerState.OPEN and changes == [
        (BreakerState.CLOSED, BreakerState.OPEN)
    ]
    clock._now += 4.9
    assert breaker.state is BreakerState.OPEN
    clock._now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.reset()
    breaker.trip()
    clock._now += 29.9
    assert breaker.state is BreakerState.OPEN
    breaker.trip()  # already open: the timer is not restarted
    clock._now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
