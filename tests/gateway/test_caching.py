"""HTTP caching semantics: Cache-Control from freshness, Age, strong ETag and 304, Cache-Status."""

from __future__ import annotations

import asyncio

from polysource.datasets import Quote


async def test_miss_then_hit_headers(gateway, clock):
    """A miss is 'fwd=miss; stored', a hit names the memory layer; Age and max-age follow time."""
    first = await gateway.get("/v1/quote/AAPL")
    assert first.headers["Cache-Status"].startswith("polysource; fwd=miss; stored")
    assert first.headers["Cache-Control"] == "public, max-age=60, stale-if-error=600"
    assert first.headers["Age"] == "0"
    await clock.advance(20)
    second = await gateway.get("/v1/quote/AAPL")
    assert second.headers["Cache-Status"] == 'polysource; hit; ttl=40; detail="memory"'
    assert second.headers["Age"] == "20"
    assert second.headers["Cache-Control"].startswith("public, max-age=40")
    assert second.headers["ETag"] == first.headers["ETag"]


async def test_tier_picks_max_age(gateway):
    """A premium caller gets the dataset's premium TTL as max-age."""
    response = await gateway.get("/v1/quote/AAPL?tier=premium")
    assert response.headers["Cache-Control"].startswith("public, max-age=5,")


async def test_if_none_match_answers_304_without_body(gateway):
    """A matching If-None-Match is a 304 with the ETag; another tag gets the body."""
    first = await gateway.get("/v1/quote/AAPL")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = await gateway.get("/v1/quote/AAPL", headers={"If-None-Match": f'"x", {etag}'})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == etag
    other = await gateway.get("/v1/quote/AAPL", headers={"If-None-Match": '"other"'})
    assert other.status == 200


async def test_changed_value_changes_the_etag(gateway, fake, clock):
    """Once the value is refreshed with new data, its ETag differs."""
    fake.answer("AAPL", Quote("AAPL", 1.0))
    first = await gateway.get("/v1/quote/AAPL")
    fake.answer("AAPL", Quote("AAPL", 2.0))
    await clock.advance(61)
    second = await gateway.get("/v1/quote/AAPL")
    assert (await second.json())["data"]["price"] == 2.0
    assert second.headers["ETag"] != first.headers["ETag"]


async def test_stale_value_says_so(gateway, fake, clock):
    """A stale value served after every provider failed is max-age=0 with a negative ttl."""
    await gateway.get("/v1/quote/AAPL")
    await clock.advance(90)
    fake.fail_always("AAPL", "provider_down")
    response = await gateway.get("/v1/quote/AAPL")
    assert response.status == 200
    assert (await response.json())["stale"] is True
    assert response.headers["Cache-Control"].startswith("public, max-age=0")
    status = response.headers["Cache-Status"]
    assert "hit" in status and "ttl=-30" in status and "stale" in status


async def test_private_dataset_is_private(make_orchestrator, clock, serving, keys):
    """A private dataset's value is Cache-Control: private."""
    from polysource import Connection, load_config
    from polysource.datasets import Accounts
    from polysource.testing import FakeProvider

    bank = FakeProvider(
        "bank", datasets={"accounts"}, clock=clock, default=lambda r: Accounts(accounts=())
    )
    config = load_config(
        environ={}, overrides={"telemetry": {"log": False}, "gateway": keys.section()}
    )
    orch = await make_orchestrator(bank, config=config)
    await orch.connections.save(Connection("tenant-a", "bank", link_id="l1"))
    async with serving(orch) as client:
        response = await client.get("/v1/accounts/all", headers=keys.auth(keys.alice))
        assert response.status == 200
        assert response.headers["Cache-Control"].startswith("private, max-age=300")


async def _until(condition):
    """Let the loopback requests progress until ``condition()`` holds (bounded)."""
    for _ in range(400):
        if await condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_collapsed_requests_say_so(gateway, fake, clock):
    """Two identical concurrent misses: one provider call; the joiner's Cache-Status says
    collapsed."""
    fake.latency = 1.0  # the fixture's provider batches: its calls take this long
    first = asyncio.ensure_future(gateway.get("/v1/quote/AAPL"))

    async def called():
        return fake.call_count("AAPL") == 1

    async def joined():
        return (await (await gateway.get("/stats")).json())["deduplicated"] == 1

    await _until(called)
    second = asyncio.ensure_future(gateway.get("/v1/quote/AAPL"))
    await _until(joined)
    await clock.advance(1.0)
    responses = await asyncio.wait_for(asyncio.gather(first, second), 5)
    statuses = sorted(r.headers["Cache-Status"] for r in responses)
    assert fake.call_count("AAPL") == 1
    assert statuses[1].endswith("; collapsed") and "collapsed" not in statuses[0], statuses
