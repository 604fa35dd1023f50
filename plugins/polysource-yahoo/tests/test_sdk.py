"""yfinance, the most-used Yahoo Finance client, works against the emulator.

yfinance has no host option: its URLs are constants imported by value into many modules. It
accepts a ``requests.Session`` though, so a session subclass rewrites ``https://*.yahoo.com``
to the emulator. yfinance is synchronous; it runs in a worker thread while the emulator is
served by the test's event loop.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from polysource.datasets import DAILY_BARS, QUOTE
from polysource.emulation import Faults, serve
from polysource.models import Request
from polysource_yahoo.emulator import CATALOGUE, create_app

yf = pytest.importorskip("yfinance", reason="the test dependency group is not installed")
requests = pytest.importorskip("requests")

# yfinance runs on pandas, which warns about its own deprecated calls inside yfinance.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_YAHOO = re.compile(r"^https://[a-z0-9.-]*\.yahoo\.com")


class EmulatorSession(requests.Session):
    """A requests session that sends every ``https://*.yahoo.com`` request to the emulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.seen: list[str] = []

    def request(self, method, url, *args, **kwargs):
        self.seen.append(url)
        return super().request(method, _YAHOO.sub(self.base_url, url), *args, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def _yfinance_caches(tmp_path_factory):
    """Keep yfinance's time-zone and cookie caches out of the user's cache folder."""
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance")))


def _fresh_yfinance(session: EmulatorSession) -> None:
    # yfinance keeps one process-wide data object holding the cookie and crumb; forget the
    # previous emulator's so each test starts with the handshake.
    data = yf.data.YfData(session=session)
    data._crumb = None
    data._cookie = None


async def test_history_and_info_match_the_provider(make_provider) -> None:
    """``Ticker.history(period="5d")`` and ``Ticker.info`` parse the emulator's answers."""
    async with serve(create_app(Faults(seed=5))) as url:
        session = EmulatorSession(url)
        _fresh_yfinance(session)

        def read() -> tuple:
            ticker = yf.Ticker("AAPL", session=session)
            return ticker.history(period="5d"), ticker.info

        history, info = await asyncio.to_thread(read)
        provider = make_provider(base_url=url, history_range="1mo")
        bars = await provider.fetch(Request(DAILY_BARS, "AAPL", "global"))
        quote = await provider.fetch(Request(QUOTE, "AAPL", "global"))
        session.close()
    assert list(history["Close"].round(2)) == [bar.close for bar in bars.bars[-5:]]
    assert [ts.date() for ts in history.index] == [bar.date for bar in bars.bars[-5:]]
    assert str(history.index.tz) == "America/New_York"
    assert info["regularMarketPrice"] == quote.price
    assert info["longName"] == CATALOGUE["AAPL"].name
    assert info["currency"] == "USD" and info["marketCap"] > 0
    assert any(u.startswith("https://fc.yahoo.com") for u in session.seen)
    assert not any("consent" in u for u in session.seen)  # no fallback was needed


async def test_history_of_forex_and_index(make_provider) -> None:
    """Non-equity symbols (``EURUSD=X``, ``^GSPC``) parse too."""
    async with serve(create_app(Faults(seed=5))) as url:
        session = EmulatorSession(url)
        _fresh_yfinance(session)

        def read() -> tuple:
            fx = yf.Ticker("EURUSD=X", session=session).history(period="1mo")
            index = yf.Ticker("^GSPC", session=session).history(period="5d")
            return fx, index

        fx, index = await asyncio.to_thread(read)
        session.close()
    assert 18 <= len(fx) <= 23 and fx["Close"].between(0.5, 2).all()
    assert len(index) == 5 and (index["Volume"] > 0).all()
