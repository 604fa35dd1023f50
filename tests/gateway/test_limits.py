"""The gateway's own limits: requests in flight per client (429) and the request deadline."""

from __future__ import annotations

import asyncio

from polysource import load_config


async def test_client_over_its_concurrency_gets_429(make_orchestrator, fake, serving, keys):
    """A client with max_concurrency requests in flight gets 429 with Retry-After; others
    are served."""
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "gateway": keys.section(max_concurrency=1),
            "providers": {"alpha": {"coalesce": False}},
        },
    )
    orch = await make_orchestrator(fake, config=config)
    fake.latency = 1.0
    async with serving(orch) as client:
        held = asyncio.ensure_future(client.get("/v1/quote/AAPL", headers=keys.auth(keys.alice)))
        for _ in range(400):
            if fake.call_count():
                break
            await asyncio.sleep(0.005)
        refused = await client.get("/v1/quote/MSFT", headers=keys.auth(keys.alice))
        assert refused.status == 429 and refused.headers["Retry-After"] == "1"
        assert (await refused.json())["category"] == "rate_limit"
        other = asyncio.ensure_future(client.get("/v1/quote/IBM", headers=keys.auth(keys.bob)))
        for _ in range(400):
            if fake.call_count() == 2:
                break
            await asyncio.sleep(0.005)
        assert fake.call_count() == 2  # bob's request reached the provider
        await orch.clock.advance(1.0)
        assert (await held).status == 200 and (await other).status == 200
        fake.latency = 0.0
        assert (await client.get("/v1/quote/MSFT", headers=keys.auth(keys.alice))).status == 200


async def test_request_over_the_deadline_gets_504(make_orchestrator, fake, serving, keys):
    """A request still running at [gateway] deadline is answered 504 (category timeout)."""
    config = load_config(
        environ={},
        overrides={"telemetry": {"log": False}, "gateway": keys.section(deadline=0.05)},
    )
    orch = await make_orchestrator(fake, config=config)
    fake.latency = 60.0  # fake-clock seconds: the call never ends unless the clock moves
    async with serving(orch) as client:
        response = await client.get("/v1/quote/AAPL")
        assert response.status == 504
        body = await response.json()
        assert body["category"] == "timeout" and body["retryable"] is True
