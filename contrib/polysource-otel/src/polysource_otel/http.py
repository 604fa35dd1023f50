"""The provider HTTP calls: an aiohttp ``TraceConfig`` that opens a client span per request.

Each request a provider plugin sends through a session of
[`create_session()`][polysource.http.create_session] gets a ``CLIENT`` span, a child of the
provider attempt's span ([`attempt_span`][polysource_otel.http.attempt_span]; else of the span
current when the request starts), and the request carries that span's context in its headers
(``traceparent``, with the process's text-map propagator), so a provider that traces sees its
work in the same trace.

The span follows the HTTP client semantic conventions: ``http.request.method``, ``url.full``,
``server.address``, ``server.port``, ``http.response.status_code`` and ``error.type`` (the
status code for a 4xx or 5xx, the exception's class when the request failed). ``url.full`` is
the URL as polysource's messages show it ([`SHOWN_URL`][polysource.http.SHOWN_URL]): no user
info and no query string, and the provider's path template when it gave one, so neither a
credential nor a private id (a tenant's account id in a path) reaches a span; a request sent
without
[`send()`][polysource.http.send] shows its URL without the query, masked by
[`mask_url()`][polysource.redaction.mask_url].
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from polysource.http import SHOWN_URL
from polysource.redaction import mask_url

__all__ = ["attempt_span", "http_trace_config"]

attempt_span: ContextVar[trace.Span | None] = ContextVar("polysource_otel_attempt", default=None)
"""The span of the provider attempt running in this task, set by
[`OtelTracing`][polysource_otel.tracing.OtelTracing] while the provider call runs. A variable
of its own rather than the current OpenTelemetry context: an attempt cancelled before it could
end leaves only this variable set, never the application's current span."""


def http_trace_config(
    tracer: trace.Tracer, *, propagate_context: bool = True
) -> aiohttp.TraceConfig:
    """An aiohttp trace config that opens a client span per request.

    Args:
        tracer: Where the spans are made.
        propagate_context: Whether to inject the span's context into the request's headers
            (``False``: the provider receives no ``traceparent``).
    """
    config = aiohttp.TraceConfig()

    async def on_request_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        url = params.url
        method = params.method.upper()
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.full": _shown(ctx.trace_request_ctx, url),
        }
        if url.host:
            attributes["server.address"] = url.host
        if url.port is not None:
            attributes["server.port"] = url.port
        parent = attempt_span.get()
        span = tracer.start_span(
            method,
            context=trace.set_span_in_context(parent) if parent is not None else None,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        ctx.span = span
        if propagate_context:
            propagate.inject(params.headers, context=trace.set_span_in_context(span))

    async def on_request_end(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        span: trace.Span | None = getattr(ctx, "span", None)
        if span is None:
            return
        status = params.response.status
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    async def on_request_exception(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        span: trace.Span | None = getattr(ctx, "span", None)
        if span is None:
            return
        # The class only: a transport error's text may quote the URL with its query.
        error = type(params.exception)
        span.set_attribute("error.type", f"{error.__module__}.{error.__qualname__}")
        span.set_status(Status(StatusCode.ERROR, error.__name__))
        span.end()

    config.on_request_start.append(on_request_start)
    config.on_request_end.append(on_request_end)
    config.on_request_exception.append(on_request_exception)
    return config


def _shown(request_ctx: object, url: Any) -> str:
    if isinstance(request_ctx, Mapping):
        shown = request_ctx.get(SHOWN_URL)
        if isinstance(shown, str):
            return mask_url(shown)
    return mask_url(str(url.with_query(None).with_fragment(None)))
