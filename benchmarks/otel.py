"""The OpenTelemetry tracing's cost: an L1 hit and a provider call with and without it.

Two orchestrators run side by side in one event loop, identical but for an ``OtelTracing``
plugin (an SDK tracer provider whose batch processor hands spans to an exporter that drops
them) in one of them. Figures:

- an L1 hit through ``orch.fetch`` of the orchestrator with the plugin, called directly (no
  request span): budget 2x the hit without the plugin (it asks for no cache event);
- a healthy provider call to a local aiohttp server through ``create_session`` and ``send``
  (``skip_cache=True``), through the traced methods (a request span, an attempt span, a client
  span and ``traceparent`` injected): budget 2.5x at p50 against a local server answering in
  about 0.2 ms, where the SDK's three spans are most of the difference;
- that added time against a 5 ms provider call: budget 1.05x;
- the same L1 hit through the traced methods (a request span per hit), reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
from _harness import figure, measure
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from provider_call import _quote

from polysource import Orchestrator, ProviderInfo, Request, hookimpl, load_config
from polysource.datasets import QUOTE, Quote
from polysource.emulation import serve
from polysource.http import create_session, json_body, send
from polysource.testing import FakeProvider
from polysource_otel import OtelTracing

_PROVIDER_NS = 5_000_000


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Quotes:
    """A provider written like the first-party ones: its own session from create_session."""

    info = ProviderInfo("local", datasets={"quote"})
    plugin_name = "local"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session: aiohttp.ClientSession | None = None

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(self)

    async def fetch(self, request: Request) -> Quote:
        if self.session is None:
            self.session = create_session(timeout=5)
        response = await send(
            self.session, "GET", f"{self.base_url}/quote/{request.key}", provider="local"
        )
        body = json_body("local", response, dict)
        return Quote(body["symbol"], float(body["price"]), body["currency"])

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def _orchestrator(*plugins: object) -> Orchestrator:
    # The default configuration: structlog logger (warning) and stats on.
    return Orchestrator(load_config(environ={}), plugins=plugins, entry_points=False, environ={})


def _tracing() -> tuple[OtelTracing, TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=100_000))
    return OtelTracing(provider), provider


async def _hits(quick: bool) -> dict[str, dict[str, float]]:
    tracing, provider = _tracing()
    plain = _orchestrator(FakeProvider("bench"))
    traced_orch = _orchestrator(FakeProvider("bench"), tracing)
    traced = tracing.traced(traced_orch)
    for orch in (plain, traced_orch):
        await orch.start()
        await orch.fetch(QUOTE, "AAPL")

    async def without() -> Any:
        return await plain.fetch(QUOTE, "AAPL")

    async def with_plugin() -> Any:
        return await traced_orch.fetch(QUOTE, "AAPL")

    async def with_span() -> Any:
        return await traced.fetch(QUOTE, "AAPL")

    result = await measure(
        {"without": without, "with": with_plugin, "span": with_span},
        repeats=3 if quick else 7,
        rounds=10 if quick else 30,
    )
    for orch in (plain, traced_orch):
        await orch.close()
    provider.shutdown()
    return result


async def _calls(quick: bool) -> dict[str, dict[str, float]]:
    app = web.Application()
    app.router.add_get("/quote/{symbol}", _quote)
    async with serve(app) as base_url:
        tracing, provider = _tracing()
        plain = _orchestrator(_Quotes(base_url))
        await plain.start()
        await plain.fetch(QUOTE, "AAPL")  # its session, made before any trace config exists
        traced_orch = _orchestrator(_Quotes(base_url), tracing)
        await traced_orch.start()
        traced = tracing.traced(traced_orch)

        async def without() -> Any:
            return await plain.fetch(QUOTE, "AAPL", skip_cache=True)

        async def with_tracing() -> Any:
            return await traced.fetch(QUOTE, "AAPL", skip_cache=True)

        result = await measure(
            {"without": without, "with": with_tracing},
            repeats=3 if quick else 5,
            rounds=4 if quick else 12,
            ops=50,
            warmup=100,
        )
        for orch in (plain, traced_orch):
            await orch.close()
        provider.shutdown()
    return result


async def run(quick: bool) -> list[dict[str, Any]]:
    hits = await _hits(quick)
    calls = await _calls(quick)
    return [
        figure(
            "otel_l1_hit_vs_without",
            hits["with"]["median_ns"],
            hits["without"]["median_ns"],
            2.0,
            anchor_name="the same L1 hit without the tracing plugin",
            p99_ns=hits["with"]["p99_ns"],
            anchor_p99_ns=hits["without"]["p99_ns"],
        ),
        figure(
            "otel_traced_provider_call_p50_vs_without",
            calls["with"]["p50_ns"],
            calls["without"]["p50_ns"],
            2.5,
            anchor_name="the same provider call without tracing",
            p99_ns=calls["with"]["p99_ns"],
            anchor_p99_ns=calls["without"]["p99_ns"],
        ),
        figure(
            "otel_traced_added_vs_5ms_provider",
            _PROVIDER_NS + calls["with"]["p50_ns"] - calls["without"]["p50_ns"],
            _PROVIDER_NS,
            1.05,
            anchor_name="a 5 ms provider call",
        ),
        figure(
            "otel_traced_l1_hit_vs_without",
            hits["span"]["median_ns"],
            hits["without"]["median_ns"],
            None,
            anchor_name="the same L1 hit without a request span",
        ),
    ]
