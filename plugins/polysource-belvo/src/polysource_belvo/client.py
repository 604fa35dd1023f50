"""Belvo's REST API over aiohttp: one method per endpoint, answering decoded JSON.

Every request carries HTTP Basic auth (secret key id and password) and JSON bodies. Failures
become [`ProviderError`][polysource.errors.ProviderError] with the category of Belvo's error
``code``
(see [`classify_error()`][polysource_belvo.mapping.classify_error]); neither the secret keys nor
the end
user's bank credentials ever appear in a message or a repr.

Pagination follows the absolute ``next`` URLs Belvo returns. Basic auth goes only to the
configured host: a ``next`` URL on another origin is re-rooted on the base URL (its path and
query kept), so a proxy or an emulator never leaks the keys elsewhere.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any, Final

import aiohttp
import orjson
from yarl import URL

from polysource.config import Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.http import HttpResponse, create_session, json_body, redact_url, send, status_error
from polysource_belvo.mapping import PROVIDER, classify_error, parse_error

__all__ = ["BASE_URLS", "DEFAULT_BASE_URL", "BelvoClient"]

BASE_URLS: Final[Mapping[str, str]] = {
    "production": "https://api.belvo.com",
    "sandbox": "https://sandbox.belvo.com",
}
"""Belvo's hosts by ``options.environment``."""

DEFAULT_BASE_URL: Final = BASE_URLS["production"]
_USER_AGENT: Final = "polysource-belvo"


class BelvoClient:
    """Wire calls to Belvo; the session is created on first use, inside the running loop.

    Args:
        secret_id: The secret key id (Basic auth user).
        secret_password: The secret key password (Basic auth password).
        base_url: The API's base URL (an emulator's address in tests and demos).
        timeout: Total seconds per HTTP request.
    """

    def __init__(
        self,
        secret_id: Secret,
        secret_password: Secret,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | None = None,
    ) -> None:
        self._secret_id = secret_id
        self._secret_password = secret_password
        self.base_url = base_url.rstrip("/")
        self._origin = URL(self.base_url).origin()
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"BelvoClient(base_url={self.base_url!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _keys(self) -> tuple[str, str]:
        try:
            key_id, password = self._secret_id.reveal(), self._secret_password.reveal()
        except ConfigError as exc:
            raise ProviderError(
                f"no secret keys: {exc} (set providers.{PROVIDER}.credentials.secret_id and "
                "secret_password, or BELVO_SECRET_ID and BELVO_SECRET_PASSWORD)",
                provider=PROVIDER,
                category=ErrorCategory.AUTH,
            ) from exc
        if not key_id or not password:
            raise ProviderError("a secret key is empty", provider=PROVIDER, category="auth")
        return key_id, password

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
                cookies=False,
            )
        return self._session

    def url(self, path: str) -> str:
        """The absolute URL of an API path (``/api/links/``)."""
        return self.base_url + path

    def follow(self, next_url: str) -> str:
        """The URL to request for a ``next`` link: as given on our origin, else re-rooted."""
        target = URL(next_url)
        if target.is_absolute() and target.origin() == self._origin:
            return next_url
        return self.base_url + target.path_qs

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
    ) -> HttpResponse:
        key_id, password = self._keys()
        hidden = (key_id, password, *secrets)
        headers = {"Authorization": _basic_auth(key_id, password)}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        shown = redact_url(url)
        response = await send(
            self._session_for_use(),
            method,
            url,
            provider=PROVIDER,
            params=params,
            headers=headers,
            data=data,
            allow_redirects=False,
            secrets=hidden,
        )
        if response.status >= 400:
            raise self._error(response, hidden)
        if not 200 <= response.status < 300:
            raise ProviderError(
                f"{method} {shown} answered HTTP {response.status}, not a success",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_RESPONSE,
                status=response.status,
            )
        return response

    @staticmethod
    def _error(response: HttpResponse, secrets: Iterable[str]) -> ProviderError:
        error = parse_error(response.body)
        category, unsupported = classify_error(response.status, error)
        detail = " ".join(
            part
            for part in (
                f"[{error.code}]" if error.code else None,
                error.message,
                f"(field {error.field})" if error.field else None,
            )
            if part
        )
        built = status_error(
            PROVIDER, response, category=category, detail=detail or None, secrets=secrets
        )
        if not unsupported:
            return built
        return ProviderError(
            built.message,
            provider=PROVIDER,
            category=category,
            retry_after=built.retry_after,
            status=built.status,
            unsupported=True,
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def register_link(self, body: Mapping[str, Any], *, secrets: Iterable[str] = ()) -> Any:
        """``POST /api/links/``: register a link with the user's bank credentials (a link).

        Args:
            body: ``institution``, ``username``, ``password`` and optional fields.
            secrets: The end user's credentials, masked in any error message.
        """
        response = await self._call("POST", self.url("/api/links/"), body=body, secrets=secrets)
        return _json(response)

    async def retrieve_accounts(self, link_id: str) -> Any:
        """``POST /api/accounts/``: read the accounts from the bank now (an array)."""
        body = {"link": link_id, "save_data": True}
        return _json(await self._call("POST", self.url("/api/accounts/"), body=body))

    async def page(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``GET`` one page of a list endpoint (``/api/accounts/``, ``/api/transactions/``).

        Args:
            url: The list URL (first page, with ``params``) or a ``next`` URL (no params).
            params: Query parameters of the first page.
        """
        response = await self._call("GET", self.follow(url), params=params)
        return json_body(PROVIDER, response, dict)

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _basic_auth(key_id: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic auth (RFC 7617, UTF-8)."""
    token = base64.b64encode(f"{key_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _json(response: HttpResponse) -> Any:
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            f"{response.method} {response.url} answered a body that is not JSON",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_RESPONSE,
            status=response.status,
        ) from exc
