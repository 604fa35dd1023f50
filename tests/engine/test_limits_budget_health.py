"""Rate limits, cost budgets, auto-disable with probes, and runtime controls."""

from __future__ import annotations

import pytest

from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed, InvalidRequest
from polysource.testing import FakeProvider


async def test_rate_limit_exhausted_skips_provider(make_orchestrator, clock):
    """With '2/minute' the third call skips the provider as rate_limit; the backup answers."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, providers={"a": {"rate_limits": ["2/minute"]}})
    sources = [(await orch.fetch(QUOTE, f"K{i}", region="US")).source for i in range(3)]
    assert sources == ["a", "a", "b"]
    assert a.call_count() == 2
    assert orch.stats().providers["a"].skipped == 1


async def test_provider_declared_rate_limit_applies(make_orchestrator, clock):
    """A provider's declared limit is used when config sets none."""
    a = FakeProvider("a", clock=clock, rate_limits=("1/hour",))
    orch = await make_orchestrator(a)
    await orch.fetch(QUOTE, "K1")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "K2")
    assert caught.value.errors[0].category == "rate_limit"


async def test_budget_exhausted_then_reset_next_period(make_orchestrator, clock):
    """Cost 0.4 a call with a 1.0/minute budget: two calls, then budget_exhausted until reset."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a, providers={"a": {"cost_per_call": 0.4, "budget": {"limit": 1.0, "period": "minute"}}}
    )
    await orch.fetch(QUOTE, "K1")
    await orch.fetch(QUOTE, "K2")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "K3")
    assert caught.value.errors[0].category == "budget_exhausted"
    await clock.advance(60)
    assert (await orch.fetch(QUOTE, "K4")).source == "a"
    assert orch.stats().providers["a"].cost_spent == pytest.approx(1.2)


async def test_five_failures_take_provider_out_and_probe_brings_it_back(
    make_orchestrator, clock, events
):
    """5 consecutive failures: out of rotation; after the probe interval a probe restores it."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "network")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {
                "retry": {"attempts": 1},
                "probe_interval": 20,
                "breaker": {"failure_threshold": 100},
            }
        },
    )
    for i in range(5):
        await orch.fetch(QUOTE, f"K{i}", region="US")
    health = orch.health()["a"]
    assert not health.in_rotation and health.status == "down"
    assert health.consecutive_failures == 5 and health.last_error == "network"
    await orch.fetch(QUOTE, "K5", region="US")
    assert a.call_count() == 5  # skipped while out of rotation
    a.recover()
    await clock.advance(20)
    assert (await orch.fetch(QUOTE, "K6", region="US")).source == "a"
    assert orch.health()["a"].in_rotation
    changes = [(e.detail["from"], e.detail["to"]) for e in events.of("health") if e.provider == "a"]
    assert ("degraded", "down") in changes
    assert changes[-1] == ("down", "degraded")  # back in rotation; 1 success in 6 is not healthy


async def test_health_report_fields(make_orchestrator, clock):
    """health() reports status, uptime over recent calls and mean latency of successes."""
    a = FakeProvider("a", clock=clock, latency=0.25)
    orch = await make_orchestrator(a)
    assert orch.health()["a"].status == "unknown"
    for i in range(4):
        await clock.run(orch.fetch(QUOTE, f"K{i}"))
    report = orch.health()["a"]
    assert report.status == "healthy" and report.uptime == 1.0
    assert report.latency == pytest.approx(0.25)


async def test_runtime_controls(make_orchestrator, clock):
    """disable/enable and set_rank change routing at runtime; unknown names are rejected."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock)
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    orch.disable("a")
    assert orch.failover_order(QUOTE, "US") == ("b",)
    assert orch.health()["a"].status == "down"
    orch.enable("a")
    orch.set_rank("b", "US", 0)
    assert orch.failover_order(QUOTE, "US") == ("b", "a")
    with pytest.raises(InvalidRequest, match="unknown provider 'zz'"):
        orch.disable("zz")


async def test_stats_report_the_budget_spent_in_the_current_period(make_orchestrator, clock):
    """stats() gives each provider's budget limit and this period's spending, reset with it."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a, providers={"a": {"cost_per_call": 0.4, "budget": {"limit": 1.0, "period": "minute"}}}
    )
    await orch.fetch(QUOTE, "K1")
    await orch.fetch(QUOTE, "K2")
    stats = orch.stats().providers["a"]
    assert stats.budget_limit == 1.0 and stats.budget_spent == pytest.approx(0.8)
    await clock.advance(60)
    stats = orch.stats().providers["a"]
    assert stats.budget_spent == 0.0 and stats.cost_spent == pytest.approx(0.8)
