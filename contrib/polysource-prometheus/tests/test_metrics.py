"""Metrics from a real engine on the fake clock: exact values after scripted sequences."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from polysource.connections import Connection
from polysource.datasets import QUOTE, Accounts
from polysource.engine.telemetry import Emitter
from polysource.errors import AllProvidersFailed
from polysource.events import EventKind
from polysource.plugins import PluginManager
from polysource.testing import FakeProvider
from polysource_prometheus import PrometheusMetrics

FAST = {"timeout": 1.0}
"""A per-try timeout short enough that a retry leaves the backup its full try."""


def value(metrics: PrometheusMetrics, name: str, **labels: str) -> float | None:
    """One sample of ``metrics``' registry (``None`` when it does not exist)."""
    return metrics.registry.get_sample_value(name, labels)


async def _scripted(make_orchestrator, clock):
    """Hit, miss, failure with a retry, failover, breaker open, skip, failed request."""
    a = FakeProvider("a", regions={"global": 1}, clock=clock, latency=0.02)
    b = FakeProvider("b", regions={"global": 2}, clock=clock, latency=0.05)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {**FAST, "breaker": {"failure_threshold": 2}},
            "b": {**FAST, "retry": {"attempts": 1}},
        },
    )
    await clock.run(orch.fetch(QUOTE, "K1"))  # miss: a answers in 0.02 s
    await clock.run(orch.fetch(QUOTE, "K1"))  # memory hit
    a.fail("K2", "network", times=2, latency=0.2)
    await clock.run(orch.fetch(QUOTE, "K2"))  # a fails, retries, fails (breaker opens); b answers
    await clock.run(orch.fetch(QUOTE, "K3"))  # a skipped (circuit open); b answers
    b.fail("K4", "network")
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.fetch(QUOTE, "K4"))  # a skipped, b fails: the request fails
    return orch


async def test_scripted_sequence_gives_exact_counters(make_orchestrator, metrics, clock):
    """Every counter of the sequence has the exact value the engine's work implies."""
    await _scripted(make_orchestrator, clock)
    attempts = "polysource_provider_attempts_total"
    ok = {"dataset": "quote", "outcome": "success", "category": ""}
    net = {"dataset": "quote", "outcome": "failure", "category": "network"}
    assert value(metrics, attempts, provider="a", **ok) == 1
    assert value(metrics, attempts, provider="a", **net) == 2
    assert value(metrics, attempts, provider="b", **ok) == 2
    assert value(metrics, attempts, provider="b", **net) == 1
    assert (
        value(
            metrics,
            "polysource_provider_retries_total",
            provider="a",
            dataset="quote",
            category="network",
        )
        == 1
    )
    skips = "polysource_provider_skips_total"
    assert value(metrics, skips, provider="a", dataset="quote", category="circuit_open") == 2
    failovers = "polysource_failovers_total"
    assert value(metrics, failovers, dataset="quote", provider="a", category="network") == 1
    assert value(metrics, failovers, dataset="quote", provider="a", category="circuit_open") == 2
    assert value(metrics, "polysource_failed_requests_total", dataset="quote") == 1
    assert value(metrics, "polysource_breaker_transitions_total", provider="a", state="open") == 1
    assert value(metrics, "polysource_requests_total") == 5
    assert value(metrics, "polysource_cache_hits_total", layer="memory") == 1
    assert value(metrics, "polysource_cache_misses_total") == 4
    assert value(metrics, "polysource_deduplicated_total") == 0


async def test_scripted_sequence_gives_exact_latency_buckets(make_orchestrator, metrics, clock):
    """Provider latencies land in their buckets with exact counts and sums (fake clock)."""
    await _scripted(make_orchestrator, clock)
    name = "polysource_provider_request_duration_seconds"
    a_ok = {"provider": "a", "dataset": "quote", "outcome": "success"}
    a_failed = {**a_ok, "outcome": "failure"}
    b_ok = {**a_ok, "provider": "b"}
    assert value(metrics, f"{name}_count", **a_ok) == 1
    assert value(metrics, f"{name}_sum", **a_ok) == pytest.approx(0.02)
    assert value(metrics, f"{name}_bucket", le="0.01", **a_ok) == 0
    assert value(metrics, f"{name}_bucket", le="0.025", **a_ok) == 1
    assert value(metrics, f"{name}_count", **a_failed) == 2
    assert value(metrics, f"{name}_sum", **a_failed) == pytest.approx(0.4)
    assert value(metrics, f"{name}_bucket", le="0.1", **a_failed) == 0
    assert value(metrics, f"{name}_bucket", le="0.25", **a_failed) == 2
    assert value(metrics, f"{name}_bucket", le="0.05", **b_ok) == 2
    assert value(metrics, f"{name}_bucket", le="+Inf", **b_ok) == 2


async def test_scripted_sequence_gives_breaker_and_health_gauges(make_orchestrator, metrics, clock):
    """At scrape time the breaker gauge shows a open and b closed, the status what health says."""
    orch = await _scripted(make_orchestrator, clock)
    state = "polysource_breaker_state"
    assert value(metrics, state, provider="a", state="open") == 1
    assert value(metrics, state, provider="a", state="closed") == 0
    assert value(metrics, state, provider="a", state="half_open") == 0
    assert value(metrics, state, provider="b", state="closed") == 1
    status = "polysource_provider_status"
    for provider, report in orch.health().items():
        for s in ("healthy", "degraded", "down", "unknown"):
            expected = 1 if s == report.status else 0
            assert value(metrics, status, provider=provider, status=s) == expected


async def test_breaker_gauge_follows_recovery(make_orchestrator, metrics, clock):
    """After the recovery timeout a successful trial closes the breaker and the gauge says so."""
    orch = await _scripted(make_orchestrator, clock)
    await clock.advance(30)
    await clock.run(orch.fetch(QUOTE, "K5"))
    assert value(metrics, "polysource_breaker_state", provider="a", state="closed") == 1
    transitions = "polysource_breaker_transitions_total"
    assert value(metrics, transitions, provider="a", state="half_open") == 1
    assert value(metrics, transitions, provider="a", state="closed") == 1


async def test_stale_answer_and_budget(make_orchestrator, metrics, clock):
    """A stale answer is counted per dataset; the budget gauges show this period's spending."""
    a = FakeProvider("a", clock=clock)
    await_orch = make_orchestrator(
        a,
        providers={
            "a": {
                "cost_per_call": 0.25,
                "budget": {"limit": 1.0, "period": "hour"},
                "retry": {"attempts": 1},
            }
        },
    )
    orch = await await_orch
    await orch.fetch(QUOTE, "K1")
    await clock.advance(61)  # past the free tier's TTL, inside the stale window
    a.fail("K1", "provider_down")
    assert (await orch.fetch(QUOTE, "K1")).stale
    assert value(metrics, "polysource_stale_served_total", dataset="quote") == 1
    assert value(metrics, "polysource_provider_budget_limit", provider="a") == 1.0
    assert value(metrics, "polysource_provider_budget_spent", provider="a") == 0.5
    assert value(metrics, "polysource_provider_cost_total", provider="a") == 0.5
    await clock.advance(3600)
    assert value(metrics, "polysource_provider_budget_spent", provider="a") == 0.0
    assert value(metrics, "polysource_provider_cost_total", provider="a") == 0.5


async def test_budget_and_rate_limit_skips_by_reason(make_orchestrator, metrics, clock):
    """Calls not made for a spent budget or a rate limit are counted with their reason."""
    a = FakeProvider("a", regions={"global": 1}, clock=clock)
    b = FakeProvider("b", regions={"global": 2}, clock=clock)
    await_orch = make_orchestrator(
        a,
        b,
        providers={
            "a": {"cost_per_call": 1.0, "budget": {"limit": 1.0, "period": "day"}},
            "b": {"rate_limits": ["1/minute"]},
        },
    )
    orch = await await_orch
    await orch.fetch(QUOTE, "K1")  # a
    await orch.fetch(QUOTE, "K2")  # a's budget spent: b
    with pytest.raises(AllProvidersFailed):
        await orch.fetch(QUOTE, "K3")  # both skipped
    skips = "polysource_provider_skips_total"
    assert value(metrics, skips, provider="a", dataset="quote", category="budget_exhausted") == 2
    assert value(metrics, skips, provider="b", dataset="quote", category="rate_limit") == 1


async def test_memory_layer_gauges_and_deduplicated_joins(make_orchestrator, metrics, clock):
    """The memory layer's entries, bytes and evictions, and joins of a call in flight."""
    a = FakeProvider("a", clock=clock, latency=1.0)
    orch = await make_orchestrator(a, cache={"max_entries": 2})
    first = asyncio.ensure_future(orch.fetch(QUOTE, "K1"))
    await clock.settle()
    joined = asyncio.ensure_future(orch.fetch(QUOTE, "K1"))
    await clock.run(asyncio.gather(first, joined))
    for key in ("K2", "K3"):
        await clock.run(orch.fetch(QUOTE, key))
    stats = orch.stats()
    assert value(metrics, "polysource_deduplicated_total") == 1
    assert value(metrics, "polysource_cache_entries", layer="memory") == 2
    assert value(metrics, "polysource_cache_size_bytes", layer="memory") == stats.memory_bytes > 0
    assert value(metrics, "polysource_cache_evictions_total", layer="memory") == 1
    assert (
        value(
            metrics,
            "polysource_provider_attempts_total",
            provider="a",
            dataset="quote",
            outcome="success",
            category="",
        )
        == 3
    )


async def test_batched_calls_are_counted_per_provider(make_orchestrator, metrics, clock):
    """fetch_many's provider batches are counted once per call, whatever the number of keys."""
    a = FakeProvider("a", clock=clock, max_batch_size=2)
    orch = await make_orchestrator(a)
    await orch.fetch_many(QUOTE, ["K1", "K2", "K3"])
    assert value(metrics, "polysource_provider_batches_total", provider="a", dataset="quote") == 2


async def test_no_key_or_tenant_reaches_the_exposition(make_orchestrator, metrics, clock):
    """Canary keys and tenants of public and private data, answered and failed, never show."""
    key, tenant = "CANARYKEY", "canary-tenant-7f3a"
    quotes = FakeProvider("a", clock=clock).fail_always(key, "network")
    bank = FakeProvider("bank", datasets={"accounts"}, clock=clock)
    bank.answer("canary-account-key", lambda request: Accounts(()))
    orch = await make_orchestrator(quotes, bank, providers={"a": {"retry": {"attempts": 2}}})
    await orch.connections.save(Connection(tenant, "bank", "canary-link"))
    await orch.fetch("accounts", "canary-account-key", tenant=tenant)
    await orch.fetch("accounts", "canary-account-key", tenant=tenant)
    bank.fail_always("canary-account-key", "provider_down")
    with pytest.raises(AllProvidersFailed):
        await clock.run(
            orch.fetch("accounts", "canary-account-key", tenant=tenant, skip_cache=True)
        )
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.fetch(QUOTE, key, tenant=tenant))
    text = generate_latest(metrics.registry).decode()
    assert value(metrics, "polysource_failed_requests_total", dataset="accounts") == 1
    for secret in (key, key.lower(), tenant, "canary-account-key", "canary-link", "canary"):
        assert secret not in text
    assert "h:" not in text  # not even the hashes that stand in for them in events


async def test_a_hit_builds_no_event_for_the_exporter() -> None:
    """The plugin asks for no cache-hit, miss or de-duplication event (stats count those)."""
    metrics = PrometheusMetrics()
    registry = PluginManager(plugins=[metrics], entry_points=False, environ={}).resolve()
    wants = Emitter(registry.event_sinks, clock=None).wants  # type: ignore[arg-type]
    assert not wants[EventKind.CACHE_HIT]
    assert not wants[EventKind.CACHE_MISS]
    assert not wants[EventKind.DEDUPLICATED]
    assert not wants[EventKind.ATTEMPT]
    assert wants[EventKind.SUCCESS] and wants[EventKind.FAILURE]


async def test_two_orchestrators_keep_their_own_metrics(make_orchestrator, clock):
    """Each orchestrator's default registry is private: neither sees the other's requests."""
    first, second = PrometheusMetrics(), PrometheusMetrics()
    one = await make_orchestrator(FakeProvider("a", clock=clock), first, with_metrics=False)
    two = await make_orchestrator(FakeProvider("a", clock=clock), second, with_metrics=False)
    await one.fetch(QUOTE, "K1")
    for key in ("K1", "K2", "K3"):
        await two.fetch(QUOTE, key)
    assert value(first, "polysource_requests_total") == 1
    assert value(second, "polysource_requests_total") == 3


async def test_shared_registry_takes_one_instance_until_unregistered() -> None:
    """A second instance on the same registry raises; after unregister() it registers."""
    shared = CollectorRegistry()
    first = PrometheusMetrics(shared)
    with pytest.raises(ValueError, match="Duplicated"):
        PrometheusMetrics(shared)
    first.unregister()
    second = PrometheusMetrics(shared)
    assert second.registry is shared


async def test_one_instance_serves_one_running_orchestrator(make_orchestrator, metrics, clock):
    """Starting a second orchestrator with a running orchestrator's plugin fails."""
    await make_orchestrator(FakeProvider("a", clock=clock))
    with pytest.raises(ValueError, match="one orchestrator"):
        await make_orchestrator(FakeProvider("a", clock=clock))


async def test_counters_stay_readable_after_close(make_orchestrator, metrics, clock):
    """After close the stats counters remain; the breaker and status gauges are gone."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock))
    await orch.fetch(QUOTE, "K1")
    await orch.close()
    assert value(metrics, "polysource_requests_total") == 1
    assert value(metrics, "polysource_breaker_state", provider="a", state="closed") is None


async def test_nothing_is_exposed_before_start(metrics) -> None:
    """A registry scraped before the orchestrator starts is empty."""
    assert generate_latest(metrics.registry) == b""
