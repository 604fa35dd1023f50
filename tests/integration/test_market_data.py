"""The market-data plugins through the real engine, against their emulators on loopback."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from polysource import Orchestrator, Secret, load_config
from polysource.datasets import FUNDAMENTALS, QUOTE
from polysource.emulation import EMULATOR_STATE, US_LARGE_CAPS, Faults, serve
from polysource.errors import AllProvidersFailed
from polysource_tiingo.emulator import create_app as tiingo_app
from polysource_yahoo.emulator import create_app as yahoo_app


@pytest.fixture
async def market():
    """Both emulators served, and an orchestrator whose plugins point at them."""
    import polysource_tiingo
    import polysource_yahoo

    apps = {"tiingo": tiingo_app(Faults(seed=3)), "yahoo": yahoo_app(Faults(seed=4))}
    async with AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serve(app)) for name, app in apps.items()}
        config = load_config(
            environ={},
            overrides={
                "region": "US",
                "telemetry": {"log": False},
                "providers": {
                    "tiingo": {
                        "base_url": urls["tiingo"],
                        "credentials": {"api_key": Secret.of("integration-token")},
                        "rate_limits": [],
                        "retry": {"attempts": 1},
                        "breaker": {"failure_threshold": 2, "recovery_timeout": 60},
                    },
                    "yahoo": {"base_url": urls["yahoo"], "rate_limits": []},
                },
            },
        )
        orch = Orchestrator(
            config, plugins=[polysource_tiingo, polysource_yahoo], entry_points=False, environ={}
        )
        async with orch:
            yield orch, {name: app[EMULATOR_STATE] for name, app in apps.items()}


def _iex_calls(states) -> int:
    return sum(n for path, n in states["tiingo"].requests.items() if path.startswith("/iex"))


async def test_outage_fails_over_to_yahoo_and_opens_the_breaker(market):
    """Tiingo down: quotes come from Yahoo, Tiingo's breaker opens, then it is skipped."""
    orch, states = market
    states["tiingo"].set_faults(Faults(outage=True))
    first = await orch.fetch(QUOTE, "AAPL")
    second = await orch.fetch(QUOTE, "MSFT")
    third = await orch.fetch(QUOTE, "GOOGL")
    assert {first.source, second.source, third.source} == {"yahoo"}
    assert [e.category for e in first.errors] == ["provider_down"]
    assert [e.category for e in third.errors] == ["circuit_open"]
    assert orch.health()["tiingo"].breaker == "open"


async def test_batch_split_and_per_key_failover(market):
    """150 keys: Tiingo's /iex is called in batches of 100; keys it cannot serve go to Yahoo."""
    orch, states = market
    keys = [t for t, _, _ in US_LARGE_CAPS] + [
        "AAPL",
        "MSFT",
        "V",
        "JNJ",
        "XOM",
        "FX:EURUSD",
        "^GSPC",
        "ZZZZ",
    ]
    keys += ["SPY", "QQQ", "IBM", "KO", "DIS", "INTC", "WMT"]
    batch = await orch.fetch_many(QUOTE, keys)
    assert set(batch.errors) == {"ZZZZ"}
    assert batch.results["FX:EURUSD"].source == "yahoo"
    assert batch.results["AAPL"].source == "tiingo"
    assert _iex_calls(states) == -(-len([k for k in keys if ":" not in k and "^" not in k]) // 100)


async def test_concurrent_fetches_are_coalesced_into_one_request(market):
    """30 concurrent quote fetches reach the Tiingo emulator as one /iex request."""
    orch, states = market
    keys = [t for t, _, _ in US_LARGE_CAPS[:30]]
    answers = await asyncio.gather(*(orch.fetch(QUOTE, key) for key in keys))
    assert [a.data.symbol for a in answers] == keys
    assert _iex_calls(states) == 1


async def test_merge_strategies_with_both_providers(market):
    """first, median and consensus over the two real plugins; field_priority on fundamentals."""
    orch, _ = market
    first = await orch.fetch_merged(QUOTE, "AAPL", strategy="first", min_providers=2)
    assert first.sources == ("tiingo", "yahoo") and first.provenance["price"] == ("tiingo",)
    median = await orch.fetch_merged(QUOTE, "AAPL", strategy="median", min_providers=2)
    assert set(median.provenance["price"]) == {"tiingo", "yahoo"}
    consensus = await orch.fetch_merged(QUOTE, "AAPL", strategy="consensus", tolerance=0.0001)
    # The two emulators price AAPL independently, so the providers disagree and it is flagged.
    prices = consensus.conflicts["price"]
    assert set(prices) == {"tiingo", "yahoo"} and prices["tiingo"] != prices["yahoo"]
    assert consensus.data.price == prices["tiingo"]
    fundamentals = await orch.fetch_merged(
        FUNDAMENTALS,
        "AAPL",
        strategy="field_priority",
        field_priority={"market_cap": ["yahoo", "tiingo"], "name": ["tiingo", "yahoo"]},
    )
    assert fundamentals.provenance["name"] == ("tiingo",)
    assert fundamentals.data.market_cap is not None


async def test_wrong_values_fail_over_and_are_never_cached(market):
    """Tiingo answers negative prices: fetch and fetch_many fail over to Yahoo, and after both
    serve wrong values and then recover, no negative price was cached or served."""
    orch, states = market
    states["tiingo"].set_faults(Faults(wrong_values_rate=1.0))
    single = await orch.fetch(QUOTE, "AAPL")
    assert single.source == "yahoo" and single.data.price > 0
    assert [e.category for e in single.errors] == ["invalid_response"]
    batch = await orch.fetch_many(QUOTE, ["MSFT", "GOOGL"])
    assert {r.source for r in batch.results.values()} == {"yahoo"}
    assert all(r.data.price > 0 for r in batch.results.values())
    states["yahoo"].set_faults(Faults(wrong_values_rate=1.0))
    with pytest.raises(AllProvidersFailed) as failed:
        await orch.fetch(QUOTE, "AMZN")
    assert failed.value.errors[-1].category == "invalid_response"
    for name in ("tiingo", "yahoo"):
        states[name].set_faults(Faults())
    recovered = await orch.fetch(QUOTE, "AMZN")
    assert not recovered.cached and recovered.data.price > 0
    again = await orch.fetch(QUOTE, "MSFT")
    assert again.cached and again.source == "yahoo" and again.data.price > 0


async def test_merged_median_never_sees_a_wrong_value(market):
    """With Tiingo's prices negative, the median is Yahoo's price alone, never a negative."""
    orch, states = market
    states["tiingo"].set_faults(Faults(wrong_values_rate=1.0))
    merged = await orch.fetch_merged(QUOTE, "AAPL", strategy="median", min_providers=1)
    assert merged.sources == ("yahoo",) and merged.data.price > 0
    assert [e.category for e in merged.errors] == ["invalid_response"]
