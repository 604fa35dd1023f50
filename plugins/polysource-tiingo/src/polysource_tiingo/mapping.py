"""Pure mapping of Tiingo's wire JSON to polysource's dataset schemas (no I/O).

Every function takes decoded JSON and the canonical key, and returns a schema instance; a
payload without the fields a schema needs, or with fields of the wrong type, raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_response``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from polysource.datasets import Bar, DailyBars, Fundamentals, Quote
from polysource.errors import ErrorCategory, ProviderError

__all__ = [
    "PROVIDER",
    "daily_bars_from_prices",
    "error_detail",
    "fundamentals_from",
    "quote_from_iex",
    "quotes_from_iex",
]

PROVIDER: Final = "tiingo"
_LAST_SALE_KEYS: Final = ("lastSaleTimestamp", "lastSaleTimeStamp")


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_RESPONSE)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} is {type(value).__name__}, expected an object")
    return value


def _float(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a number")
    return float(value)


def _int(item: Mapping[str, Any], name: str) -> int | None:
    value = _float(item, name)
    return None if value is None else int(value)


def _str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a string")
    return value


def _datetime(item: Mapping[str, Any], *names: str) -> dt.datetime | None:
    for name in names:
        text = _str(item, name)
        if text:
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError as exc:
                raise _invalid(f"field {name!r} is not an ISO 8601 time: {text!r}") from exc
    return None


def quote_from_iex(item: Mapping[str, Any], key: str) -> Quote:
    """A [`Quote`][polysource_tiingo.mapping.Quote] from one element of ``GET /iex``'s array.

    The price is ``last`` (IEX last sale) when present, else ``tngoLast`` (Tiingo's reference
    price, populated without an IEX exchange agreement).
    """
    item = _object(item, "an /iex element")
    last = _float(item, "last")
    price = last if last is not None else _float(item, "tngoLast")
    if price is None:
        raise _invalid(f"no price for {key!r}: both 'last' and 'tngoLast' are null")
    previous = _float(item, "prevClose")
    timestamp = (
        _datetime(item, *_LAST_SALE_KEYS, "timestamp")
        if last is not None
        else _datetime(item, "timestamp", *_LAST_SALE_KEYS)
    )
    return Quote(
        symbol=key,
        price=price,
        currency="USD",
        timestamp=timestamp,
        previous_close=previous,
        open=_float(item, "open"),
        high=_float(item, "high"),
        low=_float(item, "low"),
        volume=_int(item, "volume"),
        bid=_float(item, "bidPrice"),
        ask=_float(item, "askPrice"),
        change_percent=(price / previous - 1.0) * 100.0 if previous else None,
    )


def quotes_from_iex(payload: Sequence[Any], wanted: Mapping[str, str]) -> dict[str, Quote]:
    """Quotes by canonical key from ``GET /iex?tickers=...``.

    Args:
        payload: The decoded array.
        wanted: Tiingo ticker (any case) to canonical key, for the tickers asked for; other
            elements are ignored, and tickers absent from the array are absent from the answer.
    """
    lookup = {ticker.lower(): key for ticker, key in wanted.items()}
    out: dict[str, Quote] = {}
    for element in payload:
        item = _object(element, "an /iex element")
        ticker = _str(item, "ticker")
        key = lookup.get((ticker or "").lower().replace(".", "-"))
        if key is not None:
            out[key] = quote_from_iex(item, key)
    return out


def _bar(item: Mapping[str, Any]) -> Bar:
    when = _datetime(item, "date")
    if when is None:
        raise _invalid("a price bar has no 'date'")
    return Bar(
        date=when.date(),
        open=_float(item, "open"),
        high=_float(item, "high"),
        low=_float(item, "low"),
        close=_float(item, "close"),
        volume=_int(item, "volume"),
        adj_close=_float(item, "adjClose"),
    )


def daily_bars_from_prices(payload: Sequence[Any], key: str) -> DailyBars:
    """[`DailyBars`][polysource_tiingo.mapping.DailyBars] from ``GET
    /tiingo/daily/{ticker}/prices``, oldest first."""
    bars = [_bar(_object(element, "a price bar")) for element in payload]
    bars.sort(key=lambda bar: bar.date)
    # mypy cannot type the schema's `converter=tuple` (a generic class) and rejects any argument.
    return DailyBars(symbol=key, bars=bars)


def fundamentals_from(
    metadata: Mapping[str, Any], daily: Sequence[Any] | None, key: str
) -> Fundamentals:
    """[`Fundamentals`][polysource_tiingo.mapping.Fundamentals] from the EOD metadata and the
    fundamentals daily metrics.

    Args:
        metadata: ``GET /tiingo/daily/{ticker}``.
        daily: ``GET /tiingo/fundamentals/{ticker}/daily`` (its latest row is used), or
            ``None`` when the plan or the ticker has no fundamentals.
        key: The canonical key.
    """
    metadata = _object(metadata, "the ticker metadata")
    latest: Mapping[str, Any] = {}
    rows = [_object(row, "a fundamentals row") for row in daily or ()]
    if rows:
        latest = max(rows, key=lambda row: _str(row, "date") or "")
    return Fundamentals(
        symbol=key,
        name=_str(metadata, "name"),
        exchange=_str(metadata, "exchangeCode"),
        market_cap=_float(latest, "marketCap"),
        pe_ratio=_float(latest, "peRatio"),
        pb_ratio=_float(latest, "pbRatio"),
        description=_str(metadata, "description"),
    )


def error_detail(body: bytes) -> str | None:
    """The ``detail`` message of a Django REST Framework error body, if the body is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    detail = data.get("detail") if isinstance(data, dict) else None
    return detail if isinstance(detail, str) else None
