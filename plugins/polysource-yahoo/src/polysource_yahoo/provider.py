"""The Yahoo Finance provider: canonical keys in, dataset schemas out.

Configuration (section ``[providers.yahoo]``; no credentials):

- ``base_url``: one address for every API path (an emulator's); by default the real hosts
  ``query1``/``query2.finance.yahoo.com``.
- ``options.cookie_url``: where the session cookie comes from (default ``https://fc.yahoo.com``,
  or ``base_url + "/"`` when ``base_url`` is set).
- ``options.history_range``: the chart range of ``daily_bars`` (default ``1y``).
- ``options.user_agent``: the ``User-Agent`` header.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polysource.datasets import Quote
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import ProviderInfo, Request
from polysource.provider import BaseProvider, ProviderSettings
from polysource_yahoo.client import DEFAULT_USER_AGENT, YahooClient
from polysource_yahoo.mapping import (
    PROVIDER,
    daily_bars_from_chart,
    fundamentals_from_summary,
    quotes_from_v7,
)
from polysource_yahoo.symbols import to_yahoo

__all__ = ["HISTORY_RANGES", "MAX_BATCH", "MODULES", "YahooProvider"]

MAX_BATCH: Final = 50
"""Symbols per ``/v7/finance/quote`` call (Yahoo documents no maximum)."""
MODULES: Final = "price,summaryDetail,financialData,defaultKeyStatistics,assetProfile"
HISTORY_RANGES: Final = ("1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")
_FAN_OUT: Final = 4


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-yahoo")
    except importlib.metadata.PackageNotFoundError:
        return ""


class YahooProvider(BaseProvider):
    """Quotes, daily bars and fundamentals of stocks, ETFs, indices, forex, futures and crypto."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"quote", "daily_bars", "fundamentals"},
        regions={"global": 20},
        max_batch_size=MAX_BATCH,
        rate_limits=("60/minute",),  # self-imposed: Yahoo publishes no limits and throttles by IP
        version=_version(),
        description="Yahoo Finance (unofficial API): global quotes, daily bars, fundamentals.",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        options = settings.options
        self.history_range = str(options.get("history_range", "1y"))
        if self.history_range not in HISTORY_RANGES:
            raise ConfigError(
                f"must be one of {', '.join(HISTORY_RANGES)}, got {self.history_range!r}",
                path=f"providers.{settings.name}.options.history_range",
            )
        self.client = YahooClient(
            base_url=settings.base_url,
            cookie_url=options.get("cookie_url"),
            timeout=settings.config.timeout,
            user_agent=str(options.get("user_agent", DEFAULT_USER_AGENT)),
        )

    async def fetch(self, request: Request) -> Any:
        """The ``quote``, ``daily_bars`` or ``fundamentals`` value for ``request.key``."""
        dataset = request.dataset.name
        if dataset == "quote":
            quotes = await self._quotes([request.key])
            if request.key not in quotes:
                raise ProviderError(
                    f"quote for {request.key!r} not found: Yahoo left it out of its answer",
                    provider=PROVIDER,
                    category=ErrorCategory.NOT_FOUND,
                )
            return quotes[request.key]
        symbol = to_yahoo(request.key)
        if dataset == "daily_bars":
            payload = await self.client.chart(symbol, self.history_range)
            return daily_bars_from_chart(payload, request.key)
        if dataset == "fundamentals":
            payload = await self.client.quote_summary(symbol, MODULES)
            return fundamentals_from_summary(payload, request.key)
        raise ProviderError(
            f"dataset {dataset!r} is not served",
            provider=PROVIDER,
            category="invalid_request",
            unsupported=True,
        )

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """Values for many keys; keys Yahoo does not know (or that are malformed) are absent.

        Quotes take one ``/v7/finance/quote`` call per 50 keys; other datasets are fetched key
        by key, a few at a time.
        """
        if request.dataset.name == "quote":
            return await self._quotes(keys, skip_invalid=True)
        return await self.fetch_each(request, keys, concurrency=_FAN_OUT)

    async def _quotes(self, keys: Sequence[str], *, skip_invalid: bool = False) -> dict[str, Quote]:
        wanted: dict[str, str] = {}
        for key in keys:
            try:
                wanted[to_yahoo(key)] = key
            except ProviderError:
                if not skip_invalid:
                    raise
        symbols = list(wanted)
        out: dict[str, Quote] = {}
        for start in range(0, len(symbols), MAX_BATCH):
            payload = await self.client.quote(symbols[start : start + MAX_BATCH])
            out.update(quotes_from_v7(payload, wanted))
        return out

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
