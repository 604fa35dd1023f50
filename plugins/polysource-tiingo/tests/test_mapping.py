"""Tiingo wire JSON to dataset schemas, on payloads shaped like the documented responses."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from polysource.datasets import Bar
from polysource.errors import ErrorCategory, ProviderError
from polysource_tiingo.mapping import (
    daily_bars_from_prices,
    error_detail,
    fundamentals_from,
    quote_from_iex,
    quotes_from_iex,
)

IEX_AAPL = {
    "ticker": "AAPL",
    "timestamp": "2024-03-01T15:59:59.5-05:00",
    "quoteTimestamp": "2024-03-01T15:59:59.5-05:00",
    "lastSaleTimestamp": "2024-03-01T15:59:58.1-05:00",
    "last": 180.1,
    "lastSize": 100,
    "tngoLast": 180.12,
    "prevClose": 179.5,
    "open": 179.9,
    "high": 181.0,
    "low": 179.2,
    "mid": 180.11,
    "volume": 51234,
    "bidSize": 100,
    "bidPrice": 180.1,
    "askSize": 200,
    "askPrice": 180.13,
}
IEX_SPY_NO_TOPS = {
    "ticker": "SPY",
    "timestamp": "2024-03-01T16:00:00-05:00",
    "quoteTimestamp": None,
    "lastSaleTimestamp": None,
    "last": None,
    "lastSize": None,
    "tngoLast": 512.85,
    "prevClose": 508.08,
    "open": 508.98,
    "high": 513.29,
    "low": 508.56,
    "mid": None,
    "volume": 1820411,
    "bidSize": None,
    "bidPrice": None,
    "askSize": None,
    "askPrice": None,
}
EOD = [
    {
        "date": "2024-03-01T00:00:00+00:00",
        "open": 179.6,
        "high": 180.5,
        "low": 177.4,
        "close": 179.7,
        "volume": 73000000,
        "adjOpen": 179.6,
        "adjHigh": 180.5,
        "adjLow": 177.4,
        "adjClose": 179.7,
        "adjVolume": 73000000,
        "divCash": 0.0,
        "splitFactor": 1.0,
    },
    {
        "date": "2024-02-29T00:00:00+00:00",
        "open": 181.3,
        "high": 182.6,
        "low": 179.6,
        "close": 180.8,
        "volume": 136000000,
        "adjOpen": 181.3,
        "adjHigh": 182.6,
        "adjLow": 179.6,
        "adjClose": 180.6,
        "adjVolume": 136000000,
        "divCash": 0.0,
        "splitFactor": 1.0,
    },
]
METADATA = {
    "ticker": "AAPL",
    "name": "Apple Inc",
    "exchangeCode": "NASDAQ",
    "startDate": "1980-12-12",
    "endDate": "2024-03-01",
    "description": "Apple designs consumer electronics.",
}
FUNDAMENTALS_DAILY = [
    {
        "date": "2024-02-29T00:00:00.000Z",
        "marketCap": 2.79e12,
        "enterpriseVal": 2.8e12,
        "peRatio": 28.3,
        "pbRatio": 40.9,
        "trailingPEG1Y": 2.2,
    },
    {
        "date": "2024-03-01T00:00:00.000Z",
        "marketCap": 2.7e12,
        "enterpriseVal": 2.75e12,
        "peRatio": 28.1,
        "pbRatio": 40.2,
        "trailingPEG1Y": 2.1,
    },
]


def test_iex_quote_uses_last_sale_price_and_time() -> None:
    """With full top-of-book data the price is ``last`` at ``lastSaleTimestamp``."""
    quote = quote_from_iex(IEX_AAPL, "AAPL")
    assert quote.symbol == "AAPL"
    assert quote.price == 180.1
    assert quote.currency == "USD"
    assert quote.timestamp == dt.datetime(
        2024, 3, 1, 15, 59, 58, 100000, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )
    assert (quote.previous_close, quote.open, quote.high, quote.low) == (179.5, 179.9, 181.0, 179.2)
    assert (quote.bid, quote.ask, quote.volume) == (180.1, 180.13, 51234)
    assert quote.change_percent == pytest.approx((180.1 / 179.5 - 1) * 100)


def test_iex_quote_falls_back_to_tngo_last_when_tops_fields_are_null() -> None:
    """Without an IEX agreement ``last`` is null and ``tngoLast`` is the price."""
    quote = quote_from_iex(IEX_SPY_NO_TOPS, "SPY")
    assert quote.price == 512.85
    assert quote.bid is None and quote.ask is None
    assert quote.timestamp == dt.datetime.fromisoformat("2024-03-01T16:00:00-05:00")


def test_iex_quote_accepts_the_other_last_sale_casing() -> None:
    """``lastSaleTimeStamp`` (another spelling seen in the wild) is read too."""
    item = dict(IEX_AAPL, lastSaleTimeStamp=IEX_AAPL["lastSaleTimestamp"])
    del item["lastSaleTimestamp"]
    assert quote_from_iex(item, "AAPL").timestamp == quote_from_iex(IEX_AAPL, "AAPL").timestamp


def test_iex_quote_without_any_price_is_invalid_response() -> None:
    """An element whose ``last`` and ``tngoLast`` are both null is an invalid response."""
    with pytest.raises(ProviderError) as info:
        quote_from_iex(dict(IEX_SPY_NO_TOPS, tngoLast=None), "SPY")
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


@pytest.mark.parametrize(("field", "value"), [("tngoLast", "512.85"), ("volume", True)])
def test_iex_quote_with_wrong_types_is_invalid_response(field: str, value: object) -> None:
    """A field of the wrong JSON type is an invalid response, not a crash."""
    with pytest.raises(ProviderError) as info:
        quote_from_iex(dict(IEX_SPY_NO_TOPS, **{field: value}), "SPY")
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


def test_iex_batch_maps_tickers_back_to_canonical_keys() -> None:
    """Elements are keyed by the canonical key asked for; unknown and unasked ones are dropped."""
    brk = dict(IEX_SPY_NO_TOPS, ticker="BRK-B")
    quotes = quotes_from_iex([IEX_AAPL, brk, IEX_SPY_NO_TOPS], {"aapl": "AAPL", "brk-b": "BRK.B"})
    assert set(quotes) == {"AAPL", "BRK.B"}
    assert quotes["BRK.B"].symbol == "BRK.B"


def test_iex_batch_element_that_is_not_an_object_is_invalid_response() -> None:
    """An array element that is not an object is an invalid response."""
    with pytest.raises(ProviderError) as info:
        quotes_from_iex([IEX_AAPL, 3], {"aapl": "AAPL"})
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


def test_daily_bars_are_sorted_oldest_first_with_adjusted_close() -> None:
    """EOD bars become dated Bars, oldest first, ``adjClose`` kept."""
    bars = daily_bars_from_prices(EOD, "AAPL")
    assert bars.symbol == "AAPL"
    assert bars.bars == (
        Bar(dt.date(2024, 2, 29), 181.3, 182.6, 179.6, 180.8, 136000000, 180.6),
        Bar(dt.date(2024, 3, 1), 179.6, 180.5, 177.4, 179.7, 73000000, 179.7),
    )


def test_daily_bar_without_date_is_invalid_response() -> None:
    """A bar with no date cannot be placed and is an invalid response."""
    with pytest.raises(ProviderError) as info:
        daily_bars_from_prices([{"close": 1.0}], "AAPL")
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


def test_fundamentals_take_the_latest_daily_row_and_the_metadata() -> None:
    """Metadata gives name, exchange, description; the newest daily row the ratios."""
    fundamentals = fundamentals_from(METADATA, FUNDAMENTALS_DAILY, "AAPL")
    assert fundamentals.name == "Apple Inc"
    assert fundamentals.exchange == "NASDAQ"
    assert fundamentals.description == "Apple designs consumer electronics."
    assert (fundamentals.market_cap, fundamentals.pe_ratio, fundamentals.pb_ratio) == (
        2.7e12,
        28.1,
        40.2,
    )


def test_fundamentals_without_daily_metrics_leave_ratios_empty() -> None:
    """When the fundamentals endpoint is unavailable the ratios are None."""
    fundamentals = fundamentals_from(METADATA, None, "AAPL")
    assert fundamentals.name == "Apple Inc"
    assert fundamentals.market_cap is None and fundamentals.pe_ratio is None


def test_error_detail_reads_drf_bodies_only() -> None:
    """``{"detail": ...}`` gives its message; HTML and other JSON give None."""
    assert error_detail(orjson.dumps({"detail": "Invalid token."})) == "Invalid token."
    assert error_detail(b"<html>502 Bad Gateway</html>") is None
    assert error_detail(b"[1, 2]") is None
