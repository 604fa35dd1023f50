"""Plaid's API over aiohttp: one method per endpoint, answering decoded JSON objects.

Every call is a ``POST`` of a JSON body. The client id and secret travel as the headers
``PLAID-CLIENT-ID`` and ``PLAID-SECRET`` (as the official SDK sends them), with
``Plaid-Version: 2020-09-14``. A failure becomes a
[`PlaidApiError`][polysource_plaid.mapping.PlaidApiError]
when Plaid answered with its error object, else a
[`ProviderError`][polysource.errors.ProviderError] categorised by status. Neither the credentials
nor any
token sent or received ever appears in a message or a repr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import aiohttp
import orjson

from polysource.config import Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.http import (
    HttpResponse,
    create_session,
    json_body,
    parse_retry_after,
    redact_url,
    send,
    status_error,
)
from polysource_plaid.mapping import PROVIDER, error_from_body

__all__ = ["API_VERSION", "ENVIRONMENTS", "PlaidClient"]

ENVIRONMENTS: Final[Mapping[str, str]] = {
    "production": "https://production.plaid.com",
    "sandbox": "https://sandbox.plaid.com",
}
"""Plaid's environments and their base URLs (``options.environment``)."""

API_VERSION: Final = "2020-09-14"
_USER_AGENT: Final = "polysource-plaid"


class PlaidClient:
    """Wire calls to Plaid; the session is created on first use, inside the running loop.

    Args:
        client_id: Plaid's client id.
        secret: Plaid's secret for the environment.
        base_url: The API's base URL (an emulator's address in tests and demos).
        timeout: Total seconds per HTTP request.
    """

    def __init__(
        self,
        client_id: Secret,
        secret: Secret,
        *,
        base_url: str = ENVIRONMENTS["production"],
        timeout: float | None = None,
    ) -> None:
        self._client_id = client_id
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"PlaidClient(base_url={self.base_url!r})"

    def _credentials(self) -> tuple[str, str]:
        values = []
        for name, secret, env in (
            ("client_id", self._client_id, "PLAID_CLIENT_ID"),
            ("secret", self._secret, "PLAID_SECRET"),
        ):
            try:
                value = secret.reveal()
            except ConfigError as exc:
                raise ProviderError(
                    f"no {name}: {exc} (set providers.{PROVIDER}.credentials.{name} or {env})",
                    provider=PROVIDER,
                    category=ErrorCategory.AUTH,
                ) from exc
            if not value:
                raise ProviderError(f"the {name} is empty", provider=PROVIDER, category="auth")
            values.append(value)
        return values[0], values[1]

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT},
                cookies=False,
            )
        return self._session

    async def _post(
        self, path: str, body: Mapping[str, Any], secrets: Sequence[str] = ()
    ) -> dict[str, Any]:
        client_id, secret = self._credentials()
        hidden = (client_id, secret, *secrets)
        url = self.base_url + path
        where = f"POST {redact_url(url)}"
        headers = {
            "PLAID-CLIENT-ID": client_id,
            "PLAID-SECRET": secret,
            "Plaid-Version": API_VERSION,
            "Content-Type": "application/json",
        }
        response = await send(
            self._open(),
            "POST",
            url,
            provider=PROVIDER,
            headers=headers,
            data=orjson.dumps(body),
            secrets=hidden,
        )
        if response.status >= 400:
            raise self._failure(response, where, hidden)
        return json_body(PROVIDER, response, dict)

    @staticmethod
    def _failure(response: HttpResponse, where: str, secrets: Sequence[str]) -> ProviderError:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_from_body(
            response.body,
            status=response.status,
            where=where,
            retry_after=retry_after,
            secrets=secrets,
        )
        if error is not None:
            return error
        return status_error(PROVIDER, response, secrets=secrets)

    async def link_token_create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``/link/token/create``: a link token for Plaid Link in the app's front end."""
        return await self._post("/link/token/create", body)

    async def sandbox_public_token_create(
        self,
        institution_id: str,
        products: Sequence[str],
        *,
        username: Secret | None = None,
        password: Secret | None = None,
    ) -> dict[str, Any]:
        """``/sandbox/public_token/create``: a public token without Link (Sandbox only).

        ``username`` and ``password`` become ``options.override_username`` /
        ``override_password`` (Sandbox test users such as ``user_good``).
        """
        body: dict[str, Any] = {"institution_id": institution_id, "initial_products": products}
        options: dict[str, str] = {}
        if username is not None:
            options["override_username"] = username.reveal()
        if password is not None:
            options["override_password"] = password.reveal()
        if options:
            body["options"] = options
        return await self._post("/sandbox/public_token/create", body, tuple(options.values()))

    async def item_public_token_exchange(self, public_token: Secret) -> dict[str, Any]:
        """``/item/public_token/exchange``: an access token and item id for a public token."""
        token = public_token.reveal()
        return await self._post("/item/public_token/exchange", {"public_token": token}, (token,))

    async def accounts_get(
        self, access_token: Secret, account_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``/accounts/get``: the item's accounts (only ``account_ids`` when given)."""
        token = access_token.reveal()
        body: dict[str, Any] = {"access_token": token}
        if account_ids:
            body["options"] = {"account_ids": list(account_ids)}
        return await self._post("/accounts/get", body, (token,))

    async def transactions_sync(
        self, access_token: Secret, cursor: str, count: int, *, account_id: str | None = None
    ) -> dict[str, Any]:
        """``/transactions/sync``: one page of changes after ``cursor`` (``""``: from the start)."""
        token = access_token.reveal()
        body: dict[str, Any] = {"access_token": token, "count": count}
        if cursor:
            body["cursor"] = cursor
        if account_id is not None:
            body["options"] = {"account_id": account_id}
        return await self._post("/transactions/sync", body, (token,))

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
