"""polysource's provider conformance suite, run against the Yahoo emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.emulation import Faults, serve
from polysource.testing import ErrorCase, FetchCase, ProviderConformance
from polysource_yahoo import YahooProvider
from polysource_yahoo.emulator import create_app


class TestYahooConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = YahooProvider
    fetch_cases = [
        FetchCase("quote", "AAPL"),
        FetchCase("quote", "FX:EURUSD"),
        FetchCase("quote", "LON:VOD"),
        FetchCase("daily_bars", "BTC-USD"),
        FetchCase("daily_bars", "^GSPC"),
        FetchCase("fundamentals", "BRK.B"),
        FetchCase("fundamentals", "FUT:GC"),
    ]
    error_cases = [
        ErrorCase("quote", "ZZZZ", "not_found"),
        ErrorCase("daily_bars", "ZZZZ", "not_found"),
        ErrorCase("fundamentals", "ZZZZ", "not_found"),
        ErrorCase("quote", "XXX:VOD", "invalid_request"),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator's address as the provider's base URL."""
        async with serve(create_app(Faults(seed=1))) as url:
            yield {"base_url": url, "options": {"history_range": "3mo"}}
