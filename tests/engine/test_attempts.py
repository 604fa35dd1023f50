"""Attempts: retries with backoff and Retry-After, deadlines, retry budget, taxonomy rules."""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed
from polysource.testing import FakeProvider


async def test_transient_errors_are_retried_then_succeed(make_orchestrator, clock):
    """provider_down twice, then an answer: three calls, one result, retries counted."""
    fake = FakeProvider("a", clock=clock).fail("AAPL", "provider_down", times=2)
    orch = await make_orchestrator(fake, providers={"a": {"retry": {"attempts": 3}}})
    result = await clock.run(orch.fetch(QUOTE, "AAPL"))
    assert result.source == "a" and result.attempts == 3
    assert fake.call_count("AAPL") == 3
    assert orch.stats().providers["a"].retries == 2


async def test_retry_after_is_honoured(make_orchestrator, clock, events):
    """A 429 with Retry-After 7s is retried no sooner than 7s later."""
    fake = FakeProvider("a", clock=clock).fail("AAPL", "rate_limit", retry_after=7.0)
    orch = await make_orchestrator(fake, providers={"a": {"retry": {"attempts": 2}}})
    start = clock.monotonic()
    result = await clock.run(orch.fetch(QUOTE, "AAPL", deadline=30))
    assert result.source == "a"
    assert clock.monotonic() - start >= 7.0
    (retry,) = events.of("retry")
    assert retry.detail["delay"] >= 7.0


async def test_retry_after_beyond_deadline_fails_over_at_once(make_orchestrator, clock):
    """A Retry-After longer than the time left is not waited for: the next provider answers."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail("AAPL", "rate_limit", retry_after=60)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 3}}})
    start = clock.monotonic()
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", deadline=5))
    assert result.source == "b"
    assert clock.monotonic() - start < 1
    assert a.call_count() == 1


async def test_per_try_timeout_fails_over(make_orchestrator, clock):
    """A provider slower than its per-try timeout is abandoned with a timeout error."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 2, "retry": {"attempts": 1}}})
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US"))
    assert result.source == "b"
    assert [e.category for e in result.errors] == ["timeout"]
    assert clock.monotonic() == pytest.approx(1002)


async def test_overall_deadline_bounds_every_wait(make_orchestrator, clock):
    """Slow providers cannot take the request past its deadline."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=10)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 8}, "b": {"timeout": 8}})
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.fetch(QUOTE, "AAPL", region="US", deadline=3))
    assert clock.monotonic() - 1000 <= 3.0 + 1e-9


async def test_invalid_request_stops_failover(make_orchestrator, clock):
    """invalid_request from the first provider is final: the others are not asked."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "invalid_request")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "AAPL", region="US")
    assert [e.category for e in caught.value.errors] == ["invalid_request"]
    assert b.call_count() == 0 and a.call_count() == 1


async def test_auth_skips_only_that_provider_without_retry(make_orchestrator, clock):
    """auth is not retried and not counted against the breaker; the next provider answers."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "auth")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 5}}})
    result = await orch.fetch(QUOTE, "AAPL", region="US")
    assert result.source == "b" and a.call_count() == 1
    assert orch.health()["a"].breaker == "closed"


async def test_retry_budget_caps_retries(make_orchestrator, clock):
    """With a 10% budget and min 1, a failing provider gets few retries, not one per call."""
    fake = FakeProvider("a", clock=clock).fail_always("*", "provider_down")
    orch = await make_orchestrator(
        fake,
        providers={
            "a": {
                "retry": {"attempts": 3, "budget_ratio": 0.1, "min_retries": 1},
                "breaker": {"failure_threshold": 1000},
                "down_after": 1000,
            }
        },
    )
    for i in range(20):
        with pytest.raises(AllProvidersFailed):
            await clock.run(orch.fetch(QUOTE, f"K{i}"))
    retries = orch.stats().providers["a"].retries
    assert retries <= 3
    assert fake.call_count() == 20 + retries


async def test_unexpected_exception_is_invalid_response(make_orchestrator, clock):
    """A provider raising a non-ProviderError is reported as invalid_response, chained."""

    def boom(request):
        raise KeyError("price")

    fake = FakeProvider("a", clock=clock, default=boom)
    orch = await make_orchestrator(fake, providers={"a": {"retry": {"attempts": 1}}})
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "AAPL")
    error = caught.value.errors[0]
    assert error.category == "invalid_response"
    assert isinstance(error.__cause__, KeyError)


async def test_wrong_schema_is_invalid_response(make_orchestrator, clock):
    """An answer that is not the dataset's schema is rejected as invalid_response."""
    fake = FakeProvider("a", clock=clock).answer("AAPL", {"price": 1})
    orch = await make_orchestrator(fake, providers={"a": {"retry": {"attempts": 1}}})
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "AAPL")
    assert caught.value.errors[0].category == "invalid_response"


async def test_bad_options_are_invalid_requests(make_orchestrator):
    """Negative deadlines and unknown tiers are rejected before any provider is asked."""
    from polysource.errors import InvalidRequest

    fake = FakeProvider("a")
    orch = await make_orchestrator(fake)
    with pytest.raises(InvalidRequest, match="deadline"):
        await orch.fetch(QUOTE, "AAPL", deadline=-1)
    with pytest.raises(InvalidRequest, match="deadline"):
        await orch.fetch(QUOTE, "AAPL", deadline=0)
    with pytest.raises(InvalidRequest, match="deadline"):
        await orch.fetch_many(QUOTE, ["AAPL"], deadline="soon")
    with pytest.raises(InvalidRequest, match="max_age"):
        await orch.fetch(QUOTE, "AAPL", max_age=True)
    with pytest.raises(InvalidRequest, match="tier"):
        await orch.fetch(QUOTE, "AAPL", tier="gold")
    assert fake.call_count() == 0
    assert not asyncio.all_tasks() - {asyncio.current_task()}


async def test_unsupported_key_fails_over_instead_of_stopping(make_orchestrator, clock):
    """invalid_request marked unsupported skips only that provider; the next one answers."""
    from polysource.errors import ProviderError

    def forex_not_served(request):
        raise ProviderError(
            "forex not served", provider="a", category="invalid_request", unsupported=True
        )

    a = FakeProvider("a", regions={"US": 1}, clock=clock, default=forex_not_served)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    result = await orch.fetch(QUOTE, "FX:EURUSD", region="US")
    assert result.source == "b"
    assert result.errors[0].unsupported


async def test_retry_that_would_starve_the_backup_fails_over_at_once(make_orchestrator, clock):
    """A primary hanging to its timeout is not retried when the retry would leave the backup no
    full try: the backup answers within the deadline, whatever the jitter draws."""
    for seed in range(20):
        a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10)
        b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.05)
        orch = await make_orchestrator(
            a, b, providers={"a": {"timeout": 0.2}, "b": {"timeout": 0.2}}
        )
        orch._rng.seed(seed)
        start = clock.monotonic()
        result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", deadline=0.45))
        assert (result.source, a.call_count(), b.call_count()) == ("b", 1, 1), seed
        assert [e.category for e in result.errors] == ["timeout"]
        assert clock.monotonic() - start == pytest.approx(0.25)


async def test_retry_runs_when_it_leaves_the_backup_a_full_try(make_orchestrator, clock):
    """With room for the retry's whole timeout and the backup's, the primary is retried."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.05)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 0.2}, "b": {"timeout": 0.2}})
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", deadline=0.7))
    assert (result.source, a.call_count(), b.call_count()) == ("b", 2, 1)
    assert [e.category for e in result.errors] == ["timeout"]


async def test_backoff_delay_counts_against_the_time_left_for_the_backup(make_orchestrator, clock):
    """A Retry-After that, with the retry's timeout, would eat the backup's try fails over now."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock, latency=10)
    a.fail("AAPL", "provider_down", retry_after=0.1, latency=0)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.05)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 0.2}, "b": {"timeout": 0.2}})
    start = clock.monotonic()
    result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US", deadline=0.45))
    assert (result.source, a.call_count(), b.call_count()) == ("b", 1, 1)
    assert clock.monotonic() - start == pytest.approx(0.05)
