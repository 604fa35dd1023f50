"""The Plaid provider: links, accounts and transactions of US and Canadian bank logins.

Configuration (section ``[providers.plaid]``):

- ``credentials.client_id`` / ``credentials.secret``: Plaid's keys, e.g.
  ``{ env = "PLAID_CLIENT_ID" }``; without them ``PLAID_CLIENT_ID`` and ``PLAID_SECRET`` are
  read.
- ``options.environment``: ``production`` (default, ``https://production.plaid.com``) or
  ``sandbox`` (``https://sandbox.plaid.com``).
- ``base_url``: overrides both (an emulator's address in tests and demos).
- ``options.client_name``: the app name Plaid Link shows (default ``polysource``).
- ``options.webhook``: the URL Plaid posts item and transaction webhooks to (optional).
- ``options.country_codes``: countries for Link when the call's region is not one Plaid
  serves (default ``["US"]``).
- ``options.page_size``: transactions per ``/transactions/sync`` page, 1-500 (default 500).
- ``options.max_restarts``: how often one sync starts over after Plaid reports that the data
  changed during paging (default 3).
- ``options.max_pages``: pages one sync follows at most (default 2000).

``create_link`` asks for a link token (the front end opens Plaid Link with it; the public
token it yields goes to ``exchange_token``). In Sandbox, or against an emulator (``base_url``
set), a ``create_link`` that names an ``institution`` skips Link instead: it creates a public
token with ``/sandbox/public_token/create`` and exchanges it at once, so the link is active.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any, Final

from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import Transaction, Transactions
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Operation, OperationCall, ProviderInfo, Request
from polysource.operations import CreateLink, ExchangeToken, GetAccounts, Link, SyncTransactions
from polysource.provider import BaseProvider, ProviderSettings
from polysource_plaid.client import ENVIRONMENTS, PlaidClient
from polysource_plaid.mapping import (
    MUTATION_DURING_PAGINATION,
    PROVIDER,
    PlaidApiError,
    accounts_from,
    exchanged_link,
    link_token_link,
    public_token_from,
    sync_page_from,
)

__all__ = ["REGIONS", "PlaidProvider"]

REGIONS: Final[Mapping[str, int]] = {"US": 1, "CA": 1}
MAX_PAGE_SIZE: Final = 500
_NOT_PLAID_PRODUCTS: Final = frozenset({"accounts"})  # every Plaid product includes accounts
_ALL: Final = "all"


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-plaid")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _option_int(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"must be an integer from {low} to {high}, got {value!r}",
            path=f"providers.{PROVIDER}.options.{name}",
        )
    return value


def _not_linked(what: str) -> ProviderError:
    return ProviderError(
        f"not linked: {what} needs the tenant's Plaid connection (create_link first)",
        provider=PROVIDER,
        category=ErrorCategory.AUTH,
        retryable=False,
    )


def _access_token(connection: Any, what: str) -> Secret:
    if not isinstance(connection, Connection) or connection.access_token is None:
        raise _not_linked(what)
    return connection.access_token


class _SyncState:
    """Changes gathered over the pages of one sync: the latest state per id, and removals."""

    def __init__(self) -> None:
        self.transactions: dict[str, Transaction] = {}
        self.removed: dict[str, None] = {}

    def apply(self, added: tuple[Transaction, ...], removed: tuple[str, ...]) -> None:
        for transaction in added:
            self.transactions[transaction.transaction_id] = transaction
            self.removed.pop(transaction.transaction_id, None)
        for transaction_id in removed:
            self.transactions.pop(transaction_id, None)
            self.removed[transaction_id] = None

    def result(self, cursor: str | None) -> Transactions:
        transactions: tuple[Transaction, ...] = tuple(self.transactions.values())
        removed: tuple[str, ...] = tuple(self.removed)
        # mypy cannot type the schema's `converter=tuple` (a generic class) and rejects any
        # argument.
        return Transactions(transactions, removed, cursor)


class PlaidProvider(BaseProvider):
    """Bank links, accounts and transactions through Plaid (US and Canada)."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"accounts", "transactions"},
        operations={"create_link", "exchange_token", "get_accounts", "sync_transactions"},
        regions=REGIONS,
        # Per client; Plaid also limits each item (15 /accounts/get, 50 /transactions/sync a
        # minute), which the engine cannot see per tenant.
        rate_limits=("2500/minute",),
        credentials=("client_id", "secret"),
        version=_version(),
        description="Plaid: bank links, accounts and transactions (US, Canada).",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        options = settings.options
        environment = options.get("environment", "production")
        if environment not in ENVIRONMENTS:
            raise ConfigError(
                f"must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}",
                path=f"providers.{PROVIDER}.options.environment",
            )
        self.client = PlaidClient(
            settings.credential("client_id", env="PLAID_CLIENT_ID"),
            settings.credential("secret", env="PLAID_SECRET"),
            base_url=settings.base_url or ENVIRONMENTS[environment],
            timeout=settings.config.timeout,
        )
        # Sandbox conveniences are used only where they exist: Plaid's Sandbox or an emulator.
        self.sandbox = environment == "sandbox" or settings.base_url is not None
        self.client_name = str(options.get("client_name", "polysource"))
        self.webhook: str | None = options.get("webhook")
        self.country_codes = [str(c) for c in options.get("country_codes", ["US"])]
        self.page_size = _option_int(options, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        self.max_restarts = _option_int(options, "max_restarts", 3, 0, 100)
        self.max_pages = _option_int(options, "max_pages", 2000, 1, 1_000_000)

    # -- operations ----------------------------------------------------------------------------

    async def execute(
        self, operation: Operation[Any, Any], params: Any, call: OperationCall
    ) -> Any:
        """Perform one of the four banking operations (see the module docstring)."""
        name = operation.name
        if name == "create_link" and isinstance(params, CreateLink):
            return await self._create_link(params, call)
        if name == "exchange_token" and isinstance(params, ExchangeToken):
            return await self._exchange(params)
        if name == "get_accounts" and isinstance(params, GetAccounts):
            token = _access_token(call.connection, name)
            payload = await self.client.accounts_get(token, params.account_ids)
            return accounts_from(payload, call.connection.institution)
        if name == "sync_transactions" and isinstance(params, SyncTransactions):
            token = _access_token(call.connection, name)
            cursor = params.cursor or call.connection.cursor or ""
            return await self._sync(token, cursor, call.deadline)
        if name in self.info.operations:
            raise ProviderError(
                f"{name} takes {operation.params.__name__}, got {type(params).__name__}",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
            )
        raise ProviderError(
            f"operation {name!r} is not supported",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
            unsupported=True,
        )

    def _products(self, params: CreateLink) -> list[str]:
        products = [p for p in dict.fromkeys(params.products) if p not in _NOT_PLAID_PRODUCTS]
        return products or ["transactions"]

    async def _create_link(self, params: CreateLink, call: OperationCall) -> Link:
        if self.sandbox and params.institution:
            created = await self.client.sandbox_public_token_create(
                params.institution,
                self._products(params),
                username=params.username,
                password=params.password,
            )
            return await self._exchange(
                ExchangeToken(public_token_from(created)), params.institution
            )
        if not call.tenant:
            raise ProviderError(
                "create_link needs a tenant (Plaid's user.client_user_id)",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
            )
        body: dict[str, Any] = {
            "client_name": self.client_name,
            "language": params.language,
            "country_codes": [call.region] if call.region in REGIONS else self.country_codes,
            "user": {"client_user_id": call.tenant},
            "products": self._products(params),
        }
        if self.webhook:
            body["webhook"] = self.webhook
        if params.redirect_uri:
            body["redirect_uri"] = params.redirect_uri
        return link_token_link(await self.client.link_token_create(body))

    async def _exchange(self, params: ExchangeToken, institution: str | None = None) -> Link:
        payload = await self.client.item_public_token_exchange(params.public_token)
        return exchanged_link(payload, institution)

    def _check_deadline(self, deadline: float | None, pages: int) -> None:
        if deadline is not None and self.clock.monotonic() >= deadline:
            raise ProviderError(
                f"deadline passed after {pages} page(s) of /transactions/sync; "
                "the sync can be repeated from the same cursor",
                provider=PROVIDER,
                category=ErrorCategory.TIMEOUT,
            )

    async def _sync(
        self,
        token: Secret,
        start: str,
        deadline: float | None,
        *,
        account_id: str | None = None,
    ) -> Transactions:
        """Follow ``/transactions/sync`` from ``start`` to the end; start over on a mutation.

        Nothing is returned until the last page, so a failure part-way loses nothing: the
        caller repeats the sync from the same cursor (Plaid answers a repeated cursor with the
        same page).
        """
        restarts = 0
        pages = 0
        while True:
            state = _SyncState()
            cursor, seen = start, {start}
            try:
                while True:
                    self._check_deadline(deadline, pages)
                    if pages >= self.max_pages:
                        raise ProviderError(
                            f"/transactions/sync still had more after {pages} pages",
                            provider=PROVIDER,
                            category=ErrorCategory.INVALID_RESPONSE,
                        )
                    payload = await self.client.transactions_sync(
                        token, cursor, self.page_size, account_id=account_id
                    )
                    pages += 1
                    page = sync_page_from(payload)
                    state.apply(page.added + page.modified, page.removed)
                    if not page.has_more:
                        return state.result(page.next_cursor or (start or None))
                    if page.next_cursor in seen:
                        raise ProviderError(
                            "/transactions/sync answered has_more with a cursor it had "
                            "already given; stopping instead of looping",
                            provider=PROVIDER,
                            category=ErrorCategory.INVALID_RESPONSE,
                        )
                    seen.add(page.next_cursor)
                    cursor = page.next_cursor
            except PlaidApiError as exc:
                if exc.error_code != MUTATION_DURING_PAGINATION or restarts >= self.max_restarts:
                    raise
                restarts += 1

    # -- datasets ------------------------------------------------------------------------------

    async def fetch(self, request: Request) -> Any:
        """``accounts`` or ``transactions`` of the tenant's connection.

        The key ``all`` means every account; any other key is one account id (an unknown one
        is ``not_found``). ``transactions`` is a full sync from the beginning, so the answer is
        every transaction Plaid holds for the item (or the account).
        """
        dataset = request.dataset.name
        if dataset not in self.info.datasets:
            raise ProviderError(
                f"dataset {dataset!r} is not served",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
                unsupported=True,
            )
        token = _access_token(request.connection, dataset)
        institution = request.connection.institution
        account = None if request.key == _ALL else request.key
        if dataset == "accounts":
            ids = () if account is None else (account,)
            return accounts_from(await self.client.accounts_get(token, ids), institution)
        return await self._sync(token, "", request.deadline, account_id=account)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
