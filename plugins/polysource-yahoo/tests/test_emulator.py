"""The Yahoo provider against the Yahoo emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest

from polysource.datasets import DAILY_BARS, FUNDAMENTALS, QUOTE
from polysource.emulation import Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Request
from polysource_yahoo.emulator import CATALOGUE, create_app

WEDNESDAY = 1732723200.0  # 2024-11-27 16:00 UTC, 11:00 in New York


def _app(**faults: object):
    return create_app(Faults(**faults), clock=lambda: WEDNESDAY)


async def _stats(url: str) -> dict:
    async with aiohttp.ClientSession() as session:
        return await (await session.get(f"{url}/_emulator/stats")).json()


async def test_provider_serves_every_dataset_after_one_handshake(make_provider) -> None:
    """Quote, bars and fundamentals round-trip; the cookie and crumb are fetched once."""
    async with serve(_app()) as url:
        provider = make_provider(base_url=url, history_range="1mo")
        quote = await provider.fetch(Request(QUOTE, "LON:VOD", "global"))
        bars = await provider.fetch(Request(DAILY_BARS, "LON:VOD", "global"))
        fundamentals = await provider.fetch(Request(FUNDAMENTALS, "BRK.B", "global"))
        stats = await _stats(url)
    assert quote.symbol == "LON:VOD" and quote.currency == "GBp"
    assert bars.bars[-1].date.isoformat() == "2024-11-27" and bars.bars[-1].close == quote.price
    assert 20 <= len(bars.bars) <= 23
    assert fundamentals.name == CATALOGUE["BRK-B"].name and fundamentals.pb_ratio
    assert stats["requests"]["/"] == 1 and stats["requests"]["/v1/test/getcrumb"] == 1


async def test_batch_covers_every_kind_of_key_in_one_call(make_provider) -> None:
    """Stocks, indices, forex, futures and crypto come back from one quote call."""
    keys = ["AAPL", "^GSPC", "FX:EURUSD", "FUT:GC", "BTC-USD", "TYO:7203", "ZZZZ", "bad key"]
    async with serve(_app()) as url:
        quotes = await make_provider(base_url=url).fetch_batch(
            Request(QUOTE, "AAPL", "global"), keys
        )
        stats = await _stats(url)
    assert set(quotes) == set(keys) - {"ZZZZ", "bad key"}
    assert quotes["FX:EURUSD"].price < 2 and quotes["TYO:7203"].currency == "JPY"
    assert stats["requests"]["/v7/finance/quote"] == 1


async def test_rotated_crumb_is_refreshed_and_retried(make_provider) -> None:
    """When the emulator expires every crumb, the provider shakes hands again and succeeds."""
    async with serve(_app()) as url:
        provider = make_provider(base_url=url)
        request = Request(QUOTE, "MSFT", "global")
        first = await provider.fetch(request)
        async with aiohttp.ClientSession() as session:
            await session.post(f"{url}/_emulator/rotate-crumbs")
        second = await provider.fetch(request)
        stats = await _stats(url)
    assert first == second
    assert stats["requests"]["/v1/test/getcrumb"] == 2
    assert stats["requests"]["/v7/finance/quote"] == 3  # ok, 401, retried ok


async def test_unknown_symbols_are_not_found(make_provider) -> None:
    """Unknown symbols are 404 envelopes for chart and quoteSummary, absent from quotes."""
    async with serve(_app()) as url:
        provider = make_provider(base_url=url)
        for dataset in (QUOTE, DAILY_BARS, FUNDAMENTALS):
            with pytest.raises(ProviderError) as info:
                await provider.fetch(Request(dataset, "ZZZZ", "global"))
            assert info.value.category is ErrorCategory.NOT_FOUND


async def test_same_seed_same_prices_other_seed_other_prices(make_provider) -> None:
    """Generated prices depend on the seed only."""
    prices = []
    for seed in (11, 11, 12):
        async with serve(_app(seed=seed)) as url:
            quote = await make_provider(base_url=url).fetch(Request(QUOTE, "NVDA", "global"))
            prices.append(quote.price)
    assert prices[0] == prices[1] != prices[2]


async def test_rate_limit_fault_is_rate_limit_with_retry_after(make_provider) -> None:
    """An injected 429 (Yahoo's plain-text body) carries ``Retry-After``."""
    async with serve(_app(rate_limit_rate=1.0, retry_after=3)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "global"))
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retry_after == 3.0


async def test_malformed_fault_is_invalid_response(make_provider) -> None:
    """Truncated JSON is an invalid response (the crumb, being text, is unharmed)."""
    async with serve(_app(malformed_rate=1.0)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(DAILY_BARS, "AAPL", "global"))
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


async def test_outage_fault_is_provider_down(make_provider) -> None:
    """During an outage Yahoo's "Will be right back" page is provider_down."""
    async with serve(_app(outage=True)) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "global"))
    assert info.value.category is ErrorCategory.PROVIDER_DOWN


async def test_wrong_values_fault_keeps_the_schema(make_provider) -> None:
    """Corrupted answers still map, with prices no market has."""
    async with serve(_app(wrong_values_rate=1.0)) as url:
        quote = await make_provider(base_url=url).fetch(Request(QUOTE, "AAPL", "global"))
    assert quote.price < 0


async def test_data_calls_need_cookie_and_crumb() -> None:
    """Without the crumb of the request's cookie the emulator answers 401 Invalid Crumb."""
    invalid = {
        "finance": {
            "result": None,
            "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
        }
    }
    async with (
        serve(_app()) as url,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        bare = await session.get(f"{url}/v7/finance/quote", params={"symbols": "AAPL"})
        assert bare.status == 401 and await bare.json() == invalid
        cookie = await session.get(f"{url}/")
        assert cookie.status == 404 and "A3" in cookie.cookies
        crumb_answer = await session.get(f"{url}/v1/test/getcrumb")
        crumb = await crumb_answer.text()
        assert crumb_answer.content_type == "text/plain" and len(crumb) == 11
        wrong = await session.get(
            f"{url}/v7/finance/quote", params={"symbols": "AAPL", "crumb": "x"}
        )
        assert wrong.status == 401
        good = await session.get(
            f"{url}/v7/finance/quote", params={"symbols": "AAPL", "crumb": crumb}
        )
        assert good.status == 200
        assert (await good.json())["quoteResponse"]["result"][0]["symbol"] == "AAPL"


async def test_emulator_answers_documented_shapes_and_errors() -> None:
    """quoteSummary is formatted by default; bad intervals and ranges get error envelopes."""
    async with (
        serve(_app()) as url,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        await session.get(f"{url}/")
        crumb = await (await session.get(f"{url}/v1/test/getcrumb")).text()

        async def get(path: str, **params: str) -> tuple[int, dict]:
            answer = await session.get(f"{url}{path}", params={**params, "crumb": crumb})
            return answer.status, await answer.json()

        status, summary = await get("/v10/finance/quoteSummary/AAPL", modules="price,summaryDetail")
        assert status == 200
        price = summary["quoteSummary"]["result"][0]["price"]["regularMarketPrice"]
        assert set(price) == {"raw", "fmt"}
        status, body = await get("/v8/finance/chart/AAPL", range="5d", interval="7d")
        assert status == 400 and body["chart"]["error"]["code"] == "Bad Request"
        status, body = await get("/v8/finance/chart/AAPL", range="7y", interval="1d")
        assert status == 422 and body["chart"]["result"] is None
        status, body = await get("/v8/finance/chart/AAPL", range="5d", interval="1d")
        result = body["chart"]["result"][0]
        assert (
            len(result["timestamp"]) == 5
            and result["meta"]["exchangeTimezoneName"] == "America/New_York"
        )
        status, body = await get("/v10/finance/quoteSummary/ZZZZ", modules="price")
        assert status == 404
        assert body["quoteSummary"]["error"]["description"] == "Quote not found for symbol: ZZZZ"
