"""A local emulator of Tiingo's REST API, with fault injection.

It serves the paths, parameters, response shapes and error bodies of the real API for a fixed
catalogue of US stocks and ETFs ([`CATALOGUE`][polysource_tiingo.emulator.CATALOGUE]), with prices
generated from
``Faults.seed`` (the same seed gives the same prices). Like the live API since 2025, the IEX
full top-of-book fields (``last``, bid/ask, ...) are ``null`` and ``tngoLast`` carries the
price. Every request needs ``Authorization: Token <anything>`` (or ``?token=``); ETFs have
no fundamentals (404).

Paths: ``/iex``, ``/iex/{ticker}``, ``/iex/{ticker}/prices``, ``/tiingo/daily/{ticker}``,
``/tiingo/daily/{ticker}/prices``, ``/tiingo/fundamentals/{ticker}/daily``, plus the
control endpoints of [`polysource.emulation`][polysource.emulation].
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from attrs import frozen

from polysource.emulation import (
    US_LARGE_CAPS,
    Faults,
    emulator_app,
    json_response,
    stable_random,
)

__all__ = ["CATALOGUE", "create_app", "error_body"]

_NEW_YORK: Final = ZoneInfo("America/New_York")
_OPEN: Final = dt.time(9, 30)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTRADAY: Final = re.compile(r"(\d+)(min|hour)", re.IGNORECASE)
_EOD_FREQUENCIES: Final = ("daily", "weekly", "monthly", "annually")


@frozen
class Listing:
    """One emulated ticker."""

    name: str
    exchange: str
    start: str
    etf: bool = False


CATALOGUE: Final[dict[str, Listing]] = {
    "aapl": Listing("Apple Inc", "NASDAQ", "1980-12-12"),
    "msft": Listing("Microsoft Corp", "NASDAQ", "1986-03-13"),
    "googl": Listing("Alphabet Inc - Class A", "NASDAQ", "2004-08-19"),
    "amzn": Listing("Amazon.com Inc", "NASDAQ", "1997-05-15"),
    "nvda": Listing("NVIDIA Corp", "NASDAQ", "1999-01-22"),
    "meta": Listing("Meta Platforms Inc", "NASDAQ", "2012-05-18"),
    "tsla": Listing("Tesla Inc", "NASDAQ", "2010-06-29"),
    "brk-b": Listing("Berkshire Hathaway Inc - Class B", "NYSE", "1996-05-09"),
    "jpm": Listing("JPMorgan Chase & Co", "NYSE", "1983-12-30"),
    "v": Listing("Visa Inc", "NYSE", "2008-03-19"),
    "jnj": Listing("Johnson & Johnson", "NYSE", "1962-01-02"),
    "xom": Listing("Exxon Mobil Corp", "NYSE", "1962-01-02"),
    "wmt": Listing("Walmart Inc", "NYSE", "1972-08-25"),
    "ko": Listing("Coca-Cola Co", "NYSE", "1962-01-02"),
    "dis": Listing("Walt Disney Co", "NYSE", "1962-01-02"),
    "intc": Listing("Intel Corp", "NASDAQ", "1980-03-17"),
    "ibm": Listing("International Business Machines Corp", "NYSE", "1962-01-02"),
    "spy": Listing("SPDR S&P 500 ETF Trust", "NYSE ARCA", "1993-01-29", etf=True),
    "qqq": Listing("Invesco QQQ Trust", "NASDAQ", "1999-03-10", etf=True),
    "dia": Listing("SPDR Dow Jones Industrial Average ETF", "NYSE ARCA", "1998-01-20", etf=True),
    **{
        ticker.lower(): Listing(name, exchange, "1990-01-02")
        for ticker, name, exchange in US_LARGE_CAPS
    },
}


@frozen
class _Settings:
    seed: int
    clock: Callable[[], float]


_SETTINGS: Final = web.AppKey("tiingo_emulator", _Settings)


class _Reject(Exception):
    """A request the real API rejects: the status and Tiingo's ``detail`` message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Tiingo's error bodies: DRF ``{"detail": ...}``, an HTML page for 5xx outages."""
    if status >= 500:
        page = f"<html><head><title>{status} {message}</title></head><body>{message}</body></html>"
        return "text/html", page.encode()
    if status == 429:
        message = "Error: You have run over your hourly request allocation."
    return "application/json", orjson.dumps({"detail": message})


def _reject(exc: _Reject) -> web.Response:
    content_type, body = error_body(exc.status, exc.detail)
    return web.Response(status=exc.status, body=body, content_type=content_type)


# -- generated prices ----------------------------------------------------------------------------


def _close(seed: int, ticker: str, day: dt.date) -> float:
    shape = stable_random(seed, ticker)
    base, amplitude = shape.uniform(20, 500), shape.uniform(0.05, 0.25)
    period, phase = shape.uniform(40, 250), shape.uniform(0, 2 * math.pi)
    wave = 1 + amplitude * math.sin(2 * math.pi * day.toordinal() / period + phase)
    noise = stable_random(seed, ticker, day.toordinal()).gauss(0, 0.01)
    return round(base * wave * (1 + noise), 2)


def _bar(seed: int, ticker: str, day: dt.date) -> dict[str, Any]:
    close = _close(seed, ticker, day)
    rng = stable_random(seed, ticker, day.toordinal(), "bar")
    open_ = round(_close(seed, ticker, day - dt.timedelta(days=1)) * rng.uniform(0.99, 1.01), 2)
    high = round(max(open_, close) * rng.uniform(1.0, 1.015), 2)
    low = round(min(open_, close) * rng.uniform(0.985, 1.0), 2)
    volume = int(rng.uniform(1e6, 8e7))
    return {
        "date": f"{day.isoformat()}T00:00:00+00:00",
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "adjOpen": open_,
        "adjHigh": high,
        "adjLow": low,
        "adjClose": close,
        "adjVolume": volume,
        "divCash": 0.0,
        "splitFactor": 1.0,
    }


def _business_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def _last_session(today: dt.date) -> dt.date:
    while today.weekday() >= 5:
        today -= dt.timedelta(days=1)
    return today


# -- request helpers -----------------------------------------------------------------------------


def _today(request: web.Request) -> dt.date:
    return dt.datetime.fromtimestamp(request.app[_SETTINGS].clock(), _NEW_YORK).date()


def _listing(ticker: str) -> tuple[str, Listing]:
    normalized = ticker.lower().replace(".", "-")
    listing = CATALOGUE.get(normalized)
    if listing is None:
        raise _Reject(404, f"Error: Ticker '{ticker.upper()}' not found")
    return normalized, listing


def _date_param(request: web.Request, name: str) -> dt.date | None:
    value = request.query.get(name)
    if not value:
        return None
    if not _DATE.fullmatch(value):
        raise _Reject(400, f"Error: {name} must be in the format YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _Reject(400, f"Error: {name} is not a valid date") from None


def _date_range(request: web.Request) -> tuple[dt.date, dt.date] | None:
    start, end = _date_param(request, "startDate"), _date_param(request, "endDate")
    if start is None and end is None:
        return None
    last = _last_session(_today(request))
    return start or dt.date(1990, 1, 1), min(end or last, last)


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/_emulator/"):
        return await handler(request)  # type: ignore[no-any-return]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    valid = (scheme.lower() == "token" and token.strip()) or request.query.get("token")
    if not valid:
        return _reject(_Reject(401, "Invalid token."))
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except _Reject as exc:
        return _reject(exc)


def _respond(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    fmt = request.query.get("format", "json").lower()
    columns = request.query.get("columns")
    if columns:
        keep = {"date", *(c.strip() for c in columns.split(","))}
        rows = [{k: v for k, v in row.items() if k in keep} for row in rows]
    if fmt == "json":
        return json_response(rows)
    if fmt != "csv":
        raise _Reject(400, "Error: format must be json or csv")
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return web.Response(text=out.getvalue(), content_type="text/csv")


# -- handlers ------------------------------------------------------------------------------------


def _top_of_book(seed: int, ticker: str, day: dt.date) -> dict[str, Any]:
    bar = _bar(seed, ticker, day)
    previous = _close(seed, ticker, _last_session(day - dt.timedelta(days=1)))
    stamp = dt.datetime.combine(day, dt.time(16, 0), _NEW_YORK).isoformat()
    return {
        "ticker": ticker.upper(),
        "timestamp": stamp,
        "quoteTimestamp": None,
        "lastSaleTimestamp": None,
        "last": None,
        "lastSize": None,
        "tngoLast": bar["close"],
        "prevClose": previous,
        "open": bar["open"],
        "high": bar["high"],
        "low": bar["low"],
        "mid": None,
        "volume": bar["volume"] // 40,
        "bidSize": None,
        "bidPrice": None,
        "askSize": None,
        "askPrice": None,
    }


async def _iex(request: web.Request) -> web.Response:
    seed, day = request.app[_SETTINGS].seed, _last_session(_today(request))
    if "ticker" in request.match_info:
        tickers = [_listing(request.match_info["ticker"])[0]]
    elif request.query.get("tickers"):
        wanted = (t.strip().lower().replace(".", "-") for t in request.query["tickers"].split(","))
        tickers = [t for t in dict.fromkeys(wanted) if t in CATALOGUE]
    else:
        tickers = list(CATALOGUE)
    return json_response([_top_of_book(seed, t, day) for t in tickers])


async def _iex_prices(request: web.Request) -> web.Response:
    ticker, _ = _listing(request.match_info["ticker"])
    match = _INTRADAY.fullmatch(request.query.get("resampleFreq", "5min"))
    if match is None:
        raise _Reject(400, "Error: resampleFreq must be like 5min or 1hour")
    step = int(match[1]) * (60 if match[2].lower() == "hour" else 1)
    if step < 1:
        raise _Reject(400, "Error: resampleFreq must be positive")
    span = _date_range(request)
    last = _last_session(_today(request))
    start, end = span if span else (last, last)
    rows: list[dict[str, Any]] = []
    seed = request.app[_SETTINGS].seed
    for day in _business_days(max(start, end - dt.timedelta(days=31)), end):
        rng = stable_random(seed, ticker, day.toordinal(), "intraday")
        price = _bar(seed, ticker, day)["open"]
        minute = 0
        while minute < 390:
            opened = dt.datetime.combine(day, dt.time(9, 30), _NEW_YORK) + dt.timedelta(
                minutes=minute
            )
            close = round(price * rng.uniform(0.997, 1.003), 2)
            rows.append(
                {
                    "date": opened.astimezone(dt.UTC).isoformat().replace("+00:00", ".000Z"),
                    "open": price,
                    "high": round(max(price, close) * 1.001, 2),
                    "low": round(min(price, close) * 0.999, 2),
                    "close": close,
                    "volume": int(rng.uniform(1e3, 5e4)),
                }
            )
            price, minute = close, minute + step
    return _respond(request, rows)


async def _metadata(request: web.Request) -> web.Response:
    ticker, listing = _listing(request.match_info["ticker"])
    return json_response(
        {
            "ticker": ticker.upper(),
            "name": listing.name,
            "exchangeCode": listing.exchange,
            "startDate": listing.start,
            "endDate": _last_session(_today(request)).isoformat(),
            "description": f"{listing.name} is listed on {listing.exchange}.",
        }
    )


def _resample(rows: list[dict[str, Any]], frequency: str) -> list[dict[str, Any]]:
    def period(row: dict[str, Any]) -> tuple[int, ...]:
        day = dt.date.fromisoformat(row["date"][:10])
        if frequency == "weekly":
            return tuple(day.isocalendar()[:2])
        return (day.year, day.month) if frequency == "monthly" else (day.year,)

    groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(period(row), []).append(row)
    out = []
    for group in groups.values():
        merged = dict(group[-1])
        merged["open"] = merged["adjOpen"] = group[0]["open"]
        merged["high"] = merged["adjHigh"] = max(r["high"] for r in group)
        merged["low"] = merged["adjLow"] = min(r["low"] for r in group)
        merged["volume"] = merged["adjVolume"] = sum(r["volume"] for r in group)
        out.append(merged)
    return out


async def _daily_prices(request: web.Request) -> web.Response:
    ticker, _ = _listing(request.match_info["ticker"])
    frequency = request.query.get("resampleFreq", "daily").lower()
    if frequency not in _EOD_FREQUENCIES:
        raise _Reject(400, f"Error: resampleFreq must be one of {', '.join(_EOD_FREQUENCIES)}")
    seed, span = request.app[_SETTINGS].seed, _date_range(request)
    if span is None:
        days = [_last_session(_today(request))]
    else:
        start = max(span[0], dt.date.fromisoformat(CATALOGUE[ticker].start))
        days = list(_business_days(start, span[1]))
    rows = [_bar(seed, ticker, day) for day in days]
    return _respond(request, rows if frequency == "daily" else _resample(rows, frequency))


async def _fundamentals_daily(request: web.Request) -> web.Response:
    ticker, listing = _listing(request.match_info["ticker"])
    if listing.etf:
        raise _Reject(404, f"Error: Ticker '{ticker.upper()}' has no fundamentals")
    seed = request.app[_SETTINGS].seed
    span = _date_range(request)
    last = _last_session(_today(request))
    start, end = span if span else (last, last)
    shape = stable_random(seed, ticker, "fundamentals")
    shares, eps = shape.uniform(2e8, 1.6e10), shape.uniform(1.0, 12.0)
    book, growth = shape.uniform(2.0, 60.0), shape.uniform(3.0, 30.0)
    rows = []
    for day in _business_days(max(start, end - dt.timedelta(days=3660)), end):
        close = _close(seed, ticker, day)
        cap = close * shares
        rows.append(
            {
                "date": f"{day.isoformat()}T00:00:00.000Z",
                "marketCap": round(cap, 0),
                "enterpriseVal": round(cap * 1.03, 0),
                "peRatio": round(close / eps, 2),
                "pbRatio": round(close / book, 2),
                "trailingPEG1Y": round(close / eps / growth, 2),
            }
        )
    return _respond(request, rows)


# -- the application -----------------------------------------------------------------------------


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: every price and ratio becomes negative."""
    if isinstance(payload, list):
        return [_corrupt(item, rng) for item in payload]
    if isinstance(payload, dict):
        return {
            k: -v if isinstance(v, float) and not isinstance(v, bool) else _corrupt(v, rng)
            for k, v in payload.items()
        }
    return payload


def create_app(
    faults: Faults | None = None, *, clock: Callable[[], float] = time.time
) -> web.Application:
    """The Tiingo emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated prices.
        clock: Wall-clock seconds, which decide "today" for the generated data.
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt)
    app.middlewares.append(_auth)
    app[_SETTINGS] = _Settings(seed=faults.seed, clock=clock)
    for path in ("/iex", "/iex/"):
        app.router.add_get(path, _iex)
    app.router.add_get("/iex/{ticker}", _iex)
    app.router.add_get("/iex/{ticker}/prices", _iex_prices)
    app.router.add_get("/tiingo/daily/{ticker}", _metadata)
    app.router.add_get("/tiingo/daily/{ticker}/prices", _daily_prices)
    app.router.add_get("/tiingo/fundamentals/{ticker}/daily", _fundamentals_daily)
    return app
