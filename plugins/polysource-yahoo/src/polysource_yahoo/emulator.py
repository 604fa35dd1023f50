"""A local emulator of Yahoo Finance's JSON API, with fault injection.

It serves the cookie + crumb handshake and the data paths with the real API's parameters,
response shapes and error envelopes, for a fixed catalogue of instruments
([`CATALOGUE`][polysource_yahoo.emulator.CATALOGUE]: US and non-US stocks, ETFs, indices, forex,
futures, crypto) whose prices
are generated from ``Faults.seed``.

- ``GET /`` stands in for ``https://fc.yahoo.com``: answers 404 with ``Set-Cookie: A3=...``
  (a new cookie, or the request's own one renewed).
- ``GET /v1/test/getcrumb``: the crumb for the request's ``A3`` cookie, as plain text (a
  request without the cookie gets a new cookie with its crumb).
- ``GET /v7/finance/quote?symbols=``, ``GET /v8/finance/chart/{symbol}`` (daily, weekly and
  monthly intervals; ``range`` or ``period1``/``period2``),
  ``GET /v10/finance/quoteSummary/{symbol}?modules=`` (``formatted=true`` by default, as on
  Yahoo). Each needs the cookie and its ``crumb=``, else 401 ``Invalid Crumb``.
- ``GET /ws/fundamentals-timeseries/v1/finance/timeseries/{symbol}?type=``: the time series
  shape; only ``trailingPegRatio`` carries values (other types answer empty series).
- ``POST /_emulator/rotate-crumbs`` invalidates every crumb handed out (as when Yahoo expires
  a session), besides the control endpoints of [`polysource.emulation`][polysource.emulation].
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from attrs import define, frozen

from polysource.emulation import (
    CONTROL_PREFIX,
    US_LARGE_CAPS,
    Faults,
    emulator_app,
    json_response,
    stable_random,
)

__all__ = ["CATALOGUE", "Instrument", "create_app", "error_body"]

_COOKIE: Final = "A3"
_VALID_RANGES: Final = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")
_INTERVALS: Final = ("1d", "5d", "1wk", "1mo", "3mo")
_MODULES: Final = (
    "price",
    "summaryDetail",
    "financialData",
    "defaultKeyStatistics",
    "assetProfile",
    "summaryProfile",
    "quoteType",
)
_EQUITY_ONLY: Final = frozenset(
    {"financialData", "defaultKeyStatistics", "assetProfile", "summaryProfile"}
)
_OLDEST: Final = dt.date(2000, 1, 3)


@frozen
class Instrument:
    """One emulated instrument."""

    name: str
    quote_type: str
    exchange: str
    full_exchange: str
    currency: str
    zone: str
    level: float
    opens: tuple[int, int] = (9, 30)
    closes: tuple[int, int] = (16, 0)
    every_day: bool = False

    @property
    def tz(self) -> ZoneInfo:
        """The exchange's time zone."""
        return ZoneInfo(self.zone)


def _us(name: str, level: float, exchange: str = "NMS", kind: str = "EQUITY") -> Instrument:
    full = {"NMS": "NasdaqGS", "NYQ": "NYSE", "PCX": "NYSEArca"}[exchange]
    return Instrument(name, kind, exchange, full, "USD", "America/New_York", level)


CATALOGUE: Final[dict[str, Instrument]] = {
    "AAPL": _us("Apple Inc.", 190),
    "MSFT": _us("Microsoft Corporation", 410),
    "GOOGL": _us("Alphabet Inc.", 160),
    "AMZN": _us("Amazon.com, Inc.", 180),
    "NVDA": _us("NVIDIA Corporation", 120),
    "META": _us("Meta Platforms, Inc.", 500),
    "TSLA": _us("Tesla, Inc.", 220),
    "BRK-B": _us("Berkshire Hathaway Inc.", 420, "NYQ"),
    "JPM": _us("JPMorgan Chase & Co.", 200, "NYQ"),
    "KO": _us("The Coca-Cola Company", 62, "NYQ"),
    "SPY": _us("SPDR S&P 500 ETF Trust", 520, "PCX", "ETF"),
    "QQQ": _us("Invesco QQQ Trust, Series 1", 450, "NMS", "ETF"),
    "^GSPC": Instrument("S&P 500", "INDEX", "SNP", "SNP", "USD", "America/New_York", 5200),
    "^DJI": Instrument(
        "Dow Jones Industrial Average", "INDEX", "DJI", "DJI", "USD", "America/New_York", 39000
    ),
    "^FTSE": Instrument(
        "FTSE 100", "INDEX", "FGI", "FTSE Index", "GBP", "Europe/London", 8000, (8, 0), (16, 30)
    ),
    "EURUSD=X": Instrument(
        "EUR/USD", "CURRENCY", "CCY", "CCY", "USD", "Europe/London", 1.08, (0, 0), (23, 59)
    ),
    "GBPUSD=X": Instrument(
        "GBP/USD", "CURRENCY", "CCY", "CCY", "USD", "Europe/London", 1.27, (0, 0), (23, 59)
    ),
    "USDJPY=X": Instrument(
        "USD/JPY", "CURRENCY", "CCY", "CCY", "JPY", "Europe/London", 150.0, (0, 0), (23, 59)
    ),
    "GC=F": Instrument(
        "Gold Dec 24", "FUTURE", "CMX", "COMEX", "USD", "America/New_York", 2300, (18, 0), (17, 0)
    ),
    "CL=F": Instrument(
        "Crude Oil Jan 25",
        "FUTURE",
        "NYM",
        "NY Mercantile",
        "USD",
        "America/New_York",
        78,
        (18, 0),
        (17, 0),
    ),
    "BTC-USD": Instrument(
        "Bitcoin USD",
        "CRYPTOCURRENCY",
        "CCC",
        "CCC",
        "USD",
        "UTC",
        65000,
        (0, 0),
        (23, 59),
        every_day=True,
    ),
    "ETH-USD": Instrument(
        "Ethereum USD",
        "CRYPTOCURRENCY",
        "CCC",
        "CCC",
        "USD",
        "UTC",
        3300,
        (0, 0),
        (23, 59),
        every_day=True,
    ),
    "VOD.L": Instrument(
        "Vodafone Group Public Limited Company",
        "EQUITY",
        "LSE",
        "LSE",
        "GBp",
        "Europe/London",
        72,
        (8, 0),
        (16, 30),
    ),
    "SHOP.TO": Instrument(
        "Shopify Inc.", "EQUITY", "TOR", "Toronto", "CAD", "America/Toronto", 100
    ),
    "SAP.DE": Instrument(
        "SAP SE", "EQUITY", "GER", "XETRA", "EUR", "Europe/Berlin", 180, (9, 0), (17, 30)
    ),
    "7203.T": Instrument(
        "Toyota Motor Corporation",
        "EQUITY",
        "JPX",
        "Tokyo",
        "JPY",
        "Asia/Tokyo",
        3000,
        (9, 0),
        (15, 0),
    ),
    "0700.HK": Instrument(
        "Tencent Holdings Limited",
        "EQUITY",
        "HKG",
        "HKSE",
        "HKD",
        "Asia/Hong_Kong",
        380,
        (9, 30),
        (16, 0),
    ),
    "ERIC-B.ST": Instrument(
        "Telefonaktiebolaget LM Ericsson (publ)",
        "EQUITY",
        "STO",
        "Stockholm",
        "SEK",
        "Europe/Stockholm",
        60,
        (9, 0),
        (17, 30),
    ),
    **{
        ticker: _us(
            name,
            20 + stable_random(0, ticker).random() * 480,
            "NMS" if exchange == "NASDAQ" else "NYQ",
        )
        for ticker, name, exchange in US_LARGE_CAPS
    },
}


@frozen
class _Settings:
    seed: int
    clock: Callable[[], float]


@define
class _Crumbs:
    """Crumbs derive from the cookie, the seed and an epoch that rotation bumps."""

    seed: int
    epoch: int = 0
    issued: int = 0

    def crumb(self, cookie: str) -> str:
        digest = hashlib.blake2b(f"{self.seed}:{self.epoch}:{cookie}".encode(), digest_size=9)
        return base64.b64encode(digest.digest()).decode().replace("+", ".")[:11]

    def new_cookie(self) -> str:
        self.issued += 1
        token = hashlib.blake2b(f"{self.seed}:cookie:{self.issued}".encode(), digest_size=12)
        return f"d=AQABBK{token.hexdigest()}&S=AQAAA"


_SETTINGS: Final = web.AppKey("yahoo_emulator", _Settings)
_CRUMBS: Final = web.AppKey("yahoo_crumbs", _Crumbs)


class _Reject(Exception):
    def __init__(self, status: int, root: str, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.root, self.code, self.description = status, root, code, description


def _envelope(root: str, code: str, description: str) -> dict[str, Any]:
    return {root: {"result": None, "error": {"code": code, "description": description}}}


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Yahoo's error bodies: plain text for 429, the outage page for 503, else JSON."""
    if status == 429:
        return "text/plain", b"Too Many Requests\r\n"
    if status == 503:
        page = "<html><head><title>Yahoo</title></head><body>Will be right back...</body></html>"
        return "text/html", page.encode()
    return "application/json", orjson.dumps(_envelope("finance", message, message))


def _reject(exc: _Reject) -> web.Response:
    return json_response(_envelope(exc.root, exc.code, exc.description), status=exc.status)


# -- generated prices ----------------------------------------------------------------------------


def _close(seed: int, symbol: str, day: dt.date) -> float:
    inst = CATALOGUE[symbol]
    shape = stable_random(seed, symbol)
    amplitude = (
        shape.uniform(0.01, 0.04) if inst.quote_type == "CURRENCY" else shape.uniform(0.05, 0.25)
    )
    period, phase = shape.uniform(40, 250), shape.uniform(0, 2 * math.pi)
    wave = 1 + amplitude * math.sin(2 * math.pi * day.toordinal() / period + phase)
    noise = stable_random(seed, symbol, day.toordinal()).gauss(0, amplitude / 20)
    digits = 4 if inst.level < 10 else 2
    return round(inst.level * wave * (1 + noise), digits)


def _trades_on(inst: Instrument, day: dt.date) -> bool:
    return inst.every_day or day.weekday() < 5


def _sessions(inst: Instrument, start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = max(start, _OLDEST)
    while day <= end:
        if _trades_on(inst, day):
            yield day
        day += dt.timedelta(days=1)


def _previous_session(inst: Instrument, day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not _trades_on(inst, day):
        day -= dt.timedelta(days=1)
    return day


def _last_session(inst: Instrument, now: float) -> dt.date:
    local = dt.datetime.fromtimestamp(now, inst.tz)
    day = local.date()
    if not _trades_on(inst, day) or local.time() < dt.time(*inst.opens):
        day = _previous_session(inst, day)
    return day


def _opens_at(inst: Instrument, day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(*inst.opens), inst.tz).timestamp())


def _bar(seed: int, symbol: str, day: dt.date) -> dict[str, Any]:
    inst = CATALOGUE[symbol]
    close = _close(seed, symbol, day)
    rng = stable_random(seed, symbol, day.toordinal(), "bar")
    digits = 4 if inst.level < 10 else 2
    open_ = round(
        _close(seed, symbol, _previous_session(inst, day)) * rng.uniform(0.995, 1.005), digits
    )
    volume = 0 if inst.quote_type == "CURRENCY" else int(rng.uniform(1e6, 6e7))
    return {
        "open": open_,
        "high": round(max(open_, close) * rng.uniform(1.0, 1.01), digits),
        "low": round(min(open_, close) * rng.uniform(0.99, 1.0), digits),
        "close": close,
        "volume": volume,
    }


# -- request helpers -----------------------------------------------------------------------------


def _instrument(symbol: str, root: str, description: str) -> str:
    symbol = symbol.upper()
    if symbol not in CATALOGUE:
        raise _Reject(404, root, "Not Found", description.format(symbol=symbol))
    return symbol


@web.middleware
async def _crumb_check(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX) or request.path in ("/", "/v1/test/getcrumb"):
        return await handler(request)  # type: ignore[no-any-return]
    cookie = request.cookies.get(_COOKIE)
    crumb = request.query.get("crumb")
    if not cookie or crumb != request.app[_CRUMBS].crumb(cookie):
        return json_response(_envelope("finance", "Unauthorized", "Invalid Crumb"), status=401)
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except _Reject as exc:
        return _reject(exc)


def _set_cookie(response: web.Response, value: str) -> None:
    # Written by hand: aiohttp's set_cookie would quote the value, which Yahoo never does.
    response.headers.add("Set-Cookie", f"{_COOKIE}={value}; Max-Age=31557600; Path=/; HttpOnly")


async def _cookie(request: web.Request) -> web.Response:
    """The fc.yahoo.com stand-in: a 404 page that sets (or renews) the ``A3`` cookie."""
    value = request.cookies.get(_COOKIE) or request.app[_CRUMBS].new_cookie()
    page = "<html><body>Not Found</body></html>"
    response = web.Response(status=404, text=page, content_type="text/html")
    _set_cookie(response, value)
    return response


async def _getcrumb(request: web.Request) -> web.Response:
    crumbs = request.app[_CRUMBS]
    cookie = request.cookies.get(_COOKIE)
    response = web.Response(content_type="text/plain")
    if not cookie:
        cookie = crumbs.new_cookie()
        _set_cookie(response, cookie)
    response.text = crumbs.crumb(cookie)
    return response


async def _rotate(request: web.Request) -> web.Response:
    crumbs = request.app[_CRUMBS]
    crumbs.epoch += 1
    return json_response({"epoch": crumbs.epoch})


# -- /v7/finance/quote ---------------------------------------------------------------------------


def _quote(settings: _Settings, symbol: str) -> dict[str, Any]:
    inst, now = CATALOGUE[symbol], settings.clock()
    day = _last_session(inst, now)
    bar = _bar(settings.seed, symbol, day)
    previous = _close(settings.seed, symbol, _previous_session(inst, day))
    closes_at = dt.datetime.combine(day, dt.time(*inst.closes), inst.tz).timestamp()
    offset = dt.datetime.fromtimestamp(now, inst.tz).utcoffset() or dt.timedelta()
    spread = bar["close"] * 0.0002
    return {
        "language": "en-US",
        "region": "US",
        "quoteType": inst.quote_type,
        "typeDisp": inst.quote_type.title(),
        "currency": inst.currency,
        "exchange": inst.exchange,
        "fullExchangeName": inst.full_exchange,
        "shortName": inst.name[:30],
        "longName": inst.name,
        "symbol": symbol,
        "marketState": "REGULAR" if now < closes_at else "CLOSED",
        "exchangeTimezoneName": inst.zone,
        "exchangeTimezoneShortName": dt.datetime.fromtimestamp(now, inst.tz).tzname(),
        "gmtOffSetMilliseconds": int(offset.total_seconds() * 1000),
        "priceHint": 4 if inst.level < 10 else 2,
        "regularMarketPrice": bar["close"],
        "regularMarketTime": int(min(now, closes_at)),
        "regularMarketChange": round(bar["close"] - previous, 4),
        "regularMarketChangePercent": (bar["close"] / previous - 1) * 100,
        "regularMarketPreviousClose": previous,
        "regularMarketOpen": bar["open"],
        "regularMarketDayHigh": bar["high"],
        "regularMarketDayLow": bar["low"],
        "regularMarketVolume": bar["volume"],
        "bid": round(bar["close"] - spread, 4),
        "ask": round(bar["close"] + spread, 4),
        "bidSize": 1,
        "askSize": 1,
        "tradeable": False,
        "triggerable": True,
    }


async def _v7_quote(request: web.Request) -> web.Response:
    raw = request.query.get("symbols", "")
    if not raw.strip():
        raise _Reject(400, "finance", "Bad Request", "Missing required query parameter=symbols")
    settings = request.app[_SETTINGS]
    symbols = dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip())
    result = [_quote(settings, s) for s in symbols if s in CATALOGUE]
    return json_response({"quoteResponse": {"result": result, "error": None}})


# -- /v8/finance/chart ---------------------------------------------------------------------------


def _months_back(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 - months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))


def _range_start(inst: Instrument, last: dt.date, range_: str) -> dt.date:
    if range_ in ("1d", "5d"):
        day, count = last, int(range_[0])
        for _ in range(count - 1):
            day = _previous_session(inst, day)
        return day
    if range_ == "ytd":
        return last.replace(month=1, day=1)
    if range_ == "max":
        return _OLDEST
    months = {"1mo": 1, "3mo": 3, "6mo": 6, "1y": 12, "2y": 24, "5y": 60, "10y": 120}[range_]
    return _months_back(last, months)


def _span(request: web.Request, inst: Instrument, last: dt.date) -> tuple[dt.date, dt.date, str]:
    query = request.query
    if "period1" in query or "period2" in query:
        try:
            start = int(query.get("period1", "0"))
            end = int(query.get("period2", str(int(request.app[_SETTINGS].clock()))))
        except ValueError:
            raise _Reject(400, "chart", "Bad Request", "Invalid input - period1/period2") from None
        first = dt.datetime.fromtimestamp(start, inst.tz).date()
        final = dt.datetime.fromtimestamp(max(end - 1, start), inst.tz).date()
        return first, min(final, last), ""
    range_ = query.get("range", "1mo")
    if range_ not in _VALID_RANGES:
        message = f"Invalid input - range={range_} is not supported"
        raise _Reject(422, "chart", "Unprocessable Entity", message)
    return _range_start(inst, last, range_), last, range_


def _group_key(interval: str, day: dt.date, index: int) -> tuple[int, ...]:
    if interval == "1wk":
        return tuple(day.isocalendar()[:2])
    if interval == "1mo":
        return (day.year, day.month)
    if interval == "3mo":
        return (day.year, (day.month - 1) // 3)
    if interval == "5d":
        return (index // 5,)
    return (index,)


def _chart_rows(
    seed: int, symbol: str, days: list[dt.date], interval: str
) -> list[tuple[dt.date, dict[str, Any]]]:
    groups: dict[tuple[int, ...], list[tuple[dt.date, dict[str, Any]]]] = {}
    for index, day in enumerate(days):
        groups.setdefault(_group_key(interval, day, index), []).append(
            (day, _bar(seed, symbol, day))
        )
    rows = []
    for members in groups.values():
        first_day, first = members[0]
        rows.append(
            (
                first_day,
                {
                    "open": first["open"],
                    "high": max(bar["high"] for _, bar in members),
                    "low": min(bar["low"] for _, bar in members),
                    "close": members[-1][1]["close"],
                    "volume": sum(bar["volume"] for _, bar in members),
                },
            )
        )
    return rows


def _trading_period(inst: Instrument, day: dt.date) -> dict[str, Any]:
    start = _opens_at(inst, day)
    end = int(dt.datetime.combine(day, dt.time(*inst.closes), inst.tz).timestamp())
    offset = dt.datetime.fromtimestamp(start, inst.tz).utcoffset() or dt.timedelta()
    name = dt.datetime.fromtimestamp(start, inst.tz).tzname()
    return {
        "timezone": name,
        "start": start,
        "end": max(end, start + 60),
        "gmtoffset": int(offset.total_seconds()),
    }


async def _chart(request: web.Request) -> web.Response:
    symbol = _instrument(
        request.match_info["symbol"], "chart", "No data found, symbol may be delisted"
    )
    interval = request.query.get("interval", "1d")
    if interval not in _INTERVALS:
        valid = ", ".join(_INTERVALS)
        message = f"Invalid input - interval={interval} is not supported. Valid: [{valid}]"
        raise _Reject(400, "chart", "Bad Request", message)
    settings, inst = request.app[_SETTINGS], CATALOGUE[symbol]
    last = _last_session(inst, settings.clock())
    start, end, range_ = _span(request, inst, last)
    rows = _chart_rows(settings.seed, symbol, list(_sessions(inst, start, end)), interval)
    quote = _quote(settings, symbol)
    period = _trading_period(inst, last)
    meta = {
        "currency": inst.currency,
        "symbol": symbol,
        "exchangeName": inst.exchange,
        "fullExchangeName": inst.full_exchange,
        "instrumentType": inst.quote_type,
        "firstTradeDate": _opens_at(inst, _OLDEST),
        "regularMarketTime": quote["regularMarketTime"],
        "hasPrePostMarketData": inst.quote_type == "EQUITY",
        "gmtoffset": period["gmtoffset"],
        "timezone": period["timezone"],
        "exchangeTimezoneName": inst.zone,
        "regularMarketPrice": quote["regularMarketPrice"],
        "regularMarketDayHigh": quote["regularMarketDayHigh"],
        "regularMarketDayLow": quote["regularMarketDayLow"],
        "regularMarketVolume": quote["regularMarketVolume"],
        "longName": inst.name,
        "shortName": inst.name[:30],
        "chartPreviousClose": _close(settings.seed, symbol, _previous_session(inst, start)),
        "priceHint": quote["priceHint"],
        "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
        "dataGranularity": interval,
        "range": range_,
        "validRanges": list(_VALID_RANGES),
    }
    result: dict[str, Any] = {"meta": meta}
    if rows:
        result["timestamp"] = [_opens_at(inst, day) for day, _ in rows]
        columns = ("open", "high", "low", "close", "volume")
        result["indicators"] = {
            "quote": [{name: [bar[name] for _, bar in rows] for name in columns}],
            "adjclose": [{"adjclose": [bar["close"] for _, bar in rows]}],
        }
    else:
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return json_response({"chart": {"result": [result], "error": None}})


# -- /v10/finance/quoteSummary -------------------------------------------------------------------


def _modules(settings: _Settings, symbol: str) -> dict[str, dict[str, Any]]:
    inst, quote = CATALOGUE[symbol], _quote(settings, symbol)
    shape = stable_random(settings.seed, symbol, "fundamentals")
    price = quote["regularMarketPrice"]
    shares = shape.uniform(1e9, 1.6e10) if inst.quote_type == "EQUITY" else None
    cap = price * shares if shares else None
    eps, book = shape.uniform(1, 12), shape.uniform(2, 60)
    summary = (
        f"{inst.name} is an emulated {inst.quote_type.lower()} listed on {inst.full_exchange}."
    )
    profile = {
        "longBusinessSummary": summary,
        "sector": "Technology",
        "country": "United States",
        "fullTimeEmployees": int(shape.uniform(1e3, 3e5)),
    }
    return {
        "price": {
            "maxAge": 1,
            "symbol": symbol,
            "shortName": quote["shortName"],
            "longName": inst.name,
            "quoteType": inst.quote_type,
            "exchange": inst.exchange,
            "exchangeName": inst.full_exchange,
            "currency": inst.currency,
            "regularMarketPrice": price,
            "regularMarketTime": quote["regularMarketTime"],
            "regularMarketPreviousClose": quote["regularMarketPreviousClose"],
            "regularMarketChangePercent": quote["regularMarketChangePercent"] / 100,
            "marketCap": cap,
        },
        "summaryDetail": {
            "maxAge": 1,
            "previousClose": quote["regularMarketPreviousClose"],
            "open": quote["regularMarketOpen"],
            "dayLow": quote["regularMarketDayLow"],
            "dayHigh": quote["regularMarketDayHigh"],
            "volume": quote["regularMarketVolume"],
            "marketCap": cap,
            "trailingPE": round(price / eps, 2) if cap else None,
            "dividendYield": round(shape.uniform(0, 0.04), 4) if cap else None,
            "currency": inst.currency,
        },
        "financialData": {
            "maxAge": 86400,
            "currentPrice": price,
            "totalRevenue": round(shape.uniform(1e9, 4e11), 0),
            "financialCurrency": inst.currency,
        },
        "defaultKeyStatistics": {
            "maxAge": 1,
            "sharesOutstanding": shares,
            "bookValue": round(book, 2),
            "priceToBook": round(price / book, 2),
            "trailingEps": round(eps, 2),
        },
        "assetProfile": {"maxAge": 86400, **profile},
        "summaryProfile": {"maxAge": 86400, **profile},
        "quoteType": {
            "exchange": inst.exchange,
            "quoteType": inst.quote_type,
            "symbol": symbol,
            "underlyingSymbol": symbol,
            "shortName": quote["shortName"],
            "longName": inst.name,
            "firstTradeDateEpochUtc": _opens_at(inst, _OLDEST),
            "timeZoneFullName": inst.zone,
            "timeZoneShortName": quote["exchangeTimezoneShortName"],
            "gmtOffSetMilliseconds": quote["gmtOffSetMilliseconds"],
        },
    }


def _formatted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v if k == "maxAge" else _formatted(v) for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return {"raw": value, "fmt": f"{value:,.2f}"}


async def _quote_summary(request: web.Request) -> web.Response:
    symbol = _instrument(
        request.match_info["symbol"], "quoteSummary", "Quote not found for symbol: {symbol}"
    )
    wanted = [m.strip() for m in request.query.get("modules", "").split(",") if m.strip()]
    unknown = [m for m in wanted if m not in _MODULES]
    if not wanted or unknown:
        message = f"Invalid Module: {','.join(unknown) or '(none)'}"
        raise _Reject(400, "quoteSummary", "Bad Request", message)
    modules = _modules(request.app[_SETTINGS], symbol)
    equity = CATALOGUE[symbol].quote_type in ("EQUITY", "ETF")
    result = {m: modules[m] for m in wanted if equity or m not in _EQUITY_ONLY}
    if request.query.get("formatted", "true").lower() != "false":
        result = {name: _formatted(module) for name, module in result.items()}
    return json_response({"quoteSummary": {"result": [result], "error": None}})


# -- /ws/fundamentals-timeseries ----------------------------------------------------------------


async def _timeseries(request: web.Request) -> web.Response:
    symbol = request.match_info["symbol"].upper()
    settings = request.app[_SETTINGS]
    types = [t for value in request.query.getall("type", []) for t in value.split(",") if t]
    known = symbol in CATALOGUE and CATALOGUE[symbol].quote_type == "EQUITY"
    result = []
    for kind in types:
        entry: dict[str, Any] = {"meta": {"symbol": [symbol], "type": [kind]}}
        if known and kind == "trailingPegRatio":
            day = _last_session(CATALOGUE[symbol], settings.clock())
            value = round(stable_random(settings.seed, symbol, kind).uniform(0.5, 4.0), 4)
            entry["timestamp"] = [_opens_at(CATALOGUE[symbol], day)]
            entry[kind] = [
                {
                    "dataId": 14021,
                    "asOfDate": day.isoformat(),
                    "periodType": "TTM",
                    "reportedValue": {"raw": value, "fmt": f"{value:.2f}"},
                }
            ]
        result.append(entry)
    return json_response({"timeseries": {"result": result, "error": None}})


# -- the application -----------------------------------------------------------------------------


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: every price and ratio becomes negative."""
    if isinstance(payload, list):
        return [_corrupt(item, rng) for item in payload]
    if isinstance(payload, dict):
        return {k: -v if isinstance(v, float) else _corrupt(v, rng) for k, v in payload.items()}
    return payload


def create_app(
    faults: Faults | None = None, *, clock: Callable[[], float] = time.time
) -> web.Application:
    """The Yahoo Finance emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated prices and crumbs.
        clock: Wall-clock seconds, which decide the latest session of each instrument.
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt)
    app.middlewares.append(_crumb_check)
    app[_SETTINGS] = _Settings(seed=faults.seed, clock=clock)
    app[_CRUMBS] = _Crumbs(seed=faults.seed)
    app.router.add_get("/", _cookie)
    app.router.add_get("/v1/test/getcrumb", _getcrumb)
    app.router.add_get("/v7/finance/quote", _v7_quote)
    app.router.add_get("/v8/finance/chart/{symbol}", _chart)
    app.router.add_get("/v10/finance/quoteSummary/{symbol}", _quote_summary)
    app.router.add_get("/ws/fundamentals-timeseries/v1/finance/timeseries/{symbol}", _timeseries)
    app.router.add_post(CONTROL_PREFIX + "rotate-crumbs", _rotate)
    return app
