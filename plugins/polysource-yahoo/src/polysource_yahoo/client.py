"""Yahoo Finance's JSON API over aiohttp, with the cookie + crumb handshake.

Every data call carries the session cookie and ``crumb=`` query parameter. The handshake:
``GET`` the cookie URL (``https://fc.yahoo.com``; its status does not matter, its
``Set-Cookie`` does), then ``GET /v1/test/getcrumb`` with that cookie, which answers the crumb
as plain text. A data call answered 401 (``Invalid Crumb`` / ``Invalid Cookie``) gets a fresh
cookie and crumb and is retried once; a second 401 is an ``auth`` error.

The client keeps the cookie itself (sessions store no cookies), so the handshake works the
same against ``*.yahoo.com`` and against an emulator on ``127.0.0.1``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final

import aiohttp
from attrs import frozen

from polysource.errors import ErrorCategory
from polysource.http import HttpResponse, create_session, json_body, send, status_error
from polysource_yahoo.mapping import PROVIDER, error_category, error_envelope

__all__ = ["DEFAULT_COOKIE_URL", "QUERY1", "QUERY2", "YahooClient"]

QUERY1: Final = "https://query1.finance.yahoo.com"
QUERY2: Final = "https://query2.finance.yahoo.com"
DEFAULT_COOKIE_URL: Final = "https://fc.yahoo.com"
DEFAULT_USER_AGENT: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_CRUMB_LIMIT: Final = 64


@frozen
class _Credentials:
    cookie: str
    crumb: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """The crumb, the cookie header and each cookie's value: kept out of messages."""
        values = (part.partition("=")[2] for part in self.cookie.split("; "))
        return (self.crumb, self.cookie, *values)


def _cookie_header(response: HttpResponse) -> str:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        try:
            jar.load(header)
        except CookieError:
            continue
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


class YahooClient:
    """Wire calls to Yahoo Finance; the session is created on first use, inside the loop.

    Args:
        base_url: One base URL for every API path (an emulator's address); by default the
            quote and crumb calls go to ``query1`` and chart and quoteSummary to ``query2``,
            as the web site does.
        cookie_url: Where the session cookie comes from (default ``https://fc.yahoo.com``, or
            ``base_url + "/"`` when a base URL is given).
        timeout: Total seconds per HTTP request.
        user_agent: The ``User-Agent`` header (Yahoo throttles obvious scripts harder).
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        cookie_url: str | None = None,
        timeout: float | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        base = base_url.rstrip("/") if base_url else None
        self.query1 = base or QUERY1
        self.query2 = base or QUERY2
        self.cookie_url = cookie_url or (f"{base}/" if base else DEFAULT_COOKIE_URL)
        self._timeout = timeout
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._credentials: _Credentials | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"YahooClient(query1={self.query1!r}, query2={self.query2!r})"

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout, headers={"User-Agent": self._user_agent}, cookies=False
            )
        return self._session

    async def _handshake(self) -> _Credentials:
        session = self._open()
        cookie_answer = await send(
            session, "GET", self.cookie_url, provider=PROVIDER, allow_redirects=False
        )
        cookie = _cookie_header(cookie_answer)
        headers = {"Cookie": cookie} if cookie else {}
        answer = await send(
            session, "GET", f"{self.query1}/v1/test/getcrumb", provider=PROVIDER, headers=headers
        )
        category = error_category(answer.status, answer.body)
        if category is not None:
            raise status_error(PROVIDER, answer, category=category, detail="no crumb")
        crumb = answer.text.strip()
        if (
            not crumb
            or "<" in crumb
            or len(crumb) > _CRUMB_LIMIT
            or any(c.isspace() for c in crumb)
        ):
            raise status_error(
                PROVIDER, answer, category=ErrorCategory.AUTH, detail="getcrumb answered no crumb"
            )
        return _Credentials(cookie=cookie, crumb=crumb)

    async def _credentials_for(self, stale: _Credentials | None) -> _Credentials:
        """The current cookie and crumb; a new pair when none or ``stale`` is in force."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._credentials is None or self._credentials is stale:
                self._credentials = await self._handshake()
            return self._credentials

    async def _get(self, url: str, params: Mapping[str, str]) -> dict[str, Any]:
        credentials = await self._credentials_for(None)
        answer = await self._send(url, params, credentials)
        if answer.status == 401:  # Invalid Crumb / Invalid Cookie: one fresh handshake
            credentials = await self._credentials_for(credentials)
            answer = await self._send(url, params, credentials)
        category = error_category(answer.status, answer.body)
        if category is not None:
            envelope = error_envelope(answer.body)
            detail = envelope[1] if envelope else None
            raise status_error(
                PROVIDER, answer, category=category, detail=detail, secrets=credentials.secrets
            )
        return json_body(PROVIDER, answer, dict)

    async def _send(
        self, url: str, params: Mapping[str, str], credentials: _Credentials
    ) -> HttpResponse:
        headers = {"Cookie": credentials.cookie} if credentials.cookie else {}
        query = {**params, "crumb": credentials.crumb}
        return await send(
            self._open(),
            "GET",
            url,
            provider=PROVIDER,
            params=query,
            headers=headers,
            secrets=credentials.secrets,
        )

    async def quote(self, symbols: list[str]) -> dict[str, Any]:
        """``GET /v7/finance/quote?symbols=a,b``."""
        params = {
            "symbols": ",".join(symbols),
            "formatted": "false",
            "lang": "en-US",
            "region": "US",
        }
        return await self._get(f"{self.query1}/v7/finance/quote", params)

    async def chart(self, symbol: str, range_: str) -> dict[str, Any]:
        """``GET /v8/finance/chart/{symbol}?range=...&interval=1d``: daily bars."""
        params = {
            "range": range_,
            "interval": "1d",
            "includePrePost": "false",
            "events": "div,splits",
        }
        return await self._get(f"{self.query2}/v8/finance/chart/{symbol}", params)

    async def quote_summary(self, symbol: str, modules: str) -> dict[str, Any]:
        """``GET /v10/finance/quoteSummary/{symbol}?modules=...&formatted=false``."""
        params = {"modules": modules, "formatted": "false", "lang": "en-US", "region": "US"}
        return await self._get(f"{self.query2}/v10/finance/quoteSummary/{symbol}", params)

    async def close(self) -> None:
        """Close the HTTP session and forget the cookie and crumb."""
        self._credentials = None
        if self._session is not None:
            await self._session.close()
            self._session = None
