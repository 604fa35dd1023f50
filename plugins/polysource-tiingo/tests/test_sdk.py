"""The official Tiingo SDK (tiingo-python) works against the emulator.

The SDK is synchronous (requests), so it runs in a worker thread while the emulator is served
by the test's event loop. Its host is hard-coded; ``_base_url`` is the only way to point it
elsewhere.
"""

from __future__ import annotations

import asyncio

import pytest

from polysource.datasets import DAILY_BARS
from polysource.emulation import Faults, serve
from polysource.models import Request
from polysource_tiingo.emulator import create_app

from .conftest import FixedClock

tiingo = pytest.importorskip("tiingo", reason="the test dependency group is not installed")
restclient = pytest.importorskip("tiingo.restclient")

WEDNESDAY = 1732723200.0  # 2024-11-27 16:00 UTC


def _sdk(url: str):
    client = tiingo.TiingoClient({"api_key": "sdk-test-key", "session": True})
    client._base_url = url
    return client


async def test_sdk_reads_metadata_and_daily_prices(make_provider) -> None:
    """``get_ticker_metadata`` and ``get_ticker_price`` parse the emulator's answers."""
    async with serve(create_app(Faults(seed=3), clock=lambda: WEDNESDAY)) as url:
        client = _sdk(url)
        meta = await asyncio.to_thread(client.get_ticker_metadata, "AAPL")
        latest = await asyncio.to_thread(client.get_ticker_price, "AAPL")
        history = await asyncio.to_thread(
            client.get_ticker_price, "AAPL", startDate="2024-11-18", endDate="2024-11-27"
        )
        objects = await asyncio.to_thread(
            client.get_ticker_price, "AAPL", startDate="2024-11-25", fmt="object"
        )
        ours = await make_provider(
            base_url=url, clock=FixedClock(WEDNESDAY), history_days=10
        ).fetch(Request(DAILY_BARS, "AAPL", "US"))
    assert meta["ticker"] == "AAPL" and meta["name"] == "Apple Inc"
    assert len(latest) == 1 and latest[0]["date"].startswith("2024-11-27")
    assert [row["close"] for row in history] == [bar.close for bar in ours.bars]
    assert [o.close for o in objects] == [bar.close for bar in ours.bars[-3:]]


async def test_sdk_reads_intraday_prices_and_csv() -> None:
    """Intraday (``/iex/{t}/prices``) and CSV daily prices parse as the SDK expects."""
    async with serve(create_app(Faults(), clock=lambda: WEDNESDAY)) as url:
        client = _sdk(url)
        bars = await asyncio.to_thread(
            client.get_ticker_price, "MSFT", startDate="2024-11-27", frequency="30min"
        )
        text = await asyncio.to_thread(
            client.get_ticker_price, "MSFT", startDate="2024-11-26", fmt="csv"
        )
    assert len(bars) == 13  # 09:30 to 16:00 in 30-minute bars
    assert bars[0]["date"] == "2024-11-27T14:30:00.000Z"
    header, *rows = text.strip().splitlines()
    assert header.startswith("date,open,high,low,close,volume") and len(rows) == 2


async def test_sdk_sees_unknown_ticker_and_bad_token_as_http_errors() -> None:
    """The emulator's 404 and 401 surface as the SDK's ``RestClientError``."""
    async with serve(create_app(Faults(), clock=lambda: WEDNESDAY)) as url:
        client = _sdk(url)
        with pytest.raises(restclient.RestClientError, match="404"):
            await asyncio.to_thread(client.get_ticker_metadata, "ZZZZ")
        client._headers["Authorization"] = "Token "
        with pytest.raises(restclient.RestClientError, match="401"):
            await asyncio.to_thread(client.get_ticker_metadata, "AAPL")
