"""The MX Platform API (v20111101) over aiohttp: one method per endpoint, answering JSON.

Every request carries HTTP Basic auth (user = client id, password = API key) and
``Accept: application/vnd.mx.api.v1+json``; bodies are JSON. Failures become
[`ProviderError`][polysource.errors.ProviderError] with MX's ``{"error": {"message": ...}}`` text
when
there is one. Messages show the path template (``/users/{user_guid}/members``), never the
user guid, which polysource keeps as an access token, nor the client id, the API key or a
bank login.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import orjson

from polysource.config import Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.http import HttpResponse, create_session, json_body, redact_url, send, status_error
from polysource_mx.mapping import PROVIDER, error_detail

__all__ = [
    "ACCEPT",
    "BASE_URLS",
    "DEFAULT_ENVIRONMENT",
    "MXClient",
    "base_url_for",
]

ACCEPT: Final = "application/vnd.mx.api.v1+json"
"""The media type that selects API version v20111101 (a missing or other one answers 406)."""

BASE_URLS: Final[Mapping[str, str]] = {
    "production": "https://api.mx.com",
    "integration": "https://int-api.mx.com",
}
DEFAULT_ENVIRONMENT: Final = "production"
_USER_AGENT: Final = "polysource-mx"


def base_url_for(environment: str) -> str:
    """The API host of an MX environment (``production`` or ``integration``).

    Raises:
        ConfigError: The environment is neither.
    """
    try:
        return BASE_URLS[environment]
    except KeyError:
        raise ConfigError(
            f"unknown MX environment {environment!r}; use one of {', '.join(sorted(BASE_URLS))}",
            path=f"providers.{PROVIDER}.options.environment",
        ) from None


class MXClient:
    """Wire calls to MX; the session is created on first use, inside the running loop.

    Args:
        client_id: The client id (Basic auth user).
        api_key: The API key (Basic auth password).
        base_url: The API's base URL (an emulator's address in tests and demos).
        timeout: Total seconds per HTTP request.
    """

    def __init__(
        self,
        client_id: Secret,
        api_key: Secret,
        *,
        base_url: str = BASE_URLS[DEFAULT_ENVIRONMENT],
        timeout: float | None = None,
    ) -> None:
        self._client_id = client_id
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"MXClient(base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _reveal(self, secret: Secret, name: str, env: str) -> str:
        try:
            value = secret.reveal()
        except ConfigError as exc:
            raise ProviderError(
                f"no {name}: {exc} (set providers.{PROVIDER}.credentials.{name} or {env})",
                provider=PROVIDER,
                category=ErrorCategory.AUTH,
            ) from None
        if not value:
            raise ProviderError(f"the {name} is empty", provider=PROVIDER, category="auth")
        return value

    def _authorization(self) -> tuple[str, tuple[str, str]]:
        client_id = self._reveal(self._client_id, "client_id", "MX_CLIENT_ID")
        api_key = self._reveal(self._api_key, "api_key", "MX_API_KEY")
        token = base64.b64encode(f"{client_id}:{api_key}".encode()).decode("ascii")
        return f"Basic {token}", (client_id, api_key)

    def _session_for_call(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout, headers={"User-Agent": _USER_AGENT, "Accept": ACCEPT}
            )
        return self._session

    async def _call(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
    ) -> HttpResponse:
        """Send one request; raise for a failing status; answer the response.

        ``template`` is the documented path with ``{name}`` placeholders filled from ``path``
        (each value percent-encoded); messages show the template, not the values.
        """
        authorization, credentials = self._authorization()
        hidden = (*credentials, *secrets)
        url = self.base_url + template.format_map(
            {name: quote(value, safe="") for name, value in (path or {}).items()}
        )
        shown = redact_url(self.base_url) + template
        headers = {"Authorization": authorization, "Accept": ACCEPT}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        response = await self._exchange(method, url, shown, params, headers, data, hidden)
        if response.status >= 400:
            detail = error_detail(response.body)
            raise status_error(PROVIDER, response, detail=detail, secrets=hidden)
        return response

    async def _exchange(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        data: bytes | None,
        secrets: tuple[str, ...],
    ) -> HttpResponse:
        return await send(
            self._session_for_call(),
            method,
            url,
            provider=PROVIDER,
            params=params,
            headers=headers,
            data=data,
            shown=shown,
            secrets=secrets,
        )

    async def _json(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
    ) -> dict[str, Any]:
        response = await self._call(
            method, template, path=path, params=params, body=body, secrets=secrets
        )
        return json_body(PROVIDER, response, dict)

    # -- users ---------------------------------------------------------------------------------

    async def create_user(self, partner_id: str) -> dict[str, Any]:
        """``POST /users`` with the partner ``id``; a duplicate answers 409."""
        body = {"user": {"id": partner_id, "metadata": "", "is_disabled": False}}
        return await self._json("POST", "/users", body=body)

    async def list_users(self, partner_id: str, *, page: int = 1) -> dict[str, Any]:
        """``GET /users?id=``: the users with that partner ``id``."""
        params = {"id": partner_id, "page": str(page), "records_per_page": "10"}
        return await self._json("GET", "/users", params=params)

    # -- institutions and members --------------------------------------------------------------

    async def institution_credentials(self, institution_code: str) -> dict[str, Any]:
        """``GET /institutions/{code}/credentials``: the credential fields to send."""
        return await self._json(
            "GET",
            "/institutions/{institution_code}/credentials",
            path={"institution_code": institution_code},
            params={"page": "1", "records_per_page": "100"},
        )

    async def create_member(
        self, user_guid: str, member: Mapping[str, Any], *, secrets: Iterable[str] = ()
    ) -> dict[str, Any]:
        """``POST /users/{user}/members``: link a bank login (200, or 202 while aggregating)."""
        return await self._json(
            "POST",
            "/users/{user_guid}/members",
            path={"user_guid": user_guid},
            body={"member": dict(member)},
            secrets=(user_guid, *secrets),
        )

    async def update_member(
        self,
        user_guid: str,
        member_guid: str,
        member: Mapping[str, Any],
        *,
        secrets: Iterable[str] = (),
    ) -> dict[str, Any]:
        """``PUT /users/{user}/members/{member}``: new credentials start a new aggregation."""
        return await self._json(
            "PUT",
            "/users/{user_guid}/members/{member_guid}",
            path={"user_guid": user_guid, "member_guid": member_guid},
            body={"member": dict(member)},
            secrets=(user_guid, *secrets),
        )

    async def list_members(
        self, user_guid: str, *, page: int = 1, per_page: int = 100
    ) -> dict[str, Any]:
        """``GET /users/{user}/members``: one page of the user's members."""
        return await self._json(
            "GET",
            "/users/{user_guid}/members",
            path={"user_guid": user_guid},
            params={"page": str(page), "records_per_page": str(per_page)},
            secrets=(user_guid,),
        )

    # -- accounts and transactions -------------------------------------------------------------

    async def list_accounts(
        self, user_guid: str, member_guid: str | None, *, page: int, per_page: int
    ) -> dict[str, Any]:
        """One page of ``GET /users/{user}/members/{member}/accounts`` (or the user's)."""
        template, path = _scope(user_guid, member_guid, None, "accounts")
        return await self._json(
            "GET",
            template,
            path=path,
            params={"page": str(page), "records_per_page": str(per_page)},
            secrets=(user_guid,),
        )

    async def list_transactions(
        self,
        user_guid: str,
        *,
        member_guid: str | None = None,
        account_guid: str | None = None,
        from_date: str | None = None,
        to_date: str | None = None,
        page: int,
        per_page: int,
    ) -> dict[str, Any]:
        """One page of the transactions of a user, a member or an account, by date range."""
        template, path = _scope(user_guid, member_guid, account_guid, "transactions")
        params = {"page": str(page), "records_per_page": str(per_page)}
        if from_date is not None:
            params["from_date"] = from_date
        if to_date is not None:
            params["to_date"] = to_date
        return await self._json("GET", template, path=path, params=params, secrets=(user_guid,))

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _scope(
    user_guid: str, member_guid: str | None, account_guid: str | None, resource: str
) -> tuple[str, dict[str, str]]:
    if account_guid is not None:
        template = "/users/{user_guid}/accounts/{account_guid}/" + resource
        return template, {"user_guid": user_guid, "account_guid": account_guid}
    if member_guid is not None:
        template = "/users/{user_guid}/members/{member_guid}/" + resource
        return template, {"user_guid": user_guid, "member_guid": member_guid}
    return "/users/{user_guid}/" + resource, {"user_guid": user_guid}
