"""Request and provider attempt spans, from the traced methods and the engine's events."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

from polysource.connections import Connection
from polysource.datasets import QUOTE, Account, Accounts, Fundamentals, Quote
from polysource.errors import AllProvidersFailed
from polysource.events import EventKind
from polysource.testing import FakeProvider
from polysource_otel import OtelTracing

TENANT = "tenant-canary-7f3a"
ACCOUNT = "acct-canary-9b1c"


def _named(spans, name):
    (span,) = [s for s in spans.get_finished_spans() if s.name == name]
    return span


def _children(spans, parent):
    return sorted(
        (
            s
            for s in spans.get_finished_spans()
            if s.parent and s.parent.span_id == parent.context.span_id
        ),
        key=lambda s: s.start_time,
    )


async def test_fetch_is_a_request_span_with_a_child_span_per_provider_attempt(
    make_orchestrator, clock, tracing, spans
):
    """A fetch that fails over is one request span whose children are the two attempts."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail("AAPL", "not_found")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b)
    result = await tracing.traced(orch).fetch(QUOTE, "AAPL", region="US")
    assert result.source == "b"
    request = _named(spans, "fetch quote")
    assert dict(request.attributes) == {
        "polysource.request": "fetch",
        "polysource.dataset": "quote",
        "polysource.key": "AAPL",
        "polysource.region": "US",
        "polysource.source": "b",
        "polysource.cached": False,
        "polysource.stale": False,
        "polysource.deduplicated": False,
        "polysource.attempts": 2,
    }
    assert request.status.status_code is StatusCode.UNSET
    first, second = _children(spans, request)
    assert (first.name, second.name) == ("attempt a", "attempt b")
    assert first.attributes["polysource.outcome"] == "failure"
    assert first.attributes["error.type"] == "not_found"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["polysource.outcome"] == "success"
    assert second.attributes["polysource.provider"] == "b"
    assert second.attributes["polysource.attempt"] == 1
    assert first.context.trace_id == request.context.trace_id
    assert [e.name for e in request.events] == ["failover"]
    assert request.events[0].attributes["polysource.provider"] == "a"


async def test_attempt_span_lasts_as_long_as_the_engine_measured(
    make_orchestrator, clock, tracing, spans
):
    """An attempt span starts at the attempt event and lasts the call's measured duration."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock, latency=0.25))
    await clock.run(tracing.traced(orch).fetch(QUOTE, "AAPL"))
    request = _named(spans, "fetch quote")
    (attempt,) = _children(spans, request)
    assert attempt.end_time - attempt.start_time == 250_000_000
    # Wall-clock floats near 1.7e9 s round to about 0.25 us.
    assert request.start_time <= attempt.start_time
    assert attempt.end_time <= request.end_time + 1_000


async def test_retries_are_attempt_spans_and_retry_events(make_orchestrator, clock, tracing, spans):
    """A transient failure retried is two attempt spans and a retry event on the request."""
    a = FakeProvider("a", clock=clock).fail("AAPL", "provider_down")
    orch = await make_orchestrator(a)
    await clock.run(tracing.traced(orch).fetch(QUOTE, "AAPL"))
    request = _named(spans, "fetch quote")
    attempts = _children(spans, request)
    assert [s.attributes["polysource.attempt"] for s in attempts] == [1, 2]
    assert [s.attributes["polysource.outcome"] for s in attempts] == ["failure", "success"]
    (retry,) = [e for e in request.events if e.name == "retry"]
    assert retry.attributes["polysource.category"] == "provider_down"


async def test_cache_hit_is_a_request_span_without_attempts(
    make_orchestrator, clock, tracing, spans
):
    """A cached answer is a request span marked cached, with no attempt span and no event."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock))
    traced = tracing.traced(orch)
    await traced.fetch(QUOTE, "AAPL")
    spans.clear()
    assert (await traced.fetch(QUOTE, "AAPL")).cached
    (request,) = spans.get_finished_spans()
    assert request.attributes["polysource.cached"] is True and not request.events
    assert EventKind.CACHE_HIT not in OtelTracing.event_kinds


async def test_fetch_many_is_one_request_span_with_batch_counts(
    make_orchestrator, clock, tracing, spans
):
    """fetch_many is one span carrying the summary's counts, the provider calls its children."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock, max_batch_size=10))
    batch = await tracing.traced(orch).fetch_many(QUOTE, ["AAPL", "MSFT"])
    assert batch.summary.successful == 2
    request = _named(spans, "fetch_many quote")
    assert request.attributes["polysource.batch.total"] == 2
    assert request.attributes["polysource.batch.fresh"] == 2
    assert "polysource.key" not in request.attributes
    assert [s.name for s in _children(spans, request)] == ["attempt a"]
    assert [e.name for e in request.events] == ["batch"]


async def test_fetch_merged_has_an_attempt_span_per_provider_asked(
    make_orchestrator, clock, tracing, spans
):
    """fetch_merged's parallel provider calls are each a child of its request span."""
    a = FakeProvider("a", datasets={"fundamentals"}, clock=clock)
    b = FakeProvider("b", datasets={"fundamentals"}, clock=clock)
    b.answer("AAPL", Fundamentals("AAPL", "Apple", market_cap=3e12))
    orch = await make_orchestrator(a, b)
    await tracing.traced(orch).fetch_merged("fundamentals", "AAPL", min_providers=2)
    request = _named(spans, "fetch_merged fundamentals")
    assert sorted(request.attributes["polysource.sources"]) == ["a", "b"]
    assert sorted(s.name for s in _children(spans, request)) == ["attempt a", "attempt b"]


async def test_failed_request_records_the_error_on_its_span(
    make_orchestrator, clock, tracing, spans
):
    """A request every provider fails has an error status, error.type and an exception event."""
    a = FakeProvider("a", clock=clock).fail("AAPL", "invalid_response")
    orch = await make_orchestrator(a)
    with pytest.raises(AllProvidersFailed):
        await clock.run(tracing.traced(orch).fetch(QUOTE, "AAPL"))
    request = _named(spans, "fetch quote")
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "polysource.errors.AllProvidersFailed"
    exception = [e for e in request.events if e.name == "exception"][-1]
    assert exception.attributes["exception.type"] == "polysource.errors.AllProvidersFailed"
    assert "request_failed" in [e.name for e in request.events]
    (attempt,) = _children(spans, request)
    assert attempt.attributes["error.type"] == "invalid_response"


async def test_hedge_loser_attempt_ends_with_the_request_as_cancelled(
    make_orchestrator, clock, tracing, spans
):
    """The slow provider a hedge cancels still has its attempt span, ended as cancelled."""

    async def slow(request):
        await clock.sleep(10)
        return Quote(request.key, 1.0)

    a = FakeProvider("a", regions={"US": 1}, clock=clock).answer("AAPL", slow)
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.5)
    orch = await make_orchestrator(a, b, providers={"a": {"timeout": 30}})
    await clock.run(tracing.traced(orch).fetch(QUOTE, "AAPL", region="US", hedge=1.0))
    request = _named(spans, "fetch quote")
    outcomes = {s.name: s.attributes["polysource.outcome"] for s in _children(spans, request)}
    assert outcomes == {"attempt a": "cancelled", "attempt b": "success"}
    assert "hedge" in [e.name for e in request.events]


async def test_cancelled_request_is_marked_and_ended(make_orchestrator, clock, tracing, spans):
    """A request cancelled by its caller still ends its span, marked cancelled."""

    async def slow(request):
        await clock.sleep(10)
        return Quote(request.key, 1.0)

    orch = await make_orchestrator(FakeProvider("a", clock=clock).answer("AAPL", slow))
    task = asyncio.ensure_future(tracing.traced(orch).fetch(QUOTE, "AAPL"))
    await clock.advance(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    request = _named(spans, "fetch quote")
    assert request.attributes["polysource.outcome"] == "cancelled"


async def test_private_keys_and_tenants_never_reach_a_span(
    make_orchestrator, clock, tracing, spans
):
    """Spans of a private dataset show the pseudonyms the events carry, never the key or tenant,
    not even inside an error message that quotes them."""
    bank = FakeProvider("bank", datasets={"accounts"}, clock=clock)
    bank.fail(ACCOUNT, "provider_down", message=f"no {ACCOUNT} for {TENANT}")
    other = FakeProvider("other", datasets={"accounts"}, regions={"global": 20}, clock=clock)
    other.fail(ACCOUNT, "not_found", message=f"{ACCOUNT} unknown")
    orch = await make_orchestrator(bank, other)
    for provider in ("bank", "other"):
        await orch.connections.save(Connection(TENANT, provider, "link-1"))
    traced = tracing.traced(orch)
    with pytest.raises(AllProvidersFailed):
        await clock.run(traced.fetch("accounts", ACCOUNT, tenant=TENANT))
    bank.answer(ACCOUNT, Accounts((Account("x", "Checking", "depository", "USD"),)))
    await clock.run(traced.fetch("accounts", ACCOUNT, tenant=TENANT, skip_cache=True))
    finished = spans.get_finished_spans()
    text = "".join(s.to_json() for s in finished)
    assert ACCOUNT not in text and TENANT not in text
    assert "acct-canary" not in text and "tenant-canary" not in text
    attempts = [s for s in finished if s.name.startswith("attempt")]
    assert attempts and all(s.attributes["polysource.key"].startswith("h:") for s in attempts)
    assert all("polysource.key" not in s.attributes for s in finished if s.name.startswith("fetch"))
    assert any(e.name == "exception" for s in finished for e in s.events)


async def test_execute_is_a_request_span_with_the_provider_that_acted(
    make_orchestrator, clock, tracing, spans
):
    """execute is a span named after the operation, with the provider and failover flag."""
    bank = FakeProvider("bank", datasets=(), operations=("get_accounts",), clock=clock)
    bank.on_operation("get_accounts", lambda params, call: Accounts(()))
    orch = await make_orchestrator(bank)
    await orch.connections.save(Connection(TENANT, "bank", "link-1"))
    await tracing.traced(orch).execute("get_accounts", tenant=TENANT)
    request = _named(spans, "execute get_accounts")
    assert request.attributes["polysource.operation"] == "get_accounts"
    assert request.attributes["polysource.provider"] == "bank"
    assert request.attributes["polysource.failover_used"] is False
    assert [s.name for s in _children(spans, request)] == ["attempt bank"]
    assert TENANT not in "".join(s.to_json() for s in spans.get_finished_spans())


async def test_attempts_without_a_traced_call_join_the_current_span(
    make_orchestrator, clock, tracing, provider, spans
):
    """Called directly, the orchestrator's attempts are children of the application's span."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock))
    with provider.get_tracer("app").start_as_current_span("handler"):
        await orch.fetch(QUOTE, "AAPL")
    handler = _named(spans, "handler")
    assert [s.name for s in _children(spans, handler)] == ["attempt a"]
