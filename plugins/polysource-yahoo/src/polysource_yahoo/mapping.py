"""Pure mapping of Yahoo Finance's wire JSON to polysource's dataset schemas (no I/O).

Also reads Yahoo's error envelopes (``{"<root>": {"result": null, "error": {"code": ...,
"description": ...}}}``) and decides which failure category an answer is. A payload that lacks
the fields a schema needs, or has fields of the wrong type, raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_response``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from polysource.datasets import Bar, DailyBars, Fundamentals, Quote
from polysource.errors import ErrorCategory, ProviderError
from polysource.http import classify_status

__all__ = [
    "PROVIDER",
    "daily_bars_from_chart",
    "error_category",
    "error_envelope",
    "fundamentals_from_summary",
    "quotes_from_v7",
]

PROVIDER: Final = "yahoo"
_DOWN_MARKER: Final = "Will be right back"
_THROTTLED_MARKER: Final = "Too Many Requests"


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_RESPONSE)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} is {type(value).__name__}, expected an object")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _invalid(f"{what} is {type(value).__name__}, expected an array")
    return value


def _number(value: Any, what: str) -> float | None:
    """A JSON number, or the ``raw`` of a ``{"raw": ..., "fmt": ...}`` object; ``None`` if null."""
    if isinstance(value, Mapping):
        value = value.get("raw")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what} is {type(value).__name__}, expected a number")
    return float(value)


def _integer(value: Any, what: str) -> int | None:
    number = _number(value, what)
    return None if number is None else int(number)


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{what} is {type(value).__name__}, expected a string")
    return value


def _result(payload: Mapping[str, Any], root: str) -> Any:
    envelope = _object(_object(payload, "the answer").get(root), f"{root!r}")
    return envelope.get("result")


# -- errors --------------------------------------------------------------------------------------


def error_envelope(body: bytes) -> tuple[str, str] | None:
    """The ``(code, description)`` of a Yahoo error envelope, or ``None`` if the body is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for envelope in data.values():
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if isinstance(error, dict):
            code, description = error.get("code"), error.get("description")
            return str(code or ""), str(description or "")
    return None


def error_category(status: int, body: bytes) -> ErrorCategory | None:
    """The failure category of an answer, or ``None`` when it is a usable success.

    Yahoo's quirks come first: a 200 HTML "Will be right back" page is an outage, a "Too Many
    Requests" text is throttling whatever the status, and a 200 whose envelope carries an
    error is classified by the error's code. A failing status otherwise follows
    [`polysource.http.STATUS_CATEGORIES`][polysource.http.STATUS_CATEGORIES], except that a ``Not
    Found`` envelope makes a
    rejected request ``not_found``.
    """
    text = body[:4096].decode("utf-8", errors="replace")
    is_page = text.lstrip()[:1] not in ("{", "[")  # an HTML or text page, not the API's JSON
    if status == 429 or (is_page and _THROTTLED_MARKER in text):
        return ErrorCategory.RATE_LIMIT
    if is_page and _DOWN_MARKER in text:
        return ErrorCategory.PROVIDER_DOWN
    envelope = error_envelope(body)
    not_found = envelope is not None and envelope[0] == "Not Found"
    by_status = classify_status(status)
    if by_status is ErrorCategory.INVALID_REQUEST and not_found:
        return ErrorCategory.NOT_FOUND
    if by_status is not None:
        return by_status
    if not_found:
        return ErrorCategory.NOT_FOUND
    if envelope and envelope[0] == "Bad Request":
        return ErrorCategory.INVALID_REQUEST
    if envelope:
        return ErrorCategory.INVALID_RESPONSE
    return None


# -- quote ---------------------------------------------------------------------------------------


def _quote(item: Mapping[str, Any], key: str) -> Quote | None:
    price = _number(item.get("regularMarketPrice"), "regularMarketPrice")
    if price is None:
        return None  # listed but not trading (delisted, suspended): as good as absent
    when = _integer(item.get("regularMarketTime"), "regularMarketTime")
    return Quote(
        symbol=key,
        price=price,
        currency=_text(item.get("currency"), "currency"),
        timestamp=None if when is None else dt.datetime.fromtimestamp(when, dt.UTC),
        previous_close=_number(item.get("regularMarketPreviousClose"), "previous close"),
        open=_number(item.get("regularMarketOpen"), "regularMarketOpen"),
        high=_number(item.get("regularMarketDayHigh"), "regularMarketDayHigh"),
        low=_number(item.get("regularMarketDayLow"), "regularMarketDayLow"),
        volume=_integer(item.get("regularMarketVolume"), "regularMarketVolume"),
        bid=_number(item.get("bid"), "bid"),
        ask=_number(item.get("ask"), "ask"),
        change_percent=_number(item.get("regularMarketChangePercent"), "change percent"),
    )


def quotes_from_v7(payload: Mapping[str, Any], wanted: Mapping[str, str]) -> dict[str, Quote]:
    """Quotes by canonical key from ``GET /v7/finance/quote?symbols=...``.

    Args:
        payload: The decoded answer.
        wanted: Yahoo symbol to canonical key, for the symbols asked for. Symbols Yahoo does
            not know are absent from its answer, and so from the result.
    """
    lookup = {symbol.upper(): key for symbol, key in wanted.items()}
    out: dict[str, Quote] = {}
    for element in _list(_result(payload, "quoteResponse"), "quoteResponse.result"):
        item = _object(element, "a quote")
        key = lookup.get((_text(item.get("symbol"), "symbol") or "").upper())
        if key is not None and (quote := _quote(item, key)) is not None:
            out[key] = quote
    return out


# -- chart ---------------------------------------------------------------------------------------


def _exchange_zone(meta: Mapping[str, Any]) -> dt.tzinfo:
    offset = meta.get("gmtoffset")
    if isinstance(offset, int) and not isinstance(offset, bool):
        return dt.timezone(dt.timedelta(seconds=offset))
    name = meta.get("exchangeTimezoneName")
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return dt.UTC


def _series(block: Mapping[str, Any], name: str, length: int) -> Sequence[Any]:
    values = block.get(name)
    if values is None:
        return [None] * length
    values = _list(values, f"indicators {name!r}")
    if len(values) != length:
        raise _invalid(f"indicators {name!r} has {len(values)} values for {length} timestamps")
    return values


def daily_bars_from_chart(payload: Mapping[str, Any], key: str) -> DailyBars:
    """[`DailyBars`][polysource_yahoo.mapping.DailyBars] from ``GET
    /v8/finance/chart/{symbol}?interval=1d``, oldest first.

    Bars whose open, high, low and close are all null (no trade) are left out; dates are
    taken in the exchange's time zone.
    """
    results = _list(_result(payload, "chart"), "chart.result")
    if not results:
        raise _invalid("chart.result is empty")
    result = _object(results[0], "chart.result[0]")
    indicators = _object(result.get("indicators"), "chart.result[0].indicators")
    quotes = _list(indicators.get("quote"), "indicators.quote")
    if not quotes:
        raise _invalid("indicators.quote is empty")
    block = _object(quotes[0], "indicators.quote[0]")
    stamps = _list(result.get("timestamp", []), "timestamp")
    adjclose_blocks = indicators.get("adjclose") or [{}]
    adjclose = _series(
        _object(_list(adjclose_blocks, "adjclose")[0], "adjclose"), "adjclose", len(stamps)
    )
    zone = _exchange_zone(_object(result.get("meta", {}), "meta"))
    columns = [
        _series(block, name, len(stamps)) for name in ("open", "high", "low", "close", "volume")
    ]
    bars: list[Bar] = []
    for index, stamp in enumerate(stamps):
        seconds = _integer(stamp, "a timestamp")
        if seconds is None:
            raise _invalid("a timestamp is null")
        ohlc = [_number(column[index], "a price") for column in columns[:4]]
        if all(value is None for value in ohlc):
            continue
        bars.append(
            Bar(
                date=dt.datetime.fromtimestamp(seconds, zone).date(),
                open=ohlc[0],
                high=ohlc[1],
                low=ohlc[2],
                close=ohlc[3],
                volume=_integer(columns[4][index], "a volume"),
                adj_close=_number(adjclose[index], "an adjusted close"),
            )
        )
    bars.sort(key=lambda bar: bar.date)
    # mypy cannot type the schema's `converter=tuple` (a generic class) and rejects any argument.
    return DailyBars(symbol=key, bars=bars)


# -- quoteSummary --------------------------------------------------------------------------------


def fundamentals_from_summary(payload: Mapping[str, Any], key: str) -> Fundamentals:
    """[`Fundamentals`][polysource_yahoo.mapping.Fundamentals] from ``GET
    /v10/finance/quoteSummary/{symbol}``.

    Reads the ``price``, ``summaryDetail``, ``financialData``, ``defaultKeyStatistics`` and
    ``assetProfile`` modules; numbers may be plain (``formatted=false``) or ``{"raw": ...}``.
    """
    results = _list(_result(payload, "quoteSummary"), "quoteSummary.result")
    if not results:
        raise _invalid("quoteSummary.result is empty")
    modules = _object(results[0], "quoteSummary.result[0]")

    def module(name: str) -> Mapping[str, Any]:
        return _object(modules.get(name) or {}, f"module {name!r}")

    price, detail = module("price"), module("summaryDetail")
    financial, stats, profile = (
        module("financialData"),
        module("defaultKeyStatistics"),
        module("assetProfile"),
    )
    market_cap = _number(detail.get("marketCap"), "marketCap")
    if market_cap is None:
        market_cap = _number(price.get("marketCap"), "price.marketCap")
    return Fundamentals(
        symbol=key,
        name=_text(price.get("longName") or price.get("shortName"), "name"),
        exchange=_text(price.get("exchangeName") or price.get("exchange"), "exchange"),
        currency=_text(price.get("currency") or detail.get("currency"), "currency"),
        market_cap=market_cap,
        pe_ratio=_number(detail.get("trailingPE"), "trailingPE"),
        pb_ratio=_number(stats.get("priceToBook"), "priceToBook"),
        dividend_yield=_number(detail.get("dividendYield"), "dividendYield"),
        revenue=_number(financial.get("totalRevenue"), "totalRevenue"),
        description=_text(profile.get("longBusinessSummary"), "longBusinessSummary"),
    )
