"""Client spans of provider HTTP requests: parented to the attempt, context sent, no secrets."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.trace import SpanKind, StatusCode

from polysource import ProviderInfo, Request, hookimpl
from polysource.datasets import QUOTE, Quote
from polysource.emulation import serve
from polysource.errors import AllProvidersFailed
from polysource.http import create_session, json_body, raise_for_status, send
from polysource_otel import OtelTracing

SECRET = "sk-canary-5e2d9a"


class WireQuotes:
    """A provider plugin the way first-party ones are written: create_session and send."""

    plugin_name = "wire"
    info = ProviderInfo("wire", datasets={"quote"})

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session: aiohttp.ClientSession | None = None

    @hookimpl
    def register_providers(self, register) -> None:
        register(self)

    async def fetch(self, request: Request) -> Quote:
        if self.session is None:
            self.session = create_session(timeout=5)
        response = await send(
            self.session,
            "GET",
            f"{self.base_url}/quote/{request.key}",
            provider="wire",
            params={"apikey": SECRET, "symbol": request.key},
            headers={"Authorization": f"Token {SECRET}"},
            shown=f"{self.base_url}/quote/{{symbol}}",
            secrets=(SECRET,),
        )
        raise_for_status("wire", response, secrets=(SECRET,))
        body = json_body("wire", response, dict)
        return Quote(request.key, float(body["price"]))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


@pytest.fixture
async def server():
    """A quote server recording each request's traceparent; ``FAIL`` answers HTTP 500."""
    seen: list[str | None] = []

    async def quote(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent"))
        if request.match_info["symbol"] == "FAIL":
            return web.Response(status=500)
        return web.json_response({"price": 190.5})

    app = web.Application()
    app.router.add_get("/quote/{symbol}", quote)
    async with serve(app) as url:
        yield url, seen


async def test_provider_request_is_a_client_span_under_its_attempt(
    make_orchestrator, tracing, spans, server
):
    """The provider's HTTP request is a client span, child of the attempt span, and the request
    carries that span's context in ``traceparent``."""
    url, seen = server
    orch = await make_orchestrator(WireQuotes(url))
    await tracing.traced(orch).fetch(QUOTE, "AAPL", skip_cache=True)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    client, attempt = by_name["GET"], by_name["attempt wire"]
    assert client.kind is SpanKind.CLIENT
    assert client.parent.span_id == attempt.context.span_id
    assert attempt.parent.span_id == by_name["fetch quote"].context.span_id
    assert dict(client.attributes) == {
        "http.request.method": "GET",
        "url.full": f"{url}/quote/{{symbol}}",
        "server.address": "127.0.0.1",
        "server.port": int(url.rsplit(":", 1)[1]),
        "http.response.status_code": 200,
    }
    (traceparent,) = seen
    _, trace_id, span_id, _ = traceparent.split("-")
    assert (trace_id, span_id) == (
        f"{client.context.trace_id:032x}",
        f"{client.context.span_id:016x}",
    )


async def test_no_secret_reaches_any_span(make_orchestrator, tracing, spans, server):
    """Neither the API key in the query nor the Authorization header shows in any span, in
    success or failure."""
    url, _ = server
    orch = await make_orchestrator(WireQuotes(url), providers={"wire": {"retry": {"attempts": 1}}})
    traced = tracing.traced(orch)
    await traced.fetch(QUOTE, "AAPL", skip_cache=True)
    with pytest.raises(AllProvidersFailed):
        await traced.fetch(QUOTE, "FAIL", skip_cache=True)
    text = "".join(s.to_json() for s in spans.get_finished_spans())
    assert SECRET not in text and "canary" not in text
    assert "sk-" not in text


async def test_error_status_marks_the_client_span(make_orchestrator, tracing, spans, server):
    """An HTTP 500 ends the client span with an error status and ``error.type`` 500."""
    url, _ = server
    orch = await make_orchestrator(WireQuotes(url), providers={"wire": {"retry": {"attempts": 1}}})
    with pytest.raises(AllProvidersFailed):
        await tracing.traced(orch).fetch(QUOTE, "FAIL")
    (client,) = [s for s in spans.get_finished_spans() if s.name == "GET"]
    assert client.attributes["http.response.status_code"] == 500
    assert client.attributes["error.type"] == "500"
    assert client.status.status_code is StatusCode.ERROR


async def test_transport_failure_marks_the_client_span(make_orchestrator, tracing, spans):
    """A refused connection ends the client span with the exception's class as ``error.type``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    orch = await make_orchestrator(
        WireQuotes(f"http://127.0.0.1:{port}"), providers={"wire": {"retry": {"attempts": 1}}}
    )
    with pytest.raises(AllProvidersFailed):
        await tracing.traced(orch).fetch(QUOTE, "AAPL")
    (client,) = [s for s in spans.get_finished_spans() if s.name == "GET"]
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes["error.type"].startswith("aiohttp.")
    assert "http.response.status_code" not in client.attributes


async def test_context_not_sent_when_propagation_is_off(make_orchestrator, provider, spans, server):
    """With ``propagate=False`` the client span is made but no ``traceparent`` is sent."""
    url, seen = server
    orch = await make_orchestrator(WireQuotes(url), OtelTracing(provider, propagate=False))
    await orch.fetch(QUOTE, "AAPL")
    assert seen == [None]


async def test_trace_config_registered_only_while_running(make_orchestrator, tracing):
    """Sessions made while a traced orchestrator runs carry its trace config; after it closes,
    new sessions carry none."""
    orch = await make_orchestrator()
    async with create_session() as session:
        assert session.trace_configs == [tracing._trace_config]
    await orch.close()
    async with create_session() as session:
        assert not session.trace_configs
