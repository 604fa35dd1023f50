"""The ``/metrics`` handler: mounted on a plain aiohttp app, negotiated content type."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder

from polysource.datasets import QUOTE
from polysource.testing import FakeProvider
from polysource_prometheus import metrics_handler


async def _get(handler, accept: str | None = None):
    app = web.Application()
    app.router.add_get("/metrics", handler)
    async with TestClient(TestServer(app)) as client:
        headers = {"Accept": accept} if accept else {}
        response = await client.get("/metrics", headers=headers)
        return response.status, response.headers["Content-Type"], await response.text()


async def test_handler_from_the_orchestrator_serves_its_metrics(make_orchestrator, clock):
    """metrics_handler(orch) finds the plugin; the type is the one prometheus_client gives."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock))
    await orch.fetch(QUOTE, "K1")
    status, content_type, body = await _get(metrics_handler(orch))
    assert status == 200 and content_type == choose_encoder("")[1]  # Prometheus text
    assert "polysource_requests_total 1.0" in body
    assert 'polysource_provider_attempts_total{category="",dataset="quote"' in body


async def test_handler_speaks_openmetrics_when_asked(make_orchestrator, metrics, clock):
    """An OpenMetrics Accept header gets the OpenMetrics format, ended by ``# EOF``."""
    await make_orchestrator(FakeProvider("a", clock=clock))
    status, content_type, body = await _get(
        metrics_handler(metrics), "application/openmetrics-text; version=1.0.0"
    )
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")


async def test_handler_serves_any_registry() -> None:
    """A plain CollectorRegistry (the global one too) can be served."""
    registry = CollectorRegistry()
    Counter("app_things_total", "Things.", registry=registry).inc(3)
    _, _, body = await _get(metrics_handler(registry))
    assert "app_things_total 3.0" in body


async def test_handler_needs_the_plugin_on_the_orchestrator(make_orchestrator, clock):
    """An orchestrator without the plugin is refused with a message saying what to pass."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock), with_metrics=False)
    with pytest.raises(ValueError, match=r"0 PrometheusMetrics plugins.*plugins=\[Prometheus"):
        metrics_handler(orch)


def test_plugin_load_does_not_import_aiohttp_web() -> None:
    """Importing the package leaves aiohttp.web unimported (the handler imports it lazily)."""
    code = "import sys, polysource_prometheus; print('aiohttp.web' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
