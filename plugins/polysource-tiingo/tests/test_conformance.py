"""polysource's provider conformance suite, run against the Tiingo emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.emulation import Faults, serve
from polysource.testing import ErrorCase, FetchCase, ProviderConformance
from polysource_tiingo import TiingoProvider
from polysource_tiingo.emulator import create_app


class TestTiingoConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = TiingoProvider
    secrets = {"api_key": "tiingo-conformance-7d1e0b"}
    fetch_cases = [
        FetchCase("quote", "AAPL", "US"),
        FetchCase("quote", "BRK.B", "US"),
        FetchCase("daily_bars", "MSFT", "US"),
        FetchCase("fundamentals", "AAPL", "US"),
        FetchCase("fundamentals", "SPY", "US"),
    ]
    error_cases = [
        ErrorCase("quote", "ZZZZ", "not_found"),
        ErrorCase("daily_bars", "ZZZZ", "not_found"),
        ErrorCase("quote", "FX:EURUSD", "invalid_request"),
        ErrorCase("daily_bars", "^GSPC", "invalid_request"),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator's address as the provider's base URL."""
        async with serve(create_app(Faults(seed=1))) as url:
            yield {"base_url": url}
