"""Yahoo wire JSON to dataset schemas, on payloads shaped like the documented responses."""

from __future__ import annotations

import copy
import datetime as dt

import orjson
import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_yahoo.mapping import (
    daily_bars_from_chart,
    error_category,
    error_envelope,
    fundamentals_from_summary,
    quotes_from_v7,
)

from .payloads import BAD_REQUEST, CHART, CHART_NOT_FOUND, INVALID_CRUMB, QUOTE, SUMMARY


def test_v7_quotes_map_to_canonical_keys() -> None:
    """Quote results are keyed by the canonical key asked for, times as UTC datetimes."""
    quotes = quotes_from_v7(QUOTE, {"AAPL": "AAPL", "BRK-B": "BRK.B", "MSFT": "MSFT"})
    assert set(quotes) == {"AAPL", "BRK.B"}  # MSFT absent from the answer: absent here
    apple = quotes["AAPL"]
    assert apple.price == 180.1 and apple.currency == "USD"
    assert apple.timestamp == dt.datetime(2024, 3, 1, 21, 0, tzinfo=dt.UTC)
    assert (apple.previous_close, apple.bid, apple.ask) == (179.5, 180.09, 180.13)
    assert apple.volume == 51234000 and apple.change_percent == 0.33
    assert quotes["BRK.B"].symbol == "BRK.B" and quotes["BRK.B"].bid is None


def test_v7_quote_without_price_counts_as_absent() -> None:
    """A result with a null price (not trading) is left out rather than invented."""
    payload = copy.deepcopy(QUOTE)
    payload["quoteResponse"]["result"][0]["regularMarketPrice"] = None
    assert set(quotes_from_v7(payload, {"AAPL": "AAPL"})) == set()


@pytest.mark.parametrize(
    "payload",
    [
        {"quoteResponse": {"result": None, "error": None}},
        {"quoteResponse": {"result": [{"symbol": "AAPL", "regularMarketPrice": "180.1"}]}},
        {"quoteResponse": {"result": [7]}},
        {"finance": {}},
    ],
)
def test_v7_quote_of_wrong_shape_is_invalid_response(payload) -> None:
    """A quote answer of the wrong shape or types is an invalid response."""
    with pytest.raises(ProviderError) as info:
        quotes_from_v7(payload, {"AAPL": "AAPL"})
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


def test_chart_maps_to_bars_in_the_exchange_time_zone() -> None:
    """Chart arrays become dated bars (exchange-local dates), oldest first."""
    bars = daily_bars_from_chart(CHART, "AAPL")
    assert [bar.date for bar in bars.bars] == [dt.date(2024, 2, 27), dt.date(2024, 2, 28)]
    first = bars.bars[0]
    assert (first.open, first.high, first.low, first.close) == (182.1, 183.0, 181.2, 182.6)
    assert first.volume == 40000000 and first.adj_close == 182.6


def test_chart_dates_follow_gmtoffset_across_midnight_utc() -> None:
    """A session opening before midnight UTC is dated in its own time zone (gmtoffset)."""
    payload = copy.deepcopy(CHART)
    result = payload["chart"]["result"][0]
    result["meta"]["gmtoffset"] = 13 * 3600  # Auckland summer time
    result["timestamp"] = [1709060400, 1709146800]  # 2024-02-27/28 21:00 UTC = 10:00 NZDT next day
    bars = daily_bars_from_chart(payload, "NZE:AIR")
    assert [bar.date for bar in bars.bars] == [dt.date(2024, 2, 28), dt.date(2024, 2, 29)]


def test_chart_rows_without_any_price_are_skipped() -> None:
    """A bar whose OHLC are all null (no trade) is dropped; partial nulls are kept."""
    payload = copy.deepcopy(CHART)
    block = payload["chart"]["result"][0]["indicators"]["quote"][0]
    for name in ("open", "high", "low", "close"):
        block[name][0] = None
    block["volume"][1] = None
    bars = daily_bars_from_chart(payload, "AAPL").bars
    assert len(bars) == 1 and bars[0].volume is None


def test_chart_without_timestamps_has_no_bars() -> None:
    """A chart with no trades in the range (no ``timestamp``) is an empty series."""
    payload = copy.deepcopy(CHART)
    del payload["chart"]["result"][0]["timestamp"]
    payload["chart"]["result"][0]["indicators"] = {"quote": [{}], "adjclose": [{}]}
    assert daily_bars_from_chart(payload, "AAPL").bars == ()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("indicators"),
        lambda r: r["indicators"].update(quote=[]),
        lambda r: r["indicators"]["quote"][0].update(close=[1.0]),
        lambda r: r["indicators"]["quote"][0].update(close=["a", "b"]),
        lambda r: r.update(timestamp="1709044200"),
    ],
)
def test_chart_of_wrong_shape_is_invalid_response(mutate) -> None:
    """Missing indicators, ragged arrays and wrong types are invalid responses."""
    payload = copy.deepcopy(CHART)
    mutate(payload["chart"]["result"][0])
    with pytest.raises(ProviderError) as info:
        daily_bars_from_chart(payload, "AAPL")
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


def test_quote_summary_maps_to_fundamentals() -> None:
    """Modules price, summaryDetail and financialData fill the fundamentals."""
    fundamentals = fundamentals_from_summary(SUMMARY, "AAPL")
    assert fundamentals.currency == "USD"
    assert fundamentals.market_cap == 2.8e12 and fundamentals.pe_ratio == 28.0
    assert fundamentals.dividend_yield == 0.005 and fundamentals.revenue == 3.8e11
    assert fundamentals.pb_ratio is None and fundamentals.name is None


def test_quote_summary_reads_formatted_numbers() -> None:
    """With ``formatted=true`` numbers are ``{"raw", "fmt"}`` objects; ``raw`` is used."""
    payload = copy.deepcopy(SUMMARY)
    module = payload["quoteSummary"]["result"][0]["summaryDetail"]
    module["marketCap"] = {"raw": 2.8e12, "fmt": "2.8T", "longFmt": "2,800,000,000,000"}
    payload["quoteSummary"]["result"][0]["defaultKeyStatistics"] = {"priceToBook": {"raw": 45.1}}
    fundamentals = fundamentals_from_summary(payload, "AAPL")
    assert fundamentals.market_cap == 2.8e12 and fundamentals.pb_ratio == 45.1


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (200, orjson.dumps(QUOTE), None),
        (200, b"<html><body>Will be right back...</body></html>", ErrorCategory.PROVIDER_DOWN),
        (200, b"Too Many Requests\r\n", ErrorCategory.RATE_LIMIT),
        (429, b"Too Many Requests\r\n", ErrorCategory.RATE_LIMIT),
        (401, orjson.dumps(INVALID_CRUMB), ErrorCategory.AUTH),
        (404, orjson.dumps(CHART_NOT_FOUND), ErrorCategory.NOT_FOUND),
        (200, orjson.dumps(CHART_NOT_FOUND), ErrorCategory.NOT_FOUND),
        (400, orjson.dumps(BAD_REQUEST), ErrorCategory.INVALID_REQUEST),
        (422, orjson.dumps(BAD_REQUEST), ErrorCategory.INVALID_REQUEST),
        (500, b'{"finance":{"result":null,"error":{"code":"x"}}}', ErrorCategory.PROVIDER_DOWN),
        (502, b"<html>Bad Gateway</html>", ErrorCategory.PROVIDER_DOWN),
    ],
)
def test_error_category_follows_the_documented_table(status, body, category) -> None:
    """Statuses and Yahoo's quirks map to the taxonomy as documented."""
    assert error_category(status, body) is category


def test_description_mentioning_outage_words_is_not_an_outage() -> None:
    """The outage and throttle markers count only in pages, not inside JSON data."""
    payload = copy.deepcopy(SUMMARY)
    summary = "Too Many Requests: a band that will be right back. Will be right back."
    payload["quoteSummary"]["result"][0]["assetProfile"] = {"longBusinessSummary": summary}
    assert error_category(200, orjson.dumps(payload)) is None


def test_error_envelope_reads_code_and_description() -> None:
    """The envelope's code and description are read from any root key."""
    assert error_envelope(orjson.dumps(INVALID_CRUMB)) == ("Unauthorized", "Invalid Crumb")
    assert error_envelope(orjson.dumps(QUOTE)) is None
    assert error_envelope(b"<html>") is None
