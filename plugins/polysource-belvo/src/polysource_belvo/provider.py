"""The Belvo provider: links made with the user's bank credentials, then accounts and transactions.

Configuration (section ``[providers.belvo]``):

- ``base_url``: the API's address; overrides ``options.environment`` (an emulator's in demos).
- ``credentials.secret_id`` / ``credentials.secret_password``: the secret key pair, e.g.
  ``{ env = "BELVO_SECRET_ID" }``; without them ``BELVO_SECRET_ID`` and
  ``BELVO_SECRET_PASSWORD`` are read.
- ``options.environment``: ``production`` (default, ``https://api.belvo.com``) or ``sandbox``
  (``https://sandbox.belvo.com``).
- ``options.access_mode``: the links' ``access_mode``, ``recurrent`` (default: Belvo keeps the
  data fresh, so reads list stored data) or ``single``.
- ``options.history_days``: days of transactions read when no start is given (default 90).
- ``options.page_size``: items per list page, 1 to 1000 (default 1000, Belvo's maximum).
- ``options.max_pages``: most pages one read follows before giving up (default 1000).
- ``options.external_id``: whether ``create_link`` sends the tenant as the link's
  ``external_id`` (default true; Belvo wants at least three characters and no personal data).

Belvo has no sync cursor: ``sync_transactions`` reads by ``value_date`` and answers the last
date it covered as ``Transactions.cursor``; a later sync starts from that date (inclusive, so the
boundary day is read again with the same transaction ids).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import Accounts, Transactions
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Operation, OperationCall, ProviderInfo, Request
from polysource.operations import CreateLink, GetAccounts, Link, SyncTransactions
from polysource.provider import BaseProvider, ProviderSettings
from polysource_belvo.client import BASE_URLS, BelvoClient
from polysource_belvo.mapping import (
    PROVIDER,
    accounts_from,
    link_from,
    page_from,
    transactions_from,
)

__all__ = ["REGIONS", "BelvoProvider"]

REGIONS: Final[Mapping[str, int]] = {"MX": 1, "CO": 1, "BR": 1}
MAX_PAGE_SIZE: Final = 1000
_ACCESS_MODES: Final = ("recurrent", "single")
_MIN_EXTERNAL_ID: Final = 3


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-belvo")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _error(message: str, category: ErrorCategory | str, **extra: Any) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=category, **extra)


def _int_option(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"must be an integer from {low} to {high}, got {value!r}",
            path=f"providers.{PROVIDER}.options.{name}",
        )
    return value


def _link_id(connection: Any, what: str) -> str:
    link_id = getattr(connection, "link_id", None) if connection is not None else None
    if not isinstance(link_id, str) or not link_id:
        raise _error(f"not linked: the tenant has no Belvo link for {what}", "auth")
    return link_id


def _belongs(item: Mapping[str, Any], link_id: str) -> bool:
    """Whether a listed account (or a transaction's account) is of ``link_id``.

    The ``link`` filter already asks Belvo for this link's items only; checking again keeps
    another link's data from ever reaching this tenant.
    """
    account = item.get("account", item)
    owner = account.get("link") if isinstance(account, Mapping) else None
    return not isinstance(owner, str) or owner == link_id


def _as_date(value: object, name: str) -> dt.date | None:
    """A date parameter; an ISO string (a caller skipping the orchestrator) is accepted."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _error(f"{name} {value!r} is not a date", "invalid_request")


def _cursor_date(cursor: str | None) -> dt.date | None:
    if not cursor:
        return None
    try:
        return dt.date.fromisoformat(cursor)
    except ValueError:
        raise _error(
            f"cursor {cursor!r} is not a date (Belvo syncs by date)", "invalid_request"
        ) from None


class BelvoProvider(BaseProvider):
    """Bank accounts and transactions in Mexico, Colombia and Brazil through Belvo."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"accounts", "transactions"},
        operations={"create_link", "get_accounts", "sync_transactions"},
        regions=REGIONS,
        rate_limits=("10/second",),
        credentials=("secret_id", "secret_password"),
        version=_version(),
        description="Belvo: bank links, accounts and transactions (MX, CO, BR).",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        options = settings.options
        environment = str(options.get("environment", "production")).lower()
        if environment not in BASE_URLS:
            raise ConfigError(
                f"must be one of {', '.join(BASE_URLS)}, got {environment!r}",
                path=f"providers.{PROVIDER}.options.environment",
            )
        self.access_mode = str(options.get("access_mode", "recurrent")).lower()
        if self.access_mode not in _ACCESS_MODES:
            raise ConfigError(
                f"must be one of {', '.join(_ACCESS_MODES)}, got {self.access_mode!r}",
                path=f"providers.{PROVIDER}.options.access_mode",
            )
        self.history_days = _int_option(options, "history_days", 90, 1, 3650)
        self.page_size = _int_option(options, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        self.max_pages = _int_option(options, "max_pages", 1000, 1, 1_000_000)
        self.send_external_id = bool(options.get("external_id", True))
        self.client = BelvoClient(
            settings.credential("secret_id", env="BELVO_SECRET_ID"),
            settings.credential("secret_password", env="BELVO_SECRET_PASSWORD"),
            base_url=settings.base_url or BASE_URLS[environment],
            timeout=settings.config.timeout,
        )

    # -- operations --------------------------------------------------------------------------

    async def execute(
        self, operation: Operation[Any, Any], params: Any, call: OperationCall
    ) -> Any:
        """Perform ``create_link``, ``get_accounts`` or ``sync_transactions``."""
        name = operation.name
        if name == "create_link":
            return await self._create_link(params, call.tenant)
        if name == "get_accounts":
            link_id = _link_id(call.connection, name)
            wanted = params.account_ids if isinstance(params, GetAccounts) else ()
            return await self._accounts(link_id, wanted, call.deadline)
        if name == "sync_transactions":
            link_id = _link_id(call.connection, name)
            sync = params if isinstance(params, SyncTransactions) else SyncTransactions()
            return await self._sync(link_id, sync, call.connection, call.deadline)
        raise _error(f"operation {name!r} is not served", "invalid_request", unsupported=True)

    async def _create_link(self, params: CreateLink, tenant: str | None) -> Link:
        if not params.institution:
            raise _error("create_link needs the institution (a Belvo code)", "invalid_request")
        if params.username is None:
            raise _error("create_link needs the user's bank username", "invalid_request")
        username = _reveal(params.username, "username")
        body: dict[str, Any] = {
            "institution": params.institution,
            "username": username,
            "access_mode": self.access_mode,
        }
        secrets = [username]
        if params.password is not None:
            body["password"] = _reveal(params.password, "password")
            secrets.append(body["password"])
        if self.send_external_id and tenant and len(tenant) >= _MIN_EXTERNAL_ID:
            body["external_id"] = tenant
        return link_from(await self.client.register_link(body, secrets=secrets))

    async def _accounts(
        self, link_id: str, wanted: Sequence[str], deadline: float | None
    ) -> Accounts:
        items = await self._collect(
            "/api/accounts/", {"link": link_id, "page_size": str(self.page_size)}, deadline
        )
        if not items:
            # Nothing stored yet (a single link, or a recurrent one still loading): read now.
            self._check_deadline(deadline, "/api/accounts/")
            retrieved = await self.client.retrieve_accounts(link_id)
            if not isinstance(retrieved, list):
                raise _error("POST /api/accounts/ answered no array", "invalid_response")
            items = retrieved
        accounts = accounts_from([i for i in items if _belongs(_mapping(i), link_id)])
        if wanted:
            chosen = set(wanted)
            accounts = tuple(a for a in accounts if a.account_id in chosen)
        return Accounts(accounts)  # mypy misreads attrs' tuple converter

    async def _sync(
        self,
        link_id: str,
        params: SyncTransactions,
        connection: Any,
        deadline: float | None,
    ) -> Transactions:
        until = _as_date(params.until, "until") or self._today()
        since = (
            _as_date(params.since, "since")
            or _cursor_date(params.cursor)
            or self._stored_cursor(connection)
        )
        return await self._transactions(link_id, since, until, None, deadline)

    def _stored_cursor(self, connection: Any) -> dt.date | None:
        cursor = connection.cursor if isinstance(connection, Connection) else None
        try:
            return _cursor_date(cursor)
        except ProviderError:
            return None  # not ours to fail on: read the default window instead

    async def _transactions(
        self,
        link_id: str,
        since: dt.date | None,
        until: dt.date,
        account_id: str | None,
        deadline: float | None,
    ) -> Transactions:
        since = since or until - dt.timedelta(days=self.history_days)
        if since > until:
            raise _error(f"since {since} is after until {until}", "invalid_request")
        query = {
            "link": link_id,
            "page_size": str(self.page_size),
            "value_date__gte": since.isoformat(),
            "value_date__lte": until.isoformat(),
        }
        if account_id is not None:
            query["account"] = account_id
        items = await self._collect("/api/transactions/", query, deadline)
        unique = {
            t.transaction_id: t
            for t in transactions_from([i for i in items if _belongs(i, link_id)])
        }
        return Transactions(
            tuple(unique.values()), cursor=until.isoformat()
        )  # mypy misreads attrs' tuple converter

    # -- pagination --------------------------------------------------------------------------

    def _check_deadline(self, deadline: float | None, path: str, pages: int = 0) -> None:
        if deadline is not None and self.clock.monotonic() >= deadline:
            raise _error(f"deadline passed reading {path} after {pages} page(s)", "timeout")

    async def _collect(
        self, path: str, params: Mapping[str, str], deadline: float | None
    ) -> list[Mapping[str, Any]]:
        """Every item of a list endpoint, each ``next`` page followed to the end."""
        url: str = self.client.url(path)
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        items: list[Mapping[str, Any]] = []
        for pages in range(self.max_pages):
            self._check_deadline(deadline, path, pages)
            page = page_from(await self.client.page(url, query))
            items.extend(page.results)
            if page.next is None:
                return items
            if page.next in seen:
                raise _error(f"{path} pagination repeats a page", "invalid_response")
            seen.add(page.next)
            url, query = page.next, None
        raise _error(f"{path} has more than {self.max_pages} pages", "invalid_response")

    # -- datasets ----------------------------------------------------------------------------

    async def fetch(self, request: Request) -> Any:
        """``accounts`` or ``transactions`` of the tenant's link; key ``all`` or an account id."""
        dataset = request.dataset.name
        if dataset not in self.info.datasets:
            raise _error(f"dataset {dataset!r} is not served", "invalid_request", unsupported=True)
        if request.connection is None:
            raise _error(f"not linked: the tenant has no Belvo link for {dataset}", "auth")
        link_id = _link_id(request.connection, dataset)
        account_id = None if request.key == "all" else request.key
        if dataset == "accounts":
            accounts = await self._accounts(link_id, (), request.deadline)
            if account_id is None:
                return accounts
            found = tuple(a for a in accounts.accounts if a.account_id == account_id)
            if not found:
                raise _error(f"account {account_id!r} not found in the link", "not_found")
            return Accounts(found)  # mypy misreads attrs' tuple converter
        return await self._transactions(link_id, None, self._today(), account_id, request.deadline)

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).date()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()


def _mapping(item: Any) -> Mapping[str, Any]:
    return item if isinstance(item, Mapping) else {}


def _reveal(secret: Secret, what: str) -> str:
    try:
        return secret.reveal()
    except ConfigError as exc:
        raise _error(f"the user's {what} is not available: {exc}", "invalid_request") from exc
