"""The Tiingo provider: canonical keys in, dataset schemas out.

Configuration (section ``[providers.tiingo]``):

- ``base_url``: the API's address (default ``https://api.tiingo.com``; an emulator's in demos).
- ``credentials.api_key``: the API key, e.g. ``{ env = "TIINGO_API_KEY" }``; without it the
  ``TIINGO_API_KEY`` environment variable is read.
- ``options.history_days``: days of daily bars returned by ``daily_bars`` (default 365).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polysource.datasets import DailyBars, Fundamentals, Quote
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import ProviderInfo, Request
from polysource.provider import BaseProvider, ProviderSettings
from polysource_tiingo.client import DEFAULT_BASE_URL, TiingoClient
from polysource_tiingo.mapping import (
    PROVIDER,
    daily_bars_from_prices,
    fundamentals_from,
    quotes_from_iex,
)
from polysource_tiingo.symbols import to_tiingo

__all__ = ["TiingoProvider"]

MAX_BATCH: Final = 100
"""Tickers per ``/iex`` call: Tiingo documents no maximum; this keeps URLs short."""
_FAN_OUT: Final = 4
_FUNDAMENTALS_LOOKBACK: Final = dt.timedelta(days=14)


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-tiingo")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _not_found(key: str, dataset: str) -> ProviderError:
    return ProviderError(
        f"{dataset} for {key!r} not found", provider=PROVIDER, category=ErrorCategory.NOT_FOUND
    )


def _first_provider_error(group: ExceptionGroup[Exception]) -> Exception:
    """The first ProviderError of a TaskGroup's failure, else the group itself."""
    for exc in group.exceptions:
        if isinstance(exc, ProviderError):
            return exc
    return group


class TiingoProvider(BaseProvider):
    """Quotes (IEX), daily bars and fundamentals of US stocks and ETFs from Tiingo."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"quote", "daily_bars", "fundamentals"},
        regions={"US": 10, "global": 50},
        max_batch_size=MAX_BATCH,
        rate_limits=("50/hour", "1000/day"),
        credentials=("api_key",),
        version=_version(),
        description="Tiingo: US stocks and ETFs (IEX quotes, end-of-day bars, fundamentals).",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = TiingoClient(
            settings.credential("api_key", env="TIINGO_API_KEY"),
            base_url=settings.base_url or DEFAULT_BASE_URL,
            timeout=settings.config.timeout,
        )
        self.history_days = int(settings.options.get("history_days", 365))

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).date()

    async def fetch(self, request: Request) -> Any:
        """The ``quote``, ``daily_bars`` or ``fundamentals`` value for ``request.key``."""
        dataset = request.dataset.name
        if dataset == "quote":
            quotes = await self._quotes([request.key])
            if request.key not in quotes:
                raise _not_found(request.key, dataset)
            return quotes[request.key]
        ticker = to_tiingo(request.key)
        if dataset == "daily_bars":
            return await self._daily_bars(ticker, request.key)
        if dataset == "fundamentals":
            return await self._fundamentals(ticker, request.key)
        raise ProviderError(
            f"dataset {dataset!r} is not served",
            provider=PROVIDER,
            category="invalid_request",
            unsupported=True,
        )

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """Values for many keys; keys not found (or not served) are absent from the answer.

        Quotes take one ``/iex`` call per 100 keys; other datasets are fetched key by key,
        a few at a time.
        """
        if request.dataset.name == "quote":
            return await self._quotes(keys, skip_invalid=True)
        return await self.fetch_each(request, keys, concurrency=_FAN_OUT)

    async def _quotes(self, keys: Sequence[str], *, skip_invalid: bool = False) -> dict[str, Quote]:
        wanted: dict[str, str] = {}
        for key in keys:
            try:
                wanted[to_tiingo(key)] = key
            except ProviderError:
                if not skip_invalid:
                    raise
        tickers = list(wanted)
        out: dict[str, Quote] = {}
        for start in range(0, len(tickers), MAX_BATCH):
            payload = await self.client.iex(tickers[start : start + MAX_BATCH])
            out.update(quotes_from_iex(payload, wanted))
        return out

    async def _daily_bars(self, ticker: str, key: str) -> DailyBars:
        start = self._today() - dt.timedelta(days=self.history_days)
        return daily_bars_from_prices(await self.client.daily_prices(ticker, start), key)

    async def _fundamentals(self, ticker: str, key: str) -> Fundamentals:
        try:
            async with asyncio.TaskGroup() as group:
                metadata = group.create_task(self.client.daily_metadata(ticker))
                daily = group.create_task(self._fundamentals_daily(ticker))
        except ExceptionGroup as group_error:
            first = _first_provider_error(group_error)
            raise first from first.__cause__
        return fundamentals_from(metadata.result(), daily.result(), key)

    async def _fundamentals_daily(self, ticker: str) -> list[Any] | None:
        try:
            return await self.client.fundamentals_daily(
                ticker, self._today() - _FUNDAMENTALS_LOOKBACK
            )
        except ProviderError as exc:
            if exc.status in (403, 404):  # no fundamentals add-on, or none for this ticker
                return None
            raise

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
