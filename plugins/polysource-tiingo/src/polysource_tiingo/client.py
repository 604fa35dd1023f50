"""Tiingo's REST API over aiohttp: one method per endpoint, answering decoded JSON.

Requests carry ``Authorization: Token <api key>``. Failures become
[`ProviderError`][polysource.errors.ProviderError] with Tiingo's ``{"detail": ...}`` message when
it has
one; the API key never appears in a message or a repr.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import aiohttp

from polysource.config import Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.http import create_session, json_body, send, status_error
from polysource_tiingo.mapping import PROVIDER, error_detail

__all__ = ["DEFAULT_BASE_URL", "TiingoClient"]

DEFAULT_BASE_URL: Final = "https://api.tiingo.com"
_USER_AGENT: Final = "polysource-tiingo"

J = TypeVar("J", dict[str, Any], list[Any])


class TiingoClient:
    """Wire calls to Tiingo; the session is created on first use, inside the running loop.

    Args:
        token: The API key.
        base_url: The API's base URL (an emulator's address in tests and demos).
        timeout: Total seconds per HTTP request.
    """

    def __init__(
        self, token: Secret, *, base_url: str = DEFAULT_BASE_URL, timeout: float | None = None
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"TiingoClient(base_url={self.base_url!r})"

    def _reveal(self) -> str:
        try:
            token = self._token.reveal()
        except ConfigError as exc:
            raise ProviderError(
                f"no API key: {exc} (set providers.{PROVIDER}.credentials.api_key "
                "or TIINGO_API_KEY)",
                provider=PROVIDER,
                category=ErrorCategory.AUTH,
            ) from exc
        if not token:
            raise ProviderError("the API key is empty", provider=PROVIDER, category="auth")
        return token

    async def _get(self, path: str, params: Mapping[str, str] | None, expect: type[J]) -> J:
        token = self._reveal()
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout, headers={"User-Agent": _USER_AGENT}
            )
        response = await send(
            self._session,
            "GET",
            self.base_url + path,
            provider=PROVIDER,
            params=params,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            secrets=(token,),
        )
        if response.status >= 400:
            detail = error_detail(response.body)
            raise status_error(PROVIDER, response, detail=detail, secrets=(token,))
        return json_body(PROVIDER, response, expect)

    async def iex(self, tickers: Sequence[str]) -> list[Any]:
        """``GET /iex?tickers=a,b``: top-of-book for the tickers (an array)."""
        return await self._get("/iex", {"tickers": ",".join(tickers)}, list)

    async def daily_prices(self, ticker: str, start: dt.date) -> list[Any]:
        """``GET /tiingo/daily/{ticker}/prices?startDate=``: end-of-day bars since ``start``."""
        params = {"startDate": start.isoformat(), "resampleFreq": "daily"}
        return await self._get(f"/tiingo/daily/{ticker}/prices", params, list)

    async def daily_metadata(self, ticker: str) -> dict[str, Any]:
        """``GET /tiingo/daily/{ticker}``: name, exchange, description."""
        return await self._get(f"/tiingo/daily/{ticker}", None, dict)

    async def fundamentals_daily(self, ticker: str, start: dt.date) -> list[Any]:
        """``GET /tiingo/fundamentals/{ticker}/daily?startDate=``: market cap, P/E, P/B."""
        params = {"startDate": start.isoformat()}
        return await self._get(f"/tiingo/fundamentals/{ticker}/daily", params, list)

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
