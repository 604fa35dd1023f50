"""The Tiingo provider against the Tiingo emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest

from polysource.datasets import DAILY_BARS, FUNDAMENTALS, QUOTE
from polysource.emulation import Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Request
from polysource_tiingo.emulator import CATALOGUE, create_app

from .conftest import FixedClock

WEDNESDAY = 1732723200.0  # 2024-11-27 16:00 UTC


def _app(**faults: object):
    return create_app(Faults(**faults), clock=lambda: WEDNESDAY)


async def test_provider_serves_every_dataset_from_the_emulator(make_provider) -> None:
    """Quote, daily bars and fundamentals all round-trip through the emulator."""
    async with serve(_app()) as url:
        provider = make_provider(base_url=url, clock=FixedClock(WEDNESDAY), history_days=10)
        quote = await provider.fetch(Request(QUOTE, "AAPL", "US"))
        bars = await provider.fetch(Request(DAILY_BARS, "AAPL", "US"))
        class_b = await provider.fetch(Request(DAILY_BARS, "BRK.B", "US"))
        fundamentals = await provider.fetch(Request(FUNDAMENTALS, "MSFT", "US"))
    assert quote.symbol == "AAPL" and quote.price > 0
    assert quote.bid is None  # full top-of-book needs an IEX agreement, as on the live API
    assert len(bars.bars) == 8  # business days from 2024-11-17 to 2024-11-27
    assert class_b.symbol == "BRK.B" and class_b.bars != bars.bars
    assert bars.bars[-1].close == quote.price  # today's bar closes at the reference price
    assert fundamentals.name == CATALOGUE["msft"].name
    assert fundamentals.market_cap and fundamentals.market_cap > 0


async def test_etf_fundamentals_have_no_ratios(make_provider) -> None:
    """The emulator answers 404 for an ETF's fundamentals, which leaves the ratios None."""
    async with serve(_app()) as url:
        fundamentals = await make_provider(base_url=url).fetch(Request(FUNDAMENTALS, "SPY", "US"))
    assert fundamentals.name == CATALOGUE["spy"].name and fundamentals.pe_ratio is None


async def test_batch_is_one_request_to_the_emulator(make_provider) -> None:
    """A batch of quotes reaches the emulator as one ``/iex`` request; unknown keys are absent."""
    async with serve(_app()) as url:
        quotes = await make_provider(base_url=url).fetch_batch(
            Request(QUOTE, "AAPL", "US"), ["AAPL", "MSFT", "ZZZZ", "BRK.B"]
        )
        async with aiohttp.ClientSession() as session:
            stats = await (await session.get(f"{url}/_emulator/stats")).json()
    assert set(quotes) == {"AAPL", "MSFT", "BRK.B"}
    assert stats["requests"] == {"/iex": 1}


async def test_same_seed_same_prices_other_seed_other_prices(make_provider) -> None:
    """Generated prices depend on the seed only."""
    prices = []
    for seed in (7, 7, 8):
        async with serve(_app(seed=seed)) as url:
            quote = await make_provider(base_url=url).fetch(Request(QUOTE, "NVDA", "US"))
            prices.append(quote.price)
    assert prices[0] == prices[1] != prices[2]


async def test_unknown_ticker_is_not_found(make_provider) -> None:
    """An unknown ticker's bars are a 404 with Tiingo's detail message."""
    async with serve(_app()) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(DAILY_BARS, "ZZZZ", "US"))
    assert info.value.category is ErrorCategory.NOT_FOUND
    assert "Ticker 'ZZZZ' not found" in info.value.message


async def test_rate_limit_fault_passes_retry_after(make_provider) -> None:
    """An injected 429 carries ``Retry-After`` up to the error."""
    async with serve(_app(rate_limit_rate=1.0, retry_after=7)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "US"))
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retry_after == 7.0


async def test_malformed_fault_is_invalid_response(make_provider) -> None:
    """Truncated JSON from the emulator is an invalid response."""
    async with serve(_app(malformed_rate=1.0)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "US"))
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


async def test_outage_fault_is_provider_down(make_provider) -> None:
    """During an outage the emulator answers an HTML 503, which is provider_down."""
    async with serve(_app(outage=True)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(DAILY_BARS, "AAPL", "US"))
    assert info.value.category is ErrorCategory.PROVIDER_DOWN
    assert info.value.status == 503


async def test_error_fault_is_provider_down(make_provider) -> None:
    """An injected 500 is provider_down."""
    async with serve(_app(error_rate=1.0)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "US"))
    assert info.value.category is ErrorCategory.PROVIDER_DOWN


async def test_wrong_values_fault_keeps_the_schema(make_provider) -> None:
    """Wrong values still map (schema-valid), with prices no real market has."""
    async with serve(_app(wrong_values_rate=1.0)) as url:
        quote = await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "US"))
    assert quote.price < 0


async def test_faults_change_at_runtime_through_the_control_endpoint(make_provider) -> None:
    """``POST /_emulator/faults`` starts and ends an outage without restarting."""
    async with serve(_app()) as url:
        provider = make_provider(base_url=url)
        request = Request(QUOTE, "AAPL", "US")
        await provider.fetch(request)
        async with aiohttp.ClientSession() as session:
            await session.post(f"{url}/_emulator/faults", json={"outage": True})
            with pytest.raises(ProviderError):
                await provider.fetch(request)
            await session.post(f"{url}/_emulator/faults", json={"outage": False})
            await provider.fetch(request)
            stats = await (await session.get(f"{url}/_emulator/stats")).json()
    assert stats["requests"] == {"/iex": 3}
    assert stats["injected"] == {"outage": 1}


@pytest.mark.parametrize("header", [None, "Token ", "Bearer abc"])
async def test_emulator_requires_a_token(header) -> None:
    """Without ``Authorization: Token <key>`` the emulator answers 401 ``Invalid token.``."""
    headers = {} if header is None else {"Authorization": header}
    async with serve(_app()) as url, aiohttp.ClientSession() as session:
        response = await session.get(f"{url}/tiingo/daily/aapl", headers=headers)
        assert response.status == 401
        assert await response.json() == {"detail": "Invalid token."}


async def test_emulator_answers_documented_shapes() -> None:
    """The emulator's bodies carry the documented fields with the documented types."""
    headers = {"Authorization": "Token x"}
    async with serve(_app()) as url, aiohttp.ClientSession(headers=headers) as session:
        iex = await (await session.get(f"{url}/iex", params={"tickers": "aapl,spy"})).json()
        meta = await (await session.get(f"{url}/tiingo/daily/aapl")).json()
        latest = await (await session.get(f"{url}/tiingo/daily/aapl/prices")).json()
        weekly = await (
            await session.get(
                f"{url}/tiingo/daily/aapl/prices",
                params={
                    "startDate": "2024-11-01",
                    "endDate": "2024-11-27",
                    "resampleFreq": "weekly",
                },
            )
        ).json()
        bad = await session.get(
            f"{url}/tiingo/daily/aapl/prices", params={"startDate": "11/01/2024"}
        )
        assert bad.status == 400 and "detail" in await bad.json()
    assert [item["ticker"] for item in iex] == ["AAPL", "SPY"]
    assert {"tngoLast", "prevClose", "open", "high", "low", "volume", "last"} <= set(iex[0])
    assert set(meta) == {"ticker", "name", "exchangeCode", "startDate", "endDate", "description"}
    assert len(latest) == 1 and latest[0]["date"] == "2024-11-27T00:00:00+00:00"
    assert {"adjClose", "divCash", "splitFactor"} <= set(latest[0])
    assert len(weekly) == 5  # Nov 1 is a Friday: five ISO weeks
