"""RFC 9457 problems: bad input is refused before any provider call; failures map by category."""

from __future__ import annotations

import io

import pytest

PROBLEM = "application/problem+json"


async def _problem(response, status):
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body = await response.json()
    assert body["status"] == status and body["type"].startswith("urn:polysource:problem:")
    return body


async def test_unknown_dataset_is_404(gateway, fake):
    """An unknown dataset is a 404 problem naming the known ones."""
    body = await _problem(await gateway.get("/v1/nope/AAPL"), 404)
    assert "quote" in body["detail"] and fake.call_count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/quote/%20%20",
        "/v1/quote/" + "A" * 300,
        "/v1/quote/AA%00PL",
        "/v1/quote/AAPL?max_age=-1",
        "/v1/quote/AAPL?allow_stale=maybe",
        "/v1/quote/AAPL?bogus=1",
        "/v1/quote/AAPL?tier=gold",
        "/v1/quote/AAPL?deadline=0",
    ],
)
async def test_bad_input_is_400_without_provider_calls(gateway, fake, path):
    """Blank, long or control-character keys and bad query values are 400s, no call made."""
    await _problem(await gateway.get(path), 400)
    assert fake.call_count() == 0


async def test_tenant_in_query_is_refused(gateway, fake, keys):
    """A tenant named in the query is a 400: the tenant comes from the key only."""
    body = await _problem(
        await gateway.get("/v1/quote/AAPL?tenant=tenant-b", headers=keys.auth(keys.alice)), 400
    )
    assert "API key" in body["detail"] and fake.call_count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"keys": "AAPL"}', "application/json", 400),
        (b'{"keys": []}', "application/json", 400),
        (b'{"keys": [1, 2]}', "application/json", 400),
        (b'{"keys": ["AAPL"], "tenant": "x"}', "application/json", 400),
        (b'{"keys": ["AAPL"]}', "text/plain", 415),
        (b"", "application/json", 400),
    ],
)
async def test_bad_batch_body_is_4xx_without_provider_calls(
    gateway, fake, body, content_type, status
):
    """Malformed batch bodies are refused before any provider call."""
    response = await gateway.post(
        "/v1/quote/batch", data=body, headers={"Content-Type": content_type}
    )
    await _problem(response, status)
    assert fake.call_count() == 0


async def test_oversize_batch_is_400_without_provider_calls(gateway, fake):
    """More keys than [gateway] max_batch is a 400 naming the limit."""
    response = await gateway.post("/v1/quote/batch", json={"keys": ["K"] * 101})
    body = await _problem(response, 400)
    assert "100" in body["detail"] and fake.call_count() == 0


async def test_oversize_body_is_413_without_provider_calls(gateway, fake):
    """A body over [gateway] max_body is a 413, declared or streamed."""
    big = io.BytesIO(b'{"keys": ["' + b"A" * (2 * 1024 * 1024) + b'"]}')
    declared = await gateway.post(
        "/v1/quote/batch", data=big, headers={"Content-Type": "application/json"}
    )
    await _problem(declared, 413)

    async def chunks():
        yield b'{"keys": ["'
        for _ in range(64):
            yield b"A" * 65536
        yield b'"]}'

    streamed = await gateway.post(
        "/v1/quote/batch", data=chunks(), headers={"Content-Type": "application/json"}
    )
    await _problem(streamed, 413)
    assert fake.call_count() == 0


async def test_bad_operation_params_are_400_without_provider_calls(
    make_orchestrator, clock, serving, keys
):
    """Operation parameters of the wrong shape, or a secret given as {env: ...}, are 400s."""
    from polysource import load_config
    from polysource.testing import FakeProvider

    bank = FakeProvider("bank", datasets=(), operations={"create_link"}, clock=clock)
    config = load_config(
        environ={}, overrides={"telemetry": {"log": False}, "gateway": keys.section()}
    )
    orch = await make_orchestrator(bank, config=config)
    async with serving(orch) as client:
        for body in (
            {"password": {"env": "HOME"}},
            {"password": {"file": "/etc/passwd"}},
            {"products": 5},
            {"tenant": "tenant-b"},
            [1, 2],
        ):
            response = await client.post(
                "/v1/operations/create_link", json=body, headers=keys.auth(keys.alice)
            )
            await _problem(response, 400)
    assert bank.operation_calls == []


@pytest.mark.parametrize(
    ("category", "status", "retry_after"),
    [
        ("timeout", 504, None),
        ("provider_down", 503, None),
        ("rate_limit", 503, "7"),
        ("invalid_response", 502, None),
        ("auth", 502, None),
        ("not_found", 404, None),
    ],
)
async def test_all_providers_failed_maps_by_category(gateway, fake, category, status, retry_after):
    """AllProvidersFailed answers 502/503/504 (or 404) by category, with the provider errors."""
    fake.fail("AAPL", category, retry_after=7 if category == "rate_limit" else None)
    response = await gateway.get("/v1/quote/AAPL")
    body = await _problem(response, status)
    assert response.headers.get("Retry-After") == retry_after
    assert [(e["provider"], e["category"]) for e in body["errors"]] == [("alpha", category)]
    assert body["retryable"] is (status in {503, 504})


async def test_unknown_route_is_a_problem(gateway):
    """A path the gateway does not serve is a 404 problem, not an HTML page."""
    await _problem(await gateway.get("/nowhere"), 404)
