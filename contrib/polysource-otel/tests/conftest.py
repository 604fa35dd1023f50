"""Fixtures of the OpenTelemetry tests: spans captured in memory, and traced orchestrators.

``spans`` is the SDK's in-memory exporter behind a tracer provider of the test's own (the
global provider is never set); ``tracing`` an :class:`OtelTracing` on that provider;
``make_orchestrator(*plugins, **config)`` a started orchestrator on the fake clock with only
the plugins given plus ``tracing``, closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from polysource import Orchestrator, load_config
from polysource.testing import FakeClock
from polysource_otel import OtelTracing


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock: time moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The finished spans of the test's tracer provider."""
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    """A tracer provider exporting to ``spans`` as each span ends."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


@pytest.fixture
def tracing(provider: TracerProvider) -> OtelTracing:
    """The tracing plugin on the test's tracer provider."""
    return OtelTracing(provider)


@pytest.fixture
async def make_orchestrator(
    clock: FakeClock, tracing: OtelTracing
) -> AsyncIterator[Callable[..., Awaitable[Orchestrator]]]:
    """Factory of started orchestrators with ``tracing`` plugged in, closed afterwards."""
    built: list[Orchestrator] = []

    async def make(*plugins: object, **overrides: Any) -> Orchestrator:
        config = load_config(environ={}, overrides=overrides)
        orch = Orchestrator(
            config, plugins=(*plugins, tracing), clock=clock, entry_points=False, environ={}
        )
        await orch.start()
        built.append(orch)
        return orch

    yield make
    for orch in built:
        await orch.close()
