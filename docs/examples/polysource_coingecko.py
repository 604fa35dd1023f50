"""A complete provider plugin: crypto quotes from CoinGecko's public simple-price API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import aiohttp

from polysource import BaseProvider, ProviderError, ProviderInfo, Request, hookimpl
from polysource.datasets import Quote
from polysource.registry import ProviderRegistrar

BASE_URL = "https://api.coingecko.com/api/v3"


def to_quote(symbol: str, coin_id: str, body: Mapping[str, Any]) -> Quote:
    """Map CoinGecko's ``{"bitcoin": {"usd": 67000.5}}`` onto the standard Quote."""
    try:
        price = float(body[coin_id]["usd"])
    except (KeyError, TypeError, ValueError):
        raise ProviderError(
            f"no usd price for {coin_id}", provider="coingecko", category="invalid_response"
        ) from None
    return Quote(symbol=symbol, price=price, currency="USD")


class CoinGeckoProvider(BaseProvider):
    """Quotes for crypto symbols such as ``BTC-USD``."""

    info = ProviderInfo(
        name="coingecko",
        datasets={"quote"},
        regions={"global": 50},
        max_batch_size=50,
        rate_limits=("30/minute",),
    )
    coins: ClassVar[Mapping[str, str]] = {"BTC-USD": "bitcoin", "ETH-USD": "ethereum"}

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base_url = settings.base_url or BASE_URL
        self._session: aiohttp.ClientSession | None = None

    def _coin(self, symbol: str) -> str:
        coin = self.coins.get(symbol)
        if coin is None:
            # unsupported: CoinGecko cannot serve this key, but another provider may, so the
            # engine fails over instead of stopping (a plain invalid_request stops the request).
            raise ProviderError(
                f"{symbol!r} is not a known crypto pair",
                provider="coingecko",
                category="invalid_request",
                unsupported=True,
            )
        return coin

    async def _get(self, ids: str) -> Mapping[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self.base_url}/simple/price"
        params = {"ids": ids, "vs_currencies": "usd"}
        try:
            async with self._session.get(url, params=params) as response:
                if response.status == 429:
                    raise ProviderError(
                        "rate limited", provider="coingecko", category="rate_limit", status=429
                    )
                if response.status >= 500:
                    raise ProviderError(
                        f"HTTP {response.status}",
                        provider="coingecko",
                        category="provider_down",
                        status=response.status,
                    )
                body: Mapping[str, Any] = await response.json()
                return body
        except aiohttp.ClientConnectionError as exc:
            raise ProviderError(
                "connection failed", provider="coingecko", category="network"
            ) from exc

    async def fetch(self, request: Request) -> Quote:
        coin = self._coin(request.key)
        return to_quote(request.key, coin, await self._get(coin))

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> dict[str, Quote]:
        coins = {key: self._coin(key) for key in keys}
        body = await self._get(",".join(coins.values()))
        return {key: to_quote(key, coin, body) for key, coin in coins.items() if coin in body}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    register(CoinGeckoProvider)
