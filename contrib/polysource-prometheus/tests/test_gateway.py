"""The gateway's ``GET /metrics`` with ``[telemetry] prometheus = true``: no code needed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from aiohttp.test_utils import TestClient, TestServer

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.gateway import create_app
from polysource.gateway.metrics import exporters
from polysource.testing import FakeProvider
from polysource_prometheus import PrometheusMetrics


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is not on PATH")
        pytest.skip("promtool is not on PATH (apt-get install prometheus)")
    return path


def _config(**telemetry: object):
    return load_config(environ={}, overrides={"telemetry": {"log": False, **telemetry}})


def test_the_switch_builds_an_exporter_through_the_hook():
    """[telemetry] prometheus = true gets a PrometheusMetrics from the installed plugin."""
    (exporter,) = exporters(_config(prometheus=True))
    assert isinstance(exporter, PrometheusMetrics)
    assert exporters(_config()) == []


async def test_metrics_route_serves_an_exposition_promtool_accepts(clock):
    """With the switch on, GET /metrics answers the exposition and promtool finds no problem."""
    config = _config(prometheus=True)
    fake = FakeProvider("alpha", clock=clock)
    orch = Orchestrator(
        config, plugins=[fake, *exporters(config)], clock=clock, entry_points=False, environ={}
    )
    async with TestClient(TestServer(create_app(orch))) as client:
        assert (await client.get(f"/v1/{QUOTE.name}/AAPL")).status == 200
        fake.fail("MSFT", "network")
        await client.get(f"/v1/{QUOTE.name}/MSFT")
        response = await client.get("/metrics")
        body = await response.read()
        assert response.status == 200, body
        assert response.headers["Content-Type"].startswith("text/plain")
        assert b"polysource_provider_attempts_total" in body
        openmetrics = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    checked = subprocess.run(
        [_promtool(), "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


async def test_installed_but_not_configured_is_404(clock):
    """The plugin installed without the switch leaves GET /metrics a 404 problem."""
    config = _config()
    orch = Orchestrator(config, plugins=[FakeProvider("alpha", clock=clock)], clock=clock)
    async with TestClient(TestServer(create_app(orch))) as client:
        response = await client.get("/metrics")
        assert response.status == 404
        assert "[telemetry] prometheus" in (await response.json())["detail"]
