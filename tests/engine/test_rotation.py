"""Breaker and health rotation as one state machine: every skip reported, reset and trials."""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed
from polysource.testing import FakeProvider


def _pair(clock):
    a = FakeProvider("a", regions={"US": 1}, clock=clock)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    return a, b


async def _fail_five(orch, a):
    a.fail_always("*", "network")
    for i in range(5):
        assert (await orch.fetch(QUOTE, f"F{i}", region="US")).source == "b"
    a.recover()


async def test_open_breaker_is_reported_though_health_also_took_it_out(make_orchestrator, clock):
    """With the default thresholds (5 and 5) an open provider is skipped as circuit_open, in
    the result's errors, not left out of rotation silently."""
    a, b = _pair(clock)
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 1}}})
    await _fail_five(orch, a)
    assert orch.health()["a"].breaker == "open" and not orch.health()["a"].in_rotation
    result = await orch.fetch(QUOTE, "K", region="US")
    assert result.source == "b"
    assert [(e.provider, e.category) for e in result.errors] == [("a", "circuit_open")]
    assert orch.stats().providers["a"].skipped == 1


async def test_reset_breaker_puts_the_provider_back_in_rotation(make_orchestrator, clock):
    """After reset_breaker the provider answers the next request, with no enable() needed."""
    a, b = _pair(clock)
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 1}}})
    await _fail_five(orch, a)
    orch.reset_breaker("a")
    health = orch.health()["a"]
    assert health.breaker == "closed" and health.in_rotation and health.consecutive_failures == 0
    result = await orch.fetch(QUOTE, "K", region="US")
    assert result.source == "a" and result.errors == ()


async def test_half_open_admits_the_configured_trials_at_once(make_orchestrator, clock):
    """half_open_trials = 3 lets three concurrent calls through; the fourth is skipped as
    circuit_open, and three successes (success_threshold) close the breaker."""
    a, b = _pair(clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {
                "retry": {"attempts": 1},
                "breaker": {"half_open_trials": 3, "success_threshold": 3},
            }
        },
    )
    await _fail_five(orch, a)
    await clock.advance(30)
    a.slow("*", 1.0)
    results = await clock.run(
        asyncio.gather(*(orch.fetch(QUOTE, f"T{i}", region="US") for i in range(4)))
    )
    assert sorted(r.source for r in results) == ["a", "a", "a", "b"]
    skipped = next(r for r in results if r.source == "b")
    assert [e.category for e in skipped.errors] == ["circuit_open"]
    health = orch.health()["a"]
    assert health.breaker == "closed" and health.in_rotation


async def test_success_threshold_keeps_the_breaker_half_open_until_met(make_orchestrator, clock):
    """With success_threshold = 2 one good trial leaves the breaker half-open; two close it."""
    a, b = _pair(clock)
    orch = await make_orchestrator(
        a, b, providers={"a": {"retry": {"attempts": 1}, "breaker": {"success_threshold": 2}}}
    )
    await _fail_five(orch, a)
    await clock.advance(30)
    assert (await orch.fetch(QUOTE, "T1", region="US")).source == "a"
    assert orch.health()["a"].breaker == "half_open"
    assert (await orch.fetch(QUOTE, "T2", region="US")).source == "a"
    assert orch.health()["a"].breaker == "closed"


async def test_out_of_rotation_provider_is_reported_as_provider_down(make_orchestrator, clock):
    """A provider health took out of rotation (its breaker still closed) is skipped with
    provider_down and a reason until its probe is due."""
    a, b = _pair(clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {"retry": {"attempts": 1}, "down_after": 2, "breaker": {"failure_threshold": 9}}
        },
    )
    a.fail_always("*", "network")
    for i in range(2):
        await orch.fetch(QUOTE, f"F{i}", region="US")
    result = await orch.fetch(QUOTE, "K", region="US")
    assert result.source == "b" and a.call_count() == 2
    (error,) = result.errors
    assert (error.provider, error.category) == ("a", "provider_down")
    assert "out of rotation after 2 consecutive failures" in error.message


async def test_disabled_provider_is_reported_and_all_disabled_fails(make_orchestrator, clock):
    """A provider the operator disabled is reported skipped; with every one disabled the
    request fails with AllProvidersFailed naming each, not UnknownRegion."""
    a, b = _pair(clock)
    orch = await make_orchestrator(a, b)
    orch.disable("a")
    result = await orch.fetch(QUOTE, "K1", region="US")
    assert result.source == "b"
    assert [(e.provider, e.category, e.message) for e in result.errors] == [
        ("a", "provider_down", "disabled by the operator")
    ]
    orch.disable("b")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "K2", region="US")
    assert [(e.provider, e.category) for e in caught.value.errors] == [
        ("a", "provider_down"),
        ("b", "provider_down"),
    ]
    orch.enable("a")
    assert (await orch.fetch(QUOTE, "K3", region="US")).source == "a"


async def test_hedged_walk_reports_skipped_providers(make_orchestrator, clock):
    """The hedged walk reports a disabled provider as the plain walk does."""
    a, b = _pair(clock)
    orch = await make_orchestrator(a, b)
    orch.disable("a")
    result = await clock.run(orch.fetch(QUOTE, "K", region="US", hedge=0.1))
    assert result.source == "b"
    assert [(e.provider, e.category) for e in result.errors] == [("a", "provider_down")]


async def test_fetch_many_reports_skipped_providers_for_each_key(make_orchestrator, clock):
    """fetch_many reports a provider passed by (disabled, out of rotation) in each key's
    errors, and fails every key with them when no provider is left."""
    a, b = _pair(clock)
    orch = await make_orchestrator(a, b)
    orch.disable("a")
    batch = await orch.fetch_many(QUOTE, ["K1", "K2"], region="US")
    for key in ("K1", "K2"):
        result = batch.results[key]
        assert result.source == "b"
        assert [(e.provider, e.message) for e in result.errors] == [
            ("a", "disabled by the operator")
        ]
    orch.disable("b")
    batch = await orch.fetch_many(QUOTE, ["K3"], region="US")
    failure = batch.errors["K3"]
    assert isinstance(failure, AllProvidersFailed)
    assert [e.provider for e in failure.errors] == ["a", "b"]
