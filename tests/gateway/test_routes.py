"""The data, listing, health and stats routes over a scripted provider."""

from __future__ import annotations

import subprocess
import sys

from polysource.datasets import Quote


async def test_fetch_returns_the_value_with_its_source(gateway, fake):
    """GET /v1/quote/AAPL answers the provider's value, its source and no errors."""
    fake.answer("AAPL", Quote("AAPL", 101.5))
    response = await gateway.get("/v1/quote/AAPL")
    assert response.status == 200
    body = await response.json()
    assert body["data"]["price"] == 101.5
    assert (body["source"], body["stale"], body["errors"]) == ("alpha", False, [])


async def test_batch_returns_each_key_and_a_summary(gateway, fake):
    """POST /v1/quote/batch fetches every key in one provider batch and summarises."""
    response = await gateway.post("/v1/quote/batch", json={"keys": ["AAPL", "MSFT"]})
    assert response.status == 200
    body = await response.json()
    assert set(body["results"]) == {"AAPL", "MSFT"}
    assert body["summary"]["successful"] == 2 and body["errors"] == {}
    assert len(fake.batch_calls) == 1


async def test_batch_reports_a_missing_key_as_a_problem(gateway, fake):
    """A key no provider has is a per-key problem, the others are answered."""
    fake.fail_always("ZZZZ", "not_found")
    response = await gateway.post("/v1/quote/batch", json={"keys": ["AAPL", "ZZZZ"]})
    body = await response.json()
    assert set(body["results"]) == {"AAPL"}
    assert body["errors"]["ZZZZ"]["status"] == 404


async def test_merged_read_names_its_sources(gateway):
    """POST /v1/quote/merged/AAPL merges and reports the sources and strategy."""
    response = await gateway.post("/v1/quote/merged/AAPL", json={"strategy": "first"})
    assert response.status == 200
    body = await response.json()
    assert body["sources"] == ["alpha"] and body["strategy"] == "first"


async def test_listings_name_datasets_and_providers(gateway):
    """GET /v1/datasets and /v1/providers list the registries."""
    datasets = await (await gateway.get("/v1/datasets")).json()
    providers = await (await gateway.get("/v1/providers")).json()
    assert {"quote", "accounts"} <= {d["name"] for d in datasets}
    assert [p["name"] for p in providers] == ["alpha"]
    assert next(d for d in datasets if d["name"] == "accounts")["private"] is True


async def test_health_routes_answer(gateway):
    """Liveness, readiness and per-provider health answer 200 on a started gateway."""
    assert (await gateway.get("/health/live")).status == 200
    ready = await gateway.get("/health/ready")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"
    health = await (await gateway.get("/health")).json()
    assert health["providers"]["alpha"]["breaker"] == "closed"


async def test_health_is_503_when_every_provider_is_down(gateway, fake):
    """GET /health answers 503 once the only provider is down."""
    fake.fail_always("*", "provider_down")
    for symbol in ("A", "B", "C", "D", "E", "F"):
        await gateway.get(f"/v1/quote/{symbol}")
    response = await gateway.get("/health")
    assert response.status == 503
    assert (await response.json())["status"] == "down"


async def test_stats_counts_requests_and_hits(gateway):
    """GET /stats reports the orchestrator's counters with the hit rate."""
    await gateway.get("/v1/quote/AAPL")
    await gateway.get("/v1/quote/AAPL")
    stats = await (await gateway.get("/stats")).json()
    assert stats["cache_hits"] == 1 and stats["hit_rate"] == 0.5


async def test_metrics_is_404_with_a_clear_body_without_prometheus(gateway):
    """GET /metrics says which integration serves it."""
    response = await gateway.get("/metrics")
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert "polysource[prometheus]" in (await response.json())["detail"]


def test_import_polysource_does_not_import_aiohttp_web():
    """The gateway (and aiohttp.web) load only when asked for."""
    code = (
        "import sys, polysource; "
        "print('aiohttp.web' in sys.modules, 'polysource.gateway' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


async def test_app_mounts_under_a_prefix_of_a_users_app(make_orchestrator, fake, serving):
    """create_app returns an app a user mounts with add_subapp."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from polysource.gateway import create_app

    orch = await make_orchestrator(fake, telemetry={"log": False})
    outer = web.Application()
    outer.add_subapp("/data", create_app(orch, own_orchestrator=False))
    async with TestClient(TestServer(outer)) as client:
        response = await client.get("/data/v1/quote/AAPL")
        assert response.status == 200
        assert (await response.json())["source"] == "alpha"
